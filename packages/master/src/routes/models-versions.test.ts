// The model registry's version routes (#10-#15 of the wire reference, model-registry-wire.md):
// registering checkpoints, numbering, listing, patching and deleting versions, the protection of
// registered checkpoints, and who may delete what.
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

import type {
  CheckpointDto,
  GetModelResponse,
  GetModelVersionResponse,
  GetModelVersionsResponse,
  ModelDto,
  ModelVersionDto,
} from '@determined-ts/api';
import { expect, it } from 'vitest';

import { call, reportCheckpoint, seedTrial, testUuid } from '../../test/flow.js';
import type { Seeded } from '../../test/flow.js';
import { expectError } from '../../test/expect-error.js';
import { describeEachDialect } from '../../test/helpers.js';
import type { TestMaster } from '../../test/helpers.js';
import {
  SECOND_MS,
  addUser,
  getModel,
  iso,
  meId,
  modelPath,
  versionPath,
} from '../../test/registry.js';

async function createModel(m: TestMaster, token: string, name: string): Promise<ModelDto> {
  return (await call<GetModelResponse>(m, token, 'POST', '/api/v1/models', { name })).model;
}

/** Registers a checkpoint as `Model.register_version` does (`modelName` in the body too). */
async function register(
  m: TestMaster,
  token: string,
  model: string | number,
  checkpointUuid: string,
  extra: Record<string, unknown> = {},
): Promise<ModelVersionDto> {
  return (
    await call<GetModelVersionResponse>(m, token, 'POST', `${modelPath(model)}/versions`, {
      checkpointUuid,
      modelName: String(model),
      ...extra,
    })
  ).modelVersion;
}

async function getVersion(
  m: TestMaster,
  token: string,
  model: string | number,
  version: string | number,
): Promise<ModelVersionDto> {
  return (await call<GetModelVersionResponse>(m, token, 'GET', versionPath(model, version)))
    .modelVersion;
}

async function patchVersion(
  m: TestMaster,
  token: string,
  model: string | number,
  version: string | number,
  body: Record<string, unknown>,
): Promise<ModelVersionDto> {
  return (await call<GetModelVersionResponse>(m, token, 'PATCH', versionPath(model, version), body))
    .modelVersion;
}

async function listVersions(
  m: TestMaster,
  token: string,
  model: string | number,
  query = '',
): Promise<GetModelVersionsResponse> {
  return call<GetModelVersionsResponse>(m, token, 'GET', `${modelPath(model)}/versions${query}`);
}

async function versionNumbers(
  m: TestMaster,
  token: string,
  model: string | number,
  query = '',
): Promise<number[]> {
  return (await listVersions(m, token, model, query)).modelVersions.map((v) => v.version);
}

async function getCheckpoint(m: TestMaster, token: string, uuid: string): Promise<CheckpointDto> {
  return (await call<{ checkpoint: CheckpointDto }>(m, token, 'GET', `/api/v1/checkpoints/${uuid}`))
    .checkpoint;
}

/** Reports a checkpoint whose one file exists in the master's directory storage. */
async function storedCheckpoint(m: TestMaster, s: Seeded, steps: number): Promise<string> {
  const uuid = testUuid();
  await mkdir(join(m.storageDir, uuid), { recursive: true });
  await writeFile(join(m.storageDir, uuid, 'model.bin'), 'abc');
  return reportCheckpoint(m, s, steps, { uuid, resources: { 'model.bin': '3' } });
}

/** Turns a checkpoint DELETED (`{}`) or PARTIALLY_DELETED (a smaller map) as the SDK's GC does. */
async function shrinkCheckpoint(
  m: TestMaster,
  token: string,
  uuid: string,
  resources: Record<string, string>,
): Promise<void> {
  await call(m, token, 'PATCH', '/api/v1/checkpoints', {
    checkpoints: [{ uuid, resources: { resources } }],
  });
}

describeEachDialect('model versions: register', ({ master }) => {
  it('registers a checkpoint and returns every field, with the checkpoint as GET returns it', async () => {
    const m = master();
    const s = await seedTrial(m);
    const token = s.token;
    const userId = await meId(m, token);
    const model = await createModel(m, token, 'resnet classifier');
    const uuid = await reportCheckpoint(m, s, 10);
    const checkpoint = await getCheckpoint(m, token, uuid);
    m.now.ms += SECOND_MS;
    const version = await register(m, token, 'resnet classifier', uuid);
    const expected: ModelVersionDto = {
      id: 1,
      version: 1,
      // The fresh model: registering counts the version and leaves lastUpdatedTime alone.
      model: { ...model, numVersions: 1 },
      checkpoint,
      creationTime: iso(m.now.ms),
      lastUpdatedTime: iso(m.now.ms),
      name: '',
      comment: '',
      notes: '',
      metadata: {},
      labels: [],
      userId,
      username: 'determined',
      aliases: [],
    };
    expect(version).toEqual(expected);
    m.now.ms += SECOND_MS;
    expect(await getVersion(m, token, 'resnet classifier', 1)).toEqual(expected);
    expect(await getVersion(m, token, model.id, 1)).toEqual(expected);
    expect(await getModel(m, token, model.id)).toEqual({ ...model, numVersions: 1 });
  });

  it('stores the optional fields, with null meaning not given', async () => {
    const m = master();
    const s = await seedTrial(m);
    const admin = await m.login('admin');
    const adminId = await meId(m, admin);
    await createModel(m, s.token, 'm');
    const uuid = await reportCheckpoint(m, s, 10);
    const full = await register(m, admin, 'm', uuid, {
      name: 'first',
      comment: 'a comment',
      metadata: { k: 'v', n: 2.5 },
      labels: ['l1', 'l2'],
      notes: '# notes',
    });
    expect(full).toMatchObject({
      version: 1,
      name: 'first',
      comment: 'a comment',
      metadata: { k: 'v', n: 2.5 },
      labels: ['l1', 'l2'],
      notes: '# notes',
      userId: adminId,
      username: 'admin',
    });
    const nulls = await register(m, s.token, 'm', uuid, {
      name: null,
      comment: null,
      metadata: null,
      labels: null,
      notes: null,
    });
    expect(nulls).toMatchObject({
      version: 2,
      name: '',
      comment: '',
      metadata: {},
      labels: [],
      notes: '',
      username: 'determined',
    });
  });

  it('numbers versions MAX+1: a deleted highest number comes back, a middle one stays a gap', async () => {
    const m = master();
    const s = await seedTrial(m);
    const token = s.token;
    await createModel(m, token, 'a');
    await createModel(m, token, 'b');
    // The same checkpoint, any number of times, in one model or several.
    const uuid = await reportCheckpoint(m, s, 10);
    const registered = [
      await register(m, token, 'a', uuid),
      await register(m, token, 'b', uuid),
      await register(m, token, 'a', uuid),
      await register(m, token, 'a', uuid),
    ];
    expect(registered.map((v) => [v.model.name, v.version, v.id])).toEqual([
      ['a', 1, 1],
      ['b', 1, 2],
      ['a', 2, 3],
      ['a', 3, 4],
    ]);
    await call(m, token, 'DELETE', versionPath('a', 3));
    const reused = await register(m, token, 'a', uuid);
    expect([reused.version, reused.id]).toEqual([3, 5]);
    await call(m, token, 'DELETE', versionPath('a', 2));
    const next = await register(m, token, 'a', uuid);
    expect([next.version, next.id]).toEqual([4, 6]);
    expect(await versionNumbers(m, token, 'a')).toEqual([1, 3, 4]);
    expect((await getModel(m, token, 'a')).numVersions).toBe(3);
    expect(await versionNumbers(m, token, 'b')).toEqual([1]);
    await expectError(
      await m.request('GET', versionPath('a', 2), { token }),
      404,
      'version 2 for model "a" not found',
    );
  });

  it('uses the model of the path, whatever the body names', async () => {
    const m = master();
    const s = await seedTrial(m);
    const token = s.token;
    await createModel(m, token, 'target');
    const other = await createModel(m, token, 'other');
    const uuid = await reportCheckpoint(m, s, 10);
    const res = await call<GetModelVersionResponse>(
      m,
      token,
      'POST',
      `${modelPath('target')}/versions`,
      { checkpointUuid: uuid, modelName: 'other' },
    );
    expect(res.modelVersion.model.name).toBe('target');
    // What `det model register-version --json` sends: the numeric id, only the uuid.
    const byId = await call<GetModelVersionResponse>(
      m,
      token,
      'POST',
      `${modelPath(other.id)}/versions`,
      { checkpointUuid: uuid },
    );
    expect([byId.modelVersion.model.name, byId.modelVersion.version]).toEqual(['other', 1]);
    expect(await versionNumbers(m, token, 'target')).toEqual([1]);
    await expectError(
      await m.request('POST', `${modelPath('nope')}/versions`, {
        token,
        body: { checkpointUuid: uuid, modelName: 'target' },
      }),
      404,
      'model "nope" not found',
    );
  });

  it('refuses an unknown, malformed or not COMPLETED checkpoint, registering nothing', async () => {
    const m = master();
    const s = await seedTrial(m);
    const token = s.token;
    await createModel(m, token, 'm');
    const post = (body: unknown): Promise<Response> =>
      m.request('POST', `${modelPath('m')}/versions`, { token, body });
    const unknown = testUuid();
    await expectError(
      await post({ checkpointUuid: unknown }),
      404,
      `checkpoint '${unknown}' not found`,
    );
    for (const bad of ['not-a-uuid', '', '00000000-0000-4000-8000-00000000000g']) {
      const body = await expectError(await post({ checkpointUuid: bad }), 400, '');
      expect(body.error.reason).toBe('InvalidArgument');
    }
    await expectError(await post({}), 400, 'checkpointUuid');
    await expectError(await post({ checkpointUuid: null }), 400, 'checkpointUuid');
    const deleted = await reportCheckpoint(m, s, 10);
    await shrinkCheckpoint(m, token, deleted, {});
    const partial = await reportCheckpoint(m, s, 20);
    await shrinkCheckpoint(m, token, partial, { 'model.bin': '100' });
    for (const uuid of [deleted, partial]) {
      const body = await expectError(
        await post({ checkpointUuid: uuid }),
        400,
        'must be in a COMPLETED state',
      );
      expect(body.message).toContain(uuid);
      expect(body.error.reason).toBe('FailedPrecondition');
    }
    expect((await getModel(m, token, 'm')).numVersions).toBe(0);
    expect((await listVersions(m, token, 'm')).pagination.total).toBe(0);
  });

  it('gives concurrent registrations distinct consecutive numbers', async () => {
    const m = master();
    const s = await seedTrial(m);
    await createModel(m, s.token, 'm');
    const uuid = await reportCheckpoint(m, s, 10);
    const versions = await Promise.all(
      Array.from({ length: 10 }, () => register(m, s.token, 'm', uuid)),
    );
    expect(versions.map((v) => v.version).sort((a, b) => a - b)).toEqual([
      1, 2, 3, 4, 5, 6, 7, 8, 9, 10,
    ]);
    expect(new Set(versions.map((v) => v.id)).size).toBe(10);
    expect(await versionNumbers(m, s.token, 'm')).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
    expect((await getModel(m, s.token, 'm')).numVersions).toBe(10);
  });
});

describeEachDialect('model versions: read, patch, delete', ({ master }) => {
  it('lists versions sorted by version or creation time, version breaking ties, and pages', async () => {
    const m = master();
    const s = await seedTrial(m);
    const token = s.token;
    const model = await createModel(m, token, 'm');
    expect(await listVersions(m, token, 'm')).toEqual({
      model,
      modelVersions: [],
      pagination: { offset: 0, limit: 0, startIndex: 0, endIndex: 0, total: 0 },
    });
    const uuid = await reportCheckpoint(m, s, 10);
    const t0 = m.now.ms;
    // Creation times out of version order, with a tie (versions 2 and 3).
    for (const at of [100, 50, 50]) {
      m.now.ms = t0 + at * SECOND_MS;
      await register(m, token, 'm', uuid);
    }
    const cases: Record<string, number[]> = {
      '': [1, 2, 3],
      'orderBy=ORDER_BY_DESC': [3, 2, 1],
      'sortBy=SORT_BY_UNSPECIFIED&orderBy=ORDER_BY_UNSPECIFIED': [1, 2, 3],
      'sortBy=SORT_BY_VERSION&orderBy=ORDER_BY_ASC': [1, 2, 3],
      'sortBy=SORT_BY_VERSION&orderBy=ORDER_BY_DESC': [3, 2, 1],
      'sortBy=SORT_BY_CREATION_TIME': [2, 3, 1],
      'sortBy=SORT_BY_CREATION_TIME&orderBy=ORDER_BY_DESC': [1, 3, 2],
      'sortBy=2': [2, 3, 1],
      'offset=-1': [3],
      'offset=3': [],
      'offset=1&limit=1': [2],
    };
    const got: Record<string, number[]> = {};
    for (const query of Object.keys(cases)) {
      got[query] = await versionNumbers(m, token, 'm', query === '' ? '' : `?${query}`);
    }
    expect(got).toEqual(cases);
    // What Model.get_version() sends for the latest version.
    const latest = await listVersions(
      m,
      token,
      'm',
      '?limit=1&sortBy=SORT_BY_VERSION&orderBy=ORDER_BY_DESC',
    );
    const fresh = { ...model, numVersions: 3 };
    expect(latest.model).toEqual(fresh);
    expect(latest.modelVersions.map((v) => [v.version, v.model])).toEqual([[3, fresh]]);
    expect(latest.pagination).toEqual({
      offset: 0,
      limit: 1,
      startIndex: 0,
      endIndex: 1,
      total: 3,
    });
    expect((await listVersions(m, token, 'm', '?offset=-2')).pagination).toEqual({
      offset: -2,
      limit: 0,
      startIndex: 1,
      endIndex: 3,
      total: 3,
    });
    for (const [query, fragment] of [
      ['offset=4', 'offset out of bounds'],
      ['offset=-4', 'offset out of bounds'],
      ['limit=-1', 'limit'],
      ['sortBy=SORT_BY_NAME', 'sortBy'],
      ['orderBy=DOWN', 'orderBy'],
    ] as const) {
      await expectError(
        await m.request('GET', `${modelPath('m')}/versions?${query}`, { token }),
        400,
        fragment,
      );
    }
    await expectError(
      await m.request('GET', `${modelPath('nope')}/versions`, { token }),
      404,
      'model "nope" not found',
    );
  });

  it("patches a version's fields, bumping its lastUpdatedTime and never the model's", async () => {
    const m = master();
    const s = await seedTrial(m);
    const token = s.token;
    const model = await createModel(m, token, 'm');
    const uuid = await reportCheckpoint(m, s, 10);
    const otherUuid = await reportCheckpoint(m, s, 20);
    m.now.ms += SECOND_MS;
    let current = await register(m, token, 'm', uuid);
    const steps: [Record<string, unknown>, Partial<ModelVersionDto>][] = [
      [{ name: 'v one' }, { name: 'v one' }],
      [{ comment: 'good' }, { comment: 'good' }],
      [{ notes: '# n' }, { notes: '# n' }],
      [{ metadata: { a: 1, b: [true] } }, { metadata: { a: 1, b: [true] } }],
      [{ metadata: { c: 2 } }, { metadata: { c: 2 } }],
      [{ labels: ['b', 'a', 'b', 'c', 'a'] }, { labels: ['b', 'a', 'c'] }],
      [{ labels: [] }, { labels: [] }],
      [
        { name: '', comment: '', notes: '' },
        { name: '', comment: '', notes: '' },
      ],
      // A version cannot be repointed: the checkpoint is accepted and ignored.
      [
        { metadata: {}, checkpoint: { uuid: otherUuid, metadata: { steps_completed: 20 } } },
        { metadata: {} },
      ],
    ];
    for (const [body, change] of steps) {
      m.now.ms += SECOND_MS;
      const patched = await patchVersion(m, token, 'm', 1, body);
      current = { ...current, ...change, lastUpdatedTime: iso(m.now.ms) };
      expect(patched, JSON.stringify(body)).toEqual(current);
      expect(await getVersion(m, token, 'm', 1)).toEqual(current);
    }
    expect(current.checkpoint.uuid).toBe(uuid);
    expect(await getModel(m, token, 'm')).toEqual({ ...model, numVersions: 1 });
    // Absent and null fields leave the version as it is.
    m.now.ms += SECOND_MS;
    const untouched = await patchVersion(m, token, 'm', 1, {
      name: null,
      comment: null,
      notes: null,
      metadata: null,
      labels: null,
    });
    expect([untouched.name, untouched.comment, untouched.metadata]).toEqual(['', '', {}]);
    await expectError(
      await m.request('PATCH', versionPath('m', 2), { token, body: { name: 'x' } }),
      404,
      'version 2 for model "m" not found',
    );
  });

  it('deletes one version: its number answers 404, the others and the checkpoint stay', async () => {
    const m = master();
    const s = await seedTrial(m);
    const token = s.token;
    const model = await createModel(m, token, 'm');
    const uuid = await reportCheckpoint(m, s, 10);
    for (let i = 0; i < 3; i++) {
      await register(m, token, 'm', uuid);
    }
    m.now.ms += SECOND_MS;
    expect(await call(m, token, 'DELETE', versionPath('m', 2))).toEqual({});
    for (const method of ['GET', 'PATCH', 'DELETE']) {
      const body = method === 'PATCH' ? { name: 'x' } : undefined;
      await expectError(
        await m.request(method, versionPath('m', 2), { token, body }),
        404,
        'version 2 for model "m" not found',
      );
    }
    expect(await versionNumbers(m, token, 'm')).toEqual([1, 3]);
    expect(await getModel(m, token, 'm')).toEqual({ ...model, numVersions: 2 });
    expect((await getCheckpoint(m, token, uuid)).state).toBe('STATE_COMPLETED');
  });

  it('reads the version segment as an int32; anything else is 400', async () => {
    const m = master();
    const s = await seedTrial(m);
    const token = s.token;
    await createModel(m, token, 'm');
    await register(m, token, 'm', await reportCheckpoint(m, s, 10));
    // What Model.get_version(None) sends.
    for (const segment of ['None', '2147483648', '-1', '1.5', '%20']) {
      for (const method of ['GET', 'PATCH', 'DELETE']) {
        const body = method === 'PATCH' ? { name: 'x' } : undefined;
        const err = await expectError(
          await m.request(method, versionPath('m', segment), { token, body }),
          400,
          '',
        );
        expect(err.error.reason, `${method} ${segment}`).toBe('InvalidArgument');
      }
    }
    for (const segment of ['0', '2', '2147483647']) {
      await expectError(
        await m.request('GET', versionPath('m', segment), { token }),
        404,
        `version ${segment} for model "m" not found`,
      );
    }
    expect((await getVersion(m, token, 'm', '01')).version).toBe(1);
  });

  it('embeds the checkpoint exactly as GET /api/v1/checkpoints answers, metadata edits included', async () => {
    const m = master();
    const s = await seedTrial(m);
    const token = s.token;
    await createModel(m, token, 'm');
    const uuid = await reportCheckpoint(m, s, 10);
    await register(m, token, 'm', uuid);
    await call(m, token, 'POST', `/api/v1/checkpoints/${uuid}/metadata`, {
      checkpoint: { uuid, metadata: { steps_completed: 10, note: 'edited' } },
    });
    const checkpoint = await getCheckpoint(m, token, uuid);
    expect(checkpoint.metadata).toEqual({ steps_completed: 10, note: 'edited' });
    expect(checkpoint.training.trialId).toBe(s.trialId);
    expect(checkpoint.training.experimentId).toBe(s.experimentId);
    expect((await getVersion(m, token, 'm', 1)).checkpoint).toEqual(checkpoint);
    expect((await listVersions(m, token, 'm')).modelVersions[0]?.checkpoint).toEqual(checkpoint);
    expect((await patchVersion(m, token, 'm', 1, { name: 'x' })).checkpoint).toEqual(checkpoint);
  });

  it('answers the inference-metrics route with no metrics', async () => {
    const m = master();
    const s = await seedTrial(m);
    const token = s.token;
    await createModel(m, token, 'm');
    await register(m, token, 'm', await reportCheckpoint(m, s, 10));
    const path = `${versionPath('m', 1)}/metrics`;
    expect(
      await call(
        m,
        token,
        'GET',
        `${path}?metricGroup=inference&trialSourceInfoType=TRIAL_SOURCE_INFO_TYPE_INFERENCE`,
      ),
    ).toEqual({ metrics: [] });
    expect(await call(m, token, 'GET', path)).toEqual({ metrics: [] });
    await expectError(
      await m.request('GET', `${versionPath('m', 2)}/metrics`, { token }),
      404,
      'version 2 for model "m" not found',
    );
    await expectError(
      await m.request('GET', `${versionPath('nope', 1)}/metrics`, { token }),
      404,
      'model "nope" not found',
    );
  });
});

describeEachDialect('model versions: registered checkpoints', ({ master }) => {
  it('refuses to delete, patch or remove files of a registered checkpoint, until its version is gone', async () => {
    const m = master();
    const s = await seedTrial(m);
    const token = s.token;
    const model = await createModel(m, token, 'resnet classifier');
    const uuid = await storedCheckpoint(m, s, 10);
    const free = await storedCheckpoint(m, s, 20);
    await register(m, token, 'resnet classifier', await reportCheckpoint(m, s, 5));
    await register(m, token, 'resnet classifier', uuid);
    const registered = `registered to resnet classifier (model #${model.id}), version 2`;
    const attempts: [string, string, unknown, string][] = [
      [
        'DELETE',
        '/api/v1/checkpoints',
        { checkpointUuids: [free, uuid] },
        'in the model registry and cannot be deleted',
      ],
      [
        'PATCH',
        '/api/v1/checkpoints',
        {
          checkpoints: [
            { uuid: free, resources: { resources: {} } },
            { uuid, resources: { resources: {} } },
          ],
        },
        'in the model registry and cannot be patched',
      ],
      [
        'POST',
        '/api/v1/checkpoints/rm',
        { checkpointUuids: [free, uuid], checkpointGlobs: ['*.bin'] },
        'in the model registry',
      ],
    ];
    for (const [method, path, body, fragment] of attempts) {
      const err = await expectError(await m.request(method, path, { token, body }), 400, fragment);
      expect(err.message).toContain(uuid);
      expect(err.message).toContain(registered);
      expect(err.message).not.toContain(free);
      expect(err.error.reason).toBe('InvalidArgument');
    }
    // Nothing changed, not even the checkpoint that is not registered.
    for (const id of [uuid, free]) {
      const checkpoint = await getCheckpoint(m, token, id);
      expect([checkpoint.state, checkpoint.resources]).toEqual([
        'STATE_COMPLETED',
        { 'model.bin': '3' },
      ]);
    }
    await call(m, token, 'DELETE', versionPath('resnet classifier', 2));
    await call(m, token, 'POST', '/api/v1/checkpoints/rm', {
      checkpointUuids: [uuid],
      checkpointGlobs: ['*.bin'],
    });
    await call(m, token, 'PATCH', '/api/v1/checkpoints', {
      checkpoints: [{ uuid: free, resources: { resources: {} } }],
    });
    await call(m, token, 'DELETE', '/api/v1/checkpoints', { checkpointUuids: [uuid, free] });
    expect((await getCheckpoint(m, token, uuid)).state).toBe('STATE_DELETED');
  });

  it('keeps a checkpoint registered while any version holds it, and frees it with the model', async () => {
    const m = master();
    const s = await seedTrial(m);
    const token = s.token;
    await createModel(m, token, 'a');
    const b = await createModel(m, token, 'b');
    const uuid = await reportCheckpoint(m, s, 10);
    await register(m, token, 'a', uuid);
    await register(m, token, 'b', uuid);
    await register(m, token, 'b', uuid);
    const del = (): Promise<Response> =>
      m.request('DELETE', '/api/v1/checkpoints', { token, body: { checkpointUuids: [uuid] } });
    await expectError(await del(), 400, 'cannot be deleted');
    await call(m, token, 'DELETE', modelPath('a'));
    const err = await expectError(await del(), 400, `registered to b (model #${b.id}), version`);
    expect(err.message).toContain(uuid);
    await call(m, token, 'DELETE', versionPath('b', 1));
    await expectError(await del(), 400, `registered to b (model #${b.id}), version 2`);
    await call(m, token, 'DELETE', modelPath('b'));
    expect((await del()).status).toBe(200);
    expect((await getCheckpoint(m, token, uuid)).state).toBe('STATE_DELETED');
  });
});

describeEachDialect('model versions: permissions', ({ master }) => {
  it('lets any user change a model and register, but only its creator or an admin delete it', async () => {
    const m = master();
    const s = await seedTrial(m);
    const owner = s.token;
    const other = await addUser(m, 'other');
    const admin = await m.login('admin');
    await createModel(m, owner, 'm');
    const uuid = await reportCheckpoint(m, s, 10);
    const path = modelPath('m');
    await call(m, other.token, 'PATCH', path, { description: 'by other' });
    await call(m, other.token, 'POST', `${path}/archive`);
    await call(m, other.token, 'POST', `${path}/unarchive`);
    await call(m, other.token, 'POST', `${path}/move`, {
      modelName: 'm',
      destinationWorkspaceId: 1,
    });
    const v1 = await register(m, other.token, 'm', uuid);
    expect([v1.userId, v1.username]).toEqual([other.id, 'other']);
    await call(m, other.token, 'PATCH', versionPath('m', 1), { comment: 'by other' });
    const refused = await expectError(
      await m.request('DELETE', path, { token: other.token }),
      403,
      'access denied',
    );
    expect(refused.message.endsWith('access denied')).toBe(true);
    expect(refused.error.reason).toBe('PermissionDenied');
    expect((await getModel(m, owner, 'm')).description).toBe('by other');
    // The creator may delete it; so may an admin, another user's model included.
    await call(m, owner, 'DELETE', path);
    await createModel(m, other.token, 'theirs');
    await call(m, admin, 'DELETE', modelPath('theirs'));
    await expectError(await m.request('GET', modelPath('theirs'), { token: admin }), 404, 'theirs');
  });

  it("lets a version's registrant, the model's creator or an admin delete it, no one else", async () => {
    const m = master();
    const s = await seedTrial(m);
    const owner = s.token;
    const other = await addUser(m, 'other');
    const third = await addUser(m, 'third');
    const admin = await m.login('admin');
    await createModel(m, owner, 'm');
    const uuid = await reportCheckpoint(m, s, 10);
    await register(m, owner, 'm', uuid); // 1: by the creator
    await register(m, other.token, 'm', uuid); // 2: by other
    await register(m, other.token, 'm', uuid); // 3: by other
    await register(m, other.token, 'm', uuid); // 4: by other
    const del = (token: string, version: number): Promise<Response> =>
      m.request('DELETE', versionPath('m', version), { token });
    for (const [token, version] of [
      [third.token, 2],
      [third.token, 1],
      [other.token, 1],
    ] as const) {
      const err = await expectError(await del(token, version), 403, 'access denied');
      expect(err.message.endsWith('access denied')).toBe(true);
    }
    expect(await versionNumbers(m, owner, 'm')).toEqual([1, 2, 3, 4]);
    expect((await del(other.token, 2)).status).toBe(200);
    expect((await del(owner, 3)).status).toBe(200);
    expect((await del(admin, 4)).status).toBe(200);
    expect((await del(admin, 1)).status).toBe(200);
    expect(await versionNumbers(m, owner, 'm')).toEqual([]);
  });
});
