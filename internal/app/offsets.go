package app

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
)

// ResetTarget says where `sluice offsets reset` moves a group: exactly one
// of Start, End, a Time (the first record at or after it) or an Offset.
type ResetTarget struct {
	Start, End bool
	Time       time.Time
	Offset     int64 // used when >= 0
}

// OffsetMove is one partition's planned or applied reset.
type OffsetMove struct {
	Topic     string
	Partition int32
	From, To  int64 // From is -1 when the group had no commit
}

// ResetOffsets moves the consumer group's committed offsets on topic (one
// partition, or all when partition < 0). A dry run only plans. A real reset
// refuses a group with live members: a running bridge would commit over it.
// Entity workflows drop what they already applied (their per-partition
// marks), so rewinding re-delivers without double-applying.
func ResetOffsets(ctx context.Context, c *Config, group, topic string, partition int32, to ResetTarget, dryRun bool) ([]OffsetMove, error) {
	n := 0
	for _, b := range []bool{to.Start, to.End, !to.Time.IsZero(), to.Offset >= 0} {
		if b {
			n++
		}
	}
	if n != 1 {
		return nil, errors.New("say where to: exactly one of --to-start, --to-end, --to-time or --to-offset")
	}
	cl, err := c.NewKafkaClient()
	if err != nil {
		return nil, err
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	if !dryRun {
		ds, err := adm.DescribeGroups(ctx, group)
		if err != nil {
			return nil, err
		}
		if g, ok := ds[group]; ok && len(g.Members) > 0 {
			return nil, fmt.Errorf("group %s has %d live members: stop its bridges first (a running bridge would commit over the reset), or add --dry-run", group, len(g.Members))
		}
	}
	var target kadm.ListedOffsets
	switch {
	case to.Start:
		target, err = adm.ListStartOffsets(ctx, topic)
	case to.End, to.Offset >= 0:
		target, err = adm.ListEndOffsets(ctx, topic)
	default:
		target, err = adm.ListOffsetsAfterMilli(ctx, to.Time.UnixMilli(), topic)
	}
	if err == nil {
		err = target.Error()
	}
	if err != nil {
		return nil, fmt.Errorf("list offsets of %s: %w", topic, err)
	}
	if len(target) == 0 {
		return nil, fmt.Errorf("topic %s does not exist", topic)
	}
	ends, err := adm.ListEndOffsets(ctx, topic)
	if err != nil {
		return nil, err
	}
	current, err := adm.FetchOffsetsForTopics(ctx, group, topic)
	if err != nil {
		return nil, err
	}
	var moves []OffsetMove
	commit := kadm.Offsets{}
	for _, lo := range sortedListed(target) {
		if partition >= 0 && lo.Partition != partition {
			continue
		}
		at := lo.Offset
		end, _ := ends.Lookup(topic, lo.Partition)
		switch {
		case to.Offset >= 0:
			at = min(to.Offset, end.Offset)
		case at < 0: // nothing at or after the time: the end
			at = end.Offset
		}
		from := int64(-1)
		if o, ok := current.Lookup(topic, lo.Partition); ok && o.Err == nil && o.At >= 0 {
			from = o.At
		}
		moves = append(moves, OffsetMove{Topic: topic, Partition: lo.Partition, From: from, To: at})
		commit.Add(kadm.Offset{Topic: topic, Partition: lo.Partition, At: at, LeaderEpoch: -1})
	}
	if len(moves) == 0 {
		return nil, fmt.Errorf("%s has no partition %d", topic, partition)
	}
	if dryRun {
		return moves, nil
	}
	resp, err := adm.CommitOffsets(ctx, group, commit)
	if err == nil {
		err = resp.Error()
	}
	return moves, err
}

func sortedListed(l kadm.ListedOffsets) []kadm.ListedOffset {
	var out []kadm.ListedOffset
	for _, t := range l {
		for _, o := range t {
			out = append(out, o)
		}
	}
	slices.SortFunc(out, func(a, b kadm.ListedOffset) int { return cmp.Compare(a.Partition, b.Partition) })
	return out
}
