import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';

import { expect, it } from 'vitest';

import { call, reportCheckpoint, reportMetric, seedTrial, testUuid } from '../../test/flow.js';
import type { Seeded } from '../../test/flow.js';
import { describeEachDialect } from '../../test/helpers.js';
import type { TestMaster } from '../../test/helpers.js';

interface WireCheckpoint {
  uuid: string;
  taskId: string;
  allocationId?: string;
  reportTime: string;
  resources: Record<string, string>;
  metadata: Record<string, unknown>;
  state: string;
  storageId?: number;
  digests?: Record<string, string>;
  training: {
    trialId?: number;
    experimentId?: number;
    experimentConfig: Record<string, unknown> | null;
    hparams: Record<string, unknown> | null;
    trainingMetrics: { avgMetrics: unknown; batchMetrics: unknown[] };
    validationMetrics: { avgMetrics: unknown; batchMetrics: unknown[] };
    searcherMetric?: unknown;
  };
}

interface ErrorResponse {
  message: string;
  error: { code: number; reason: string; message: string };
}

const sha256 = (data: string): string => createHash('sha256').update(data).digest('hex');

async function getCheckpoint(m: TestMaster, token: string, uuid: string): Promise<WireCheckpoint> {
  return (
    await call<{ checkpoint: WireCheckpoint }>(m, token, 'GET', `/api/v1/checkpoints/${uuid}`)
  ).checkpoint;
}

/** Sends a request expected to fail and returns the status and error body. */
async function fail(
  m: TestMaster,
  token: string,
  method: string,
  path: string,
  body?: unknown,
): Promise<{ status: number; body: ErrorResponse }> {
  const res = await m.request(method, path, { token, body });
  return { status: res.status, body: (await res.json()) as ErrorResponse };
}

/** A checkpoint report body in the shape the Python SDK sends. */
function reportBody(s: Seeded, uuid: string, extra: Record<string, unknown> = {}) {
  return {
    uuid,
    taskId: s.taskId,
    allocationId: null,
    reportTime: '2025-02-03T04:05:06.789+00:00',
    state: 'STATE_COMPLETED',
    storageId: null,
    training: {},
    metadata: { steps_completed: 10 },
    resources: { 'model.bin': '100' },
    ...extra,
  };
}

/**
 * Writes files under `root` and returns `resources` as the SDK lists them: every file with its
 * size, every directory as `dir/` with "0".
 */
function writeTree(root: string, files: Record<string, string>): Record<string, string> {
  const resources: Record<string, string> = {};
  for (const [name, content] of Object.entries(files)) {
    const path = join(root, name);
    mkdirSync(dirname(path), { recursive: true });
    writeFileSync(path, content);
    resources[name] = String(Buffer.byteLength(content));
    const parts = name.split('/');
    for (let i = 1; i < parts.length; i++) {
      resources[`${parts.slice(0, i).join('/')}/`] = '0';
    }
  }
  return resources;
}

/** Every file and directory under `root`, relative, directories with a trailing `/`. */
function listTree(root: string): string[] {
  if (!existsSync(root)) {
    return [];
  }
  return readdirSync(root, { recursive: true, withFileTypes: true })
    .map((e) => {
      const rel = join(e.parentPath, e.name).slice(root.length + 1);
      return e.isDirectory() ? `${rel}/` : rel;
    })
    .sort();
}

const FILES = {
  'metadata.json': '{"steps_completed": 10}',
  'model.bin': 'weights-weights-weights',
  'sub/a.txt': 'alpha',
  'sub/dir/b.bin': 'bravo bravo',
  'sub/dir/c.txt': 'charlie',
};

/** Writes FILES for a new checkpoint in `root` and reports it. */
async function storedCheckpoint(
  m: TestMaster,
  s: Seeded,
  root: string,
): Promise<{ uuid: string; dir: string; resources: Record<string, string> }> {
  const uuid = testUuid();
  const dir = join(root, uuid);
  const resources = writeTree(dir, FILES);
  await call(m, s.token, 'POST', '/api/v1/checkpoints', reportBody(s, uuid, { resources }));
  return { uuid, dir, resources };
}

describeEachDialect('report checkpoint', ({ master }) => {
  it('stores a report as the Python SDK sends it and returns it from get', async () => {
    const m = master();
    const s = await seedTrial(m);
    const uuid = testUuid();
    const res = await m.request('POST', '/api/v1/checkpoints', {
      token: s.token,
      body: reportBody(s, uuid, {
        allocationId: `${s.taskId}.0`,
        resources: { 'model.bin': '100', 'sub/': '0', 'sub/x.txt': 7, 'metadata.json': '22' },
        metadata: { steps_completed: 10, framework: 'torch-2.3.0', nested: { k: [1, 2] } },
      }),
    });
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({});
    const got = await getCheckpoint(m, s.token, uuid);
    expect(got).toEqual({
      uuid,
      taskId: s.taskId,
      allocationId: `${s.taskId}.0`,
      reportTime: '2025-02-03T04:05:06.789Z',
      resources: { 'model.bin': '100', 'sub/': '0', 'sub/x.txt': '7', 'metadata.json': '22' },
      metadata: { steps_completed: 10, framework: 'torch-2.3.0', nested: { k: [1, 2] } },
      state: 'STATE_COMPLETED',
      training: {
        trialId: s.trialId,
        experimentId: s.experimentId,
        experimentConfig: expect.objectContaining({
          searcher: expect.objectContaining({ metric: 'validation_loss' }) as unknown,
          checkpoint_storage: expect.objectContaining({
            type: 'directory',
            container_path: m.storageDir,
          }) as unknown,
        }) as unknown,
        hparams: { lr: 0.1 },
        trainingMetrics: { avgMetrics: null, batchMetrics: [] },
        validationMetrics: { avgMetrics: null, batchMetrics: [] },
      },
    });
    // Sizes count toward the trial's totals as numbers, whatever their JSON type.
    const { trial } = await call<{
      trial: { totalCheckpointSize: string; checkpointCount: number };
    }>(m, s.token, 'GET', `/api/v1/trials/${s.trialId}`);
    expect(trial.totalCheckpointSize).toBe('129');
    expect(trial.checkpointCount).toBe(1);
  });

  it('treats STATE_UNSPECIFIED and a missing state as COMPLETED', async () => {
    const m = master();
    const s = await seedTrial(m);
    const a = testUuid();
    const b = testUuid();
    const c = testUuid();
    await call(
      m,
      s.token,
      'POST',
      '/api/v1/checkpoints',
      reportBody(s, a, { state: 'STATE_UNSPECIFIED' }),
    );
    const { state: _state, ...noState } = reportBody(s, b);
    await call(m, s.token, 'POST', '/api/v1/checkpoints', noState);
    await call(m, s.token, 'POST', '/api/v1/checkpoints', reportBody(s, c, { state: 0 }));
    for (const uuid of [a, b, c]) {
      expect((await getCheckpoint(m, s.token, uuid)).state).toBe('STATE_COMPLETED');
    }
  });

  it('rejects any other state and writes nothing', async () => {
    const m = master();
    const s = await seedTrial(m);
    for (const state of [
      'STATE_ACTIVE',
      'STATE_ERROR',
      'STATE_DELETED',
      'STATE_PARTIALLY_DELETED',
      1,
    ]) {
      const uuid = testUuid();
      const r = await fail(
        m,
        s.token,
        'POST',
        '/api/v1/checkpoints',
        reportBody(s, uuid, { state }),
      );
      expect(r.status, String(state)).toBe(400);
      expect(r.body.message).toContain('invalid state for reported checkpoint');
      expect((await fail(m, s.token, 'GET', `/api/v1/checkpoints/${uuid}`)).status).toBe(404);
    }
    const bogus = await fail(
      m,
      s.token,
      'POST',
      '/api/v1/checkpoints',
      reportBody(s, testUuid(), { state: 'STATE_BOGUS' }),
    );
    expect(bogus.status).toBe(400);
    expect(bogus.body.message).toContain('state');
    const { pagination } = await call<{ pagination: { total: number } }>(
      m,
      s.token,
      'GET',
      `/api/v1/trials/${s.trialId}/checkpoints`,
    );
    expect(pagination.total).toBe(0);
  });

  it('fills a missing or null reportTime from the clock', async () => {
    const m = master();
    const s = await seedTrial(m);
    m.now.ms = Date.parse('2025-01-03T08:09:10.123Z');
    const { reportTime: _rt, ...noTime } = reportBody(s, testUuid());
    await call(m, s.token, 'POST', '/api/v1/checkpoints', noTime);
    const withNull = reportBody(s, testUuid(), { reportTime: null });
    await call(m, s.token, 'POST', '/api/v1/checkpoints', withNull);
    expect((await getCheckpoint(m, s.token, noTime.uuid)).reportTime).toBe(
      '2025-01-03T08:09:10.123Z',
    );
    expect((await getCheckpoint(m, s.token, withNull.uuid)).reportTime).toBe(
      '2025-01-03T08:09:10.123Z',
    );
  });

  it('rejects bad resources', async () => {
    const m = master();
    const s = await seedTrial(m);
    for (const resources of [
      { 'dir/': '5' },
      { 'a.bin': '-1' },
      { 'a.bin': 'ten' },
      { 'a.bin': 1.5 },
      { '/abs.bin': '1' },
      { '../up.bin': '1' },
      { 'a/../b': '1' },
      { 'a//b': '1' },
    ]) {
      const r = await fail(
        m,
        s.token,
        'POST',
        '/api/v1/checkpoints',
        reportBody(s, testUuid(), { resources }),
      );
      expect(r.status, JSON.stringify(resources)).toBe(400);
      expect(r.body.error.reason).toBe('InvalidArgument');
    }
  });

  it('stores sha256 digests and returns them', async () => {
    const m = master();
    const s = await seedTrial(m);
    const uuid = testUuid();
    const digests = { 'model.bin': sha256('model'), 'sub/x.txt': sha256('x') };
    await call(
      m,
      s.token,
      'POST',
      '/api/v1/checkpoints',
      reportBody(s, uuid, {
        resources: { 'model.bin': '5', 'sub/': '0', 'sub/x.txt': '1', 'extra.txt': '3' },
        digests,
      }),
    );
    expect((await getCheckpoint(m, s.token, uuid)).digests).toEqual(digests);
    const listed = await call<{ checkpoints: WireCheckpoint[] }>(
      m,
      s.token,
      'GET',
      `/api/v1/trials/${s.trialId}/checkpoints`,
    );
    expect(listed.checkpoints[0]?.digests).toEqual(digests);
    // Without digests the field is absent, as on a real master.
    const plain = await reportCheckpoint(m, s, 20);
    expect('digests' in (await getCheckpoint(m, s.token, plain))).toBe(false);
  });

  it('rejects digests for unknown paths, directories or bad hex', async () => {
    const m = master();
    const s = await seedTrial(m);
    const resources = { 'model.bin': '5', 'sub/': '0' };
    for (const [digests, hint] of [
      [{ 'other.bin': sha256('x') }, 'other.bin'],
      [{ 'sub/': sha256('x') }, 'sub/'],
      [{ 'model.bin': 'zz'.repeat(32) }, 'model.bin'],
      [{ 'model.bin': sha256('x').slice(1) }, 'model.bin'],
      [{ 'model.bin': `${sha256('x')}00` }, 'model.bin'],
    ] as const) {
      const uuid = testUuid();
      const r = await fail(
        m,
        s.token,
        'POST',
        '/api/v1/checkpoints',
        reportBody(s, uuid, { resources, digests }),
      );
      expect(r.status, JSON.stringify(digests)).toBe(400);
      expect(r.body.message).toContain(hint);
      expect((await fail(m, s.token, 'GET', `/api/v1/checkpoints/${uuid}`)).status).toBe(404);
    }
  });

  it('requires metadata.steps_completed as a non-negative integer', async () => {
    const m = master();
    const s = await seedTrial(m);
    for (const metadata of [
      {},
      null,
      { steps_completed: -1 },
      { steps_completed: 1.5 },
      { steps_completed: '10' },
    ]) {
      const r = await fail(
        m,
        s.token,
        'POST',
        '/api/v1/checkpoints',
        reportBody(s, testUuid(), { metadata }),
      );
      expect(r.status, JSON.stringify(metadata)).toBe(400);
      expect(r.body.message).toContain('steps_completed');
    }
    const { metadata: _md, ...noMetadata } = reportBody(s, testUuid());
    expect((await fail(m, s.token, 'POST', '/api/v1/checkpoints', noMetadata)).status).toBe(400);
  });

  it('accepts an identical re-report and refuses a conflicting one', async () => {
    const m = master();
    const s = await seedTrial(m);
    const uuid = testUuid();
    const body = reportBody(s, uuid, { metadata: { steps_completed: 10, k: 'v' } });
    await call(m, s.token, 'POST', '/api/v1/checkpoints', body);
    await call(m, s.token, 'POST', '/api/v1/checkpoints', body);
    // The same uuid with other resources, other metadata, or from another trial conflicts.
    const other = await seedTrial(m);
    for (const conflicting of [
      reportBody(s, uuid, { resources: { 'model.bin': '101' } }),
      reportBody(s, uuid, { metadata: { steps_completed: 11, k: 'v' } }),
      reportBody(s, uuid, { metadata: { steps_completed: 10, k: 'w' } }),
      reportBody(s, uuid, {
        metadata: { steps_completed: 10, k: 'v' },
        digests: { 'model.bin': sha256('m') },
      }),
      reportBody(other, uuid, { metadata: { steps_completed: 10, k: 'v' } }),
    ]) {
      const r = await fail(m, s.token, 'POST', '/api/v1/checkpoints', conflicting);
      expect(r.status, JSON.stringify(conflicting)).toBe(409);
      expect(r.body.message).toBe(`checkpoint '${uuid}' already exists`);
    }
    const got = await getCheckpoint(m, s.token, uuid);
    expect(got.resources).toEqual({ 'model.bin': '100' });
    expect(got.metadata).toEqual({ steps_completed: 10, k: 'v' });
    expect(got.training.trialId).toBe(s.trialId);
    const list = await call<{ pagination: { total: number } }>(
      m,
      s.token,
      'GET',
      `/api/v1/trials/${s.trialId}/checkpoints?states=STATE_COMPLETED`,
    );
    expect(list.pagination.total).toBe(1);
    const { trial } = await call<{ trial: { checkpointCount: number } }>(
      m,
      s.token,
      'GET',
      `/api/v1/trials/${s.trialId}`,
    );
    expect(trial.checkpointCount).toBe(1);
  });

  it('treats an upper-case uuid as the same checkpoint', async () => {
    const m = master();
    const s = await seedTrial(m);
    const uuid = 'ABCDEF01-2345-4678-89AB-CDEF01234567';
    await call(m, s.token, 'POST', '/api/v1/checkpoints', reportBody(s, uuid));
    await call(m, s.token, 'POST', '/api/v1/checkpoints', reportBody(s, uuid.toLowerCase()));
    expect((await getCheckpoint(m, s.token, uuid)).uuid).toBe(uuid.toLowerCase());
  });

  it('links a storageId from runs/start and refuses an unknown one', async () => {
    const m = master();
    const s = await seedTrial(m);
    const storage = { type: 'directory', container_path: join(m.storageDir, 'run-storage') };
    const { storageId } = await call<{ storageId: number }>(
      m,
      s.token,
      'POST',
      '/api/v1/runs/start',
      {
        runId: s.trialId,
        checkpointStorage: storage,
      },
    );
    expect(storageId).toBeGreaterThan(0);
    const uuid = testUuid();
    await call(m, s.token, 'POST', '/api/v1/checkpoints', reportBody(s, uuid, { storageId }));
    const got = await getCheckpoint(m, s.token, uuid);
    expect(got.storageId).toBe(storageId);
    // The config the SDK downloads from names the run's storage, not the experiment's.
    expect(got.training.experimentConfig?.checkpoint_storage).toMatchObject(storage);
    const unknown = testUuid();
    const r = await fail(
      m,
      s.token,
      'POST',
      '/api/v1/checkpoints',
      reportBody(s, unknown, { storageId: storageId + 100 }),
    );
    expect(r.status).toBe(404);
    expect(r.body.message).toBe(`storage backend '${storageId + 100}' not found`);
    expect((await fail(m, s.token, 'GET', `/api/v1/checkpoints/${unknown}`)).status).toBe(404);
  });

  it('refuses a report for an unknown task', async () => {
    const m = master();
    const s = await seedTrial(m);
    const r = await fail(m, s.token, 'POST', '/api/v1/checkpoints', {
      ...reportBody(s, testUuid()),
      taskId: 'nope',
    });
    expect(r.status).toBe(404);
    expect(r.body.message).toBe("task 'nope' not found");
  });
});

describeEachDialect('get checkpoint', ({ master }) => {
  it('joins the validation, training metrics and searcher value', async () => {
    const m = master();
    const s = await seedTrial(m);
    const uuid = await reportCheckpoint(m, s, 50);
    await reportMetric(m, s, 'validation', 50, { validation_loss: 0.125, accuracy: 0.9 });
    await reportMetric(m, s, 'training', 50, { loss: 0.3 });
    // Metrics at other steps do not leak in.
    await reportMetric(m, s, 'validation', 40, { validation_loss: 0.5 });
    const got = await getCheckpoint(m, s.token, uuid);
    expect(got.training).toMatchObject({
      trialId: s.trialId,
      experimentId: s.experimentId,
      hparams: { lr: 0.1 },
      validationMetrics: {
        avgMetrics: { validation_loss: 0.125, accuracy: 0.9 },
        batchMetrics: [],
      },
      trainingMetrics: { avgMetrics: { loss: 0.3 }, batchMetrics: [] },
      searcherMetric: 0.125,
    });
  });

  it('returns a non-finite searcher value as its string, raw', async () => {
    const m = master();
    const s = await seedTrial(m);
    const uuid = await reportCheckpoint(m, s, 50);
    await reportMetric(m, s, 'validation', 50, { validation_loss: 'NaN' });
    const got = await getCheckpoint(m, s.token, uuid);
    expect(got.training.searcherMetric).toBe('NaN');
    expect(got.training.validationMetrics.avgMetrics).toEqual({ validation_loss: 'NaN' });
  });

  it('answers 404 for an unknown uuid and 400 for a malformed one', async () => {
    const m = master();
    const s = await seedTrial(m);
    const uuid = testUuid();
    const missing = await fail(m, s.token, 'GET', `/api/v1/checkpoints/${uuid}`);
    expect(missing.status).toBe(404);
    expect(missing.body.message).toBe(`checkpoint '${uuid}' not found`);
    expect((await fail(m, s.token, 'GET', '/api/v1/checkpoints/not-a-uuid')).status).toBe(400);
    expect((await m.request('GET', `/api/v1/checkpoints/${uuid}`)).status).toBe(401);
  });

  it('lists no metrics for a checkpoint, validating the query', async () => {
    const m = master();
    const s = await seedTrial(m);
    const uuid = await reportCheckpoint(m, s, 10);
    expect(await call(m, s.token, 'GET', `/api/v1/checkpoints/${uuid}/metrics`)).toEqual({
      metrics: [],
    });
    expect(
      await call(
        m,
        s.token,
        'GET',
        `/api/v1/checkpoints/${uuid}/metrics?trialSourceInfoType=TRIAL_SOURCE_INFO_TYPE_INFERENCE&metricGroup=inference`,
      ),
    ).toEqual({ metrics: [] });
    expect(
      (await fail(m, s.token, 'GET', `/api/v1/checkpoints/${testUuid()}/metrics`)).status,
    ).toBe(404);
    expect(
      (
        await fail(
          m,
          s.token,
          'GET',
          `/api/v1/checkpoints/${uuid}/metrics?trialSourceInfoType=NOPE`,
        )
      ).status,
    ).toBe(400);
    expect(
      (await fail(m, s.token, 'GET', `/api/v1/checkpoints/${uuid}/metrics?metricGroup=a.b`)).status,
    ).toBe(400);
  });
});

describeEachDialect('patch checkpoints', ({ master }) => {
  it('marks {} DELETED, a different map PARTIALLY_DELETED, and leaves omitted ones alone', async () => {
    const m = master();
    const s = await seedTrial(m);
    const resources = { 'metadata.json': '20', 'model.bin': '100' };
    const [a, b, c, d] = [
      await reportCheckpoint(m, s, 10),
      await reportCheckpoint(m, s, 20),
      await reportCheckpoint(m, s, 30),
      await reportCheckpoint(m, s, 40),
    ];
    await call(m, s.token, 'PATCH', '/api/v1/checkpoints', {
      checkpoints: [
        { uuid: a, resources: { resources: {} } },
        { uuid: b, resources: { resources: { 'model.bin': 100 } } },
        { uuid: c },
        { uuid: d, resources: { resources } },
      ],
    });
    const [ga, gb, gc, gd] = [
      await getCheckpoint(m, s.token, a),
      await getCheckpoint(m, s.token, b),
      await getCheckpoint(m, s.token, c),
      await getCheckpoint(m, s.token, d),
    ];
    expect([ga.state, ga.resources]).toEqual(['STATE_DELETED', {}]);
    expect([gb.state, gb.resources]).toEqual(['STATE_PARTIALLY_DELETED', { 'model.bin': '100' }]);
    expect([gc.state, gc.resources]).toEqual(['STATE_COMPLETED', resources]);
    expect([gd.state, gd.resources]).toEqual(['STATE_COMPLETED', resources]);
    const count = async (state: string): Promise<number> =>
      (
        await call<{ pagination: { total: number } }>(
          m,
          s.token,
          'GET',
          `/api/v1/trials/${s.trialId}/checkpoints?states=${state}`,
        )
      ).pagination.total;
    expect(await count('STATE_COMPLETED')).toBe(2);
    expect(await count('STATE_DELETED')).toBe(1);
    expect(await count('STATE_PARTIALLY_DELETED')).toBe(1);
    const { trial } = await call<{
      trial: { checkpointCount: number; totalCheckpointSize: string };
    }>(m, s.token, 'GET', `/api/v1/trials/${s.trialId}`);
    expect(trial.checkpointCount).toBe(3);
    expect(trial.totalCheckpointSize).toBe(String(120 + 100 + 120));
  });

  it('changes nothing when one uuid is unknown', async () => {
    const m = master();
    const s = await seedTrial(m);
    const a = await reportCheckpoint(m, s, 10);
    const unknown = testUuid();
    const r = await fail(m, s.token, 'PATCH', '/api/v1/checkpoints', {
      checkpoints: [
        { uuid: a, resources: { resources: {} } },
        { uuid: unknown, resources: { resources: {} } },
      ],
    });
    expect(r.status).toBe(404);
    expect(r.body.message).toContain(unknown);
    expect((await getCheckpoint(m, s.token, a)).state).toBe('STATE_COMPLETED');
    const bad = await fail(m, s.token, 'PATCH', '/api/v1/checkpoints', {
      checkpoints: [{ uuid: a, resources: { resources: { '../x': '1' } } }],
    });
    expect(bad.status).toBe(400);
    expect((await getCheckpoint(m, s.token, a)).resources).toEqual({
      'metadata.json': '20',
      'model.bin': '100',
    });
  });
});

describeEachDialect('delete checkpoint files', ({ master }) => {
  it('deletes every file from directory storage and marks the checkpoint DELETED', async () => {
    const m = master();
    const s = await seedTrial(m);
    const kept = await storedCheckpoint(m, s, m.storageDir);
    const gone = await storedCheckpoint(m, s, m.storageDir);
    expect(listTree(gone.dir)).toEqual(Object.keys(gone.resources).sort());
    await call(m, s.token, 'DELETE', '/api/v1/checkpoints', { checkpointUuids: [gone.uuid] });
    expect(existsSync(gone.dir)).toBe(false);
    expect(listTree(kept.dir)).toEqual(Object.keys(kept.resources).sort());
    const got = await getCheckpoint(m, s.token, gone.uuid);
    expect(got.state).toBe('STATE_DELETED');
    expect(got.resources).toEqual({});
    expect((await getCheckpoint(m, s.token, kept.uuid)).state).toBe('STATE_COMPLETED');
    // Deleting again is a no-op.
    await call(m, s.token, 'DELETE', '/api/v1/checkpoints', { checkpointUuids: [gone.uuid] });
    expect((await getCheckpoint(m, s.token, gone.uuid)).state).toBe('STATE_DELETED');
    const total = async (q: string): Promise<number> =>
      (
        await call<{ pagination: { total: number } }>(
          m,
          s.token,
          'GET',
          `/api/v1/trials/${s.trialId}/checkpoints?${q}`,
        )
      ).pagination.total;
    expect(await total('states=STATE_COMPLETED')).toBe(1);
    expect(await total('states=STATE_DELETED')).toBe(1);
    expect(await total('')).toBe(2);
    expect(
      (
        await call<{ pagination: { total: number } }>(
          m,
          s.token,
          'GET',
          `/api/v1/experiments/${s.experimentId}/checkpoints?states=STATE_COMPLETED`,
        )
      ).pagination.total,
    ).toBe(1);
  });

  it('removes stray files too, and unlinks links without following them', async () => {
    const m = master();
    const s = await seedTrial(m);
    const outside = join(m.storageDir, 'outside');
    mkdirSync(outside);
    writeFileSync(join(outside, 'precious.txt'), 'keep me');
    const c = await storedCheckpoint(m, s, m.storageDir);
    // Files the report never listed: a trainer's leftovers, and a link pointing out of storage.
    writeFileSync(join(c.dir, 'stray.tmp'), 'left behind');
    symlinkSync(outside, join(c.dir, 'link-out'));
    await call(m, s.token, 'DELETE', '/api/v1/checkpoints', { checkpointUuids: [c.uuid] });
    expect(existsSync(c.dir)).toBe(false);
    expect(readdirSync(outside)).toEqual(['precious.txt']);
    expect((await getCheckpoint(m, s.token, c.uuid)).state).toBe('STATE_DELETED');
  });

  it('deletes from shared_fs storage under host_path and storage_path', async () => {
    const m = master();
    const host = join(m.storageDir, 'shared');
    for (const storagePath of ['ckpts', join(host, 'abs')]) {
      const s = await seedTrial(m, {
        storage: `{type: shared_fs, host_path: ${host}, storage_path: ${storagePath}}`,
      });
      const root = storagePath.startsWith('/') ? storagePath : join(host, storagePath);
      const a = await storedCheckpoint(m, s, root);
      const b = await storedCheckpoint(m, s, root);
      await call(m, s.token, 'DELETE', '/api/v1/checkpoints', { checkpointUuids: [a.uuid] });
      expect(existsSync(a.dir), storagePath).toBe(false);
      expect(listTree(b.dir)).toEqual(Object.keys(b.resources).sort());
      const got = await getCheckpoint(m, s.token, a.uuid);
      expect([got.state, got.resources]).toEqual(['STATE_DELETED', {}]);
    }
  });

  it('removes only the files a glob matches and records what remains', async () => {
    const m = master();
    const s = await seedTrial(m);
    const c = await storedCheckpoint(m, s, m.storageDir);
    await call(m, s.token, 'POST', '/api/v1/checkpoints/rm', {
      checkpointUuids: [c.uuid],
      checkpointGlobs: ['**/*.bin'],
    });
    const remaining = {
      'metadata.json': c.resources['metadata.json'],
      'sub/': '0',
      'sub/a.txt': c.resources['sub/a.txt'],
      'sub/dir/': '0',
      'sub/dir/c.txt': c.resources['sub/dir/c.txt'],
    };
    expect(listTree(c.dir)).toEqual(Object.keys(remaining).sort());
    let got = await getCheckpoint(m, s.token, c.uuid);
    expect(got.state).toBe('STATE_PARTIALLY_DELETED');
    expect(got.resources).toEqual(remaining);
    // Emptying a directory keeps its entry (it is still there); naming it then removes it.
    await call(m, s.token, 'POST', '/api/v1/checkpoints/rm', {
      checkpointUuids: [c.uuid],
      checkpointGlobs: ['sub/dir/*'],
    });
    const { 'sub/dir/c.txt': _c, ...withEmptyDir } = remaining;
    expect(listTree(c.dir)).toEqual(Object.keys(withEmptyDir).sort());
    expect((await getCheckpoint(m, s.token, c.uuid)).resources).toEqual(withEmptyDir);
    await call(m, s.token, 'POST', '/api/v1/checkpoints/rm', {
      checkpointUuids: [c.uuid],
      checkpointGlobs: ['sub/dir'],
    });
    const { 'sub/dir/': _d, ...withoutDir } = withEmptyDir;
    expect(listTree(c.dir)).toEqual(Object.keys(withoutDir).sort());
    expect((await getCheckpoint(m, s.token, c.uuid)).resources).toEqual(withoutDir);
    await call(m, s.token, 'POST', '/api/v1/checkpoints/rm', {
      checkpointUuids: [c.uuid],
      checkpointGlobs: ['sub/**'],
    });
    expect(listTree(c.dir)).toEqual(['metadata.json']);
    got = await getCheckpoint(m, s.token, c.uuid);
    expect(got.state).toBe('STATE_PARTIALLY_DELETED');
    expect(got.resources).toEqual({ 'metadata.json': c.resources['metadata.json'] });
    const { trial } = await call<{ trial: { totalCheckpointSize: string } }>(
      m,
      s.token,
      'GET',
      `/api/v1/trials/${s.trialId}`,
    );
    expect(trial.totalCheckpointSize).toBe(c.resources['metadata.json']);
    // Removing the last file deletes the checkpoint.
    await call(m, s.token, 'POST', '/api/v1/checkpoints/rm', {
      checkpointUuids: [c.uuid],
      checkpointGlobs: ['*'],
    });
    expect(existsSync(c.dir)).toBe(false);
    got = await getCheckpoint(m, s.token, c.uuid);
    expect([got.state, got.resources]).toEqual(['STATE_DELETED', {}]);
  });

  it('keeps digests only for the files that remain', async () => {
    const m = master();
    const s = await seedTrial(m);
    const uuid = testUuid();
    const dir = join(m.storageDir, uuid);
    const resources = writeTree(dir, { 'a.bin': 'aaa', 'b.txt': 'bbb' });
    await call(
      m,
      s.token,
      'POST',
      '/api/v1/checkpoints',
      reportBody(s, uuid, {
        resources,
        digests: { 'a.bin': sha256('aaa'), 'b.txt': sha256('bbb') },
      }),
    );
    await call(m, s.token, 'POST', '/api/v1/checkpoints/rm', {
      checkpointUuids: [uuid],
      checkpointGlobs: ['*.bin'],
    });
    expect((await getCheckpoint(m, s.token, uuid)).digests).toEqual({ 'b.txt': sha256('bbb') });
  });

  it('does nothing for empty globs', async () => {
    const m = master();
    const s = await seedTrial(m);
    const c = await storedCheckpoint(m, s, m.storageDir);
    await call(m, s.token, 'POST', '/api/v1/checkpoints/rm', {
      checkpointUuids: [c.uuid],
      checkpointGlobs: [],
    });
    await call(m, s.token, 'POST', '/api/v1/checkpoints/rm', { checkpointUuids: [c.uuid] });
    expect(listTree(c.dir)).toEqual(Object.keys(c.resources).sort());
    const got = await getCheckpoint(m, s.token, c.uuid);
    expect([got.state, got.resources]).toEqual(['STATE_COMPLETED', c.resources]);
  });

  it('rejects bad globs and unknown uuids before deleting anything', async () => {
    const m = master();
    const s = await seedTrial(m);
    const c = await storedCheckpoint(m, s, m.storageDir);
    for (const globs of [[''], ['../x'], ['sub/../../x'], ['*', '']]) {
      const r = await fail(m, s.token, 'POST', '/api/v1/checkpoints/rm', {
        checkpointUuids: [c.uuid],
        checkpointGlobs: globs,
      });
      expect(r.status, JSON.stringify(globs)).toBe(400);
      expect(r.body.message).toContain('invalid glob');
    }
    const unknown = testUuid();
    for (const [method, path, body] of [
      ['DELETE', '/api/v1/checkpoints', { checkpointUuids: [c.uuid, unknown] }],
      [
        'POST',
        '/api/v1/checkpoints/rm',
        { checkpointUuids: [c.uuid, unknown], checkpointGlobs: ['**'] },
      ],
    ] as const) {
      const r = await fail(m, s.token, method, path, body);
      expect(r.status).toBe(404);
      expect(r.body.message).toContain(unknown);
    }
    expect(listTree(c.dir)).toEqual(Object.keys(c.resources).sort());
    expect((await getCheckpoint(m, s.token, c.uuid)).state).toBe('STATE_COMPLETED');
    expect(
      (await fail(m, s.token, 'DELETE', '/api/v1/checkpoints', { checkpointUuids: [] })).status,
    ).toBe(400);
    expect(
      (await fail(m, s.token, 'DELETE', '/api/v1/checkpoints', { checkpointUuids: ['nope'] }))
        .status,
    ).toBe(400);
  });

  it('refuses to delete from storage whose config it cannot use, and changes nothing', async () => {
    const m = master();
    const local = await seedTrial(m);
    const c = await storedCheckpoint(m, local, m.storageDir);
    const s = await seedTrial(m, {
      storage: '{type: shared_fs, host_path: /tmp, storage_path: ../etc}',
    });
    const uuid = await reportCheckpoint(m, s, 10);
    for (const [method, path, body] of [
      ['DELETE', '/api/v1/checkpoints', { checkpointUuids: [c.uuid, uuid] }],
      ['POST', '/api/v1/checkpoints/rm', { checkpointUuids: [uuid], checkpointGlobs: ['*.bin'] }],
    ] as const) {
      const r = await fail(m, s.token, method, path, body);
      expect(r.status).toBe(400);
      expect(r.body.message).toContain(
        `cannot delete files of checkpoint ${uuid}: shared_fs storage_path ../etc must be a ` +
          'subdirectory of host_path /tmp',
      );
    }
    expect((await getCheckpoint(m, s.token, uuid)).state).toBe('STATE_COMPLETED');
    expect(listTree(c.dir)).toEqual(Object.keys(c.resources).sort());
    expect((await getCheckpoint(m, s.token, c.uuid)).state).toBe('STATE_COMPLETED');
  });
});

describeEachDialect('replace checkpoint metadata', ({ master }) => {
  it('replaces the metadata wholesale and returns the checkpoint', async () => {
    const m = master();
    const s = await seedTrial(m);
    const uuid = await reportCheckpoint(m, s, 10);
    const { checkpoint } = await call<{ checkpoint: WireCheckpoint }>(
      m,
      s.token,
      'POST',
      `/api/v1/checkpoints/${uuid}/metadata`,
      {
        checkpoint: {
          uuid,
          metadata: { steps_completed: 10, note: 'hi' },
          resources: {},
          training: {},
          state: 'STATE_UNSPECIFIED',
        },
      },
    );
    expect(checkpoint.metadata).toEqual({ steps_completed: 10, note: 'hi' });
    // Resources and state in the body are ignored, as upstream.
    expect(checkpoint.resources).toEqual({ 'metadata.json': '20', 'model.bin': '100' });
    expect(checkpoint.state).toBe('STATE_COMPLETED');
    expect((await getCheckpoint(m, s.token, uuid)).metadata).toEqual({
      steps_completed: 10,
      note: 'hi',
    });
    const mismatch = await fail(m, s.token, 'POST', `/api/v1/checkpoints/${uuid}/metadata`, {
      checkpoint: { uuid: testUuid(), metadata: {} },
    });
    expect(mismatch.status).toBe(400);
    const unknown = testUuid();
    expect(
      (
        await fail(m, s.token, 'POST', `/api/v1/checkpoints/${unknown}/metadata`, {
          checkpoint: { metadata: {} },
        })
      ).status,
    ).toBe(404);
  });
});

describeEachDialect('checkpoint counts under concurrency', ({ master }) => {
  const totals = async (m: TestMaster, s: Seeded): Promise<Record<string, number>> => {
    const out: Record<string, number> = {};
    for (const state of ['', 'STATE_COMPLETED', 'STATE_DELETED', 'STATE_PARTIALLY_DELETED']) {
      const { pagination } = await call<{ pagination: { total: number } }>(
        m,
        s.token,
        'GET',
        `/api/v1/trials/${s.trialId}/checkpoints${state === '' ? '' : `?states=${state}`}`,
      );
      out[state === '' ? 'all' : state] = pagination.total;
    }
    return out;
  };

  it('counts one checkpoint once when the same uuid is patched twice in one request', async () => {
    const m = master();
    const s = await seedTrial(m);
    const uuid = await reportCheckpoint(m, s, 10);
    await call(m, s.token, 'PATCH', '/api/v1/checkpoints', {
      checkpoints: [
        { uuid, resources: { resources: {} } },
        { uuid, resources: { resources: { 'model.bin': '100' } } },
      ],
    });
    expect((await getCheckpoint(m, s.token, uuid)).state).toBe('STATE_PARTIALLY_DELETED');
    expect(await totals(m, s)).toEqual({
      all: 1,
      STATE_COMPLETED: 0,
      STATE_DELETED: 0,
      STATE_PARTIALLY_DELETED: 1,
    });
  });

  it('counts one checkpoint once when it is deleted by concurrent requests', async () => {
    const m = master();
    const s = await seedTrial(m);
    const c = await storedCheckpoint(m, s, m.storageDir);
    const results = await Promise.all(
      [0, 1, 2].map(() =>
        m.request('DELETE', '/api/v1/checkpoints', {
          token: s.token,
          body: { checkpointUuids: [c.uuid] },
        }),
      ),
    );
    expect(results.map((r) => r.status)).toEqual([200, 200, 200]);
    expect(existsSync(c.dir)).toBe(false);
    expect(await totals(m, s)).toEqual({
      all: 1,
      STATE_COMPLETED: 0,
      STATE_DELETED: 1,
      STATE_PARTIALLY_DELETED: 0,
    });
  });

  it('stores concurrent identical reports once', async () => {
    const m = master();
    const s = await seedTrial(m);
    const body = reportBody(s, testUuid());
    const results = await Promise.all(
      [0, 1, 2].map(() => m.request('POST', '/api/v1/checkpoints', { token: s.token, body })),
    );
    expect(results.map((r) => r.status)).toEqual([200, 200, 200]);
    expect(await totals(m, s)).toMatchObject({ all: 1, STATE_COMPLETED: 1 });
  });

  it('counts concurrent first reports of one trial', async () => {
    const m = master();
    const s = await seedTrial(m);
    const results = await Promise.all(
      [0, 1, 2, 3].map(() =>
        m.request('POST', '/api/v1/checkpoints', {
          token: s.token,
          body: reportBody(s, testUuid()),
        }),
      ),
    );
    expect(results.map((r) => r.status)).toEqual([200, 200, 200, 200]);
    expect(await totals(m, s)).toMatchObject({ all: 4, STATE_COMPLETED: 4 });
  });
});
