import { expect, it } from 'vitest';

import { call, reportCheckpoint, reportMetric, seedTrial } from '../../test/flow.js';
import { describeEachDialect } from '../../test/helpers.js';

describeEachDialect('a checkpoint and its validation reported at the same moment', ({ master }) => {
  it('always join, whichever commits first', async () => {
    const m = master();
    const s = await seedTrial(m);
    const steps = Array.from({ length: 25 }, (_, i) => (i + 1) * 10);
    await Promise.all(
      steps.flatMap((step) => [
        reportCheckpoint(m, s, step),
        reportMetric(m, s, 'validation', step, { validation_loss: 1000 - step }),
      ]),
    );
    // Best is the largest step (smallest loss); every checkpoint must carry its searcher value.
    const page = await call<{
      checkpoints: {
        metadata: { steps_completed: number };
        training: { searcherMetric?: number };
      }[];
    }>(
      m,
      s.token,
      'GET',
      `/api/v1/trials/${s.trialId}/checkpoints?sortByAttr=SORT_BY_SEARCHER_METRIC`,
    );
    expect(page.checkpoints.map((c) => c.metadata.steps_completed)).toEqual([...steps].reverse());
    const best = await call<{ checkpoints: { metadata: { steps_completed: number } }[] }>(
      m,
      s.token,
      'GET',
      `/api/v1/trials/${s.trialId}/checkpoints?sortByAttr=SORT_BY_SEARCHER_METRIC&states=STATE_COMPLETED&limit=1`,
    );
    expect(best.checkpoints[0]?.metadata.steps_completed).toBe(250);
    // The stored, indexed value agrees with the read-time join for every row.
    const rows = await m.deps.db.kysely
      .selectFrom('checkpoints')
      .select(['steps_completed', 'searcher_metric'])
      .execute();
    expect(rows.every((r) => r.searcher_metric === 1000 - (r.steps_completed ?? 0))).toBe(true);
  });
});
