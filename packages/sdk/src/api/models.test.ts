// The model registry's low-level calls against the real master in-process (SQLite, and
// PostgreSQL when DET_TEST_POSTGRES_URL is set), and against masters that answer otherwise: one
// without model aliases (Determined's), one with garbage.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import {
  createTrial,
  reportCheckpoint,
  reportMetrics,
  testDialects,
  testUuid,
  startInProcessMaster,
} from '../../test/master.js';
import type { MasterTarget, SeededTrial } from '../../test/master.js';
import { createClient } from '../client.js';
import type { Client } from '../client.js';
import { ApiError, UnexpectedResponseError, UnsupportedFeatureError } from '../errors.js';
import { getCheckpoint } from './checkpoints.js';
import {
  archiveModel,
  createModel,
  deleteModel,
  deleteModelVersion,
  getLatestModelVersion,
  getModel,
  getModelAlias,
  getModelAliasHistory,
  getModelLabels,
  getModelVersion,
  getModelVersionMetrics,
  listModelAliases,
  listModelVersions,
  listModelVersionsPage,
  listModels,
  listModelsPage,
  patchModel,
  patchModelVersion,
  registerModelVersion,
  removeModelAlias,
  setModelAlias,
  unarchiveModel,
} from './models.js';

/** The error a promise rejects with. */
const failure = (p: Promise<unknown>): Promise<unknown> =>
  p.then(
    () => {
      throw new Error('expected a rejection');
    },
    (err: unknown) => err,
  );

async function expectApiError(p: Promise<unknown>, status: number, message?: RegExp) {
  const err = await failure(p);
  expect(err).toBeInstanceOf(ApiError);
  expect((err as ApiError).status).toBe(status);
  if (message !== undefined) {
    expect((err as ApiError).message).toMatch(message);
  }
  return err as ApiError;
}

describe.each(testDialects())('the model registry through the SDK [%s]', (dialect) => {
  let master: MasterTarget;
  let client: Client;
  let trial: SeededTrial;

  beforeAll(async () => {
    master = await startInProcessMaster(dialect);
    client = await master.login();
    trial = await createTrial(client, { storageDir: master.storageDir });
  });

  afterAll(async () => {
    await master.close();
  });

  let steps = 0;
  async function checkpoint(): Promise<string> {
    const uuid = testUuid(1);
    steps += 100;
    await reportCheckpoint(client, trial, { uuid, steps });
    return uuid;
  }

  /** A session of a new non-admin user. */
  async function otherUser(username: string): Promise<Client> {
    const admin = await client
      .withToken(undefined)
      .request<{ token: string }>('POST', '/api/v1/auth/login', {
        body: { username: 'admin', password: '', isHashed: true },
      });
    await client.withToken(admin.token).request('POST', '/api/v1/users', {
      body: { user: { username }, password: '' },
    });
    const { token } = await client
      .withToken(undefined)
      .request<{ token: string }>('POST', '/api/v1/auth/login', {
        body: { username, password: '', isHashed: true },
      });
    return client.withToken(token);
  }

  it('creates a model and reads it back by name, by id and by an all-digits string', async () => {
    const created = await createModel(client, {
      name: 'resnet classifier',
      description: 'image classifier',
      metadata: { team: 'vision', depth: 50 },
      labels: ['prod', 'resnet'],
      notes: '# Resnet',
    });
    expect(created).toEqual({
      id: expect.any(Number) as number,
      name: 'resnet classifier',
      description: 'image classifier',
      notes: '# Resnet',
      metadata: { team: 'vision', depth: 50 },
      labels: ['prod', 'resnet'],
      creationTime: expect.any(Date) as Date,
      lastUpdatedTime: created.creationTime,
      numVersions: 0,
      userId: expect.any(Number) as number,
      username: 'determined',
      workspaceId: 1,
      archived: false,
    });
    expect(await getModel(client, 'resnet classifier')).toEqual(created);
    expect(await getModel(client, created.id)).toEqual(created);
    expect(await getModel(client, String(created.id))).toEqual(created);
  });

  it('lists models with filters, reading every page', async () => {
    const prefix = `list-${dialect}`;
    const names = ['a', 'b', 'c', 'd', 'e'].map((n) => `${prefix}-${n}`);
    for (const [i, name] of names.entries()) {
      await createModel(client, {
        name,
        description: i % 2 === 0 ? 'Even one' : 'odd one',
        labels: i < 2 ? ['small'] : ['large', `n${i}`],
      });
    }
    await archiveModel(client, `${prefix}-e`);

    const before = master.requests.length;
    const all = await listModels(client, { name: prefix.toUpperCase(), limit: 2 });
    expect(all.map((m) => m.name)).toEqual(names);
    const pages = master.requests.slice(before).map((r) => r.path);
    expect(pages).toEqual([
      `/api/v1/models?name=${prefix.toUpperCase()}&offset=0&limit=2`,
      `/api/v1/models?name=${prefix.toUpperCase()}&offset=2&limit=2`,
      `/api/v1/models?name=${prefix.toUpperCase()}&offset=4&limit=2`,
    ]);

    const page = await listModelsPage(client, {
      name: prefix,
      sortBy: 'SORT_BY_NAME',
      orderBy: 'desc',
      offset: 1,
      limit: 2,
    });
    expect(page.models.map((m) => m.name)).toEqual([`${prefix}-d`, `${prefix}-c`]);
    expect(page.pagination).toEqual({ offset: 1, limit: 2, startIndex: 1, endIndex: 3, total: 5 });

    const names$ = async (opts: Parameters<typeof listModels>[1]): Promise<string[]> =>
      (await listModels(client, { name: prefix, ...opts })).map((m) => m.name);
    expect(await names$({ description: 'even' })).toEqual([
      `${prefix}-a`,
      `${prefix}-c`,
      `${prefix}-e`,
    ]);
    expect(await names$({ labels: ['small', 'n4'] })).toEqual([
      `${prefix}-a`,
      `${prefix}-b`,
      `${prefix}-e`,
    ]);
    expect(await names$({ archived: true })).toEqual([`${prefix}-e`]);
    expect(await names$({ archived: false })).toHaveLength(4);
    expect(await names$({ users: ['determined'] })).toHaveLength(5);
    expect(await names$({ users: ['admin'] })).toEqual([]);
    expect(await names$({ workspaceNames: ['Uncategorized'] })).toHaveLength(5);
    expect(await names$({ workspaceNames: ['nowhere'] })).toEqual([]);
    expect(await names$({ workspaceIds: [1] })).toHaveLength(5);
    const [third] = await listModels(client, { name: `${prefix}-c` });
    expect(await names$({ modelId: third?.id })).toEqual([`${prefix}-c`]);
  });

  it('lists every label, the most used first', async () => {
    await createModel(client, { name: `labels-${dialect}`, labels: ['zeta', 'large'] });
    const labels = await getModelLabels(client);
    expect(labels.slice(0, 2)).toEqual(['large', 'small']);
    expect(labels).toContain('zeta');
  });

  it('patches a model and answers with the whole model; archived models refuse patches', async () => {
    const model = await createModel(client, { name: `patch-${dialect}` });
    const patched = await patchModel(client, model.id, {
      name: `patched-${dialect}`,
      description: 'new',
      notes: 'n',
      metadata: { a: 1 },
      labels: ['x', 'x', 'y'],
    });
    expect(patched).toMatchObject({
      id: model.id,
      name: `patched-${dialect}`,
      description: 'new',
      notes: 'n',
      metadata: { a: 1 },
      labels: ['x', 'y'],
      username: 'determined',
      workspaceId: 1,
    });
    expect(patched.lastUpdatedTime.getTime()).toBeGreaterThanOrEqual(
      model.lastUpdatedTime.getTime(),
    );
    expect(await getModel(client, `patched-${dialect}`)).toEqual(patched);

    await archiveModel(client, model.id);
    await archiveModel(client, model.id);
    expect((await getModel(client, model.id)).archived).toBe(true);
    const refused = await expectApiError(
      patchModel(client, model.id, { description: 'no' }),
      400,
      /archived/,
    );
    expect(refused.code).toBe('failed_precondition');
    await unarchiveModel(client, model.id);
    expect((await patchModel(client, model.id, { description: 'yes' })).description).toBe('yes');

    await deleteModel(client, model.id);
    const gone = await expectApiError(getModel(client, model.id), 404);
    expect(gone.code).toBe('not_found');
  });

  it('answers typed errors: 404 unknown, 400 invalid name, 409 taken, 403 not the creator', async () => {
    await expectApiError(getModel(client, 'no such model'), 404, /not found/);
    await expectApiError(createModel(client, { name: 'two  spaces' }), 400);
    await expectApiError(createModel(client, { name: '12345' }), 400);
    await createModel(client, { name: `taken-${dialect}` });
    const taken = await expectApiError(createModel(client, { name: `taken-${dialect}` }), 409);
    expect(taken.code).toBe('already_exists');
    await expectApiError(createModel(client, { name: 'x', workspaceName: 'nowhere' }), 404);

    const alice = await otherUser(`alice-${dialect}`);
    const denied = await expectApiError(
      deleteModel(alice, `taken-${dialect}`),
      403,
      /access denied/,
    );
    expect(denied.code).toBe('permission_denied');
    // Any user may read, and register into, another user's model.
    expect((await getModel(alice, `taken-${dialect}`)).username).toBe('determined');
  });

  it('registers versions, numbered from 1, each carrying its checkpoint', async () => {
    const model = await createModel(client, { name: `versions-${dialect}` });
    expect(await getLatestModelVersion(client, model.name)).toBeNull();
    const first = await checkpoint();
    const second = await checkpoint();
    const v1 = await registerModelVersion(client, model.name, first, {
      name: 'first',
      comment: 'c',
      metadata: { acc: 0.9 },
      labels: ['l'],
      notes: 'notes',
    });
    const v2 = await registerModelVersion(client, model.id, second);
    expect(v1).toMatchObject({
      version: 1,
      name: 'first',
      comment: 'c',
      metadata: { acc: 0.9 },
      labels: ['l'],
      notes: 'notes',
      username: 'determined',
      aliases: [],
      model: { id: model.id, name: model.name },
    });
    expect(v1.creationTime).toBeInstanceOf(Date);
    expect(v1.checkpoint).toEqual(await getCheckpoint(client, first));
    expect(v2).toMatchObject({ version: 2, name: '', comment: '', labels: [], metadata: {} });
    expect(v2.checkpoint.uuid).toBe(second);
    expect(v2.checkpoint.training?.trialId).toBe(trial.trialId);

    expect(await getModelVersion(client, model.name, 1)).toMatchObject({ id: v1.id, version: 1 });
    expect(await getModelVersion(client, model.id, '2')).toMatchObject({ id: v2.id });
    expect((await getLatestModelVersion(client, model.id))?.version).toBe(2);
    expect((await getModel(client, model.id)).numVersions).toBe(2);

    // The same checkpoint may be registered again; listings page and order.
    await registerModelVersion(client, model.id, first);
    const before = master.requests.length;
    const desc = await listModelVersions(client, model.id, { orderBy: 'desc', limit: 1 });
    expect(desc.map((v) => v.version)).toEqual([3, 2, 1]);
    expect(master.requests.length - before).toBe(3);
    expect((await listModelVersions(client, model.id)).map((v) => v.version)).toEqual([1, 2, 3]);
    const page = await listModelVersionsPage(client, model.id, { offset: 1, limit: 1 });
    expect(page.model.id).toBe(model.id);
    expect(page.modelVersions.map((v) => v.version)).toEqual([2]);
    expect(page.pagination).toMatchObject({ startIndex: 1, endIndex: 2, total: 3 });

    const patched = await patchModelVersion(client, model.id, 2, {
      name: 'second',
      comment: 'cc',
      notes: 'nn',
      labels: ['a', 'b'],
      metadata: { k: 'v' },
    });
    expect(patched).toMatchObject({
      id: v2.id,
      name: 'second',
      comment: 'cc',
      notes: 'nn',
      labels: ['a', 'b'],
      metadata: { k: 'v' },
    });

    await deleteModelVersion(client, model.id, 3);
    await expectApiError(getModelVersion(client, model.id, 3), 404);
    await expectApiError(registerModelVersion(client, model.id, testUuid(9)), 404);
    // Registered checkpoints cannot be deleted.
    await expectApiError(
      client.request('DELETE', '/api/v1/checkpoints', { body: { checkpointUuids: [first] } }),
      400,
      new RegExp(`registered to ${model.name}`),
    );
  });

  it('reads what the trials that used a version reported', async () => {
    const model = await createModel(client, { name: `metrics-${dialect}` });
    const uuid = await checkpoint();
    const version = await registerModelVersion(client, model.id, uuid);
    const inference = await createTrial(client, { storageDir: master.storageDir });
    await reportMetrics(client, inference, 'inference', 3, { accuracy: 0.75 });
    await reportMetrics(client, inference, 'validation', 3, { loss: 0.5 });
    expect(await getModelVersionMetrics(client, model.name, version.version)).toEqual([]);

    // What Determined's report_task_using_model_version sends.
    await client.request('POST', '/api/v1/trial-source-info', {
      body: {
        trialSourceInfo: {
          trialId: inference.trialId,
          checkpointUuid: uuid,
          trialSourceInfoType: 'TRIAL_SOURCE_INFO_TYPE_INFERENCE',
          modelId: model.id,
          modelVersion: version.version,
        },
      },
    });
    const reports = await getModelVersionMetrics(client, model.name, version.version);
    expect(reports.map((r) => [r.trialId, r.group, r.stepsCompleted, r.metrics])).toEqual([
      [inference.trialId, 'inference', 3, { accuracy: 0.75 }],
      [inference.trialId, 'validation', 3, { loss: 0.5 }],
    ]);
    expect(reports.every((r) => r.endTime instanceof Date)).toBe(true);
    const validation = await getModelVersionMetrics(client, model.id, version.version, {
      group: 'validation',
      type: 'inference',
    });
    expect(validation.map((r) => r.metrics)).toEqual([{ loss: 0.5 }]);
    expect(
      await getModelVersionMetrics(client, model.id, version.version, { type: 'fine-tuning' }),
    ).toEqual([]);
  });

  it('points aliases at versions, resolves them, keeps their history and removes them', async () => {
    const model = await createModel(client, { name: `aliases-${dialect}` });
    await registerModelVersion(client, model.id, await checkpoint());
    const v2 = await registerModelVersion(client, model.id, await checkpoint());

    const set = await setModelAlias(client, model.name, 'production', 1);
    expect(set).toEqual({
      alias: 'production',
      version: 1,
      modelVersionId: expect.any(Number) as number,
      updatedTime: expect.any(Date) as Date,
      userId: expect.any(Number) as number,
      username: 'determined',
    });
    await setModelAlias(client, model.id, 'staging', 2, { expectedVersion: 0 });
    const moved = await setModelAlias(client, model.id, 'production', 2, { expectedVersion: 1 });
    expect(moved).toMatchObject({ version: 2, modelVersionId: v2.id });

    expect((await getModelVersion(client, model.id, 'production')).version).toBe(2);
    expect((await getModelVersion(client, model.id, 'latest')).version).toBe(2);
    expect((await getModelVersion(client, model.id, 2)).aliases).toEqual(['production', 'staging']);
    expect(await getModelAlias(client, model.id, 'staging')).toMatchObject({ version: 2 });
    expect((await listModelAliases(client, model.id)).map((a) => [a.alias, a.version])).toEqual([
      ['production', 2],
      ['staging', 2],
    ]);
    const patched = await patchModelVersion(client, model.id, 'staging', { comment: 'via alias' });
    expect(patched.version).toBe(2);

    // Compare-and-set: the alias points elsewhere, so nothing changes.
    await expectApiError(
      setModelAlias(client, model.id, 'production', 1, { expectedVersion: 1 }),
      400,
    );
    await expectApiError(setModelAlias(client, model.id, 'Bad Name', 1), 400);
    await expectApiError(setModelAlias(client, model.id, 'latest', 1), 400);
    await expectApiError(setModelAlias(client, model.id, 'canary', 9), 404);
    await expectApiError(getModelVersion(client, model.id, 'nope'), 404, /alias 'nope'/);
    // An aliased version cannot be deleted.
    await expectApiError(deleteModelVersion(client, model.id, 2), 400, /production/);

    await removeModelAlias(client, model.id, 'staging');
    await expectApiError(removeModelAlias(client, model.id, 'staging'), 404);
    const history = await getModelAliasHistory(client, model.id, { limit: 1 });
    expect(history.map((e) => [e.alias, e.fromVersion, e.toVersion])).toEqual([
      ['staging', 2, null],
      ['production', 1, 2],
      ['staging', null, 2],
      ['production', null, 1],
    ]);
    expect(history[0]).toMatchObject({ username: 'determined', time: expect.any(Date) as Date });
    const production = await getModelAliasHistory(client, model.id, { alias: 'production' });
    expect(production.map((e) => e.toVersion)).toEqual([2, 1]);
  });
});

// ---------------------------------------------------------------------------------------------
// Masters that answer otherwise.

/** A client whose master answers `GET /api/v1/master` and the scripted routes, recording calls. */
function scriptedClient(
  routes: Record<string, unknown>,
  masterInfo: Record<string, unknown> = { version: '0.38.1', masterId: 'm', clusterId: 'c' },
): { client: Client; calls: string[] } {
  const calls: string[] = [];
  const client = createClient({
    baseUrl: 'http://determined.test:8080',
    token: 'v2.public.x',
    retry: { baseDelayMs: 0 },
    fetch: (input, init) => {
      const route = `${init?.method ?? 'GET'} ${new URL(input).pathname}`;
      calls.push(route);
      if (route === 'GET /api/v1/master') {
        return Promise.resolve(Response.json(masterInfo));
      }
      const body = routes[route];
      return Promise.resolve(
        body === undefined
          ? Response.json(
              { error: { code: 5, reason: 'NotFound', error: `no ${route}` } },
              { status: 404 },
            )
          : Response.json(body),
      );
    },
  });
  return { client, calls };
}

const WIRE_MODEL = {
  id: 7,
  name: 'resnet',
  description: '',
  notes: '',
  metadata: {},
  labels: [],
  creationTime: '2025-03-20T10:00:01.123456Z',
  lastUpdatedTime: '2025-03-20T10:05:00Z',
  numVersions: 0,
  userId: 2,
  username: 'determined',
  workspaceId: 1,
  archived: false,
};

describe("the model registry on a master without model aliases (Determined's)", () => {
  it('refuses every alias call with UnsupportedFeatureError, asking only /api/v1/master', async () => {
    const { client, calls } = scriptedClient({});
    const attempts: [string, Promise<unknown>][] = [
      ['set', setModelAlias(client, 'resnet', 'production', 1)],
      ['get', getModelAlias(client, 'resnet', 'production')],
      ['remove', removeModelAlias(client, 'resnet', 'production')],
      ['list', listModelAliases(client, 'resnet')],
      ['history', getModelAliasHistory(client, 'resnet')],
      ['version', getModelVersion(client, 'resnet', 'production')],
      ['latest', getModelVersion(client, 'resnet', 'latest')],
      ['patch', patchModelVersion(client, 'resnet', 'production', { name: 'x' })],
      ['delete', deleteModelVersion(client, 'resnet', 'production')],
    ];
    for (const [what, attempt] of attempts) {
      const err = await failure(attempt);
      expect(err, what).toBeInstanceOf(UnsupportedFeatureError);
      expect((err as UnsupportedFeatureError).feature).toBe('modelAliases');
      expect((err as Error).message).toContain('http://determined.test:8080');
      expect((err as Error).message).toContain("Determined's master has no model aliases");
    }
    // One probe per client, cached.
    expect(calls).toEqual(['GET /api/v1/master']);
  });

  it('reads versions by number without asking for the feature', async () => {
    const { client, calls } = scriptedClient({
      'GET /api/v1/models/resnet/versions/3': {
        modelVersion: {
          id: 11,
          version: 3,
          model: WIRE_MODEL,
          checkpoint: {
            uuid: 'ab1e0000-0000-4000-8000-000000000001',
            taskId: 't',
            allocationId: null,
            reportTime: '2025-01-01T00:05:00Z',
            resources: { 'metadata.json': '2' },
            metadata: {},
            state: 'STATE_COMPLETED',
            training: null,
            storageId: null,
          },
          creationTime: '2025-03-20T10:00:01Z',
          // Determined's register reply has no update time.
          lastUpdatedTime: null,
          name: '',
          comment: '',
          notes: '',
          metadata: {},
          labels: [],
          userId: 2,
          username: 'determined',
        },
      },
    });
    const version = await getModelVersion(client, 'resnet', 3);
    expect(version).toMatchObject({ version: 3, lastUpdatedTime: null, aliases: [] });
    expect(calls).toEqual(['GET /api/v1/models/resnet/versions/3']);
  });
});

describe('the model registry on a master that answers garbage', () => {
  it.each([
    ['a string id', { ...WIRE_MODEL, id: 'seven' }, 'field model.id: expected an integer'],
    ['a label that is a number', { ...WIRE_MODEL, labels: ['a', 1] }, 'field model.labels[1]'],
    ['a null creation time', { ...WIRE_MODEL, creationTime: null }, 'field model.creationTime'],
    ['metadata that is a list', { ...WIRE_MODEL, metadata: [] }, 'field model.metadata'],
    ['archived as a string', { ...WIRE_MODEL, archived: 'no' }, 'field model.archived'],
    ['no model at all', undefined, 'field model: missing'],
  ])('refuses a model with %s as UnexpectedResponseError', async (_what, model, problem) => {
    const { client } = scriptedClient({ 'GET /api/v1/models/resnet': { model } });
    const err = await failure(getModel(client, 'resnet'));
    expect(err).toBeInstanceOf(UnexpectedResponseError);
    expect((err as UnexpectedResponseError).message).toContain('GET /api/v1/models/resnet');
    expect((err as UnexpectedResponseError).problem).toContain(problem);
  });

  it('refuses a models page that does not advance, rather than looping', async () => {
    const { client } = scriptedClient({
      'GET /api/v1/models': {
        models: [WIRE_MODEL],
        pagination: { offset: 0, limit: 1, startIndex: 0, endIndex: 0, total: 5 },
      },
    });
    const err = await failure(listModels(client, { limit: 1 }));
    expect(err).toBeInstanceOf(UnexpectedResponseError);
    expect((err as Error).message).toMatch(/does not advance/);
  });
});
