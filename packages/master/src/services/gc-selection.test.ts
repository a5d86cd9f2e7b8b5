import { expect, it } from 'vitest';

import { addTrial, seedTrial } from '../../test/flow.js';
import {
  checkpointAt,
  endTrials,
  labels,
  register,
  setState,
  workedExample,
} from '../../test/gc.js';
import type { WorkedExample } from '../../test/gc.js';
import { describeEachDialect } from '../../test/helpers.js';
import type { TestMaster } from '../../test/helpers.js';
import { selectForGc } from './gc-selection.js';
import type { GcPolicy } from './gc-selection.js';

const policy = (
  saveExperimentBest: number,
  saveTrialBest: number,
  saveTrialLatest: number,
): GcPolicy => ({ saveExperimentBest, saveTrialBest, saveTrialLatest });

/** Kept and deleted uuids (by the example's labels where it has them), in the output order. */
async function select(
  m: TestMaster,
  experimentId: number,
  p: GcPolicy,
  ex?: WorkedExample,
): Promise<{ kept: string[]; toDelete: string[] }> {
  await endTrials(m, experimentId);
  const s = await selectForGc(m.deps, experimentId, p);
  const name = (uuids: string[]): string[] => (ex === undefined ? uuids : labels(ex, uuids));
  return {
    kept: name(s.kept.map((r) => r.uuid)),
    toDelete: name(s.toDelete.map((r) => r.uuid)),
  };
}

const ALL = ['100', '200', '300', '400', '500', '600'];
const A = ALL.map((s) => `A@${s}`);
const B = ALL.map((s) => `B@${s}`);
/** Output order: by trial, then report time (A's and B's checkpoints were reported in step). */
const ordered = (keep: readonly string[]): string[] => [...A, ...B].filter((l) => keep.includes(l));
const rest = (keep: readonly string[]): string[] => [...A, ...B].filter((l) => !keep.includes(l));

describeEachDialect('selectForGc', ({ master }) => {
  it('keeps what the reference worked example keeps, for each policy', async () => {
    const m = master();
    const ex = await workedExample(m);
    const cases: [GcPolicy, string[]][] = [
      [policy(0, 1, 1), ['A@300', 'A@600', 'B@400', 'B@600']],
      [policy(0, 1, 0), ['A@300', 'B@400']],
      [policy(1, 0, 0), ['B@400']],
      [policy(0, 0, 1), ['A@600', 'B@600']],
      [policy(2, 0, 0), ['B@400', 'A@300']],
      [policy(3, 0, 0), ['B@400', 'A@300', 'B@300']],
      [policy(0, 2, 0), ['A@300', 'A@400', 'B@400', 'B@300']],
      [policy(0, 0, 2), ['A@500', 'A@600', 'B@500', 'B@600']],
      [policy(0, 0, 0), []],
      // Union: the experiment's best is also a trial's best.
      [policy(1, 1, 0), ['A@300', 'B@400']],
      // More than there are: everything is kept, B@600 (no value) only by the latest rule.
      [policy(20, 20, 0), ordered([...A, ...B]).filter((l) => l !== 'B@600')],
      [policy(0, 0, 20), [...A, ...B]],
    ];
    for (const [p, keep] of cases) {
      const got = await select(m, ex.a.experimentId, p, ex);
      const label = JSON.stringify(p);
      expect(got.kept, label).toEqual(ordered(keep));
      expect(got.toDelete, label).toEqual(rest(keep));
    }
    const s = await selectForGc(m.deps, ex.a.experimentId, policy(0, 1, 1));
    expect([s.metricName, s.smallerIsBetter]).toEqual(['validation_loss', true]);
  });

  it('keeps the latest checkpoint of a trial still running, whatever the policy', async () => {
    const m = master();
    const ex = await workedExample(m);
    // A goes on (it would resume from A@600); B has ended.
    await m.deps.db.kysely
      .updateTable('trials')
      .set({ state: 'STATE_COMPLETED' })
      .where('id', '=', ex.b.trialId)
      .execute();
    const uuids = async (p: GcPolicy) => {
      const s = await selectForGc(m.deps, ex.a.experimentId, p);
      return {
        kept: labels(
          ex,
          s.kept.map((r) => r.uuid),
        ),
        toDelete: s.toDelete.length,
      };
    };
    expect(await uuids(policy(0, 0, 0))).toEqual({ kept: ['A@600'], toDelete: 11 });
    expect(await uuids(policy(1, 0, 0))).toEqual({ kept: ['A@600', 'B@400'], toDelete: 10 });
    // The protection is one checkpoint, not one more than the policy keeps.
    expect(await uuids(policy(0, 0, 2))).toEqual({
      kept: ['A@500', 'A@600', 'B@500', 'B@600'],
      toDelete: 8,
    });
  });

  it('ranks best in the larger-is-better direction', async () => {
    const m = master();
    const ex = await workedExample(m, { smallerIsBetter: false });
    expect((await select(m, ex.a.experimentId, policy(1, 0, 0), ex)).kept).toEqual(['A@100']);
    expect((await select(m, ex.a.experimentId, policy(0, 1, 0), ex)).kept).toEqual([
      'A@100',
      'B@100',
    ]);
    const s = await selectForGc(m.deps, ex.a.experimentId, policy(0, 0, 0));
    expect(s.smallerIsBetter).toBe(false);
  });

  it('breaks ties in value by larger step, then later report, then smaller uuid', async () => {
    const m = master();
    const a = await seedTrial(m);
    const b = await addTrial(m, a);
    // Equal values in two trials: the larger step wins, whatever the report order.
    const b300 = await checkpointAt(m, b, 300, { validation_loss: 0.5 });
    const a200 = await checkpointAt(m, a, 200, { validation_loss: 0.5 });
    expect((await select(m, a.experimentId, policy(1, 0, 0))).kept).toEqual([b300]);
    // Equal value and step: the later report wins.
    const a300 = await checkpointAt(m, a, 300, { validation_loss: 0.5 });
    expect((await select(m, a.experimentId, policy(1, 0, 0))).kept).toEqual([a300]);
    // Equal value, step and report time: the smaller uuid wins (a strict order: one kept).
    const high = 'ffffffff-0000-4000-8000-000000000001';
    const low = '00000000-0000-4000-8000-000000000001';
    m.now.ms += 1000;
    await checkpointAt(m, b, 400, undefined, { uuid: high, sameTime: true });
    await checkpointAt(m, b, 400, { validation_loss: 0.5 }, { uuid: low, sameTime: true });
    expect((await select(m, a.experimentId, policy(1, 0, 0))).kept).toEqual([low]);
    expect((await select(m, a.experimentId, policy(0, 1, 0))).kept).toEqual([a300, low]);
    // The same order decides "latest" among equal steps.
    expect((await select(m, a.experimentId, policy(0, 0, 1))).kept).toEqual([a300, low]);
    // Both of B's step-400 checkpoints outrank its step 300 (output: by report time, uuid).
    expect((await select(m, a.experimentId, policy(0, 0, 2))).kept).toEqual([
      a200,
      a300,
      low,
      high,
    ]);
  });

  it('never keeps NaN, a missing metric or a missing validation as best', async () => {
    const m = master();
    const s = await seedTrial(m);
    const nan = await checkpointAt(m, s, 100, { validation_loss: 'NaN' });
    const inf = await checkpointAt(m, s, 200, { validation_loss: '-Infinity' });
    const otherKey = await checkpointAt(m, s, 300, { accuracy: 0.1 });
    const none = await checkpointAt(m, s, 400);
    const got = await select(m, s.experimentId, policy(5, 5, 0));
    expect(got.kept).toEqual([]);
    expect(got.toDelete).toEqual([nan, inf, otherKey, none]);
    // A value anywhere wins over them.
    const worst = await checkpointAt(m, s, 50, { validation_loss: 1e9 });
    expect((await select(m, s.experimentId, policy(1, 1, 0))).kept).toEqual([worst]);
  });

  it('never counts a checkpoint without steps_completed as the latest', async () => {
    const m = master();
    const s = await seedTrial(m);
    const old = await checkpointAt(m, s, 100);
    const latest = await checkpointAt(m, s, 200);
    const unknown = await checkpointAt(m, s, null);
    expect(await select(m, s.experimentId, policy(0, 0, 1))).toEqual({
      kept: [latest],
      toDelete: [old, unknown],
    });
    // It ranks after every checkpoint with a step.
    expect((await select(m, s.experimentId, policy(0, 0, 2))).kept).toEqual([old, latest]);
    expect((await select(m, s.experimentId, policy(0, 0, 3))).kept).toEqual([old, latest, unknown]);
  });

  it('always deletes ERROR, never touches ACTIVE, never lists DELETED', async () => {
    const m = master();
    const ex = await workedExample(m);
    await setState(m, ex.ids['B@400'] ?? '', 'STATE_ERROR');
    await setState(m, ex.ids['A@600'] ?? '', 'STATE_ACTIVE');
    await setState(m, ex.ids['A@300'] ?? '', 'STATE_DELETED');
    await setState(m, ex.ids['B@300'] ?? '', 'STATE_PARTIALLY_DELETED');
    const all = [...A, ...B].filter((l) => l !== 'A@600' && l !== 'A@300');
    // Not ranked: A's best is now A@400, its latest A@500; B's best B@300 (partially deleted
    // checkpoints are live), its latest B@600.
    const keep = ['A@400', 'A@500', 'B@300', 'B@600'];
    const got = await select(m, ex.a.experimentId, policy(0, 1, 1), ex);
    expect(got.kept).toEqual(all.filter((l) => keep.includes(l)));
    expect(got.toDelete).toEqual(all.filter((l) => !keep.includes(l)));
    expect(got.toDelete).toContain('B@400');
    // Even a policy that keeps everything deletes the ERROR one.
    const generous = await select(m, ex.a.experimentId, policy(99, 99, 99), ex);
    expect(generous.toDelete).toEqual(['B@400']);
    expect(generous.kept).toEqual(all.filter((l) => l !== 'B@400'));
    // Nothing kept by a rule: ACTIVE and DELETED still appear in neither list.
    const none = await select(m, ex.a.experimentId, policy(0, 0, 0), ex);
    expect(none.kept).toEqual([]);
    expect(none.toDelete).toEqual(all);
  });

  it('keeps registered checkpoints, which still hold their rank', async () => {
    const m = master();
    const ex = await workedExample(m);
    await register(m, ex.a, ex.ids['A@100'] ?? '');
    await register(m, ex.a, ex.ids['A@300'] ?? '');
    const none = await select(m, ex.a.experimentId, policy(0, 0, 0), ex);
    expect(none.kept).toEqual(['A@100', 'A@300']);
    expect(none.toDelete).toEqual(rest(['A@100', 'A@300']));
    // A@300 is A's best: the slot is taken, the second best (A@400) is not promoted.
    const best = await select(m, ex.a.experimentId, policy(0, 1, 0), ex);
    expect(best.kept).toEqual(['A@100', 'A@300', 'B@400']);
    // A registered ERROR checkpoint is kept as well: a version points at it.
    await setState(m, ex.ids['A@100'] ?? '', 'STATE_ERROR');
    expect((await select(m, ex.a.experimentId, policy(0, 0, 0), ex)).kept).toEqual([
      'A@100',
      'A@300',
    ]);
  });

  it('selects only the experiment’s own checkpoints', async () => {
    const m = master();
    const ex = await workedExample(m);
    const other = await seedTrial(m);
    const foreign = await checkpointAt(m, other, 100, { validation_loss: 0.01 });
    const got = await select(m, ex.a.experimentId, policy(1, 0, 0), ex);
    expect(got.kept).toEqual(['B@400']);
    expect(got.toDelete).not.toContain(foreign);
    expect(await select(m, other.experimentId, policy(0, 0, 0))).toEqual({
      kept: [],
      toDelete: [foreign],
    });
  });

  it('refuses an unknown experiment and a bad policy', async () => {
    const m = master();
    await expect(selectForGc(m.deps, 999, policy(0, 1, 1))).rejects.toThrow(
      "experiment '999' not found",
    );
    const s = await seedTrial(m);
    await expect(selectForGc(m.deps, s.experimentId, policy(0, -1, 1))).rejects.toThrow(
      'invalid saveTrialBest -1',
    );
    await expect(selectForGc(m.deps, s.experimentId, policy(0.5, 1, 1))).rejects.toThrow(
      'invalid saveExperimentBest 0.5',
    );
  });
});
