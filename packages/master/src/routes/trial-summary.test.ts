import type { ExperimentDto, TrialDto } from '@determined-ts/api';
import { expect, it } from 'vitest';

import {
  addTrial,
  call,
  reportCheckpoint,
  reportMetric,
  seedTrial,
  sendMetrics,
} from '../../test/flow.js';
import type { Seeded } from '../../test/flow.js';
import { describeEachDialect } from '../../test/helpers.js';
import type { TestMaster } from '../../test/helpers.js';
import { computeTrialAggregates } from '../services/trial-summary.js';

/*
 * The trial aggregates Determined keeps and our master now fills: `summaryMetrics`,
 * `bestValidation`, `latestValidation`, `searcherMetricValue`, checkpoint totals, and the
 * experiment's best trial, all through the HTTP surface.
 */

async function getTrial(m: TestMaster, s: Seeded, trialId = s.trialId): Promise<TrialDto> {
  return (await call<{ trial: TrialDto }>(m, s.token, 'GET', `/api/v1/trials/${trialId}`)).trial;
}

async function getExperimentDto(m: TestMaster, s: Seeded): Promise<ExperimentDto> {
  return (
    await call<{ experiment: ExperimentDto }>(
      m,
      s.token,
      'GET',
      `/api/v1/experiments/${s.experimentId}`,
    )
  ).experiment;
}

/** The aggregates recomputed from scratch, as the migration and a restart compute them. */
async function recomputed(m: TestMaster, s: Seeded, smallerIsBetter = true) {
  return computeTrialAggregates(m.deps.db.kysely, s.trialId, {
    metric: 'validation_loss',
    smallerIsBetter,
  });
}

/** What the trial row holds, in the shape of {@link computeTrialAggregates}. */
async function stored(m: TestMaster, s: Seeded) {
  const row = await m.deps.db.kysely
    .selectFrom('trials')
    .selectAll()
    .where('id', '=', s.trialId)
    .executeTakeFirstOrThrow();
  return {
    summary: row.summary_metrics === null ? null : (JSON.parse(row.summary_metrics) as unknown),
    bestValidationId: row.best_validation_id,
    latestValidationId: row.latest_validation_id,
    searcherMetricValue: row.searcher_metric_value,
  };
}

describeEachDialect('trial summaries', ({ master }) => {
  it('starts with no summary, no validations and no searcher value', async () => {
    const m = master();
    const s = await seedTrial(m);
    const trial = await getTrial(m, s);
    expect(trial).toMatchObject({
      summaryMetrics: null,
      bestValidation: null,
      latestValidation: null,
      bestCheckpoint: null,
      checkpointCount: 0,
      totalCheckpointSize: '0',
    });
    expect(trial).not.toHaveProperty('searcherMetricValue');
  });

  it('summarises every group as Determined does: count, sum, min, max, mean and last', async () => {
    const m = master();
    const s = await seedTrial(m);
    await reportMetric(m, s, 'training', 1, { loss: 4, lr: 0.1, phase: 'warmup' });
    await reportMetric(m, s, 'training', 2, { loss: 2, lr: 0.1, phase: 'main' });
    await reportMetric(m, s, 'validation', 2, { validation_loss: 0.5, accuracy: 0.8 });
    await reportMetric(m, s, 'validation', 4, { validation_loss: 0.3 });
    await reportMetric(m, s, 'inference', 5, { latency_ms: 7 });
    const trial = await getTrial(m, s);
    expect(trial.summaryMetrics).toEqual({
      avg_metrics: {
        loss: { type: 'number', count: 2, sum: 6, min: 2, max: 4, mean: 3, last: 2 },
        lr: { type: 'number', count: 2, sum: 0.2, min: 0.1, max: 0.1, mean: 0.1, last: 0.1 },
        phase: { type: 'string', last: 'main' },
      },
      validation_metrics: {
        validation_loss: {
          type: 'number',
          count: 2,
          sum: 0.8,
          min: 0.3,
          max: 0.5,
          mean: 0.4,
          last: 0.3,
        },
        // Absent from the latest validation: its last is null, as Determined keeps it.
        accuracy: { type: 'number', count: 1, sum: 0.8, min: 0.8, max: 0.8, mean: 0.8, last: null },
      },
      inference: {
        latency_ms: { type: 'number', count: 1, sum: 7, min: 7, max: 7, mean: 7, last: 7 },
      },
    });
    expect(await stored(m, s)).toEqual(await recomputed(m, s));
  });

  it('types booleans, dates, objects, arrays and nulls, and turns a metric of two types into a string', async () => {
    const m = master();
    const s = await seedTrial(m);
    await reportMetric(m, s, 'training', 1, {
      done: false,
      at: '2025-01-01T00:00:00.5+00:00',
      config: { a: 1 },
      sizes: [1, 2],
      missing: null,
      mixed: 1,
    });
    await reportMetric(m, s, 'training', 2, { mixed: 'one', done: true });
    const { summaryMetrics } = await getTrial(m, s);
    expect(summaryMetrics?.avg_metrics).toEqual({
      done: { type: 'boolean', last: true },
      at: { type: 'date', last: null },
      config: { type: 'object', last: null },
      sizes: { type: 'array', last: null },
      missing: { type: 'null', last: null },
      mixed: { type: 'string', last: 'one' },
    });
    expect(await stored(m, s)).toEqual(await recomputed(m, s));
  });

  it('counts NaN and infinities as numbers and sends their statistics as wire strings', async () => {
    const m = master();
    const s = await seedTrial(m);
    await reportMetric(m, s, 'training', 1, { loss: 1, grad: 1 });
    await reportMetric(m, s, 'training', 2, { loss: 'NaN', grad: 'Infinity' });
    await reportMetric(m, s, 'training', 3, { loss: 3, grad: '-Infinity' });
    const { summaryMetrics } = await getTrial(m, s);
    expect(summaryMetrics?.avg_metrics).toEqual({
      loss: { type: 'number', count: 3, sum: 'NaN', min: 'NaN', max: 'NaN', mean: 'NaN', last: 3 },
      grad: {
        type: 'number',
        count: 3,
        sum: 'NaN',
        min: '-Infinity',
        max: 'Infinity',
        mean: 'NaN',
        last: '-Infinity',
      },
    });
    expect(await stored(m, s)).toEqual(await recomputed(m, s));
  });

  it('counts a re-reported step once: merged keys are added, an identical re-send changes nothing', async () => {
    const m = master();
    const s = await seedTrial(m);
    await reportMetric(m, s, 'validation', 10, { validation_loss: 0.5 });
    await reportMetric(m, s, 'validation', 10, { validation_loss: 0.5 });
    await reportMetric(m, s, 'validation', 10, { accuracy: 0.9 });
    const trial = await getTrial(m, s);
    expect(trial.summaryMetrics?.validation_metrics).toEqual({
      validation_loss: {
        type: 'number',
        count: 1,
        sum: 0.5,
        min: 0.5,
        max: 0.5,
        mean: 0.5,
        last: 0.5,
      },
      accuracy: { type: 'number', count: 1, sum: 0.9, min: 0.9, max: 0.9, mean: 0.9, last: 0.9 },
    });
    // `avgMetrics`, as Determined's gateway sends it: its Python SDK reads that key.
    expect(trial.bestValidation?.metrics).toEqual({
      avgMetrics: { validation_loss: 0.5, accuracy: 0.9 },
      batchMetrics: [],
    });
    expect(await stored(m, s)).toEqual(await recomputed(m, s));
  });

  for (const smallerIsBetter of [true, false]) {
    it(`picks the best validation in the searcher's direction (smaller_is_better ${String(smallerIsBetter)}), ties to the larger step`, async () => {
      const m = master();
      const s = await seedTrial(m, { smallerIsBetter });
      const good = smallerIsBetter ? 0.2 : 0.9;
      const bad = smallerIsBetter ? 0.9 : 0.2;
      m.now.ms += 1000;
      await reportMetric(m, s, 'validation', 10, { validation_loss: bad });
      m.now.ms += 1000;
      await reportMetric(m, s, 'validation', 30, { validation_loss: good });
      m.now.ms += 1000;
      // Arrives later at a smaller step with the same value: the larger step stays best.
      await reportMetric(m, s, 'validation', 20, { validation_loss: good });
      m.now.ms += 1000;
      await reportMetric(m, s, 'validation', 40, { validation_loss: 'NaN' });
      m.now.ms += 1000;
      await reportMetric(m, s, 'validation', 50, { accuracy: 1 });
      const trial = await getTrial(m, s);
      expect(trial.bestValidation).toEqual({
        endTime: new Date(m.now.ms - 3000).toISOString(),
        totalBatches: 30,
        numInputs: 0,
        metrics: { avgMetrics: { validation_loss: good }, batchMetrics: [] },
      });
      // The latest validation that holds the searcher metric (NaN counts; none at 50).
      expect(trial.latestValidation).toEqual({
        endTime: new Date(m.now.ms - 1000).toISOString(),
        totalBatches: 40,
        numInputs: 0,
        metrics: { avgMetrics: { validation_loss: 'NaN' }, batchMetrics: [] },
      });
      expect(trial.searcherMetricValue).toBe(good);
      expect(await stored(m, s)).toEqual(await recomputed(m, s, smallerIsBetter));
    });
  }

  it('takes last and the latest validation from the largest step, whatever order reports arrive in', async () => {
    const m = master();
    const s = await seedTrial(m);
    // Two workers of one trial, or two replicas: step 20 is stored before step 10.
    await reportMetric(m, s, 'training', 20, { loss: 2, lr: 0.1 });
    m.now.ms += 10;
    await reportMetric(m, s, 'training', 10, { loss: 4, phase: 'warmup' });
    await reportMetric(m, s, 'validation', 20, { validation_loss: 0.2 });
    m.now.ms += 10;
    await reportMetric(m, s, 'validation', 10, { validation_loss: 0.1 });
    const trial = await getTrial(m, s);
    expect(trial.summaryMetrics?.avg_metrics).toEqual({
      loss: { type: 'number', count: 2, sum: 6, min: 2, max: 4, mean: 3, last: 2 },
      lr: { type: 'number', count: 1, sum: 0.1, min: 0.1, max: 0.1, mean: 0.1, last: 0.1 },
      // Only in the earlier step: absent from the latest report.
      phase: { type: 'string', last: null },
    });
    expect(trial.latestValidation?.totalBatches).toBe(20);
    expect(trial.bestValidation?.totalBatches).toBe(10);
    expect(await stored(m, s)).toEqual(await recomputed(m, s));
  });

  it('recomputes everything from the live reports when a restart archives some', async () => {
    const m = master();
    const s = await seedTrial(m);
    for (const steps of [10, 20, 30]) {
      await reportMetric(m, s, 'training', steps, { loss: steps });
    }
    await reportMetric(m, s, 'validation', 10, { validation_loss: 0.5 });
    await reportMetric(m, s, 'validation', 30, { validation_loss: 0.1 });
    expect((await getTrial(m, s)).searcherMetricValue).toBe(0.1);
    const { trialRunId } = await call<{ trialRunId: number }>(
      m,
      s.token,
      'POST',
      `/api/v1/trials/${s.trialId}/start`,
      { trialId: s.trialId, resume: true },
    );
    const restarted = { ...s, runId: trialRunId };
    // Resuming from step 10: the second run reports step 20 again, which archives 20 and 30.
    const res = await sendMetrics(m, restarted, 'training', 20, { loss: 19 }, trialRunId);
    expect(res.status).toBe(200);
    const trial = await getTrial(m, s);
    expect(trial.summaryMetrics).toEqual({
      avg_metrics: {
        loss: { type: 'number', count: 2, sum: 29, min: 10, max: 19, mean: 14.5, last: 19 },
      },
      validation_metrics: {
        validation_loss: {
          type: 'number',
          count: 1,
          sum: 0.5,
          min: 0.5,
          max: 0.5,
          mean: 0.5,
          last: 0.5,
        },
      },
    });
    expect(trial.bestValidation?.totalBatches).toBe(10);
    expect(trial.latestValidation?.totalBatches).toBe(10);
    expect(trial.searcherMetricValue).toBe(0.5);
    expect(await stored(m, s)).toEqual(await recomputed(m, s));
  });

  it('keeps the incremental aggregates equal to a full recomputation over a random history', async () => {
    const m = master();
    const s = await seedTrial(m);
    let x = 7;
    const rand = (): number => {
      x = (Math.imul(x, 1103515245) + 12345) >>> 0;
      return x / 2 ** 32;
    };
    for (let i = 0; i < 60; i += 1) {
      const steps = 1 + Math.floor(rand() * 25);
      const group = ['training', 'validation', 'custom'][Math.floor(rand() * 3)] ?? 'training';
      // Quarters add up exactly in any order; other fractions may differ in the last bit
      // between the fold (report order) and the recomputation (step order).
      // Now and then a string, so that metrics change type whatever the order.
      const pick = rand();
      const value = pick < 0.1 ? 'NaN' : pick < 0.15 ? 'warm' : Math.round(rand() * 400) / 4;
      const key = group === 'validation' && rand() < 0.8 ? 'validation_loss' : `m${i % 4}`;
      m.now.ms += 10;
      // Re-reports of a step with another value for a key are refused; that is fine here.
      await sendMetrics(m, s, group, steps, { [key]: value });
    }
    expect(await stored(m, s)).toEqual(await recomputed(m, s));
  });
});

describeEachDialect('trial and experiment totals', ({ master }) => {
  it('counts checkpoints and their bytes from the counters through patches and deletes', async () => {
    const m = master();
    const s = await seedTrial(m);
    const a = await reportCheckpoint(m, s, 10, { resources: { 'a.bin': '100', 'b.bin': '50' } });
    await reportCheckpoint(m, s, 20, { resources: { 'a.bin': '200' } });
    const c = await reportCheckpoint(m, s, 30, { resources: { 'a.bin': '400' } });
    const other = await addTrial(m, s);
    await reportCheckpoint(m, other, 5, { resources: { 'x.bin': '1000' } });
    let trial = await getTrial(m, s);
    expect([trial.checkpointCount, trial.totalCheckpointSize]).toEqual([3, '750']);
    // Partially deleted still counts, with its new size; deleted does not.
    await call(m, s.token, 'PATCH', '/api/v1/checkpoints', {
      checkpoints: [
        { uuid: a, resources: { resources: { 'a.bin': '100' } } },
        { uuid: c, resources: { resources: {} } },
      ],
    });
    trial = await getTrial(m, s);
    expect([trial.checkpointCount, trial.totalCheckpointSize]).toEqual([2, '300']);
    const experiment = await getExperimentDto(m, s);
    expect([experiment.checkpointCount, experiment.checkpointSize]).toEqual([3, '1300']);
    // The counters agree with the checkpoints themselves.
    const db = m.deps.db.kysely;
    const counters = await db.selectFrom('checkpoint_counts').selectAll().execute();
    for (const counter of counters) {
      const rows = await db
        .selectFrom('checkpoints')
        .select('size')
        .where('trial_id', '=', counter.trial_id)
        .where('state', '=', counter.state)
        .execute();
      expect([Number(counter.n), Number(counter.bytes)]).toEqual([
        rows.length,
        rows.reduce((sum, r) => sum + Number(r.size), 0),
      ]);
    }
  });

  it("names the experiment's best trial in its direction, ties to the lower trial id", async () => {
    const m = master();
    const s = await seedTrial(m, { smallerIsBetter: false });
    expect(await getExperimentDto(m, s)).not.toHaveProperty('bestTrialId');
    const t2 = await addTrial(m, s);
    const t3 = await addTrial(m, s);
    await addTrial(m, s);
    await reportMetric(m, s, 'validation', 1, { validation_loss: 0.5 });
    await reportMetric(m, t2, 'validation', 1, { validation_loss: 0.7 });
    await reportMetric(m, t3, 'validation', 1, { validation_loss: 0.7 });
    const experiment = await getExperimentDto(m, s);
    expect(experiment.bestTrialId).toBe(t2.trialId);
    expect(experiment.bestTrialSearcherMetric).toBe(0.7);
    const listed = await call<{ experiments: ExperimentDto[] }>(
      m,
      s.token,
      'GET',
      '/api/v1/experiments',
    );
    expect(listed.experiments[0]).toMatchObject({
      bestTrialId: t2.trialId,
      bestTrialSearcherMetric: 0.7,
    });
  });
});

describeEachDialect('trial listing sorts', ({ master }) => {
  /**
   * Four trials: A best 0.3 (latest 0.5), B best 0.1 (latest 0.1), C no validation, D best 0.2
   * with a latest NaN; checkpoint sizes 100, 300, 0, 200; A and B end, C and D still run.
   */
  async function fourTrials(m: TestMaster, smallerIsBetter = true) {
    const a = await seedTrial(m, { smallerIsBetter });
    const b = await addTrial(m, a);
    const c = await addTrial(m, a);
    const d = await addTrial(m, a);
    const start = m.now.ms;
    await reportMetric(m, a, 'validation', 1, { validation_loss: 0.3 });
    await reportMetric(m, a, 'validation', 2, { validation_loss: 0.5 });
    await reportMetric(m, b, 'validation', 1, { validation_loss: 0.1 });
    await reportMetric(m, d, 'validation', 1, { validation_loss: 0.2 });
    await reportMetric(m, d, 'validation', 2, { validation_loss: 'NaN' });
    await reportMetric(m, c, 'training', 1, { loss: 1 });
    await reportCheckpoint(m, a, 1, { resources: { 'w.bin': '100' } });
    await reportCheckpoint(m, b, 1, { resources: { 'w.bin': '300' } });
    await reportCheckpoint(m, d, 1, { resources: { 'w.bin': '200' } });
    m.now.ms = start + 50_000;
    await call(m, a.token, 'PATCH', `/api/v1/trials/${b.trialId}`, { state: 'STATE_COMPLETED' });
    m.now.ms = start + 90_000;
    await call(m, a.token, 'PATCH', `/api/v1/trials/${a.trialId}`, { state: 'STATE_COMPLETED' });
    m.now.ms = start + 200_000;
    return { a, b, c, d };
  }

  async function order(m: TestMaster, s: Seeded, query: string): Promise<number[]> {
    const { trials } = await call<{ trials: TrialDto[] }>(
      m,
      s.token,
      'GET',
      `/api/v1/experiments/${s.experimentId}/trials?${query}`,
    );
    return trials.map((t) => t.id);
  }

  it('sorts by best and latest validation (signed: ascending is best first), missing last both ways', async () => {
    for (const smallerIsBetter of [true, false]) {
      const m = master();
      const { a, b, c, d } = await fourTrials(m, smallerIsBetter);
      const [A, B, C, D] = [a, b, c, d].map((t) => t.trialId);
      const bestFirst = smallerIsBetter ? [B, D, A] : [A, D, B];
      expect(await order(m, a, 'sortBy=SORT_BY_BEST_VALIDATION_METRIC')).toEqual([...bestFirst, C]);
      expect(
        await order(m, a, 'sortBy=SORT_BY_BEST_VALIDATION_METRIC&orderBy=ORDER_BY_DESC'),
      ).toEqual([...bestFirst.reverse(), C]);
      // D's latest is NaN: no finite value, so it sorts with the missing.
      const latest = smallerIsBetter ? [B, A] : [A, B];
      expect(await order(m, a, 'sortBy=SORT_BY_LATEST_VALIDATION_METRIC')).toEqual([
        ...latest,
        C,
        D,
      ]);
      expect(
        await order(m, a, 'sortBy=SORT_BY_LATEST_VALIDATION_METRIC&orderBy=ORDER_BY_DESC'),
      ).toEqual([...latest.reverse(), D, C]);
    }
  });

  it('sorts by checkpoint size and by duration (a running trial lasts until now)', async () => {
    const m = master();
    const { a, b, c, d } = await fourTrials(m);
    const [A, B, C, D] = [a, b, c, d].map((t) => t.trialId);
    expect(await order(m, a, 'sortBy=SORT_BY_CHECKPOINT_SIZE')).toEqual([C, A, D, B]);
    expect(await order(m, a, 'sortBy=SORT_BY_CHECKPOINT_SIZE&orderBy=ORDER_BY_DESC')).toEqual([
      B,
      D,
      A,
      C,
    ]);
    // B lasted 50 s, A 90 s, C and D run for 200 s so far (tie: by id).
    expect(await order(m, a, 'sortBy=SORT_BY_DURATION')).toEqual([B, A, C, D]);
    expect(await order(m, a, 'sortBy=SORT_BY_DURATION&orderBy=ORDER_BY_DESC')).toEqual([
      D,
      C,
      A,
      B,
    ]);
    // End time: running trials have none and come last both ways.
    expect(await order(m, a, 'sortBy=SORT_BY_END_TIME')).toEqual([B, A, C, D]);
    expect(await order(m, a, 'sortBy=SORT_BY_END_TIME&orderBy=ORDER_BY_DESC')).toEqual([
      A,
      B,
      D,
      C,
    ]);
    expect(await order(m, a, 'sortBy=SORT_BY_LOG_RETENTION_DAYS&orderBy=ORDER_BY_DESC')).toEqual([
      D,
      C,
      B,
      A,
    ]);
    const page = await call<{ trials: TrialDto[]; pagination: { total: number } }>(
      m,
      a.token,
      'GET',
      `/api/v1/experiments/${a.experimentId}/trials?sortBy=SORT_BY_CHECKPOINT_SIZE&offset=1&limit=2`,
    );
    expect(page.trials.map((t) => [t.id, t.totalCheckpointSize])).toEqual([
      [A, '100'],
      [D, '200'],
    ]);
    expect(page.pagination.total).toBe(4);
  });
});
