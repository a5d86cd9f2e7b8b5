import { existsSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import {
  addTrial,
  createTrial,
  endTrial,
  reportCheckpoint,
  reportMetrics,
  startInProcessMaster,
  testDialects,
  testUuid,
} from '../../test/master.js';
import type { MasterTarget, SeededTrial } from '../../test/master.js';
import { createClient } from '../client.js';
import type { Client } from '../client.js';
import { ApiError, ArgumentError, UnexpectedResponseError } from '../errors.js';
import { previewGc, setGcPolicy } from './gc.js';
import type { GcPolicy } from './gc.js';
import { getExperiment } from './trials.js';

interface Seeded {
  experimentId: number;
  /** `${trial}@${steps}` → uuid and size in bytes. */
  checkpoints: Record<string, { uuid: string; bytes: number }>;
}

/** Writes a checkpoint's files into the master's directory storage, then reports it. */
async function seedCheckpoint(
  client: Client,
  storageDir: string,
  trial: SeededTrial,
  steps: number,
  loss: number,
  reportTime: Date,
): Promise<{ uuid: string; bytes: number }> {
  const uuid = testUuid(15);
  const files = {
    'metadata.json': Buffer.from(JSON.stringify({ steps_completed: steps })),
    'model.bin': Buffer.alloc(100 + steps, 7),
  };
  await mkdir(join(storageDir, uuid), { recursive: true });
  for (const [name, bytes] of Object.entries(files)) {
    await writeFile(join(storageDir, uuid, name), bytes);
  }
  await reportMetrics(client, trial, 'validation', steps, { validation_loss: loss });
  await reportCheckpoint(client, trial, {
    uuid,
    steps,
    reportTime,
    resources: Object.fromEntries(Object.entries(files).map(([n, b]) => [n, b.length])),
  });
  return { uuid, bytes: files['metadata.json'].length + files['model.bin'].length };
}

/** Two trials: A at steps 100, 200, 300 (losses 0.5, 0.2, 0.4); B at 100, 200 (0.3, 0.6). */
async function seed(client: Client, storageDir: string): Promise<Seeded> {
  const a = await createTrial(client, { storageDir });
  const b = await addTrial(client, a.experimentId, { lr: 0.2 });
  const plan: [string, SeededTrial, number, number][] = [
    ['A@100', a, 100, 0.5],
    ['A@200', a, 200, 0.2],
    ['A@300', a, 300, 0.4],
    ['B@100', b, 100, 0.3],
    ['B@200', b, 200, 0.6],
  ];
  const checkpoints: Seeded['checkpoints'] = {};
  const start = Date.parse('2026-01-01T00:00:00Z');
  for (const [i, [key, trial, steps, loss]] of plan.entries()) {
    checkpoints[key] = await seedCheckpoint(
      client,
      storageDir,
      trial,
      steps,
      loss,
      new Date(start + i * 1000),
    );
  }
  await endTrial(client, a);
  await endTrial(client, b);
  return { experimentId: a.experimentId, checkpoints };
}

const TRIAL_BEST: GcPolicy = { saveExperimentBest: 0, saveTrialBest: 1, saveTrialLatest: 0 };

describe.each(testDialects())('checkpoint GC through the SDK [%s]', (dialect) => {
  let master: MasterTarget;
  let client: Client;
  let seeded: Seeded;
  const ck = (key: string): { uuid: string; bytes: number } => {
    const found = seeded.checkpoints[key];
    if (found === undefined) {
      throw new Error(`no checkpoint ${key}`);
    }
    return found;
  };

  beforeAll(async () => {
    master = await startInProcessMaster(dialect);
    client = await master.login();
    seeded = await seed(client, master.storageDir);
  });

  afterAll(async () => {
    await master.close();
  });

  it('previews exactly what a policy would delete, with the bytes it would free', async () => {
    const preview = await previewGc(client, seeded.experimentId, TRIAL_BEST);
    const doomed = ['A@100', 'A@300', 'B@200'].map(ck);
    expect(preview.metricName).toBe('validation_loss');
    expect(preview.checkpoints).toEqual([
      {
        uuid: ck('A@100').uuid,
        trialId: expect.any(Number) as number,
        stepsCompleted: 100,
        state: 'COMPLETED',
        sizeBytes: ck('A@100').bytes,
        searcherMetric: 0.5,
      },
      expect.objectContaining({ uuid: ck('A@300').uuid, stepsCompleted: 300, searcherMetric: 0.4 }),
      expect.objectContaining({ uuid: ck('B@200').uuid, stepsCompleted: 200, searcherMetric: 0.6 }),
    ]);
    const [first, , last] = preview.checkpoints;
    expect(first?.trialId).toBeLessThan(last?.trialId ?? 0);
    expect(preview.summary).toEqual({
      deleteCount: 3,
      deleteBytes: doomed.reduce((sum, c) => sum + c.bytes, 0),
      keepCount: 2,
      keepBytes: ck('A@200').bytes + ck('B@100').bytes,
    });

    // Keeping everything deletes nothing.
    const keepAll = await previewGc(client, seeded.experimentId, {
      saveExperimentBest: 0,
      saveTrialBest: 0,
      saveTrialLatest: 3,
    });
    expect(keepAll.checkpoints).toEqual([]);
    expect(keepAll.summary).toMatchObject({ deleteCount: 0, deleteBytes: 0, keepCount: 5 });
    // Nothing was touched by the previews.
    for (const { uuid } of Object.values(seeded.checkpoints)) {
      expect(existsSync(join(master.storageDir, uuid))).toBe(true);
    }
  });

  it('sets the policy and deletes what the preview listed, files and all', async () => {
    const result = await setGcPolicy(client, seeded.experimentId, TRIAL_BEST);
    const doomed = ['A@100', 'A@300', 'B@200'].map(ck);
    expect(result).toEqual({
      deleted: doomed.map(({ uuid, bytes }) => ({ uuid, bytes })),
      failed: [],
      freedBytes: doomed.reduce((sum, c) => sum + c.bytes, 0),
    });
    for (const { uuid } of doomed) {
      expect(existsSync(join(master.storageDir, uuid))).toBe(false);
    }
    for (const key of ['A@200', 'B@100']) {
      expect(existsSync(join(master.storageDir, ck(key).uuid))).toBe(true);
    }
    const exp = await getExperiment(client, seeded.experimentId);
    expect(exp.config.checkpoint_storage).toMatchObject({
      save_experiment_best: 0,
      save_trial_best: 1,
      save_trial_latest: 0,
    });

    // Deleted checkpoints are never listed again, and a second run has nothing to do.
    const again = await previewGc(client, seeded.experimentId, TRIAL_BEST);
    expect(again.checkpoints).toEqual([]);
    expect(again.summary).toEqual({
      deleteCount: 0,
      deleteBytes: 0,
      keepCount: 2,
      keepBytes: ck('A@200').bytes + ck('B@100').bytes,
    });
    expect(await setGcPolicy(client, seeded.experimentId, TRIAL_BEST)).toEqual({
      deleted: [],
      failed: [],
      freedBytes: 0,
    });
  });

  it('refuses a bad policy before asking, and names an unknown experiment', async () => {
    const before = master.requests.length;
    for (const bad of [-1, 1.5, Number.NaN]) {
      await expect(
        previewGc(client, seeded.experimentId, { ...TRIAL_BEST, saveTrialLatest: bad }),
      ).rejects.toBeInstanceOf(ArgumentError);
      await expect(
        setGcPolicy(client, seeded.experimentId, { ...TRIAL_BEST, saveTrialBest: bad }),
      ).rejects.toThrow(/saveTrialBest must be a non-negative integer/);
    }
    expect(master.requests.length).toBe(before);

    const missing = await previewGc(client, 999_999, TRIAL_BEST).catch((err: unknown) => err);
    expect(missing).toBeInstanceOf(ApiError);
    expect((missing as ApiError).status).toBe(404);
    const unset = await setGcPolicy(client, 999_999, TRIAL_BEST).catch((err: unknown) => err);
    expect((unset as ApiError).status).toBe(404);
  });
});

describe("checkpoint GC answers of Determined's master", () => {
  const answering = (body: unknown): Client =>
    createClient({
      baseUrl: 'http://determined.test',
      token: 'v2.public.x',
      fetch: () =>
        Promise.resolve(
          new Response(JSON.stringify(body), { headers: { 'content-type': 'application/json' } }),
        ),
    });

  it('reads a preview without a summary (and `null` for none), counting live checkpoints', async () => {
    const none = await previewGc(
      answering({ metric_name: 'loss', checkpoints: null }),
      1,
      TRIAL_BEST,
    );
    expect(none).toEqual({
      metricName: 'loss',
      checkpoints: [],
      summary: { deleteCount: 0, deleteBytes: 0, keepCount: undefined, keepBytes: undefined },
    });
    const row = (uuid: string, state: string, size: number): Record<string, unknown> => ({
      ID: 1,
      UUID: uuid,
      State: state,
      Size: size,
      TrialID: 3,
      StepsCompleted: 10,
      SearcherMetric: null,
      ReportTime: '2025-03-20T10:00:01Z',
      Resources: {},
    });
    const some = await previewGc(
      answering({
        metric_name: 'loss',
        checkpoints: [row('a', 'DELETED', 0), row('b', 'COMPLETED', 40), row('c', 'ERROR', 2)],
      }),
      1,
      TRIAL_BEST,
    );
    expect(some.checkpoints.map((c) => [c.uuid, c.state, c.searcherMetric])).toEqual([
      ['a', 'DELETED', undefined],
      ['b', 'COMPLETED', undefined],
      ['c', 'ERROR', undefined],
    ]);
    expect(some.summary).toMatchObject({ deleteCount: 2, deleteBytes: 42 });
  });

  it('says a background collection reported nothing, and rejects malformed answers by field', async () => {
    expect(await setGcPolicy(answering({ experiment: { id: 1 } }), 1, TRIAL_BEST)).toBeUndefined();
    const bad = await previewGc(
      answering({ metric_name: 'loss', checkpoints: [{ UUID: 'a', State: 'STATE_COMPLETED' }] }),
      1,
      TRIAL_BEST,
    ).catch((err: unknown) => err);
    expect(bad).toBeInstanceOf(UnexpectedResponseError);
    expect((bad as Error).message).toContain('checkpoints[0].State');
    const noGcList = await setGcPolicy(
      answering({ experiment: {}, gc: { deleted: [], freedBytes: 0 } }),
      1,
      TRIAL_BEST,
    ).catch((err: unknown) => err);
    expect((noGcList as Error).message).toContain('gc.failed');
  });
});
