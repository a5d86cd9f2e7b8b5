import { ROUTES } from '@determined-ts/api';
import type { MetricsReportDto, TrialDto } from '@determined-ts/api';
import { expect, it } from 'vitest';

import { call, reportCheckpoint, reportMetric, seedTrial, sendMetrics } from '../../test/flow.js';
import type { Seeded } from '../../test/flow.js';
import { expectError } from '../../test/expect-error.js';
import { describeEachDialect } from '../../test/helpers.js';
import type { TestMaster } from '../../test/helpers.js';

/** Reads an NDJSON answer: one JSON object per line. */
async function ndjsonLines(res: Response): Promise<unknown[]> {
  const text = await res.text();
  expect(res.status, text).toBe(200);
  expect(text === '' || text.endsWith('\n')).toBe(true);
  return text
    .split('\n')
    .filter((line) => line !== '')
    .map((line) => JSON.parse(line) as unknown);
}

/** Streams the live metrics of one trial (optionally one group), flattened across pages. */
async function streamMetrics(
  m: TestMaster,
  s: Seeded,
  group?: string,
): Promise<MetricsReportDto[]> {
  const query = group === undefined ? '' : `&group=${group}`;
  const res = await m.request(
    'GET',
    `/api/v1/trials/metrics/trial_metrics?trialIds=${s.trialId}${query}`,
    { token: s.token },
  );
  expect(res.headers.get('content-type')).toMatch(/^application\/json/);
  const lines = (await ndjsonLines(res)) as { result: { metrics: MetricsReportDto[] } }[];
  return lines.flatMap((line) => {
    expect(Object.keys(line)).toEqual(['result']);
    expect(Object.keys(line.result)).toEqual(['metrics']);
    return line.result.metrics;
  });
}

async function start(m: TestMaster, s: Seeded, resume: boolean): Promise<Response> {
  return m.request('POST', `/api/v1/trials/${s.trialId}/start`, {
    token: s.token,
    body: { trialId: s.trialId, resume },
  });
}

/** Reports metrics under a given run id, returning the raw response. */
function reportAs(
  m: TestMaster,
  s: Seeded,
  runId: number,
  group: string,
  steps: number,
  metrics: Record<string, unknown>,
): Promise<Response> {
  return sendMetrics(m, s, group, steps, metrics, runId);
}

async function metricCount(m: TestMaster): Promise<number> {
  const row = await m.deps.db.kysely
    .selectFrom('metrics')
    .select((eb) => eb.fn.countAll<number>().as('n'))
    .executeTakeFirstOrThrow();
  return Number(row.n);
}

describeEachDialect('trial routes', ({ master }) => {
  it('creates a trial once per external trial id', async () => {
    const m = master();
    const s = await seedTrial(m);
    const body = {
      createTrialRequest: { experimentId: s.experimentId, hparams: { lr: 1 }, unmanaged: true },
      externalTrialId: 'ext-1',
    };
    const first = await call<{ trial: TrialDto }>(m, s.token, 'PUT', '/api/v1/trials', body);
    const second = await call<{ trial: TrialDto }>(m, s.token, 'PUT', '/api/v1/trials', {
      ...body,
      createTrialRequest: { ...body.createTrialRequest, hparams: { lr: 2 } },
    });
    expect(second.trial.id).toBe(first.trial.id);
    expect(second.trial.hparams).toEqual({ lr: 1 });
    expect(second.trial.taskId).toBe(first.trial.taskId);
    expect(first.trial.externalTrialId).toBe('ext-1');
    expect(first.trial.taskId).not.toBe('');
    const other = await call<{ trial: TrialDto }>(m, s.token, 'PUT', '/api/v1/trials', {
      ...body,
      externalTrialId: 'ext-2',
    });
    expect(other.trial.id).not.toBe(first.trial.id);
    const { experiment } = await call<{ experiment: { numTrials: number } }>(
      m,
      s.token,
      'GET',
      `/api/v1/experiments/${s.experimentId}`,
    );
    expect(experiment.numTrials).toBe(3);
  });

  it('increments the run id on each start and refuses a second fresh start', async () => {
    const m = master();
    const token = await m.login();
    const s0 = await seedTrial(m);
    // A second trial that has never started: resume false is fine the first time.
    const { trial } = await call<{ trial: TrialDto }>(m, token, 'POST', '/api/v1/trials', {
      experimentId: s0.experimentId,
      unmanaged: true,
    });
    const s: Seeded = { ...s0, trialId: trial.id, taskId: trial.taskId ?? '', runId: 0 };
    const first = await start(m, s, false);
    expect(await first.json()).toEqual({ trialRunId: 1, stepsCompleted: 0 });
    await expectError(await start(m, s, false), 400, 'has already started');
    const resumed = await start(m, s, true);
    expect(((await resumed.json()) as { trialRunId: number }).trialRunId).toBe(2);
    const third = await start(m, s, true);
    expect(((await third.json()) as { trialRunId: number }).trialRunId).toBe(3);
    const { trial: after } = await call<{ trial: TrialDto }>(
      m,
      token,
      'GET',
      `/api/v1/trials/${trial.id}`,
    );
    expect(after.restarts).toBe(2);
  });

  it('resumes from the latest COMPLETED checkpoint', async () => {
    const m = master();
    const s = await seedTrial(m);
    expect(await (await start(m, s, true)).json()).toEqual({ trialRunId: 2, stepsCompleted: 0 });
    await reportCheckpoint(m, s, 100);
    const at150 = await reportCheckpoint(m, s, 150);
    const at200 = await reportCheckpoint(m, s, 200);
    await reportCheckpoint(m, s, 50);
    expect(await (await start(m, s, true)).json()).toEqual({
      trialRunId: 3,
      stepsCompleted: 200,
      latestCheckpoint: at200,
    });
    // A deleted checkpoint is no place to resume from.
    await call(m, s.token, 'PATCH', '/api/v1/checkpoints', {
      checkpoints: [{ uuid: at200, resources: { resources: {} } }],
    });
    expect(await (await start(m, s, true)).json()).toEqual({
      trialRunId: 4,
      stepsCompleted: 150,
      latestCheckpoint: at150,
    });
  });

  it('records progress, also from the snake_case body the Python SDK sends', async () => {
    const m = master();
    const s = await seedTrial(m);
    const progress = async (): Promise<number | null> =>
      (
        await m.deps.db.kysely
          .selectFrom('trials')
          .select('progress')
          .where('id', '=', s.trialId)
          .executeTakeFirstOrThrow()
      ).progress;
    await call(m, s.token, 'POST', `/api/v1/trials/${s.trialId}/progress`, {
      trialId: s.trialId,
      progress: 0.25,
      isRaw: false,
    });
    expect(await progress()).toBe(0.25);
    const res = await m.request('POST', `/api/v1/trials/${s.trialId}/progress`, {
      token: s.token,
      rawBody: '{"progress":1.0,"is_raw":true}',
    });
    expect(res.status).toBe(200);
    expect(await progress()).toBe(1);
    // The snake_case key is read, not ignored: a bad value under it is refused.
    await expectError(
      await m.request('POST', `/api/v1/trials/${s.trialId}/progress`, {
        token: s.token,
        rawBody: '{"progress":0.5,"is_raw":"yes"}',
      }),
      400,
      'isRaw',
    );
    expect(await progress()).toBe(1);
  });

  it('accepts the legacy training_metrics and validation_metrics routes', async () => {
    const m = master();
    const s = await seedTrial(m);
    const bare = (steps: number, metrics: Record<string, unknown>) => ({
      trialId: s.trialId,
      trialRunId: s.runId,
      stepsCompleted: steps,
      reportTime: '2025-01-01T00:00:05+00:00',
      metrics: { avgMetrics: metrics, batchMetrics: [{ loss: 1 }] },
    });
    await call(
      m,
      s.token,
      'POST',
      `/api/v1/trials/${s.trialId}/training_metrics`,
      bare(10, {
        loss: 0.5,
      }),
    );
    await call(
      m,
      s.token,
      'POST',
      `/api/v1/trials/${s.trialId}/validation_metrics`,
      bare(10, {
        validation_loss: 0.4,
      }),
    );
    const rows = await streamMetrics(m, s);
    expect(rows.map((r) => [r.group, r.totalBatches])).toEqual([
      ['training', 10],
      ['validation', 10],
    ]);
    expect(rows[0]?.metrics).toEqual({ avg_metrics: { loss: 0.5 }, batch_metrics: [{ loss: 1 }] });
    expect(rows[1]?.metrics).toEqual({ validation_metrics: { validation_loss: 0.4 } });
    expect(rows[0]?.endTime).toBe('2025-01-01T00:00:05.000Z');
    const { trial } = await call<{ trial: TrialDto }>(
      m,
      s.token,
      'GET',
      `/api/v1/trials/${s.trialId}`,
    );
    expect(trial.totalBatchesProcessed).toBe(10);
  });

  it('merges a re-report of the same group and step, and refuses a conflicting value', async () => {
    const m = master();
    const s = await seedTrial(m);
    await reportMetric(m, s, 'validation', 10, { validation_loss: 0.5 });
    await reportMetric(m, s, 'validation', 10, { accuracy: 0.9 });
    await reportMetric(m, s, 'validation', 10, { accuracy: 0.9 });
    const rows = await streamMetrics(m, s, 'validation');
    expect(rows).toHaveLength(1);
    expect(rows[0]?.metrics).toEqual({
      validation_metrics: { validation_loss: 0.5, accuracy: 0.9 },
    });
    await expectError(
      await reportAs(m, s, s.runId, 'validation', 10, { accuracy: 0.8, extra: 1 }),
      400,
      "metric 'accuracy' of group 'validation' at step 10 was already reported with a different value",
    );
    const after = await streamMetrics(m, s, 'validation');
    expect(after[0]?.metrics).toEqual({
      validation_metrics: { validation_loss: 0.5, accuracy: 0.9 },
    });
  });

  it('archives what earlier runs reported past the step a later run reports', async () => {
    const m = master();
    const s = await seedTrial(m);
    for (const steps of [10, 20, 30]) {
      await reportMetric(m, s, 'training', steps, { loss: steps });
      await reportMetric(m, s, 'validation', steps, { validation_loss: 1 / steps });
    }
    const uuid = await reportCheckpoint(m, s, 30);
    const checkpoint = async () =>
      (
        await call<{
          checkpoint: {
            training: {
              validationMetrics: { avgMetrics: unknown };
              trainingMetrics: { avgMetrics: unknown };
              searcherMetric?: unknown;
            };
          };
        }>(m, s.token, 'GET', `/api/v1/checkpoints/${uuid}`)
      ).checkpoint.training;
    expect((await checkpoint()).searcherMetric).toBe(1 / 30);

    const { trialRunId } = (await (await start(m, s, true)).json()) as { trialRunId: number };
    expect(trialRunId).toBe(2);
    const res = await reportAs(m, s, trialRunId, 'training', 20, { loss: 200 });
    expect(res.status).toBe(200);

    const live = await streamMetrics(m, s);
    expect(live.map((r) => [r.group, r.totalBatches, r.trialRunId])).toEqual([
      ['training', 10, 1],
      ['validation', 10, 1],
      ['validation', 20, 1],
      ['training', 20, 2],
    ]);
    expect(live.every((r) => !r.archived)).toBe(true);
    const archived = await m.deps.db.kysely
      .selectFrom('metrics')
      .select(['metric_group', 'total_batches'])
      .where('archived', '=', 1)
      .orderBy('id')
      .execute();
    expect(archived.map((r) => [r.metric_group, r.total_batches])).toEqual([
      ['training', 20],
      ['training', 30],
      ['validation', 30],
    ]);
    // The checkpoint at 30 no longer joins the forgotten validation.
    const training = await checkpoint();
    expect(training.validationMetrics.avgMetrics).toBeNull();
    expect(training.trainingMetrics.avgMetrics).toBeNull();
    expect(training.searcherMetric).toBeUndefined();
    // The new run can report step 30 again.
    await reportAs(m, s, trialRunId, 'validation', 30, { validation_loss: 0.7 });
    expect((await checkpoint()).searcherMetric).toBe(0.7);
  });

  it('refuses a non-numeric epoch and writes nothing', async () => {
    const m = master();
    const s = await seedTrial(m);
    await expectError(
      await reportAs(m, s, s.runId, 'training', 5, { loss: 1, epoch: 'one' }),
      400,
      "metric 'epoch' must be a number",
    );
    await expectError(
      await reportAs(m, s, s.runId, 'training', 5, { epochs: null }),
      400,
      "metric 'epochs' must be a number",
    );
    expect(await metricCount(m)).toBe(0);
    await reportMetric(m, s, 'training', 5, { loss: 1, epoch: 2 });
    expect(await metricCount(m)).toBe(1);
  });

  it('streams metrics as NDJSON with every field iter_metrics requires', async () => {
    const m = master();
    const s = await seedTrial(m);
    await reportMetric(m, s, 'training', 5, { loss: 0.9 });
    await reportMetric(m, s, 'validation', 5, { validation_loss: 0.8 });
    await reportMetric(m, s, 'inference', 5, { throughput: 3 });
    const validation = await streamMetrics(m, s, 'validation');
    expect(validation).toHaveLength(1);
    const v = validation[0];
    for (const key of [
      'id',
      'trialId',
      'trialRunId',
      'totalBatches',
      'endTime',
      'metrics',
      'group',
      'archived',
    ]) {
      expect(v, key).toHaveProperty(key);
    }
    expect(v).toMatchObject({
      trialId: s.trialId,
      trialRunId: 1,
      totalBatches: 5,
      endTime: new Date(m.now.ms).toISOString(),
      group: 'validation',
      archived: false,
      metrics: { validation_metrics: { validation_loss: 0.8 } },
    });
    expect(typeof v?.id).toBe('number');
    const training = await streamMetrics(m, s, 'training');
    expect(training.map((r) => r.metrics)).toEqual([{ avg_metrics: { loss: 0.9 } }]);
    const custom = await streamMetrics(m, s, 'inference');
    expect(custom.map((r) => r.metrics)).toEqual([{ avg_metrics: { throughput: 3 } }]);
    // `metricGroup` is accepted as the group's other name.
    const res = await m.request(
      'GET',
      `/api/v1/trials/metrics/trial_metrics?trialIds=${s.trialId}&metricGroup=inference`,
      { token: s.token },
    );
    expect(await ndjsonLines(res)).toHaveLength(1);
    expect(await streamMetrics(m, s, 'nothing')).toEqual([]);
  });

  it('pages a long stream over several lines, in report order', async () => {
    const m = master();
    const s = await seedTrial(m);
    // Written directly, in one statement: 1,001 HTTP reports would only slow the test down.
    await m.deps.db.kysely
      .insertInto('metrics')
      .values(
        Array.from({ length: 1001 }, (_, i) => ({
          trial_id: s.trialId,
          trial_run_id: 1,
          metric_group: 'training',
          total_batches: i + 1,
          end_time: m.now.ms,
          avg_metrics: JSON.stringify({ loss: i + 1 }),
          batch_metrics: null,
          archived: 0,
        })),
      )
      .execute();
    const res = await m.request(
      'GET',
      `/api/v1/trials/metrics/trial_metrics?trialIds=${s.trialId}&group=training`,
      { token: s.token },
    );
    const lines = (await ndjsonLines(res)) as { result: { metrics: MetricsReportDto[] } }[];
    expect(lines.map((l) => l.result.metrics.length)).toEqual([1000, 1]);
    const steps = lines.flatMap((l) => l.result.metrics.map((r) => r.totalBatches));
    expect(steps).toEqual(Array.from({ length: 1001 }, (_, i) => i + 1));
  });

  it('stores NaN and Infinity metric strings and returns them as strings', async () => {
    const m = master();
    const s = await seedTrial(m);
    await reportMetric(m, s, 'validation', 7, {
      validation_loss: 'NaN',
      a: 'Infinity',
      b: '-Infinity',
    });
    await reportMetric(m, s, 'training', 7, { loss: 'NaN' });
    const [v] = await streamMetrics(m, s, 'validation');
    expect(v?.metrics).toEqual({
      validation_metrics: { validation_loss: 'NaN', a: 'Infinity', b: '-Infinity' },
    });
    const [t] = await streamMetrics(m, s, 'training');
    expect(t?.metrics).toEqual({ avg_metrics: { loss: 'NaN' } });
    const uuid = await reportCheckpoint(m, s, 7);
    const { checkpoint } = await call<{
      checkpoint: {
        training: { validationMetrics: { avgMetrics: unknown }; searcherMetric?: unknown };
      };
    }>(m, s.token, 'GET', `/api/v1/checkpoints/${uuid}`);
    expect(checkpoint.training.validationMetrics.avgMetrics).toEqual({
      validation_loss: 'NaN',
      a: 'Infinity',
      b: '-Infinity',
    });
    // On the wire the raw value, as Determined sends it; never a candidate for "best".
    expect(checkpoint.training.searcherMetric).toBe('NaN');
    const row = await m.deps.db.kysely
      .selectFrom('checkpoints')
      .select('searcher_metric')
      .where('uuid', '=', uuid)
      .executeTakeFirstOrThrow();
    expect(row.searcher_metric).toBeNull();
  });

  it('stores task logs and serves them per trial as NDJSON', async () => {
    const m = master();
    const s = await seedTrial(m);
    const res = await m.request('POST', '/task-logs', {
      token: s.token,
      body: [
        { task_id: s.taskId, timestamp: '2025-01-01T00:00:01+00:00', rank: '0', log: 'hello\n' },
        { task_id: s.taskId, timestamp: null, rank: 1, log: 'world\n', stdtype: 'stderr' },
      ],
    });
    expect(res.status).toBe(200);
    const lines = (await ndjsonLines(
      await m.request('GET', `/api/v1/trials/${s.trialId}/logs`, { token: s.token }),
    )) as { result: Record<string, unknown> }[];
    expect(lines.map((l) => l.result)).toEqual([
      expect.objectContaining({
        trialId: s.trialId,
        timestamp: '2025-01-01T00:00:01.000Z',
        message: 'hello\n',
        log: 'hello\n',
        rankId: 0,
      }),
      expect.objectContaining({
        trialId: s.trialId,
        timestamp: new Date(m.now.ms).toISOString(),
        message: 'world\n',
        rankId: 1,
        stdtype: 'stderr',
      }),
    ]);
    const limited = await ndjsonLines(
      await m.request('GET', `/api/v1/trials/${s.trialId}/logs?limit=1`, { token: s.token }),
    );
    expect(limited).toHaveLength(1);
    // An empty batch is fine.
    expect((await m.request('POST', '/task-logs', { token: s.token, body: [] })).status).toBe(200);
  });

  it('keeps a log line with NUL bytes, showing them as U+FFFD', async () => {
    const m = master();
    const s = await seedTrial(m);
    // `\\u0000` after an escaped backslash is the text "\u0000", not a NUL, and stays as sent.
    const res = await m.request('POST', '/task-logs', {
      token: s.token,
      rawBody: `[{"task_id":"${s.taskId}","log":"a\\u0000b\\\\u0000c"}]`,
    });
    expect(res.status).toBe(200);
    const rows = await m.deps.db.kysely.selectFrom('task_logs').select('log').execute();
    expect(rows.map((r) => r.log)).toEqual(['a\uFFFDb\\u0000c']);
  });

  it('refuses task logs for an unknown task and writes none of the batch', async () => {
    const m = master();
    const s = await seedTrial(m);
    await expectError(
      await m.request('POST', '/task-logs', {
        token: s.token,
        body: [
          { task_id: s.taskId, log: 'kept?\n' },
          { task_id: 'trial.nope', log: 'x\n' },
        ],
      }),
      404,
      "task 'trial.nope' not found",
    );
    const rows = await m.deps.db.kysely.selectFrom('task_logs').selectAll().execute();
    expect(rows).toEqual([]);
  });

  it('parses JSON bodies whatever the Content-Type, including none, on every write route', async () => {
    const m = master();
    const s = await seedTrial(m);
    const admin = await m.login('admin');
    const sent = new Set<string>();
    const send = async (
      method: string,
      path: string,
      body: unknown,
      opts: { type?: string; token?: string } = {},
    ) => {
      const headers: Record<string, string> = { authorization: `Bearer ${opts.token ?? s.token}` };
      if (opts.type !== undefined) {
        headers['content-type'] = opts.type;
      }
      // Bytes, not a string: a string body would make Request add text/plain.
      const req = new Request(`http://master.test${path}`, {
        method,
        headers,
        body: new TextEncoder().encode(JSON.stringify(body)),
      });
      if (opts.type === undefined) {
        expect(req.headers.get('content-type')).toBeNull();
      }
      const res = await m.app.request(req);
      expect(res.status, `${method} ${path}: ${await res.clone().text()}`).toBe(200);
      // A literal path (`/checkpoints/rm`) wins over a pattern (`/checkpoints/:uuid`).
      const patterns: string[] = Object.values(ROUTES);
      const route =
        patterns.find((pattern) => pattern === path) ??
        patterns.find((pattern) => new RegExp(`^${pattern.replace(/:\w+/g, '[^/]+')}$`).test(path));
      sent.add(`${method} ${route}`);
      return res;
    };
    const login = await send('POST', ROUTES.login, { username: 'determined' });
    expect(((await login.json()) as { token: string }).token).not.toBe('');
    const exp = await send('POST', ROUTES.experiments, { config: '{name: nt}', unmanaged: true });
    const experimentId = ((await exp.json()) as { experiment: { id: number } }).experiment.id;
    const put = await send('PUT', '/api/v1/experiments/by-external-id/nt', {
      config: '{name: nt2}',
      unmanaged: true,
    });
    expect(((await put.json()) as { experiment: { name: string } }).experiment.name).toBe('nt2');
    const gc = await send('PATCH', `/api/v1/experiments/${experimentId}`, {
      id: experimentId,
      checkpointStorage: { saveExperimentBest: 0, saveTrialBest: 1, saveTrialLatest: 1 },
    });
    expect(((await gc.json()) as { gc: { deleted: unknown[] } }).gc.deleted).toEqual([]);
    const tr = await send('POST', ROUTES.trials, { experimentId, unmanaged: true });
    const trial = ((await tr.json()) as { trial: TrialDto }).trial;
    const tr2 = await send('PUT', ROUTES.trials, {
      createTrialRequest: { experimentId, unmanaged: true },
      externalTrialId: 'nt',
    });
    expect(((await tr2.json()) as { trial: TrialDto }).trial.externalTrialId).toBe('nt');
    await send('POST', `/api/v1/trials/${trial.id}/start`, { trialId: trial.id, resume: true });
    await send('PATCH', `/api/v1/trials/${trial.id}`, {
      trialId: trial.id,
      state: 'STATE_RUNNING',
    });
    const metrics = (steps: number, avg: Record<string, unknown>) => ({
      trialId: trial.id,
      trialRunId: 1,
      stepsCompleted: steps,
      metrics: { avgMetrics: avg },
    });
    await send(
      'POST',
      `/api/v1/trials/${trial.id}/metrics`,
      { group: 'validation', metrics: metrics(3, { unmanaged: 0.3 }) },
      { type: 'text/plain' },
    );
    await send('POST', `/api/v1/trials/${trial.id}/training_metrics`, metrics(3, { loss: 1 }));
    await send('POST', `/api/v1/trials/${trial.id}/validation_metrics`, metrics(4, { acc: 1 }));
    await send('POST', `/api/v1/trials/${trial.id}/progress`, { progress: 0.5, is_raw: true });
    await send('POST', ROUTES.runsStart, {
      runId: trial.id,
      checkpointStorage: { type: 'directory', container_path: m.storageDir },
    });
    const uuid = '00000000-0000-4000-8000-00000000abcd';
    await send(
      'POST',
      ROUTES.checkpoints,
      {
        uuid,
        taskId: trial.taskId,
        state: 'STATE_COMPLETED',
        resources: { 'a.bin': '1', 'b.bin': '2' },
        metadata: { steps_completed: 3 },
      },
      { type: 'application/x-www-form-urlencoded' },
    );
    // The model registry's writes, on this checkpoint: the model goes before the checkpoint.
    await send('POST', ROUTES.models, { name: 'nt', labels: null });
    await send('PATCH', '/api/v1/models/nt', { description: 'd' });
    await send('POST', '/api/v1/models/nt/versions', { checkpointUuid: uuid, modelName: 'nt' });
    await send('PATCH', '/api/v1/models/nt/versions/1', { name: 'v' });
    await send('PUT', '/api/v1/models/nt/aliases/prod', { version: 1 });
    await send('DELETE', '/api/v1/models/nt/aliases/prod', {});
    await send('POST', ROUTES.trialSourceInfo, {
      trialSourceInfo: {
        trialId: trial.id,
        checkpointUuid: uuid,
        trialSourceInfoType: 'TRIAL_SOURCE_INFO_TYPE_INFERENCE',
      },
    });
    await send('DELETE', '/api/v1/models/nt/versions/1', {});
    await send('POST', '/api/v1/models/nt/archive', {});
    await send('POST', '/api/v1/models/nt/unarchive', {});
    await send('POST', '/api/v1/models/nt/move', { modelName: 'nt', destinationWorkspaceId: 1 });
    await send('DELETE', '/api/v1/models/nt', {});
    await send('POST', `/api/v1/checkpoints/${uuid}/metadata`, {
      checkpoint: { uuid, metadata: { steps_completed: 3, note: 'n' } },
    });
    await send('PATCH', ROUTES.checkpoints, {
      checkpoints: [{ uuid, resources: { resources: { 'a.bin': '1' } } }],
    });
    await send('POST', ROUTES.checkpointsRm, { checkpointUuids: [uuid], checkpointGlobs: [] });
    await send('POST', ROUTES.checkpointsBulkDelete, { checkpointUuids: [uuid], dryRun: true });
    await send('POST', ROUTES.storageReconcile, { graceSeconds: 3600 }, { token: admin });
    await send('DELETE', ROUTES.checkpoints, { checkpointUuids: [uuid] });
    await send('POST', ROUTES.taskLogs, [{ task_id: trial.taskId, log: 'x' }]);
    const created = await send(
      'POST',
      ROUTES.users,
      { user: { username: 'nt' }, password: 'pw' },
      { token: admin },
    );
    const userId = ((await created.json()) as { user: { id: number } }).user.id;
    await send('PATCH', `/api/v1/users/${userId}`, { displayName: 'NT' }, { token: admin });
    await send('POST', `/api/v1/users/${userId}/password`, 'abc', { token: admin });
    const minted = await send('POST', ROUTES.tokens, { userId, lifespan: '1h' }, { token: admin });
    const { tokenId } = (await minted.json()) as { tokenId: number };
    await send('PATCH', `/api/v1/tokens/${tokenId}`, { setRevoked: true }, { token: admin });
    await send('POST', ROUTES.logout, {}, { token: await m.login() });

    const { checkpoint } = await call<{
      checkpoint: { state: string; metadata: unknown; training: { searcherMetric?: number } };
    }>(m, s.token, 'GET', `/api/v1/checkpoints/${uuid}`);
    expect(checkpoint).toMatchObject({
      state: 'STATE_DELETED',
      metadata: { steps_completed: 3, note: 'n' },
      training: { searcherMetric: 0.3 },
    });
    const rows = await m.deps.db.kysely.selectFrom('task_logs').select('log').execute();
    expect(rows.map((r) => r.log)).toEqual(['x']);
    const groups = (await streamMetrics(m, { ...s, trialId: trial.id })).map((r) => r.group);
    expect(groups.sort()).toEqual(['training', 'validation', 'validation']);
    // Every route that takes a body was exercised.
    const writes = m.app.routes
      .filter((r) => ['POST', 'PUT', 'PATCH', 'DELETE'].includes(r.method))
      .map((r) => `${r.method} ${r.path}`);
    expect([...new Set(writes)].filter((w) => !sent.has(w))).toEqual([]);
  });
});
