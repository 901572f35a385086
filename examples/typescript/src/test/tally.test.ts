// Unit tests of the tally entity, offline: the batches it reads and the
// milestones it sends are held to the contract's JSON Schemas
// (schemas/contract/, draft 2020-12) with ajv.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import Ajv2020 from 'ajv/dist/2020';
import addFormats from 'ajv-formats';
import { Milestone, REJECTED_MILESTONE, SignalBatch, MAX_REDRIVEN_IDS, boundRedriven } from '../contract';
import { Tally, firstCarry, isCarry, WORKFLOW_TYPE } from '../tally';

const contractDir = process.env.SLUICE_CONTRACT_DIR ?? path.resolve(__dirname, '../../../../schemas/contract');
const ajv = new Ajv2020({ allErrors: true, strict: true });
addFormats(ajv);
function schema(name: string) {
  const v = ajv.compile(JSON.parse(fs.readFileSync(path.join(contractDir, `${name}.schema.json`), 'utf8')));
  return (x: unknown) => {
    if (!v(x)) assert.fail(`${name}: ${ajv.errorsText(v.errors)} in ${JSON.stringify(x)}`);
  };
}
const validBatch = schema('signal-batch');
const validMilestones = schema('milestones');
const validStart = schema('start-args');

const wid = 'tally-k1';
const now = new Date('2026-12-01T10:00:00Z');
const config = { maxSignalsPerRun: 3, milestoneTaskQueue: 'sluice-entities' };

function batch(partition: number, events: [offset: number, id: string, type: string, data?: unknown, redriven?: boolean][]): SignalBatch {
  const b: SignalBatch = {
    topic: 'tallies', partition, first_offset: events[0][0], last_offset: events[events.length - 1][0],
    events: events.map(([offset, id, type, data, redriven]) => ({
      offset, id, type, source: 'test', produced_at_us: 1764583200000000 + offset, data, ...(redriven ? { redriven } : {}),
    })),
  };
  validBatch(b);
  return b;
}

test('the schemas refuse what they must (ajv is really checking)', () => {
  assert.throws(() => validBatch({ topic: 't', partition: 0, first_offset: 0, last_offset: 0, events: [] }));
  assert.throws(() => validMilestones([{ id: 'w#0', entity_id: 'k', workflow_id: 'w', workflow_type: 'x', name: 'n', seq: 0, time: 'yesterday' }]));
  validStart({ entity_id: 'k1' });
});

test('applies in order, drops redeliveries by mark and redriven ids, rejects unknown types', () => {
  const t = new Tally(wid, firstCarry('k1', config));
  const ms: Milestone[] = [];
  ms.push(...t.applyBatch(batch(0, [[0, 'e0', 'tally.added', { amount: 60 }], [1, 'e1', 'tally.added', { amount: 50 }]]), now));
  ms.push(...t.applyBatch(batch(0, [[1, 'e1', 'tally.added', { amount: 50 }], [2, 'e2', 'tally.teleported', {}]]), now));
  ms.push(...t.applyBatch(batch(1, [[0, 'f0', 'tally.cleared'], [1, 'f1', 'tally.added', { amount: 'lots' }]]), now));
  ms.push(...t.applyBatch(batch(0, [[7, 'r1', 'tally.added', { amount: 5 }, true]]), now));
  ms.push(...t.applyBatch(batch(0, [[9, 'r1', 'tally.added', { amount: 5 }, true]]), now)); // redriven again: a new offset, same id

  assert.deepEqual(t.state, { entity_id: 'k1', total: 5, count: 3, clears: 1, last_ids: ['e0', 'e1', 'f0', 'r1'] });
  assert.equal(t.status.applied, 4);
  assert.equal(t.status.rejected, 2);
  assert.equal(t.status.duplicates, 2);
  assert.equal(t.status.signals, 5);
  // A dropped repeat does not move the mark (as in Sluice's Go framework).
  assert.deepEqual(t.status.marks, { 'tallies/0': 7, 'tallies/1': 1 });
  assert.deepEqual(t.status.redriven, ['r1']);
  assert.deepEqual(ms.map((m) => [m.id, m.name]), [
    ['tally-k1#1', 'tally.crossed'], ['tally-k1#2', REJECTED_MILESTONE], ['tally-k1#3', 'tally.cleared'], ['tally-k1#4', REJECTED_MILESTONE],
  ]);
  assert.deepEqual(ms[1].data, { event_id: 'e2', event_type: 'tally.teleported', reason: 'unknown event type "tally.teleported" for ts.Tally' });
  assert.deepEqual(ms[0].cause, { event_id: 'e1', topic: 'tallies', partition: 0, offset: 1, produced_at_us: 1764583200000001 });
  assert.equal(ms[0].workflow_type, WORKFLOW_TYPE);
  validMilestones(ms);
});

test('the carry keeps marks, redriven ids, counters and the milestone sequence across Continue-As-New', () => {
  const first = new Tally(wid, firstCarry('k1', config));
  first.applyBatch(batch(2, [[10, 'a', 'tally.added', { amount: 150 }], [11, 'r', 'tally.added', { amount: 1 }, true]]), now);
  const carry = JSON.parse(JSON.stringify(first.carry())); // as Temporal's JSON converter passes it
  assert.ok(isCarry(carry));
  const second = new Tally(wid, carry);
  assert.equal(second.status.runs, 2);
  const ms = second.applyBatch(batch(2, [[11, 'r', 'tally.added', { amount: 1 }, true], [12, 'b', 'tally.added', { amount: 50 }]]), now);
  assert.equal(second.state.total, 201);
  assert.equal(second.status.duplicates, 1);
  assert.deepEqual(ms.map((m) => m.id), ['tally-k1#2']); // #1 was the first run's crossing of 100
  validMilestones(ms);
  assert.equal(isCarry({ entity_id: 'k1' }), false);
});

test('redriven ids are bounded to the newest 1,000 and 32 KiB', () => {
  const ids = Array.from({ length: 1500 }, (_, i) => `id-${i}`);
  const kept = boundRedriven(ids);
  assert.equal(kept.length, MAX_REDRIVEN_IDS);
  assert.equal(kept[kept.length - 1], 'id-1499');
  const big = boundRedriven(Array.from({ length: 100 }, (_, i) => `${i}`.padEnd(1000, 'x')));
  assert.equal(big.length, 32);
});
