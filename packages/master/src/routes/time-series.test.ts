import type { CompareTrialsResponse, DataPointDto } from '@determined-ts/api';
import { expect, it } from 'vitest';

import { addTrial, call, reportMetric, seedTrial, sendMetrics } from '../../test/flow.js';
import type { Seeded } from '../../test/flow.js';
import { expectError } from '../../test/expect-error.js';
import { describeEachDialect } from '../../test/helpers.js';
import type { TestMaster } from '../../test/helpers.js';

/** `GET /api/v1/trials/time-series` (Determined's CompareTrials). */
async function series(m: TestMaster, s: Seeded, query: string): Promise<CompareTrialsResponse> {
  return call<CompareTrialsResponse>(m, s.token, 'GET', `/api/v1/trials/time-series?${query}`);
}

/** Reports `count` training steps 1..count (`loss` = step), a few at a time. */
async function manySteps(m: TestMaster, s: Seeded, count: number): Promise<void> {
  for (let start = 1; start <= count; start += 25) {
    const batch = [];
    for (let steps = start; steps < Math.min(start + 25, count + 1); steps += 1) {
      batch.push(sendMetrics(m, s, 'training', steps, { loss: steps }));
    }
    for (const res of await Promise.all(batch)) {
      expect(res.status).toBe(200);
    }
  }
}

const batchesOf = (data: readonly DataPointDto[] | undefined): number[] =>
  (data ?? []).map((p) => p.batches);

describeEachDialect('trial time series', ({ master }) => {
  it('returns each group with reports as a series ordered by step, with the trial', async () => {
    const m = master();
    const s = await seedTrial(m);
    const t0 = m.now.ms;
    for (const steps of [3, 1, 2]) {
      m.now.ms = t0 + steps * 1000;
      await reportMetric(m, s, 'training', steps, { loss: 10 - steps, lr: 0.1, epoch: steps / 2 });
    }
    await reportMetric(m, s, 'validation', 2, { validation_loss: 0.5, accuracy: 0.7 });
    await reportMetric(m, s, 'inference', 3, { latency_ms: 9 });
    const body = await series(m, s, `trialIds=${s.trialId}&maxDatapoints=100`);
    expect(body.trials).toHaveLength(1);
    const [entry] = body.trials;
    expect(entry?.trial).toMatchObject({ id: s.trialId, experimentId: s.experimentId });
    // Training and validation when no group is named, in group-name order.
    expect(entry?.metrics.map((x) => [x.group, x.type])).toEqual([
      ['training', 'METRIC_TYPE_TRAINING'],
      ['validation', 'METRIC_TYPE_VALIDATION'],
    ]);
    expect(entry?.metrics[0]?.data).toEqual(
      [1, 2, 3].map((steps) => ({
        batches: steps,
        values: { loss: 10 - steps, lr: 0.1, epoch: steps / 2 },
        time: new Date(t0 + steps * 1000).toISOString(),
        epoch: steps / 2,
      })),
    );
    expect(entry?.metrics[1]?.data).toEqual([
      {
        batches: 2,
        values: { validation_loss: 0.5, accuracy: 0.7 },
        time: new Date(m.now.ms).toISOString(),
      },
    ]);
    const custom = await series(m, s, `trialIds=${s.trialId}&maxDatapoints=100&group=inference`);
    expect(custom.trials[0]?.metrics).toEqual([
      {
        group: 'inference',
        type: 'METRIC_TYPE_UNSPECIFIED',
        data: [{ batches: 3, values: { latency_ms: 9 }, time: new Date(m.now.ms).toISOString() }],
      },
    ]);
    // Determined's deprecated metricType still picks a group.
    const legacy = await series(
      m,
      s,
      `trialIds=${s.trialId}&maxDatapoints=100&metricType=METRIC_TYPE_VALIDATION`,
    );
    expect(legacy.trials[0]?.metrics.map((x) => x.group)).toEqual(['validation']);
  });

  it('keeps only the requested metrics, and only reports that hold one of them', async () => {
    const m = master();
    const s = await seedTrial(m);
    await reportMetric(m, s, 'training', 1, { loss: 1, lr: 0.5 });
    await reportMetric(m, s, 'training', 2, { loss: 2 });
    await reportMetric(m, s, 'training', 3, { loss: 3, lr: 0.25, 'odd "name"': 7 });
    await reportMetric(m, s, 'training', 4, { loss: 4, lr: null });
    await reportMetric(m, s, 'validation', 2, { validation_loss: 0.5 });
    const lr = await series(m, s, `trialIds=${s.trialId}&maxDatapoints=10&metricNames=lr`);
    // No validation holds lr, so that group is left out; a null value is no value.
    expect(lr.trials[0]?.metrics.map((x) => x.group)).toEqual(['training']);
    expect(lr.trials[0]?.metrics[0]?.data.map((p) => [p.batches, p.values])).toEqual([
      [1, { lr: 0.5 }],
      [3, { lr: 0.25 }],
    ]);
    const both = await series(
      m,
      s,
      `trialIds=${s.trialId}&maxDatapoints=10&metricNames=lr&metricNames=validation_loss&metricNames=${encodeURIComponent('odd "name"')}`,
    );
    expect(
      both.trials[0]?.metrics.map((x) => [x.group, x.data.map((p) => [p.batches, p.values])]),
    ).toEqual([
      [
        'training',
        [
          [1, { lr: 0.5 }],
          [3, { lr: 0.25, 'odd "name"': 7 }],
        ],
      ],
      ['validation', [[2, { validation_loss: 0.5 }]]],
    ]);
  });

  it('downsamples to exactly maxDatapoints evenly spread points, the first and the last among them', async () => {
    const m = master();
    const s = await seedTrial(m);
    await manySteps(m, s, 301);
    const sample = async (query: string): Promise<number[]> =>
      batchesOf(
        (await series(m, s, `trialIds=${s.trialId}&group=training&${query}`)).trials[0]?.metrics[0]
          ?.data,
      );
    // n = 301, max 10: the first rank of each ninth of 0…300, i.e. ceil(k·300/9) for k = 0…9.
    expect(await sample('maxDatapoints=10')).toEqual([
      1, 35, 68, 101, 135, 168, 201, 235, 268, 301,
    ]);
    expect(await sample('maxDatapoints=1')).toEqual([301]);
    expect(await sample('maxDatapoints=2')).toEqual([1, 301]);
    expect(await sample('maxDatapoints=301')).toHaveLength(301);
    for (const max of [3, 7, 50, 150, 299, 300]) {
      const got = await sample(`maxDatapoints=${max}`);
      expect(got.length, `max ${max}`).toBe(max);
      expect(new Set(got).size).toBe(max);
      expect(got[0]).toBe(1);
      expect(got[got.length - 1]).toBe(301);
      expect([...got].sort((a, b) => a - b)).toEqual(got);
    }
    // Within a step range, inclusive at both ends; endBatches=0 means no end.
    expect(await sample('maxDatapoints=1000&startBatches=100&endBatches=105')).toEqual([
      100, 101, 102, 103, 104, 105,
    ]);
    expect(await sample('maxDatapoints=3&startBatches=299&endBatches=0')).toEqual([299, 300, 301]);
    expect(await sample('maxDatapoints=3&startBatches=100&endBatches=200')).toEqual([
      100, 150, 200,
    ]);
  });

  it('leaves out what a restart archived', async () => {
    const m = master();
    const s = await seedTrial(m);
    for (const steps of [1, 2, 3]) {
      await reportMetric(m, s, 'training', steps, { loss: steps });
    }
    const { trialRunId } = await call<{ trialRunId: number }>(
      m,
      s.token,
      'POST',
      `/api/v1/trials/${s.trialId}/start`,
      { trialId: s.trialId, resume: true },
    );
    expect((await sendMetrics(m, s, 'training', 2, { loss: 20 }, trialRunId)).status).toBe(200);
    const body = await series(m, s, `trialIds=${s.trialId}&maxDatapoints=10`);
    expect(body.trials[0]?.metrics[0]?.data.map((p) => [p.batches, p.values.loss])).toEqual([
      [1, 1],
      [2, 20],
    ]);
  });

  it('answers several trials in the order asked, once each, and a trial without reports with no series', async () => {
    const m = master();
    const a = await seedTrial(m);
    const b = await addTrial(m, a);
    await reportMetric(m, a, 'training', 1, { loss: 1 });
    const body = await series(
      m,
      a,
      `trialIds=${b.trialId}&trialIds=${a.trialId}&trialIds=${b.trialId}&maxDatapoints=5`,
    );
    expect(body.trials.map((t) => [t.trial.id, t.metrics.length])).toEqual([
      [b.trialId, 0],
      [a.trialId, 1],
    ]);
    // snake_case parameter names work as well, as Determined's gateway accepts them.
    const snake = await series(m, a, `trial_ids=${a.trialId}&max_datapoints=5&metric_names=loss`);
    expect(snake.trials[0]?.metrics[0]?.data).toHaveLength(1);
  });

  it('is not mistaken for a trial id, and answers bad or unknown trials with JSON errors', async () => {
    const m = master();
    const s = await seedTrial(m);
    await expectError(
      await m.request('GET', '/api/v1/trials/time-series', { token: s.token }),
      400,
      'trialIds is required',
    );
    await expectError(
      await m.request(
        'GET',
        `/api/v1/trials/time-series?trialIds=${s.trialId + 100}&maxDatapoints=1`,
        {
          token: s.token,
        },
      ),
      404,
      `trial '${s.trialId + 100}' not found`,
    );
    await expectError(
      await m.request(
        'GET',
        `/api/v1/trials/time-series?trialIds=${s.trialId}&maxDatapoints=20000`,
        {
          token: s.token,
        },
      ),
      400,
      "invalid maxDatapoints '20000'",
    );
  });
});
