// The Sluice entity-workflow contract v1 (docs/contract.md, JSON Schemas in
// schemas/contract/), as TypeScript types. Nothing here imports Temporal or
// Node: the workflow bundle and the unit tests share it.

/** Signal name the bridge sends batches on (a route may set `signal:`). */
export const SIGNAL_EVENTS = 'sluice.events';
/** The milestone activity every `sluice worker` serves on its task queue. */
export const PUBLISH_MILESTONES = 'sluice.PublishMilestones';
/** Milestone emitted for an event the workflow cannot apply. */
export const REJECTED_MILESTONE = 'sluice.event_rejected';
export const QUERY_STATUS = 'sluice.status';
export const QUERY_STATE = 'sluice.state';

/** start-args.schema.json: the first run's input from Signal-With-Start. */
export interface StartArgs {
  entity_id: string;
}

/** One event of a batch (signal-batch.schema.json, events[]). */
export interface BatchedEvent {
  offset: number;
  id: string;
  type: string;
  source?: string;
  /** The record's Kafka timestamp, Unix microseconds. */
  produced_at_us: number;
  data?: unknown;
  /** Put back from the dead-letter topic: a new offset, dedup it by id. */
  redriven?: boolean;
  traceparent?: string;
}

/** signal-batch.schema.json: all pending events of one entity from one partition, in offset order. */
export interface SignalBatch {
  topic: string;
  partition: number;
  first_offset: number;
  last_offset: number;
  events: BatchedEvent[];
}

/** The Kafka record behind a milestone. */
export interface Cause {
  event_id: string;
  topic: string;
  partition: number;
  offset: number;
  produced_at_us?: number;
}

/** One item of milestones.schema.json, the argument of sluice.PublishMilestones. */
export interface Milestone {
  /** `<workflow_id>#<seq>`: stable across retries and Continue-As-New. */
  id: string;
  entity_id: string;
  workflow_id: string;
  workflow_type: string;
  name: string;
  /** 1, 2, 3, ... per workflow id, carried across Continue-As-New. */
  seq: number;
  /** Workflow time, RFC 3339. */
  time: string;
  data?: unknown;
  cause?: Cause;
  traceparent?: string;
}

/** The `sluice.status` query's answer (docs/contract.md §5). */
export interface Status {
  entity_id: string;
  applied: number;
  rejected: number;
  duplicates: number;
  signals: number;
  runs: number;
  milestone_seq: number;
  /** "topic/partition" → offset of the last event applied. */
  marks: Record<string, number>;
  redriven?: string[];
}

/** The mark key of a partition. */
export function markKey(topic: string, partition: number): string {
  return `${topic}/${partition}`;
}

/** Redriven ids carried: the newest 1,000, at most 32 KiB (docs/contract.md §2). */
export const MAX_REDRIVEN_IDS = 1000;
export const MAX_REDRIVEN_BYTES = 32 << 10;

/** Keeps the newest redriven ids within MAX_REDRIVEN_IDS and MAX_REDRIVEN_BYTES. */
export function boundRedriven(ids: string[]): string[] {
  let n = 0;
  let keep = ids.length;
  while (keep > 0 && ids.length - keep < MAX_REDRIVEN_IDS && n + utf8Length(ids[keep - 1]) <= MAX_REDRIVEN_BYTES) {
    keep--;
    n += utf8Length(ids[keep]);
  }
  return keep === 0 ? ids : ids.slice(keep);
}

// TextEncoder is not in every workflow sandbox: count UTF-8 bytes by hand.
function utf8Length(s: string): number {
  let n = 0;
  for (const ch of s) {
    const c = ch.codePointAt(0)!;
    n += c < 0x80 ? 1 : c < 0x800 ? 2 : c < 0x10000 ? 3 : 4;
  }
  return n;
}
