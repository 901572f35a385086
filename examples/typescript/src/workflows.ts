// The ts.Tally entity workflow: receives Sluice's batches, applies them
// exactly once through the marks, Continues-As-New after a number of
// signals (or when Temporal suggests it) without losing a delivered signal,
// and emits milestones through the Go worker's sluice.PublishMilestones.
//
// This module runs in the workflow sandbox: deterministic code only (the
// SDK makes Date and Math.random deterministic here); no Node APIs.
import * as wf from '@temporalio/workflow';
import {
  Milestone, PUBLISH_MILESTONES, QUERY_STATE, QUERY_STATUS, SIGNAL_EVENTS, SignalBatch, StartArgs, Status,
} from './contract';
import { Carry, Tally, TallyState, firstCarry, isCarry } from './tally';
import type { Activities } from './activities';

export const eventsSignal = wf.defineSignal<[SignalBatch]>(SIGNAL_EVENTS);
export const statusQuery = wf.defineQuery<Status>(QUERY_STATUS);
export const stateQuery = wf.defineQuery<TallyState>(QUERY_STATE);

/** Continue-As-New carries delivered but unapplied batches up to this size, past a few drain rounds. */
const MAX_BACKLOG_BYTES = 256 << 10;
const DRAIN_ROUNDS = 3;

/** The Go worker's milestone activity, scheduled by name on its task queue. */
interface Publisher {
  [PUBLISH_MILESTONES](milestones: Milestone[]): Promise<void>;
}

const { tallyConfig } = wf.proxyLocalActivities<Activities>({ startToCloseTimeout: '10 seconds' });

/** Input: the bridge's start argument on a first run, the carry on a continued one. */
async function tally(input: StartArgs | Carry): Promise<never> {
  // Handlers first, before any await: a signal delivered with the start is
  // buffered, never dropped. The handler only queues; the loop applies.
  const queue: SignalBatch[] = [];
  wf.setHandler(eventsSignal, (batch) => {
    queue.push(batch);
  });
  let carry: Carry;
  if (isCarry(input)) {
    carry = input;
  } else {
    // The first run reads the worker's config once (recorded in history as
    // a local activity marker) and every later run carries it, so a replay
    // or a worker started with other settings decides the same.
    carry = firstCarry(input.entity_id, await tallyConfig());
  }
  queue.unshift(...(carry.backlog ?? []));
  delete carry.backlog;
  const t = new Tally(wf.workflowInfo().workflowId, carry);
  wf.setHandler(statusQuery, () => t.status);
  wf.setHandler(stateQuery, () => t.state);

  const publisher = wf.proxyActivities<Publisher>({
    taskQueue: t.config.milestoneTaskQueue,
    startToCloseTimeout: '30 seconds',
    // No maximumAttempts: retried until Kafka takes them; ids make repeats harmless.
    retry: { initialInterval: '1 second', backoffCoefficient: 2, maximumInterval: '30 seconds' },
  });
  let runSignals = 0;
  let roundsDue = 0;
  // A new target build (Worker Versioning) also ends the run, after a
  // signal: the next run starts on it (see continueAsNew below).
  const due = () => {
    const info = wf.workflowInfo();
    return runSignals >= t.config.maxSignalsPerRun || info.continueAsNewSuggested ||
      (runSignals > 0 && info.targetWorkerDeploymentVersionChanged);
  };
  // AUTO_UPGRADE: a Pinned run's next run starts on the deployment's
  // current build instead of inheriting the pin; unversioned workers ignore it.
  const continueAsNew = wf.makeContinueAsNewFunc<typeof tally>({ initialVersioningBehavior: 'AUTO_UPGRADE' });
  for (;;) {
    await wf.condition(() => queue.length > 0 || due());
    const milestones: Milestone[] = [];
    while (queue.length > 0) {
      milestones.push(...t.applyBatch(queue.shift()!, new Date()));
      runSignals++;
    }
    if (milestones.length > 0) {
      await publisher[PUBLISH_MILESTONES](milestones);
    }
    if (!due()) continue;
    // Signals may have arrived while the milestones were published: apply
    // them first (back to the top). Between this check and continueAsNew
    // there is no await, so no delivered signal is left unread.
    if (queue.length > 0 && ++roundsDue <= DRAIN_ROUNDS) continue;
    const next = t.carry();
    if (queue.length > 0) {
      // A steady stream keeps delivering: carry what is queued, unapplied,
      // if it is small; the next run applies it first.
      if (JSON.stringify(queue).length > MAX_BACKLOG_BYTES) continue;
      next.backlog = queue.splice(0);
    }
    wf.log.info('continuing as new', { signals: runSignals, backlog: next.backlog?.length ?? 0, drainRounds: roundsDue });
    await continueAsNew(next);
  }
}

// The workflow type is the export's name; a dotted name needs the string form.
export { tally as 'ts.Tally' };
