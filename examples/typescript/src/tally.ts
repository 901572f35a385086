// The tally entity: a per-entity sum of event amounts, and the contract's
// bookkeeping around it (marks, redriven ids, counters, milestone sequence).
// Pure code, no Temporal import: the workflow (workflows.ts) drives it and
// the unit tests (test/tally.test.ts) hold what it produces to the schemas.
import {
  BatchedEvent, Cause, Milestone, REJECTED_MILESTONE, SignalBatch, Status, boundRedriven, markKey,
} from './contract';

export const WORKFLOW_TYPE = 'ts.Tally';

/** What a run reads once, on the entity's first run, and carries after. */
export interface Config {
  /** Continue-As-New after this many signals in one run (Sluice's Go framework: 2,000). */
  maxSignalsPerRun: number;
  /** Where `sluice worker` serves sluice.PublishMilestones (default sluice-entities). */
  milestoneTaskQueue: string;
}

/** The entity's state, answered by the `sluice.state` query. */
export interface TallyState {
  entity_id: string;
  total: number;
  /** tally.added events applied. */
  count: number;
  /** tally.cleared events applied. */
  clears: number;
  /** Ids of the last LAST_IDS events applied, oldest first: their order is the per-key order. */
  last_ids: string[];
}

export const LAST_IDS = 100;
/** A rejection reason is cut to this many characters in its milestone. */
export const MAX_REASON = 1024;

/** The input of a continued run: everything docs/contract.md §3 says to carry. */
export interface Carry {
  carry: 1;
  config: Config;
  state: TallyState;
  status: Status;
  /** Batches delivered to the previous run but not applied by it (a steady stream at Continue-As-New). */
  backlog?: SignalBatch[];
}

export function isCarry(x: unknown): x is Carry {
  return typeof x === 'object' && x !== null && (x as { carry?: unknown }).carry === 1;
}

export function firstCarry(entityId: string, config: Config): Carry {
  return {
    carry: 1,
    config,
    state: { entity_id: entityId, total: 0, count: 0, clears: 0, last_ids: [] },
    status: {
      entity_id: entityId, applied: 0, rejected: 0, duplicates: 0, signals: 0, runs: 0, milestone_seq: 0, marks: {}, redriven: [],
    },
  };
}

export class Tally {
  readonly state: TallyState;
  readonly status: Status;
  readonly config: Config;

  /** Starts a run from its carry (runs counts this one). */
  constructor(readonly workflowId: string, carry: Carry) {
    this.state = structuredCopy(carry.state);
    this.status = structuredCopy(carry.status);
    this.status.redriven ??= [];
    this.config = carry.config;
    this.status.runs++;
  }

  /**
   * Applies one batch: drops events at or below the partition's mark and
   * redriven ids seen before, applies the rest in order (an event it cannot
   * apply is rejected, not thrown), moves the mark, and returns the
   * milestones this batch caused, in sequence order.
   */
  applyBatch(b: SignalBatch, now: Date): Milestone[] {
    const out: Milestone[] = [];
    this.status.signals++;
    const key = markKey(b.topic, b.partition);
    for (const ev of b.events) {
      const mark = this.status.marks[key];
      if ((mark !== undefined && ev.offset <= mark) || (ev.redriven && this.status.redriven!.includes(ev.id))) {
        this.status.duplicates++;
        continue;
      }
      const cause: Cause = { event_id: ev.id, topic: b.topic, partition: b.partition, offset: ev.offset, produced_at_us: ev.produced_at_us };
      try {
        for (const [name, data] of this.apply(ev)) out.push(this.milestone(name, data, cause, now));
        this.status.applied++;
        this.state.last_ids.push(ev.id);
        if (this.state.last_ids.length > LAST_IDS) this.state.last_ids.splice(0, this.state.last_ids.length - LAST_IDS);
      } catch (err) {
        this.status.rejected++;
        const reason = String(err instanceof Error ? err.message : err).slice(0, MAX_REASON);
        out.push(this.milestone(REJECTED_MILESTONE, { event_id: ev.id, event_type: ev.type, reason }, cause, now));
      }
      this.status.marks[key] = ev.offset;
      if (ev.redriven) this.status.redriven = boundRedriven([...this.status.redriven!, ev.id]);
    }
    return out;
  }

  /** The domain: returns the milestones (name, data) an event causes, or throws to reject it. */
  private apply(ev: BatchedEvent): [string, unknown][] {
    switch (ev.type) {
      case 'tally.added': {
        const amount = (ev.data as { amount?: unknown } | null)?.amount;
        if (typeof amount !== 'number' || !Number.isSafeInteger(amount)) {
          throw new Error('tally.added needs data.amount, an integer');
        }
        const before = this.state.total;
        this.state.total += amount;
        this.state.count++;
        const hundreds = Math.floor(this.state.total / 100);
        if (hundreds > Math.floor(before / 100)) {
          return [['tally.crossed', { threshold: hundreds * 100, total: this.state.total }]];
        }
        return [];
      }
      case 'tally.cleared': {
        const previous = this.state.total;
        this.state.total = 0;
        this.state.clears++;
        return [['tally.cleared', { previous_total: previous }]];
      }
      default:
        throw new Error(`unknown event type ${JSON.stringify(ev.type)} for ${WORKFLOW_TYPE}`);
    }
  }

  private milestone(name: string, data: unknown, cause: Cause, now: Date): Milestone {
    const seq = ++this.status.milestone_seq;
    return {
      id: `${this.workflowId}#${seq}`,
      entity_id: this.state.entity_id,
      workflow_id: this.workflowId,
      workflow_type: WORKFLOW_TYPE,
      name,
      seq,
      time: now.toISOString(),
      data,
      cause,
    };
  }

  /** The next run's input. */
  carry(): Carry {
    return { carry: 1, config: this.config, state: structuredCopy(this.state), status: structuredCopy(this.status) };
  }
}

// structuredClone is not in the workflow sandbox on every SDK version; the
// carried values are plain JSON.
function structuredCopy<T>(v: T): T {
  return JSON.parse(JSON.stringify(v)) as T;
}
