// Package schemas holds Sluice's wire formats: the CloudEvents envelope that
// producers write to Kafka ([Event]), the coalesced signal payload that the
// bridge sends to entity workflows ([SignalBatch]), the milestone envelope that
// workflows emit back to Kafka ([Milestone]), and the ClickHouse DDL
// ([Migrations]).
//
// It imports nothing of Sluice's, so every other package may depend on it.
// JSON on the hot path goes through segmentio/encoding.
package schemas
