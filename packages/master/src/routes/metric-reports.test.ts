import { expect, it } from 'vitest';

import { call, seedTrial, sendMetrics } from '../../test/flow.js';
import type { Seeded } from '../../test/flow.js';
import type { TestMaster } from '../../test/helpers.js';
import { describeEachDialect } from '../../test/helpers.js';

async function storedSteps(m: TestMaster, s: Seeded, group: string): Promise<number[]> {
  const res = await m.request(
    'GET',
    `/api/v1/trials/metrics/trial_metrics?trialIds=${s.trialId}&group=${group}`,
    { token: s.token },
  );
  expect(res.status).toBe(200);
  const lines = (await res.text()).split('\n').filter((l) => l !== '');
  return lines
    .flatMap(
      (l) => (JSON.parse(l) as { result: { metrics: { totalBatches: number }[] } }).result.metrics,
    )
    .map((r) => r.totalBatches)
    .sort((a, b) => a - b);
}

describeEachDialect('concurrent metric reports', ({ master }) => {
  it('stores every accepted report and nothing of the rejected ones', async () => {
    const m = master();
    const s = await seedTrial(m);
    // Sent at once, so on SQLite they share one commit; each must still stand alone.
    const responses = await Promise.all([
      ...Array.from({ length: 8 }, (_, i) =>
        sendMetrics(m, s, 'training', (i + 1) * 10, { loss: i }),
      ),
      sendMetrics(m, s, 'training', 90, { loss: 9 }, s.runId + 5),
      sendMetrics(m, s, 'validation', 40, { validation_loss: 0.5 }),
      sendMetrics(m, s, 'validation', 40, { validation_loss: 0.7 }),
    ]);
    const statuses = responses.map((r) => r.status);
    expect(statuses.slice(0, 8)).toEqual(Array.from({ length: 8 }, () => 200));
    expect(statuses[8]).toBe(400);
    const stale = (await responses[8]?.json()) as { message: string };
    expect(stale.message).toMatch(/invalid run id/);
    // Two different values for one key at one step: one is stored, the other refused (which
    // one is a race on PostgreSQL, where each report has its own connection).
    expect(statuses.slice(9).sort()).toEqual([200, 400]);
    expect(await storedSteps(m, s, 'training')).toEqual([10, 20, 30, 40, 50, 60, 70, 80]);
    expect(await storedSteps(m, s, 'validation')).toEqual([40]);
    const { trial } = await call<{ trial: { totalBatchesProcessed: number } }>(
      m,
      s.token,
      'GET',
      `/api/v1/trials/${s.trialId}`,
    );
    expect(trial.totalBatchesProcessed).toBe(80);
  });
});

/** A report with batch metrics, as the SDK sends a training report. */
function sendReport(
  m: TestMaster,
  s: Seeded,
  steps: number,
  avgMetrics: Record<string, unknown>,
  batchMetrics: Record<string, unknown>[],
): Promise<Response> {
  return m.request('POST', `/api/v1/trials/${s.trialId}/metrics`, {
    token: s.token,
    body: {
      group: 'training',
      metrics: {
        trialId: s.trialId,
        trialRunId: s.runId,
        stepsCompleted: steps,
        reportTime: null,
        metrics: { avgMetrics, batchMetrics },
      },
    },
  });
}

/** The live training rows of the trial: steps, metrics and end time of each. */
async function trainingRows(
  m: TestMaster,
  s: Seeded,
): Promise<{ totalBatches: number; metrics: unknown; endTime: string }[]> {
  const res = await m.request(
    'GET',
    `/api/v1/trials/metrics/trial_metrics?trialIds=${s.trialId}&group=training`,
    { token: s.token },
  );
  expect(res.status).toBe(200);
  return (await res.text())
    .split('\n')
    .filter((l) => l !== '')
    .flatMap(
      (l) =>
        (
          JSON.parse(l) as {
            result: { metrics: { totalBatches: number; metrics: unknown; endTime: string }[] };
          }
        ).result.metrics,
    );
}

async function lossSummary(m: TestMaster, s: Seeded): Promise<unknown> {
  const { trial } = await call<{
    trial: { summaryMetrics: { avg_metrics: { loss: unknown } } | null };
  }>(m, s.token, 'GET', `/api/v1/trials/${s.trialId}`);
  return trial.summaryMetrics?.avg_metrics.loss;
}

describeEachDialect('retried metric reports', ({ master }) => {
  it('answers a repeated report 200 and changes nothing', async () => {
    const m = master();
    const s = await seedTrial(m);
    const first = await sendReport(m, s, 10, { loss: 0.5 }, [{ loss: 0.4 }, { loss: 0.6 }]);
    expect(first.status).toBe(200);
    const before = await trainingRows(m, s);
    const summary = await lossSummary(m, s);
    expect(summary).toMatchObject({ count: 1, sum: 0.5 });
    for (let i = 0; i < 3; i += 1) {
      const again = await sendReport(m, s, 10, { loss: 0.5 }, [{ loss: 0.4 }, { loss: 0.6 }]);
      expect(again.status).toBe(200);
    }
    // The same row, end time included: a retry is not a later report.
    expect(await trainingRows(m, s)).toEqual(before);
    expect(await lossSummary(m, s)).toEqual(summary);
  });

  it('keeps refusing a different value at the same steps', async () => {
    const m = master();
    const s = await seedTrial(m);
    expect((await sendReport(m, s, 10, { loss: 0.5 }, [{ loss: 0.4 }])).status).toBe(200);
    const batch = await sendReport(m, s, 10, { loss: 0.5 }, [{ loss: 0.9 }]);
    expect(batch.status).toBe(400);
    expect(((await batch.json()) as { message: string }).message).toMatch(
      /batch metrics of group 'training' at step 10 were already reported with different values/,
    );
    const avg = await sendReport(m, s, 10, { loss: 0.6 }, [{ loss: 0.4 }]);
    expect(avg.status).toBe(400);
    expect((await trainingRows(m, s)).map((r) => r.metrics)).toEqual([
      { avg_metrics: { loss: 0.5 }, batch_metrics: [{ loss: 0.4 }] },
    ]);
  });

  it('leaves one row when copies of a report race', async () => {
    const m = master();
    const s = await seedTrial(m);
    const responses = await Promise.all(
      Array.from({ length: 6 }, () => sendReport(m, s, 20, { loss: 0.25 }, [{ loss: 0.2 }])),
    );
    expect(responses.map((r) => r.status)).toEqual(Array.from({ length: 6 }, () => 200));
    const rows = await trainingRows(m, s);
    expect(rows.map((r) => [r.totalBatches, r.metrics])).toEqual([
      [20, { avg_metrics: { loss: 0.25 }, batch_metrics: [{ loss: 0.2 }] }],
    ]);
    expect(await lossSummary(m, s)).toMatchObject({ count: 1, sum: 0.25 });
  });
});
