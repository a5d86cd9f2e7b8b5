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
