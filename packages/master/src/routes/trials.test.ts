import { expect, it } from 'vitest';

import { call, reportCheckpoint, reportMetric, seedTrial } from '../../test/flow.js';
import { describeEachDialect } from '../../test/helpers.js';

describeEachDialect('unmanaged training flow', ({ master }) => {
  it('creates an experiment and a trial the way core_v2 does', async () => {
    const m = master();
    const s = await seedTrial(m);
    expect(s.taskId).not.toBe('');
    expect(s.runId).toBe(1);
    const { trial } = await call<{ trial: Record<string, unknown> }>(
      m,
      s.token,
      'GET',
      `/api/v1/trials/${s.trialId}`,
    );
    expect(trial).toMatchObject({
      id: s.trialId,
      experimentId: s.experimentId,
      state: 'STATE_ACTIVE',
      hparams: { lr: 0.1 },
      restarts: 0,
      totalBatchesProcessed: 0,
    });
    const exp = await call<{
      experiment: Record<string, unknown>;
      config: Record<string, unknown>;
    }>(m, s.token, 'GET', `/api/v1/experiments/${s.experimentId}`);
    expect(exp.experiment).toMatchObject({
      id: s.experimentId,
      name: 'test',
      numTrials: 1,
      unmanaged: true,
      searcherType: 'single',
      projectOwnerId: 1,
    });
    expect(exp.config).toMatchObject({
      searcher: { metric: 'validation_loss', smaller_is_better: true },
      checkpoint_storage: { type: 'directory' },
    });
  });

  it('treats a patch without state as a heartbeat that changes nothing', async () => {
    const m = master();
    const s = await seedTrial(m);
    await call(m, s.token, 'PATCH', `/api/v1/trials/${s.trialId}`, {
      trialId: s.trialId,
      state: 'STATE_RUNNING',
    });
    const { trial } = await call<{ trial: { state: string } }>(
      m,
      s.token,
      'PATCH',
      `/api/v1/trials/${s.trialId}`,
      { trialId: s.trialId },
    );
    expect(trial.state).toBe('STATE_RUNNING');
    await call(m, s.token, 'PATCH', `/api/v1/trials/${s.trialId}`, {
      trialId: s.trialId,
      state: 'STATE_COMPLETED',
    });
    const after = await call<{ trial: { state: string; endTime?: string } }>(
      m,
      s.token,
      'GET',
      `/api/v1/trials/${s.trialId}`,
    );
    expect(after.trial.state).toBe('STATE_COMPLETED');
    expect(after.trial.endTime).toBeDefined();
    const exp = await call<{ experiment: { state: string } }>(
      m,
      s.token,
      'GET',
      `/api/v1/experiments/${s.experimentId}`,
    );
    expect(exp.experiment.state).toBe('STATE_COMPLETED');
  });

  it('joins validations that arrive after their checkpoint', async () => {
    const m = master();
    const s = await seedTrial(m);
    const uuid = await reportCheckpoint(m, s, 100);
    const before = await call<{
      checkpoint: {
        training: { validationMetrics: { avgMetrics: unknown }; searcherMetric?: unknown };
      };
    }>(m, s.token, 'GET', `/api/v1/checkpoints/${uuid}`);
    expect(before.checkpoint.training.validationMetrics.avgMetrics).toBeNull();
    expect(before.checkpoint.training.searcherMetric).toBeUndefined();
    await reportMetric(m, s, 'validation', 100, { validation_loss: 0.25 });
    await reportMetric(m, s, 'training', 100, { loss: 0.5 });
    const after = await call<{ checkpoint: Record<string, unknown> }>(
      m,
      s.token,
      'GET',
      `/api/v1/checkpoints/${uuid}`,
    );
    expect(after.checkpoint).toMatchObject({
      uuid,
      state: 'STATE_COMPLETED',
      resources: { 'metadata.json': '20', 'model.bin': '100' },
      metadata: { steps_completed: 100 },
      training: {
        trialId: s.trialId,
        experimentId: s.experimentId,
        validationMetrics: { avgMetrics: { validation_loss: 0.25 }, batchMetrics: [] },
        trainingMetrics: { avgMetrics: { loss: 0.5 } },
        searcherMetric: 0.25,
        experimentConfig: { checkpoint_storage: { type: 'directory' } },
      },
    });
  });

  it('rejects a metric report with a stale run id and writes nothing', async () => {
    const m = master();
    const s = await seedTrial(m);
    await call(m, s.token, 'POST', `/api/v1/trials/${s.trialId}/start`, {
      trialId: s.trialId,
      resume: true,
    });
    const res = await m.request('POST', `/api/v1/trials/${s.trialId}/metrics`, {
      token: s.token,
      body: {
        group: 'training',
        metrics: {
          trialId: s.trialId,
          trialRunId: 1,
          stepsCompleted: 5,
          metrics: { avgMetrics: { loss: 1 } },
        },
      },
    });
    expect(res.status).toBe(400);
    expect(((await res.json()) as { message: string }).message).toBe(
      'invalid run id, 1 (reported) != 2 (expected)',
    );
    const lines = await (
      await m.request(
        'GET',
        `/api/v1/trials/metrics/trial_metrics?trialIds=${s.trialId}&group=training`,
        { token: s.token },
      )
    ).text();
    expect(lines).toBe('');
  });
});
