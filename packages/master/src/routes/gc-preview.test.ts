import { expect, it } from 'vitest';

import { call, seedTrial } from '../../test/flow.js';
import {
  checkpointAt,
  endTrials,
  labels,
  register,
  setState,
  workedExample,
} from '../../test/gc.js';
import { expectError } from '../../test/expect-error.js';
import { describeEachDialect } from '../../test/helpers.js';
import type { TestMaster } from '../../test/helpers.js';

/*
 * `GET /experiments/{id}/preview_gc` (reference §4, §9.5): upstream's JSON, CapitalisedGoNames,
 * `[]` never null, `step.validation` on entries with a validation, and our `summary`.
 */

interface PreviewEntry {
  UUID: string;
  TrialID: number;
  [key: string]: unknown;
}

interface Preview {
  metric_name: string;
  checkpoints: PreviewEntry[];
  summary: {
    policy: { saveExperimentBest: number; saveTrialBest: number; saveTrialLatest: number };
    deleteCount: number;
    deleteBytes: number;
    keepCount: number;
    keepBytes: number;
  };
}

const previewPath = (id: number | string, query: string): string =>
  `/experiments/${id}/preview_gc?${query}`;

async function preview(
  m: TestMaster,
  token: string,
  id: number,
  best: number,
  trialBest: number,
  latest: number,
): Promise<Preview> {
  await endTrials(m, id);
  return call<Preview>(
    m,
    token,
    'GET',
    previewPath(
      id,
      `save_experiment_best=${best}&save_trial_best=${trialBest}&save_trial_latest=${latest}`,
    ),
  );
}

describeEachDialect('GET /experiments/:id/preview_gc', ({ master }) => {
  it('lists what the policy deletes in upstream’s shape, with a summary', async () => {
    const m = master();
    const ex = await workedExample(m);
    const { token, experimentId } = ex.a;
    const got = await preview(m, token, experimentId, 0, 1, 1);
    expect(got.metric_name).toBe('validation_loss');
    // Sorted as the real CLI sorts them: by trial, then report time.
    expect(
      labels(
        ex,
        got.checkpoints.map((c) => c.UUID),
      ),
    ).toEqual(['A@100', 'A@200', 'A@400', 'A@500', 'B@100', 'B@200', 'B@300', 'B@500']);
    // Each reported checkpoint has 20 + 100 bytes.
    expect(got.summary).toEqual({
      policy: { saveExperimentBest: 0, saveTrialBest: 1, saveTrialLatest: 1 },
      deleteCount: 8,
      deleteBytes: 960,
      keepCount: 4,
      keepBytes: 480,
    });

    const row = await m.deps.db.kysely
      .selectFrom('checkpoints')
      .selectAll()
      .where('uuid', '=', ex.ids['A@100'] ?? '')
      .executeTakeFirstOrThrow();
    const first = got.checkpoints[0];
    expect(first).toEqual({
      ID: row.id,
      UUID: row.uuid,
      TaskID: row.task_id,
      AllocationID: null,
      ReportTime: new Date(row.report_time).toISOString(),
      State: 'COMPLETED',
      Resources: { 'metadata.json': 20, 'model.bin': 100 },
      Metadata: { steps_completed: 100 },
      Size: 120,
      StorageID: row.storage_id,
      TrialID: ex.a.trialId,
      ExperimentID: experimentId,
      ExperimentConfig: expect.objectContaining({
        name: 'test',
        searcher: expect.objectContaining({ metric: 'validation_loss' }) as unknown,
        checkpoint_storage: expect.objectContaining({ type: 'directory' }) as unknown,
      }) as unknown,
      HParams: { lr: 0.1 },
      TrainingMetrics: null,
      ValidationMetrics: { validation_loss: 0.9 },
      SearcherMetric: 0.9,
      StepsCompleted: 100,
      step: { validation: { metrics: { validation_metrics: { validation_loss: 0.9 } } } },
    });
  });

  it('sends step only with a validation, and null, not NaN, for a non-finite metric', async () => {
    const m = master();
    const s = await seedTrial(m);
    const none = await checkpointAt(m, s, 100);
    const nan = await checkpointAt(m, s, 200, { validation_loss: 'NaN' });
    await checkpointAt(m, s, 300, { validation_loss: 0.5 });
    const got = await preview(m, s.token, s.experimentId, 0, 1, 0);
    expect(got.checkpoints.map((c) => c.UUID)).toEqual([none, nan]);
    const [noValidation, nanEntry] = got.checkpoints;
    expect(noValidation).not.toHaveProperty('step');
    expect([noValidation?.ValidationMetrics, noValidation?.SearcherMetric]).toEqual([null, null]);
    expect(nanEntry?.SearcherMetric).toBeNull();
    expect(nanEntry?.ValidationMetrics).toEqual({ validation_loss: 'NaN' });
    expect(nanEntry).toHaveProperty('step.validation');
  });

  it('answers [] (never null) when nothing is deleted, and skips ACTIVE, DELETED, registered', async () => {
    const m = master();
    const ex = await workedExample(m);
    const { token, experimentId } = ex.a;
    const keepAll = await preview(m, token, experimentId, 0, 0, 99);
    expect(keepAll.checkpoints).toEqual([]);
    expect(keepAll.summary).toMatchObject({ deleteCount: 0, deleteBytes: 0, keepCount: 12 });
    await setState(m, ex.ids['A@100'] ?? '', 'STATE_ACTIVE');
    await setState(m, ex.ids['A@200'] ?? '', 'STATE_DELETED');
    await setState(m, ex.ids['A@300'] ?? '', 'STATE_ERROR');
    await register(m, ex.a, ex.ids['B@100'] ?? '');
    const none = await preview(m, token, experimentId, 0, 0, 0);
    expect(
      labels(
        ex,
        none.checkpoints.map((c) => c.UUID),
      ),
    ).toEqual(['A@300', 'A@400', 'A@500', 'A@600', 'B@200', 'B@300', 'B@400', 'B@500', 'B@600']);
    expect(none.checkpoints[0]?.State).toBe('ERROR');
    expect(none.summary).toMatchObject({ deleteCount: 9, keepCount: 1, keepBytes: 120 });
    // An ERROR checkpoint is listed even when the policy keeps everything.
    const generous = await preview(m, token, experimentId, 99, 99, 99);
    expect(
      labels(
        ex,
        generous.checkpoints.map((c) => c.UUID),
      ),
    ).toEqual(['A@300']);
  });

  it('refuses missing, non-integer and negative parameters, naming them', async () => {
    const m = master();
    const s = await seedTrial(m);
    const cases: [string, string][] = [
      ['save_trial_best=1&save_trial_latest=1', 'missing parameter: save_experiment_best'],
      ['save_experiment_best=0&save_trial_latest=1', 'missing parameter: save_trial_best'],
      ['save_experiment_best=0&save_trial_best=1', 'missing parameter: save_trial_latest'],
      [
        'save_experiment_best=0&save_trial_best=1&save_trial_latest=',
        'missing parameter: save_trial_latest',
      ],
      [
        'save_experiment_best=x&save_trial_best=1&save_trial_latest=1',
        "invalid save_experiment_best 'x'",
      ],
      [
        'save_experiment_best=0&save_trial_best=1.5&save_trial_latest=1',
        "invalid save_trial_best '1.5'",
      ],
      [
        'save_experiment_best=0&save_trial_best=1&save_trial_latest=-1',
        "invalid save_trial_latest '-1'",
      ],
      [
        'save_experiment_best=0&save_experiment_best=1&save_trial_best=1&save_trial_latest=1',
        'save_experiment_best given 2 times',
      ],
    ];
    for (const [query, message] of cases) {
      await expectError(
        await m.request('GET', previewPath(s.experimentId, query), { token: s.token }),
        400,
        message,
      );
    }
    const ok = 'save_experiment_best=0&save_trial_best=1&save_trial_latest=1';
    await expectError(
      await m.request('GET', previewPath(999, ok), { token: s.token }),
      404,
      "experiment '999' not found",
    );
    await expectError(
      await m.request('GET', previewPath('abc', ok), { token: s.token }),
      400,
      "invalid experimentId 'abc'",
    );
  });

  it('requires a session, however the path is spelled, and leaves UI pages alone', async () => {
    const m = master();
    const s = await seedTrial(m);
    const ok = 'save_experiment_best=0&save_trial_best=1&save_trial_latest=1';
    for (const path of [
      previewPath(s.experimentId, ok),
      `/experiments/${s.experimentId}/preview%5Fgc?${ok}`,
      // The id's first digit percent-encoded: %31 is `1`, so %312 is 12.
      `/experiments/%3${s.experimentId}/preview_gc?${ok}`,
    ]) {
      await expectError(await m.request('GET', path), 401, 'token missing');
    }
    // The web UI's experiment page stays public (it sends signed-out users to the login page).
    const page = await m.request('GET', `/experiments/${s.experimentId}`, {
      headers: { accept: 'text/html' },
    });
    expect(page.status).not.toBe(401);
    // A read-only token may preview: it changes nothing.
    const me = await call<{ user: { id: number } }>(m, s.token, 'GET', '/api/v1/me');
    const { token: readOnly } = await call<{ token: string }>(
      m,
      s.token,
      'POST',
      '/api/v1/tokens',
      {
        userId: me.user.id,
        scope: 'read-only',
      },
    );
    const res = await m.request('GET', previewPath(s.experimentId, ok), { token: readOnly });
    expect(res.status).toBe(200);
  });
});
