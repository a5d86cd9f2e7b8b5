import type { MetricsReportDto } from '@determined-ts/api';
import { expect, it } from 'vitest';

import { expectError } from '../../test/expect-error.js';
import { addTrial, call, reportCheckpoint, reportMetric, seedTrial } from '../../test/flow.js';
import { describeEachDialect } from '../../test/helpers.js';
import type { TestMaster } from '../../test/helpers.js';

interface Linked {
  token: string;
  modelId: number;
  checkpoint: string;
  other: string;
  inferenceTrialId: number;
}

/**
 * A model `m` whose version 1 is a training trial's checkpoint, and a second trial (the
 * inference job) that reports two `inference` reports and one validation.
 */
async function linkedSetup(m: TestMaster): Promise<Linked> {
  const training = await seedTrial(m);
  const checkpoint = await reportCheckpoint(m, training, 10);
  const other = await reportCheckpoint(m, training, 20);
  const { model } = await call<{ model: { id: number } }>(
    m,
    training.token,
    'POST',
    '/api/v1/models',
    {
      name: 'm',
    },
  );
  await call(m, training.token, 'POST', '/api/v1/models/m/versions', {
    checkpointUuid: checkpoint,
  });
  await call(m, training.token, 'PUT', '/api/v1/models/m/aliases/prod', { version: 1 });
  const inference = await addTrial(m, training);
  await reportMetric(m, inference, 'inference', 1, { accuracy: 0.5 });
  await reportMetric(m, inference, 'inference', 2, { accuracy: 0.75 });
  await reportMetric(m, inference, 'validation', 2, { loss: 0.25 });
  return {
    token: training.token,
    modelId: model.id,
    checkpoint,
    other,
    inferenceTrialId: inference.trialId,
  };
}

function report(l: Linked, body: Record<string, unknown>) {
  return {
    trialSourceInfo: { trialId: l.inferenceTrialId, checkpointUuid: l.checkpoint, ...body },
  };
}

async function metrics(m: TestMaster, token: string, path: string): Promise<MetricsReportDto[]> {
  return (await call<{ metrics: MetricsReportDto[] }>(m, token, 'GET', path)).metrics;
}

const summary = (reports: MetricsReportDto[]) =>
  reports.map((r) => [r.trialId, r.group, r.totalBatches, r.metrics]);

describeEachDialect('trial source infos', ({ master }) => {
  it('shows what an inference trial reports under the version and the checkpoint it used', async () => {
    const m = master();
    const l = await linkedSetup(m);
    expect(await metrics(m, l.token, '/api/v1/models/m/versions/1/metrics')).toEqual([]);

    const answer = await call(
      m,
      l.token,
      'POST',
      '/api/v1/trial-source-info',
      report(l, {
        trialSourceInfoType: 'TRIAL_SOURCE_INFO_TYPE_INFERENCE',
        modelId: l.modelId,
        modelVersion: 1,
      }),
    );
    expect(answer).toEqual({ trialId: l.inferenceTrialId, checkpointUuid: l.checkpoint });

    const inference = [
      [l.inferenceTrialId, 'inference', 1, { avg_metrics: { accuracy: 0.5 } }],
      [l.inferenceTrialId, 'inference', 2, { avg_metrics: { accuracy: 0.75 } }],
    ];
    const all = [
      ...inference,
      [l.inferenceTrialId, 'validation', 2, { validation_metrics: { loss: 0.25 } }],
    ];
    const base = '/api/v1/models/m/versions';
    const query = 'trialSourceInfoType=TRIAL_SOURCE_INFO_TYPE_INFERENCE&metricGroup=inference';
    expect(summary(await metrics(m, l.token, `${base}/1/metrics?${query}`))).toEqual(inference);
    expect(summary(await metrics(m, l.token, `${base}/prod/metrics?${query}`))).toEqual(inference);
    expect(summary(await metrics(m, l.token, `${base}/1/metrics`))).toEqual(all);
    expect(
      summary(await metrics(m, l.token, `/api/v1/checkpoints/${l.checkpoint}/metrics`)),
    ).toEqual(all);
    expect(
      await metrics(
        m,
        l.token,
        `${base}/1/metrics?trialSourceInfoType=TRIAL_SOURCE_INFO_TYPE_FINE_TUNING`,
      ),
    ).toEqual([]);
    expect(await metrics(m, l.token, `/api/v1/checkpoints/${l.other}/metrics`)).toEqual([]);
  });

  it('links a trial to a checkpoint alone, and a second report replaces the link', async () => {
    const m = master();
    const l = await linkedSetup(m);
    await call(
      m,
      l.token,
      'POST',
      '/api/v1/trial-source-info',
      report(l, {
        trialSourceInfoType: 'TRIAL_SOURCE_INFO_TYPE_FINE_TUNING',
      }),
    );
    const path = `/api/v1/checkpoints/${l.checkpoint}/metrics?trialSourceInfoType=TRIAL_SOURCE_INFO_TYPE_FINE_TUNING&metricGroup=validation`;
    expect(summary(await metrics(m, l.token, path))).toEqual([
      [l.inferenceTrialId, 'validation', 2, { validation_metrics: { loss: 0.25 } }],
    ]);
    // Linked to the checkpoint only: the version shows nothing.
    expect(await metrics(m, l.token, '/api/v1/models/m/versions/1/metrics')).toEqual([]);

    await call(
      m,
      l.token,
      'POST',
      '/api/v1/trial-source-info',
      report(l, {
        trialSourceInfoType: 'TRIAL_SOURCE_INFO_TYPE_INFERENCE',
        modelId: l.modelId,
        modelVersion: 1,
      }),
    );
    expect(await metrics(m, l.token, path)).toEqual([]);
    expect(await metrics(m, l.token, '/api/v1/models/m/versions/1/metrics')).toHaveLength(3);
  });

  it('drops the link with the version it names', async () => {
    const m = master();
    const l = await linkedSetup(m);
    await call(
      m,
      l.token,
      'POST',
      '/api/v1/trial-source-info',
      report(l, {
        trialSourceInfoType: 'TRIAL_SOURCE_INFO_TYPE_INFERENCE',
        modelId: l.modelId,
        modelVersion: 1,
      }),
    );
    await call(m, l.token, 'DELETE', '/api/v1/models/m/aliases/prod');
    await call(m, l.token, 'DELETE', '/api/v1/models/m/versions/1');
    expect(await metrics(m, l.token, `/api/v1/checkpoints/${l.checkpoint}/metrics`)).toEqual([]);
  });

  it('refuses links to what does not exist or does not match, naming it', async () => {
    const m = master();
    const l = await linkedSetup(m);
    const post = (body: unknown) =>
      m.request('POST', '/api/v1/trial-source-info', { token: l.token, body });
    const inference = { trialSourceInfoType: 'TRIAL_SOURCE_INFO_TYPE_INFERENCE' };
    await expectError(
      await post({ trialSourceInfo: { ...report(l, inference).trialSourceInfo, trialId: 999 } }),
      404,
      "trial '999' not found",
    );
    await expectError(
      await post({
        trialSourceInfo: {
          ...report(l, inference).trialSourceInfo,
          checkpointUuid: '00000000-0000-4000-8000-fffffffffff0',
        },
      }),
      404,
      "checkpoint '00000000-0000-4000-8000-fffffffffff0' not found",
    );
    await expectError(
      await post(report(l, { ...inference, modelId: l.modelId })),
      400,
      'modelId and modelVersion go together',
    );
    await expectError(
      await post(report(l, { ...inference, modelId: l.modelId, modelVersion: 7 })),
      404,
      'version 7 for model',
    );
    await expectError(
      await post({
        trialSourceInfo: {
          ...report(l, inference).trialSourceInfo,
          checkpointUuid: l.other,
          modelId: l.modelId,
          modelVersion: 1,
        },
      }),
      400,
      `checkpoint ${l.other} is not the checkpoint of version 1 of model "m"`,
    );
    await expectError(
      await post(report(l, { trialSourceInfoType: 'TRIAL_SOURCE_INFO_TYPE_UNSPECIFIED' })),
      400,
      'invalid trialSourceInfoType',
    );
    await expectError(
      await post(report(l, { trialSourceInfoType: 'SIDEWAYS' })),
      400,
      "invalid trialSourceInfoType 'SIDEWAYS'",
    );
    await expectError(
      await m.request('GET', '/api/v1/models/m/versions/1/metrics?trialSourceInfoType=SIDEWAYS', {
        token: l.token,
      }),
      400,
      "invalid trialSourceInfoType 'SIDEWAYS'",
    );
  });
});
