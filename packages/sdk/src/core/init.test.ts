import { readFile } from 'node:fs/promises';
import { join } from 'node:path';

import type { MetricsReportDto } from '@determined-ts/api';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';

import { getCheckpoint } from '../api/checkpoints.js';
import { getTrial } from '../api/trials.js';
import { openSession } from '../auth/session.js';
import type { Client, FetchLike } from '../client.js';
import { ApiError, ArgumentError } from '../errors.js';
import { TrialReference } from '../trial-reference.js';
import {
  crc32cOf,
  inProcessMaster,
  loopbackMaster,
  makeTree,
  recordingFetch,
} from '../../test/core-helpers.js';
import type { TestMaster } from '../../test/core-helpers.js';
import { init } from './init.js';
import type { CoreInitOptions } from './init.js';

const NO_RETRY = { attempts: 1, baseDelayMs: 0, maxDelayMs: 0 };

async function metricsOf(
  client: Client,
  trialId: number,
  group: string,
): Promise<MetricsReportDto[]> {
  const out: MetricsReportDto[] = [];
  for await (const page of client.stream<{ metrics: MetricsReportDto[] }>(
    '/api/v1/trials/metrics/trial_metrics',
    { query: { trialIds: trialId, group } },
  )) {
    out.push(...page.metrics);
  }
  return out;
}

/** Runs a small training loop against `m` and checks everything the master then reports. */
async function wholeFlow(m: TestMaster): Promise<void> {
  const storageDir = join(m.dir, 'ckpts');
  const core = await init({
    master: m.url,
    fetch: m.fetch,
    env: m.env,
    config: {
      name: 'ts-core',
      description: 'from TypeScript',
      labels: ['ts'],
      searcher: { name: 'single', metric: 'val_loss', smaller_is_better: true },
      hparams: { lr: 0.1, layers: 2 },
      checkpoint_storage: storageDir,
    },
  });
  expect(core.info).toMatchObject({
    masterUrl: m.url,
    hparams: { lr: 0.1, layers: 2 },
    trialRunId: 1,
    stepsCompleted: 0,
    latestCheckpoint: undefined,
    checkpointStorage: { type: 'directory', container_path: storageDir },
  });
  expect(core.info.taskId).not.toBe('');
  expect(core.info.storageId).toEqual(expect.any(Number));

  const losses = [0.9, 0.3, 0.5];
  const uuids: string[] = [];
  for (const [i, loss] of losses.entries()) {
    const steps = (i + 1) * 10;
    await core.train.reportTrainingMetrics(steps, { loss: loss * 2, odd: i === 1 ? NaN : i });
    const src = join(m.dir, `out-${steps}`);
    await makeTree(src, {
      'model.bin': new Uint8Array(1000 + i).fill(i + 1),
      'sub/dir/extra.txt': `step ${steps}\n`,
      'sub/empty.txt': '',
      'empty-dir': null,
    });
    uuids.push(await core.checkpoint.upload(src, { steps_completed: steps, framework: 'ts' }));
    await core.train.reportValidationMetrics(steps, { val_loss: loss });
    await core.train.reportProgress((i + 1) / losses.length);
  }
  await core.close();

  const client = await openSession({ master: m.url, fetch: m.fetch, env: m.env });
  const trial = await getTrial(client, core.info.trialId);
  expect(trial.state).toBe('COMPLETED');
  expect(trial.experimentId).toBe(core.info.experimentId);

  const training = await metricsOf(client, core.info.trialId, 'training');
  expect(training.map((r) => [r.totalBatches, r.trialRunId, r.metrics.avg_metrics])).toEqual([
    [10, 1, { loss: 1.8, odd: 0 }],
    [20, 1, { loss: 0.6, odd: 'NaN' }],
    [30, 1, { loss: 1, odd: 2 }],
  ]);
  const validation = await metricsOf(client, core.info.trialId, 'validation');
  expect(validation.map((r) => r.metrics.validation_metrics)).toEqual(
    losses.map((val_loss) => ({ val_loss })),
  );

  for (const [i, uuid] of uuids.entries()) {
    const steps = (i + 1) * 10;
    const checkpoint = await getCheckpoint(client, uuid);
    const dir = join(storageDir, uuid);
    const metadataText = await readFile(join(dir, 'metadata.json'), 'utf8');
    expect(JSON.parse(metadataText)).toEqual({ steps_completed: steps, framework: 'ts' });
    expect(checkpoint).toMatchObject({
      state: 'COMPLETED',
      taskId: core.info.taskId,
      storageId: core.info.storageId,
      batchNumber: steps,
      metadata: { steps_completed: steps, framework: 'ts' },
      training: { trialId: core.info.trialId, experimentId: core.info.experimentId },
      resources: {
        'model.bin': 1000 + i,
        'sub/': 0,
        'sub/dir/': 0,
        'sub/dir/extra.txt': `step ${steps}\n`.length,
        'sub/empty.txt': 0,
        'empty-dir/': 0,
        'metadata.json': Buffer.byteLength(metadataText),
      },
    });
    // Every file's CRC32C (sha256 digests only when asked for).
    expect(checkpoint.digests).toEqual({});
    const files = Object.keys(checkpoint.resources).filter((p) => !p.endsWith('/'));
    expect(Object.keys(checkpoint.crc32c).sort()).toEqual(files.sort());
    for (const file of files) {
      expect(checkpoint.crc32c[file], file).toBe(crc32cOf(await readFile(join(dir, file))));
    }
  }

  // val_loss 0.3 (the second checkpoint) is best; the third is latest.
  const ref = new TrialReference(core.info.trialId, { client });
  expect((await ref.topCheckpoint()).uuid).toBe(uuids[1]);
  expect((await ref.selectCheckpoint({ latest: true })).uuid).toBe(uuids[2]);
}

describe('init (in-process master)', () => {
  let m: TestMaster;
  beforeEach(async () => {
    m = await inProcessMaster();
  });
  afterEach(async () => {
    await m.close();
  });

  const options = (extra: Partial<CoreInitOptions> = {}): CoreInitOptions => ({
    master: m.url,
    fetch: m.fetch,
    env: m.env,
    retry: NO_RETRY,
    ...extra,
    config: {
      searcher: { metric: 'val_loss' },
      checkpoint_storage: join(m.dir, 'ckpts'),
      ...extra.config,
    },
  });

  it('runs a trial end to end: metrics, checkpoints, best and latest', async () => {
    await wholeFlow(m);
  });

  it('makes the calls core_v2 makes, in its order, with a JSON (= YAML) config', async () => {
    const rec = recordingFetch(m.fetch);
    const core = await init(
      options({
        fetch: rec.fetch,
        config: { name: 'calls', hparams: { x: 1 }, checkpoint_storage: 'file:///tmp/ts-ckpts' },
      }),
    );
    await rec.waitFor(
      1,
      (c) => c.method === 'PATCH' && c.body !== undefined && !('state' in (c.body as object)),
    );
    await core.close();
    const trialPath = `/api/v1/trials/${core.info.trialId}`;
    expect(rec.calls.map((c) => `${c.method} ${c.path} ${c.status}`)).toEqual([
      'POST /api/v1/auth/login 200',
      'GET /api/v1/master 200',
      'POST /api/v1/experiments 200',
      'POST /api/v1/trials 200',
      `POST ${trialPath}/start 200`,
      'POST /api/v1/runs/start 200',
      `PATCH ${trialPath} 200`,
      `PATCH ${trialPath} 200`,
      `PATCH ${trialPath} 200`,
    ]);
    const bodies = rec.calls.map((c) => c.body);
    const created = bodies[2] as { config: string; unmanaged: boolean };
    expect(created.unmanaged).toBe(true);
    expect(JSON.parse(created.config)).toEqual({
      name: 'calls',
      searcher: { metric: 'val_loss' },
      checkpoint_storage: { type: 'directory', container_path: '/tmp/ts-ckpts' },
    });
    expect(bodies[3]).toEqual({
      experimentId: core.info.experimentId,
      hparams: { x: 1 },
      unmanaged: true,
    });
    expect(bodies[4]).toEqual({ trialId: core.info.trialId, resume: true });
    expect(bodies[5]).toEqual({
      runId: core.info.trialId,
      checkpointStorage: { type: 'directory', container_path: '/tmp/ts-ckpts' },
    });
    expect(bodies.slice(6)).toEqual([
      { trialId: core.info.trialId, state: 'STATE_RUNNING' },
      { trialId: core.info.trialId },
      { trialId: core.info.trialId, state: 'STATE_COMPLETED' },
    ]);
  });

  it('uses a given client without logging in, and defaults name and searcher as core_v2', async () => {
    const rec = recordingFetch(m.fetch);
    const client = await openSession({ master: m.url, fetch: rec.fetch, env: m.env });
    const logins = rec.calls.length;
    const core = await init({ client, config: { checkpoint_storage: join(m.dir, 'c') } });
    await core.close();
    expect(rec.calls.slice(logins).some((c) => c.path.endsWith('/login'))).toBe(false);
    const created = rec.calls.find((c) => c.path === '/api/v1/experiments')?.body as {
      config: string;
    };
    const config = JSON.parse(created.config) as { name: string; searcher: unknown };
    expect(config.name).toMatch(/^unmanaged-[0-9a-f]{8}$/);
    expect(config.searcher).toEqual({ name: 'single', metric: 'unmanaged' });
  });

  it('marks the trial ERROR when closed with an error', async () => {
    const core = await init(options());
    await core.train.reportTrainingMetrics(1, { loss: 1 });
    await core.close({ error: new Error('boom') });
    expect((await getTrial(core.client, core.info.trialId)).state).toBe('ERROR');
    // Closing again is the same close.
    await core.close();
    expect((await getTrial(core.client, core.info.trialId)).state).toBe('ERROR');
  });

  it('surfaces a failed report on the next call and on close, and marks the trial ERROR', async () => {
    const core = await init(options());
    await core.train.reportValidationMetrics(5, { val_loss: 1 });
    // The same key at the same step with another value is refused by the master.
    const failing = core.train.reportValidationMetrics(5, { val_loss: 2 });
    // Queued behind the failing one: dropped with the same error.
    const dropped = core.train.reportTrainingMetrics(6, { loss: 1 });
    await expect(failing).rejects.toBeInstanceOf(ApiError);
    await expect(dropped).rejects.toBe(await failing.catch((e: unknown) => e));
    expect(() => core.train.reportTrainingMetrics(7, { loss: 1 })).toThrow(ApiError);
    await expect(core.close()).rejects.toBeInstanceOf(ApiError);
    expect((await getTrial(core.client, core.info.trialId)).state).toBe('ERROR');
    const training = await metricsOf(core.client, core.info.trialId, 'training');
    expect(training).toEqual([]);
  });

  it('does not crash the process when an unawaited report fails', async () => {
    const core = await init(options());
    // Not awaited on purpose: the failure must come out of close(), not as an unhandled rejection.
    void core.train.reportMetrics('training', 1, { a: 1 });
    void core.train.reportMetrics('training', 1, { a: 2 });
    await expect(core.close()).rejects.toThrow(/already reported with a different value/);
  });

  it('sends many concurrent reports in call order and resolves each when acknowledged', async () => {
    // Holds odd steps' requests for a few event-loop turns: were reports sent concurrently, they
    // would overtake each other here; and counts how many are in flight at once.
    let inFlight = 0;
    let maxInFlight = 0;
    const slow: FetchLike = async (input, init) => {
      const body = typeof init?.body === 'string' ? init.body : '';
      if (!input.endsWith('/metrics')) {
        return m.fetch(input, init);
      }
      inFlight += 1;
      maxInFlight = Math.max(maxInFlight, inFlight);
      try {
        const { metrics } = JSON.parse(body) as { metrics: { stepsCompleted: number } };
        for (let i = 0; i < (metrics.stepsCompleted % 2) * 3; i += 1) {
          await new Promise((resolve) => setImmediate(resolve));
        }
        return await m.fetch(input, init);
      } finally {
        inFlight -= 1;
      }
    };
    const core = await init(options({ fetch: slow }));
    // Steps in a scrambled order: arrival order is visible in the master's row ids.
    const steps = Array.from({ length: 200 }, (_, i) => (i * 73) % 200);
    const acked: number[] = [];
    await Promise.all(
      steps.map((s) =>
        core.train.reportTrainingMetrics(s, { loss: s / 10 }).then(() => acked.push(s)),
      ),
    );
    expect(acked).toEqual(steps);
    expect(maxInFlight).toBe(1);
    await core.close();
    const rows = await metricsOf(core.client, core.info.trialId, 'training');
    const byArrival = [...rows].sort((a, b) => a.id - b.id);
    expect(byArrival.map((r) => r.totalBatches)).toEqual(steps);
    expect(byArrival.map((r) => r.metrics.avg_metrics)).toEqual(
      steps.map((s) => ({ loss: s / 10 })),
    );
  });

  it('copies metrics at call time', async () => {
    const core = await init(options());
    const metrics: Record<string, number> = { loss: 1 };
    const sent = core.train.reportTrainingMetrics(1, metrics);
    metrics.loss = 99;
    await sent;
    await core.close();
    const rows = await metricsOf(core.client, core.info.trialId, 'training');
    expect(rows.map((r) => r.metrics.avg_metrics)).toEqual([{ loss: 1 }]);
  });

  it('encodes NaN and ±Infinity as Determined strings', async () => {
    const rec = recordingFetch(m.fetch);
    const core = await init(options({ fetch: rec.fetch }));
    await core.train.reportMetrics('custom', 3, {
      a: NaN,
      b: Infinity,
      c: -Infinity,
      nested: { d: [NaN, 1] },
    });
    await core.close();
    const post = rec.calls.find((c) => c.path.endsWith('/metrics'))?.body;
    expect(post).toEqual({
      group: 'custom',
      metrics: {
        trialId: core.info.trialId,
        trialRunId: 1,
        stepsCompleted: 3,
        reportTime: null,
        metrics: {
          avgMetrics: { a: 'NaN', b: 'Infinity', c: '-Infinity', nested: { d: ['NaN', 1] } },
          batchMetrics: null,
        },
      },
    });
    const rows = await metricsOf(core.client, core.info.trialId, 'custom');
    expect(rows[0]?.metrics.avg_metrics).toEqual({
      a: 'NaN',
      b: 'Infinity',
      c: '-Infinity',
      nested: { d: ['NaN', 1] },
    });
  });

  it('refuses bad arguments at once, naming the rule', async () => {
    const core = await init(options());
    const rule = (fn: () => unknown): string | undefined => {
      try {
        fn();
      } catch (err: unknown) {
        return err instanceof ArgumentError ? err.rule : `not an ArgumentError: ${String(err)}`;
      }
      return undefined;
    };
    expect(rule(() => core.train.reportTrainingMetrics(-1, { a: 1 }))).toBe('steps_completed');
    expect(rule(() => core.train.reportTrainingMetrics(1.5, { a: 1 }))).toBe('steps_completed');
    expect(rule(() => core.train.reportMetrics('a.b', 1, { a: 1 }))).toBe('group');
    expect(rule(() => core.train.reportMetrics('', 1, { a: 1 }))).toBe('group');
    expect(rule(() => core.train.reportTrainingMetrics(1, { a: 1n }))).toBe('metrics');
    expect(rule(() => core.train.reportValidationMetrics(1, { a: null }))).toBe('metrics');
    expect(rule(() => core.train.reportProgress(1.5))).toBe('progress');
    expect(rule(() => core.train.reportProgress(NaN))).toBe('progress');
    await core.close();
    expect(rule(() => core.train.reportTrainingMetrics(1, { a: 1 }))).toBe('closed');
    await expect(core.checkpoint.upload(m.dir, { steps_completed: 1 })).rejects.toMatchObject({
      rule: 'closed',
    });
    await expect(init(options({ config: { external_trial_id: 't' } }))).rejects.toMatchObject({
      rule: 'external_trial_id',
    });
  });

  it('resumes a trial by external ids: same trial, next run, latest checkpoint', async () => {
    const ids = { external_experiment_id: `exp-${Date.now()}`, external_trial_id: 'trial-a' };
    const first = await init(options({ config: ids }));
    await makeTree(join(m.dir, 'src'), { 'w.bin': 'weights' });
    await first.train.reportTrainingMetrics(40, { loss: 1 });
    await first.checkpoint.upload(join(m.dir, 'src'), { steps_completed: 20 });
    const latest = await first.checkpoint.upload(join(m.dir, 'src'), { steps_completed: 40 });
    await first.close({ error: 'preempted' });

    const second = await init(options({ config: ids }));
    expect(second.info).toMatchObject({
      experimentId: first.info.experimentId,
      trialId: first.info.trialId,
      taskId: first.info.taskId,
      trialRunId: 2,
      stepsCompleted: 40,
      latestCheckpoint: latest,
    });
    expect((await getTrial(second.client, second.info.trialId)).state).toBe('RUNNING');
    await second.train.reportTrainingMetrics(50, { loss: 0.5 });
    await second.close();
    expect((await getTrial(second.client, second.info.trialId)).state).toBe('COMPLETED');
    const rows = await metricsOf(second.client, second.info.trialId, 'training');
    expect(rows.map((r) => [r.totalBatches, r.trialRunId])).toEqual([
      [40, 1],
      [50, 2],
    ]);

    // Only the experiment id: a new trial in the same experiment.
    const third = await init(
      options({ config: { external_experiment_id: ids.external_experiment_id } }),
    );
    expect(third.info.experimentId).toBe(first.info.experimentId);
    expect(third.info.trialId).not.toBe(first.info.trialId);
    expect(third.info.latestCheckpoint).toBeUndefined();
    await third.close();
  });

  it('sends heartbeats on the interval, which change nothing, and none after close', async () => {
    const rec = recordingFetch(m.fetch);
    const isBeat = (c: { method: string; body: unknown }): boolean =>
      c.method === 'PATCH' && !('state' in (c.body as object));
    const core = await init(options({ fetch: rec.fetch, heartbeatIntervalMs: 1 }));
    await rec.waitFor(5, isBeat);
    expect((await getTrial(core.client, core.info.trialId)).state).toBe('RUNNING');
    await core.close();
    const last = rec.calls.at(-1);
    expect(last?.body).toEqual({ trialId: core.info.trialId, state: 'STATE_COMPLETED' });
    expect(rec.calls.filter(isBeat).every((c) => c.status === 200)).toBe(true);
  });

  it('logs heartbeat failures instead of throwing, then retries on the retry delay', async () => {
    const warnings: string[] = [];
    let failing = true;
    const rec = recordingFetch(m.fetch, (c) =>
      failing && c.method === 'PATCH' && !('state' in (c.body as object))
        ? new Response('{"error":{"error":"down"}}', { status: 500 })
        : undefined,
    );
    const core = await init(
      options({
        fetch: rec.fetch,
        heartbeatIntervalMs: 3600_000,
        heartbeatRetryMs: 1,
        logger: { warn: (message) => warnings.push(message) },
      }),
    );
    await rec.waitFor(3, (c) => c.status === 500);
    failing = false;
    await rec.waitFor(
      1,
      (c) => c.method === 'PATCH' && c.status === 200 && !('state' in (c.body as object)),
    );
    expect(warnings.length).toBeGreaterThanOrEqual(3);
    expect(warnings[0]).toMatch(/heartbeat failed \(retrying in 1 ms\): .*500/);
    await core.close();
    expect((await getTrial(core.client, core.info.trialId)).state).toBe('COMPLETED');
  });
});

describe('init (loopback master)', () => {
  it('runs a trial end to end over HTTP', async () => {
    const m = await loopbackMaster();
    try {
      await wholeFlow(m);
    } finally {
      await m.close();
    }
  });
});
