// The model registry's model routes (#1-#9 of the wire reference, model-registry-wire.md), as
// Determined v0.38.1 serves them: create, look up, list with filters, sorts and pages, labels,
// patch, archive, move and delete.
import type {
  GetModelLabelsResponse,
  GetModelResponse,
  GetModelsResponse,
  ModelDto,
  ModelVersionDto,
} from '@determined-ts/api';
import { expect, it } from 'vitest';

import { call, reportCheckpoint, seedTrial } from '../../test/flow.js';
import { expectError } from '../../test/expect-error.js';
import { describeEachDialect } from '../../test/helpers.js';
import type { TestMaster } from '../../test/helpers.js';
import { SECOND_MS, addUser, getModel, iso, meId, modelPath } from '../../test/registry.js';

async function createModel(
  m: TestMaster,
  token: string,
  body: Record<string, unknown>,
): Promise<ModelDto> {
  return (await call<GetModelResponse>(m, token, 'POST', '/api/v1/models', body)).model;
}

async function patchModel(
  m: TestMaster,
  token: string,
  ident: string | number,
  body: Record<string, unknown>,
): Promise<ModelDto> {
  return (await call<GetModelResponse>(m, token, 'PATCH', modelPath(ident), body)).model;
}

async function listModels(m: TestMaster, token: string, query = ''): Promise<GetModelsResponse> {
  return call<GetModelsResponse>(m, token, 'GET', `/api/v1/models${query}`);
}

async function listIds(m: TestMaster, token: string, query = ''): Promise<number[]> {
  return (await listModels(m, token, query)).models.map((model) => model.id);
}

async function register(
  m: TestMaster,
  token: string,
  ident: string | number,
  checkpointUuid: string,
): Promise<ModelVersionDto> {
  return (
    await call<{ modelVersion: ModelVersionDto }>(
      m,
      token,
      'POST',
      `${modelPath(ident)}/versions`,
      { checkpointUuid },
    )
  ).modelVersion;
}

/** The message of a refused request, after checking its status and error shape. */
async function refusal(res: Response, status: number, reason: string): Promise<string> {
  const body = await expectError(res, status, '');
  expect(body.error.reason, body.message).toBe(reason);
  return body.message;
}

describeEachDialect('models: create and look up', ({ master }) => {
  it('creates a model with the defaults when the SDK sends nulls, and returns every field', async () => {
    const m = master();
    const token = await m.login();
    const userId = await meId(m, token);
    // Exactly what Determined.create_model sends for create_model("resnet classifier").
    const model = await createModel(m, token, {
      name: 'resnet classifier',
      description: null,
      labels: null,
      metadata: null,
      notes: null,
      workspaceName: null,
    });
    const expected: ModelDto = {
      id: 1,
      name: 'resnet classifier',
      description: '',
      notes: '',
      metadata: {},
      labels: [],
      creationTime: iso(m.now.ms),
      lastUpdatedTime: iso(m.now.ms),
      numVersions: 0,
      userId,
      username: 'determined',
      workspaceId: 1,
      archived: false,
    };
    expect(model).toEqual(expected);
    m.now.ms += SECOND_MS;
    expect(await getModel(m, token, 'resnet classifier')).toEqual(expected);
    expect(await getModel(m, token, 1)).toEqual(expected);
  });

  it('stores every given field; labels keep their order and duplicates on create', async () => {
    const m = master();
    const admin = await m.login('admin');
    const adminId = await meId(m, admin);
    const metadata = { team: 'vision', score: 0.5, nested: { list: [1, 'two', null], ok: true } };
    const model = await createModel(m, admin, {
      name: 'full',
      description: 'image classifier',
      metadata,
      labels: ['prod', 'resnet', 'prod', 'a,b'],
      notes: '# readme',
      workspaceName: 'Uncategorized',
      unknownField: 'ignored',
    });
    const expected: ModelDto = {
      id: 1,
      name: 'full',
      description: 'image classifier',
      notes: '# readme',
      metadata,
      labels: ['prod', 'resnet', 'prod', 'a,b'],
      creationTime: iso(m.now.ms),
      lastUpdatedTime: iso(m.now.ms),
      numVersions: 0,
      userId: adminId,
      username: 'admin',
      workspaceId: 1,
      archived: false,
    };
    expect(model).toEqual(expected);
    expect(await getModel(m, admin, 'full')).toEqual(expected);
    const byId = await createModel(m, admin, { name: 'by id', workspaceId: 1 });
    expect([byId.id, byId.workspaceId]).toEqual([2, 1]);
  });

  it('refuses an unknown workspace on create with 404, creating nothing', async () => {
    const m = master();
    const token = await m.login();
    await expectError(
      await m.request('POST', '/api/v1/models', { token, body: { name: 'a', workspaceId: 2 } }),
      404,
      'workspace',
    );
    await expectError(
      await m.request('POST', '/api/v1/models', {
        token,
        body: { name: 'a', workspaceName: 'Nowhere' },
      }),
      404,
      'workspace',
    );
    expect((await listModels(m, token)).pagination.total).toBe(0);
  });

  it('validates names: blank, then double spaces, then slashes, then all digits', async () => {
    const m = master();
    const token = await m.login();
    // The rule a name breaks, without the name itself (messages may quote it).
    const unquote = (message: string, name: string): string =>
      message.replace(`'${name}'`, "''").replace(`"${name}"`, '""');
    const refused = async (name: string): Promise<string> =>
      unquote(
        await refusal(
          await m.request('POST', '/api/v1/models', { token, body: { name } }),
          400,
          'InvalidArgument',
        ),
        name,
      );
    const blank = await refused('');
    const spacing = await refused('a  b');
    const slash = await refused('a/b');
    const digits = await refused('123');
    expect(new Set([blank, spacing, slash, digits]).size).toBe(4);
    // A name failing several checks gets the message of the first check in order.
    expect(await refused('   ')).toBe(blank);
    expect(await refused(' ')).toBe(blank);
    expect(await refused('a  b/c')).toBe(spacing);
    expect(await refused('1  2')).toBe(spacing);
    expect(await refused('12/34')).toBe(slash);
    expect(await refused('a\\b')).toBe(slash);
    expect(await refused('0')).toBe(digits);
    // Name is required: absent and null are "not given".
    await expectError(await m.request('POST', '/api/v1/models', { token, body: {} }), 400, 'name');
    await expectError(
      await m.request('POST', '/api/v1/models', { token, body: { name: null } }),
      400,
      'name',
    );
    expect((await listModels(m, token)).pagination.total).toBe(0);

    const allowed = [' leading and trailing ', 'one space', 'modèle 🚀', '12a', 'v1.5', '1 2'];
    for (const name of allowed) {
      const model = await createModel(m, token, { name });
      expect(model.name).toBe(name);
      expect((await getModel(m, token, name)).id).toBe(model.id);
    }
    // A rename is validated the same way.
    const renamed = await m.request('PATCH', modelPath('one space'), {
      token,
      body: { name: 'x/y' },
    });
    expect(unquote(await refusal(renamed, 400, 'InvalidArgument'), 'x/y')).toBe(slash);
    const digitsRename = await refusal(
      await m.request('PATCH', modelPath('one space'), { token, body: { name: '42' } }),
      400,
      'InvalidArgument',
    );
    expect(unquote(digitsRename, '42')).toBe(digits);
  });

  it('refuses a duplicate name with 409, case-sensitively, on create and rename', async () => {
    const m = master();
    const token = await m.login();
    const foo = await createModel(m, token, { name: 'Foo' });
    await expectError(
      await m.request('POST', '/api/v1/models', { token, body: { name: 'Foo' } }),
      409,
      'avoid names equal to other models (case-sensitive)',
    );
    const lower = await createModel(m, token, { name: 'foo' });
    expect(lower.id).not.toBe(foo.id);
    expect((await getModel(m, token, 'Foo')).id).toBe(foo.id);
    expect((await getModel(m, token, 'foo')).id).toBe(lower.id);
    await expectError(
      await m.request('GET', modelPath('FOO'), { token }),
      404,
      'model "FOO" not found',
    );
    const body = await expectError(
      await m.request('PATCH', modelPath('foo'), { token, body: { name: 'Foo' } }),
      409,
      'avoid names equal to other models (case-sensitive)',
    );
    expect(body.error.reason).toBe('AlreadyExists');
    expect((await getModel(m, token, lower.id)).name).toBe('foo');
  });

  it('looks a model up by exact name, by numeric id, and by a percent-encoded name', async () => {
    const m = master();
    const token = await m.login();
    const spaced = await createModel(m, token, { name: 'resnet classifier' });
    const digitsFirst = await createModel(m, token, { name: '7b' });
    const raw = await m.request('GET', '/api/v1/models/resnet%20classifier', { token });
    expect(((await raw.json()) as GetModelResponse).model).toEqual(spaced);
    expect(await getModel(m, token, String(spaced.id))).toEqual(spaced);
    expect(await getModel(m, token, '7b')).toEqual(digitsFirst);
    expect(await getModel(m, token, digitsFirst.id)).toEqual(digitsFirst);
    await expectError(
      await m.request('GET', modelPath(999), { token }),
      404,
      'model "999" not found',
    );
    await expectError(
      await m.request('GET', modelPath('resnet'), { token }),
      404,
      'model "resnet" not found',
    );
  });

  it('never reuses a model id', async () => {
    const m = master();
    const token = await m.login();
    const a = await createModel(m, token, { name: 'a' });
    const b = await createModel(m, token, { name: 'b' });
    expect([a.id, b.id]).toEqual([1, 2]);
    await call(m, token, 'DELETE', modelPath('b'));
    expect((await createModel(m, token, { name: 'c' })).id).toBe(3);
    await call(m, token, 'DELETE', modelPath('c'));
    await call(m, token, 'DELETE', modelPath('a'));
    expect((await createModel(m, token, { name: 'a' })).id).toBe(4);
  });
});

describeEachDialect('models: list filters', ({ master }) => {
  it('matches name and description as case-insensitive substrings, and id exactly', async () => {
    const m = master();
    const token = await m.login();
    await createModel(m, token, { name: 'Alpha One', description: 'Vision model' });
    await createModel(m, token, { name: 'beta two', description: 'nlp' });
    await createModel(m, token, { name: 'gamma', description: 'VISION' });
    expect(await listIds(m, token, '?name=ALPHA')).toEqual([1]);
    expect(await listIds(m, token, '?name=a')).toEqual([1, 2, 3]);
    expect(await listIds(m, token, '?name=&description=')).toEqual([1, 2, 3]);
    expect(await listIds(m, token, '?name=A%20T')).toEqual([2]);
    expect(await listIds(m, token, '?description=vision')).toEqual([1, 3]);
    expect(await listIds(m, token, '?name=o&description=vision')).toEqual([1]);
    expect(await listIds(m, token, '?name=zzz')).toEqual([]);
    expect(await listIds(m, token, '?id=2')).toEqual([2]);
    expect(await listIds(m, token, '?id=0')).toEqual([1, 2, 3]);
    expect(await listIds(m, token, '?id=9')).toEqual([]);
    const filtered = await listModels(m, token, '?description=vision');
    expect(filtered.pagination).toEqual({
      offset: 0,
      limit: 0,
      startIndex: 0,
      endIndex: 2,
      total: 2,
    });
  });

  it('filters by archived: true, false, or both when absent', async () => {
    const m = master();
    const token = await m.login();
    for (const name of ['a', 'b', 'c']) {
      await createModel(m, token, { name });
    }
    await call(m, token, 'POST', `${modelPath('b')}/archive`);
    expect(await listIds(m, token, '?archived=true')).toEqual([2]);
    expect(await listIds(m, token, '?archived=false')).toEqual([1, 3]);
    expect(await listIds(m, token)).toEqual([1, 2, 3]);
    // What list_models sends: archived models included.
    expect(await listIds(m, token, '?sortBy=SORT_BY_NAME&orderBy=ORDER_BY_ASC&offset=0')).toEqual([
      1, 2, 3,
    ]);
  });

  it('filters by any of several labels', async () => {
    const m = master();
    const token = await m.login();
    await createModel(m, token, { name: 'a', labels: ['prod', 'cv'] });
    await createModel(m, token, { name: 'b', labels: ['nlp'] });
    await createModel(m, token, { name: 'c', labels: ['cv', 'staging'] });
    await createModel(m, token, { name: 'd' });
    expect(await listIds(m, token, '?labels=cv')).toEqual([1, 3]);
    expect(await listIds(m, token, '?labels=nlp&labels=staging')).toEqual([2, 3]);
    expect(await listIds(m, token, '?labels=CV')).toEqual([]);
    expect(await listIds(m, token, '?labels=none')).toEqual([]);
  });

  it('filters by creator name or id', async () => {
    const m = master();
    const token = await m.login();
    const other = await addUser(m, 'other');
    await createModel(m, token, { name: 'mine' });
    await createModel(m, other.token, { name: 'theirs' });
    const myId = await meId(m, token);
    expect(await listIds(m, token, '?users=other')).toEqual([2]);
    expect(await listIds(m, token, '?users=determined&users=other')).toEqual([1, 2]);
    expect(await listIds(m, token, '?users=nobody')).toEqual([]);
    expect(await listIds(m, token, `?userIds=${other.id}`)).toEqual([2]);
    expect(await listIds(m, token, `?userIds=${myId}&userIds=${other.id}`)).toEqual([1, 2]);
    const [theirs] = (await listModels(m, token, '?users=other')).models;
    expect([theirs?.userId, theirs?.username]).toEqual([other.id, 'other']);
  });

  it('filters by workspace id or name; ids win and unknown names match nothing', async () => {
    const m = master();
    const token = await m.login();
    await createModel(m, token, { name: 'a' });
    await createModel(m, token, { name: 'b' });
    expect(await listIds(m, token, '?workspaceIds=1')).toEqual([1, 2]);
    expect(await listIds(m, token, '?workspaceIds=2')).toEqual([]);
    expect(await listIds(m, token, '?workspaceNames=Uncategorized')).toEqual([1, 2]);
    expect(await listIds(m, token, '?workspaceNames=Nowhere')).toEqual([]);
    expect(await listIds(m, token, '?workspaceNames=Nowhere&workspaceNames=Uncategorized')).toEqual(
      [1, 2],
    );
    expect(await listIds(m, token, '?workspaceIds=1&workspaceNames=Nowhere')).toEqual([1, 2]);
    expect(await listIds(m, token, '?workspaceIds=2&workspaceNames=Uncategorized')).toEqual([]);
  });
});

describeEachDialect('models: list order and pages', ({ master }) => {
  it('sorts by every key, with id as the tie-break in the same direction', async () => {
    const m = master();
    const s = await seedTrial(m);
    const token = s.token;
    const t0 = m.now.ms;
    // Creation times out of id order, with a tie (ids 1 and 2).
    const create = async (name: string, description: string, at: number): Promise<void> => {
      m.now.ms = t0 + at;
      await createModel(m, token, { name, description });
    };
    await create('delta', 'same', 3000);
    await create('alpha', 'same', 3000);
    await create('charlie', 'aaa', 1000);
    await create('bravo', 'zzz', 2000);
    // Last updated: 1 and 3 at +10 s (a tie), 2 and 4 at their creation (+3 s, +2 s).
    m.now.ms = t0 + 10_000;
    await patchModel(m, token, 1, { metadata: { touched: true } });
    await patchModel(m, token, 3, { metadata: { touched: true } });
    // Versions: 2 has two, 3 and 4 one each (a tie), 1 none.
    const uuid = await reportCheckpoint(m, s, 10);
    for (const id of [2, 2, 3, 4]) {
      await register(m, token, id, uuid);
    }
    const cases: Record<string, number[]> = {
      '': [1, 2, 3, 4],
      'sortBy=SORT_BY_UNSPECIFIED&orderBy=ORDER_BY_DESC': [4, 3, 2, 1],
      'orderBy=ORDER_BY_UNSPECIFIED': [1, 2, 3, 4],
      'sortBy=SORT_BY_NAME': [2, 4, 3, 1],
      'sortBy=SORT_BY_NAME&orderBy=ORDER_BY_DESC': [1, 3, 4, 2],
      'sortBy=SORT_BY_DESCRIPTION&orderBy=ORDER_BY_ASC': [3, 1, 2, 4],
      'sortBy=SORT_BY_DESCRIPTION&orderBy=ORDER_BY_DESC': [4, 2, 1, 3],
      'sortBy=SORT_BY_CREATION_TIME': [3, 4, 1, 2],
      'sortBy=SORT_BY_CREATION_TIME&orderBy=ORDER_BY_DESC': [2, 1, 4, 3],
      'sortBy=SORT_BY_LAST_UPDATED_TIME&orderBy=ORDER_BY_ASC': [4, 2, 1, 3],
      'sortBy=SORT_BY_LAST_UPDATED_TIME&orderBy=ORDER_BY_DESC': [3, 1, 2, 4],
      'sortBy=SORT_BY_NUM_VERSIONS': [1, 3, 4, 2],
      'sortBy=SORT_BY_NUM_VERSIONS&orderBy=ORDER_BY_DESC': [2, 4, 3, 1],
      'sortBy=SORT_BY_WORKSPACE': [1, 2, 3, 4],
      'sortBy=SORT_BY_WORKSPACE&orderBy=ORDER_BY_DESC': [4, 3, 2, 1],
    };
    const got: Record<string, number[] | string> = {};
    for (const query of Object.keys(cases)) {
      const res = await m.request('GET', `/api/v1/models${query === '' ? '' : `?${query}`}`, {
        token,
      });
      got[query] =
        res.status === 200
          ? ((await res.json()) as GetModelsResponse).models.map((model) => model.id)
          : `${res.status}: ${await res.text()}`;
    }
    expect(got).toEqual(cases);
    const numVersions = (await listModels(m, token)).models.map((model) => model.numVersions);
    expect(numVersions).toEqual([0, 2, 1, 1]);
    for (const query of ['sortBy=SORT_BY_VERSION', 'sortBy=name', 'orderBy=UP']) {
      await expectError(
        await m.request('GET', `/api/v1/models?${query}`, { token }),
        400,
        query.split('=')[0] ?? '',
      );
    }
  });

  it("takes sortBy and orderBy as the enums' numbers too, where there is no sortBy 3", async () => {
    const m = master();
    const token = await m.login();
    const t0 = m.now.ms;
    for (const [name, description, at] of [
      ['b', 'z', 2],
      ['c', 'y', 1],
      ['a', 'x', 3],
    ] as const) {
      m.now.ms = t0 + at * SECOND_MS;
      await createModel(m, token, { name, description });
    }
    m.now.ms = t0 + 10 * SECOND_MS;
    await patchModel(m, token, 2, { notes: 'touched' });
    const order = async (query: string): Promise<number[] | string> => {
      const res = await m.request('GET', `/api/v1/models?${query}`, { token });
      return res.status === 200
        ? ((await res.json()) as GetModelsResponse).models.map((model) => model.id)
        : `${res.status}: ${await res.text()}`;
    };
    // Each number lists as its name does (modelv1 GetModelsRequest.SortBy).
    const got: Record<string, number[] | string> = {};
    for (const [n, sortBy] of [
      [0, 'SORT_BY_UNSPECIFIED'],
      [1, 'SORT_BY_NAME'],
      [2, 'SORT_BY_DESCRIPTION'],
      [4, 'SORT_BY_CREATION_TIME'],
      [5, 'SORT_BY_LAST_UPDATED_TIME'],
      [6, 'SORT_BY_NUM_VERSIONS'],
      [7, 'SORT_BY_WORKSPACE'],
    ] as const) {
      got[sortBy] = await order(`sortBy=${n}&orderBy=2`);
    }
    expect(got).toEqual({
      SORT_BY_UNSPECIFIED: [3, 2, 1],
      SORT_BY_NAME: [2, 1, 3],
      SORT_BY_DESCRIPTION: [1, 2, 3],
      SORT_BY_CREATION_TIME: [3, 1, 2],
      SORT_BY_LAST_UPDATED_TIME: [2, 3, 1],
      SORT_BY_NUM_VERSIONS: [3, 2, 1],
      SORT_BY_WORKSPACE: [3, 2, 1],
    });
    for (const query of ['sortBy=3', 'sortBy=8', 'orderBy=3']) {
      await expectError(
        await m.request('GET', `/api/v1/models?${query}`, { token }),
        400,
        query.split('=')[0] ?? '',
      );
    }
  });

  it('pages: limit 0 is all, a negative offset counts from the end, out of bounds is 400', async () => {
    const m = master();
    const token = await m.login();
    for (const name of ['a', 'b', 'c', 'd', 'e']) {
      await createModel(m, token, { name });
    }
    const page = async (query: string) => {
      const r = await listModels(m, token, query);
      return { ids: r.models.map((model) => model.id), pagination: r.pagination };
    };
    expect(await page('?offset=0&limit=2')).toEqual({
      ids: [1, 2],
      pagination: { offset: 0, limit: 2, startIndex: 0, endIndex: 2, total: 5 },
    });
    expect(await page('?offset=4&limit=2')).toEqual({
      ids: [5],
      pagination: { offset: 4, limit: 2, startIndex: 4, endIndex: 5, total: 5 },
    });
    expect(await page('?limit=0')).toEqual({
      ids: [1, 2, 3, 4, 5],
      pagination: { offset: 0, limit: 0, startIndex: 0, endIndex: 5, total: 5 },
    });
    expect(await page('')).toEqual(await page('?limit=0'));
    expect(await page('?offset=-2')).toEqual({
      ids: [4, 5],
      pagination: { offset: -2, limit: 0, startIndex: 3, endIndex: 5, total: 5 },
    });
    expect(await page('?offset=-2&limit=1&orderBy=ORDER_BY_DESC')).toEqual({
      ids: [2],
      pagination: { offset: -2, limit: 1, startIndex: 3, endIndex: 4, total: 5 },
    });
    expect(await page('?offset=5')).toEqual({
      ids: [],
      pagination: { offset: 5, limit: 0, startIndex: 5, endIndex: 5, total: 5 },
    });
    expect(await page('?name=c&offset=0&limit=3')).toEqual({
      ids: [3],
      pagination: { offset: 0, limit: 3, startIndex: 0, endIndex: 1, total: 1 },
    });
    for (const query of ['offset=6', 'offset=-6']) {
      await expectError(
        await m.request('GET', `/api/v1/models?${query}`, { token }),
        400,
        'offset out of bounds',
      );
    }
    await expectError(await m.request('GET', '/api/v1/models?limit=-1', { token }), 400, 'limit');
    // The SDK's paging loop: ask again from endIndex until it reaches total.
    const seen: number[] = [];
    for (let offset = 0; ;) {
      const r = await page(`?sortBy=SORT_BY_NAME&orderBy=ORDER_BY_ASC&offset=${offset}&limit=2`);
      seen.push(...r.ids);
      if (r.pagination.endIndex >= r.pagination.total) {
        break;
      }
      offset = r.pagination.endIndex;
    }
    expect(seen).toEqual([1, 2, 3, 4, 5]);
  });

  it('lists every distinct label by how many models carry it, then by name', async () => {
    const m = master();
    const token = await m.login();
    const labels = async (query = ''): Promise<string[]> =>
      (await call<GetModelLabelsResponse>(m, token, 'GET', `/api/v1/model/labels${query}`)).labels;
    expect(await labels()).toEqual([]);
    await createModel(m, token, { name: 'm1', labels: ['b', 'a'] });
    await createModel(m, token, { name: 'm2', labels: ['a', 'c'] });
    await createModel(m, token, { name: 'm3', labels: ['c', 'a', 'z'] });
    await createModel(m, token, { name: 'm4' });
    await createModel(m, token, { name: 'm5', labels: ['y', 'y'] });
    // Archived models count too.
    await call(m, token, 'POST', `${modelPath('m3')}/archive`);
    expect(await labels()).toEqual(['a', 'c', 'b', 'y', 'z']);
    expect(await labels('?workspaceId=1')).toEqual(['a', 'c', 'b', 'y', 'z']);
    await patchModel(m, token, 'm1', { labels: ['z', 'y'] });
    // Every label is now on two models: by name.
    expect(await labels()).toEqual(['a', 'c', 'y', 'z']);
  });
});

describeEachDialect('models: patch', ({ master }) => {
  it('writes nothing when nothing changes, leaving lastUpdatedTime', async () => {
    const m = master();
    const token = await m.login();
    const before = await createModel(m, token, {
      name: 'm',
      description: 'd',
      notes: 'n',
      metadata: { a: 1, b: { c: [1, 2] } },
      labels: ['x', 'y'],
    });
    m.now.ms += 60 * SECOND_MS;
    const same = [
      {},
      {
        name: null,
        description: null,
        notes: null,
        metadata: null,
        labels: null,
        workspaceName: null,
        workspaceId: null,
      },
      {
        name: 'm',
        description: 'd',
        notes: 'n',
        metadata: { a: 1, b: { c: [1, 2] } },
        labels: ['x', 'y'],
        workspaceId: 1,
      },
      { workspaceName: 'Uncategorized' },
    ];
    for (const body of same) {
      expect(await patchModel(m, token, 'm', body), JSON.stringify(body)).toEqual(before);
    }
    expect(await getModel(m, token, 'm')).toEqual(before);
  });

  it('compares metadata as data: the same object with its keys in another order is no change', async () => {
    const m = master();
    const token = await m.login();
    const before = await createModel(m, token, {
      name: 'm',
      metadata: { a: 1, b: { c: 2, d: 3 } },
    });
    m.now.ms += 60 * SECOND_MS;
    expect(await patchModel(m, token, 'm', { metadata: { b: { d: 3, c: 2 }, a: 1 } })).toEqual(
      before,
    );
  });

  it('applies changes, bumps lastUpdatedTime and returns the whole fresh model', async () => {
    const m = master();
    const s = await seedTrial(m);
    const token = s.token;
    const created = await createModel(m, token, {
      name: 'm',
      description: 'd',
      metadata: { a: 1, b: 2 },
      labels: ['x'],
    });
    await register(m, token, 'm', await reportCheckpoint(m, s, 10));
    const steps: [Record<string, unknown>, Partial<ModelDto>][] = [
      [{ description: 'new' }, { description: 'new' }],
      [{ metadata: { c: 3 } }, { metadata: { c: 3 } }],
      [{ labels: ['p', 'q'] }, { labels: ['p', 'q'] }],
      [{ notes: '# notes' }, { notes: '# notes' }],
      // Empty values are real values.
      [{ description: '' }, { description: '' }],
      [{ metadata: {} }, { metadata: {} }],
      [{ labels: [] }, { labels: [] }],
      [{ notes: '' }, { notes: '' }],
      [{ name: 'renamed' }, { name: 'renamed' }],
    ];
    let current: ModelDto = { ...created, numVersions: 1 };
    for (const [body, change] of steps) {
      m.now.ms += SECOND_MS;
      const patched = await patchModel(m, token, created.id, body);
      current = { ...current, ...change, lastUpdatedTime: iso(m.now.ms) };
      expect(patched, JSON.stringify(body)).toEqual(current);
      expect(await getModel(m, token, created.id)).toEqual(current);
    }
    expect(current.creationTime).toBe(created.creationTime);
    await expectError(
      await m.request('GET', modelPath('m'), { token }),
      404,
      'model "m" not found',
    );
    // A rename to another case of the same name is a change, not a duplicate.
    expect((await patchModel(m, token, 'renamed', { name: 'Renamed' })).name).toBe('Renamed');
  });

  it('drops duplicate labels keeping the first', async () => {
    const m = master();
    const token = await m.login();
    await createModel(m, token, { name: 'm' });
    const patched = await patchModel(m, token, 'm', { labels: ['b', 'a', 'b', 'c', 'a'] });
    expect(patched.labels).toEqual(['b', 'a', 'c']);
    expect((await getModel(m, token, 'm')).labels).toEqual(['b', 'a', 'c']);
  });

  // Determined drops them silently; we refuse the request, naming the first bad label.
  it('refuses labels that are not strings, changing nothing', async () => {
    const m = master();
    const token = await m.login();
    await createModel(m, token, { name: 'm', labels: ['a'] });
    await expectError(
      await m.request('PATCH', modelPath('m'), {
        token,
        body: { labels: ['x', 1, 'y', true, { z: 1 }] },
      }),
      400,
      'labels.1',
    );
    expect((await getModel(m, token, 'm')).labels).toEqual(['a']);
  });

  it('refuses a change while archived with 400 FailedPrecondition', async () => {
    const m = master();
    const token = await m.login();
    await createModel(m, token, { name: 'm', description: 'd' });
    await call(m, token, 'POST', `${modelPath('m')}/archive`);
    const body = await expectError(
      await m.request('PATCH', modelPath('m'), { token, body: { description: 'x' } }),
      400,
      'model "m" is archived and cannot have attributes updated',
    );
    expect(body.error.reason).toBe('FailedPrecondition');
    expect((await getModel(m, token, 'm')).description).toBe('d');
    await call(m, token, 'POST', `${modelPath('m')}/unarchive`);
    expect((await patchModel(m, token, 'm', { description: 'x' })).description).toBe('x');
  });

  it('moves to workspace 1 by id or name and refuses an unknown workspace with 404', async () => {
    const m = master();
    const token = await m.login();
    const before = await createModel(m, token, { name: 'm' });
    expect(await patchModel(m, token, 'm', { workspaceId: 1 })).toEqual(before);
    expect(await patchModel(m, token, 'm', { workspaceName: 'Uncategorized' })).toEqual(before);
    // The id wins over the name.
    expect(await patchModel(m, token, 'm', { workspaceId: 1, workspaceName: 'Nowhere' })).toEqual(
      before,
    );
    for (const body of [{ workspaceId: 2 }, { workspaceName: 'Nowhere' }]) {
      await expectError(
        await m.request('PATCH', modelPath('m'), { token, body: { ...body, description: 'x' } }),
        404,
        'workspace',
      );
    }
    expect(await getModel(m, token, 'm')).toEqual(before);
    await expectError(
      await m.request('PATCH', modelPath('nope'), { token, body: { description: 'x' } }),
      404,
      'model "nope" not found',
    );
  });
});

describeEachDialect('models: archive, move, delete', ({ master }) => {
  it('archives and unarchives idempotently, bumping lastUpdatedTime', async () => {
    const m = master();
    const token = await m.login();
    const created = await createModel(m, token, { name: 'm' });
    m.now.ms += SECOND_MS;
    expect(await call(m, token, 'POST', `${modelPath('m')}/archive`)).toEqual({});
    const archived = await getModel(m, token, 'm');
    expect(archived).toEqual({ ...created, archived: true, lastUpdatedTime: iso(m.now.ms) });
    m.now.ms += SECOND_MS;
    expect(await call(m, token, 'POST', `${modelPath(created.id)}/archive`)).toEqual({});
    expect((await getModel(m, token, 'm')).archived).toBe(true);
    m.now.ms += SECOND_MS;
    expect(await call(m, token, 'POST', `${modelPath('m')}/unarchive`)).toEqual({});
    expect(await getModel(m, token, 'm')).toEqual({
      ...created,
      archived: false,
      lastUpdatedTime: iso(m.now.ms),
    });
    expect(await call(m, token, 'POST', `${modelPath('m')}/unarchive`)).toEqual({});
    expect((await getModel(m, token, 'm')).archived).toBe(false);
    await expectError(
      await m.request('POST', `${modelPath('nope')}/archive`, { token }),
      404,
      'model "nope" not found',
    );
    await expectError(
      await m.request('POST', `${modelPath(99)}/unarchive`, { token }),
      404,
      'model "99" not found',
    );
  });

  it('allows reads, version changes, move and delete while archived, but not patch or register', async () => {
    const m = master();
    const s = await seedTrial(m);
    const token = s.token;
    await createModel(m, token, { name: 'm' });
    const uuid = await reportCheckpoint(m, s, 10);
    await register(m, token, 'm', uuid);
    await register(m, token, 'm', uuid);
    await call(m, token, 'POST', `${modelPath('m')}/archive`);
    const path = modelPath('m');
    await call(m, token, 'GET', path);
    expect(await listIds(m, token, '?archived=true')).toEqual([1]);
    await call(m, token, 'GET', `${path}/versions`);
    await call(m, token, 'GET', `${path}/versions/1`);
    await call(m, token, 'PATCH', `${path}/versions/1`, { comment: 'still editable' });
    await call(m, token, 'DELETE', `${path}/versions/2`);
    await call(m, token, 'POST', `${path}/move`, { modelName: 'm', destinationWorkspaceId: 1 });
    const body = await expectError(
      await m.request('POST', `${path}/versions`, { token, body: { checkpointUuid: uuid } }),
      400,
      'model "m" is archived and cannot register new versions',
    );
    expect(body.error.reason).toBe('FailedPrecondition');
    await expectError(
      await m.request('PATCH', path, { token, body: { labels: ['x'] } }),
      400,
      'is archived',
    );
    expect((await getModel(m, token, 'm')).numVersions).toBe(1);
    expect(await call(m, token, 'DELETE', path)).toEqual({});
    await expectError(await m.request('GET', path, { token }), 404, 'model "m" not found');
  });

  it('moves to workspace 1 without bumping lastUpdatedTime; others are 404', async () => {
    const m = master();
    const token = await m.login();
    const created = await createModel(m, token, { name: 'my model' });
    m.now.ms += SECOND_MS;
    const path = `${modelPath('my model')}/move`;
    expect(
      await call(m, token, 'POST', path, { modelName: 'my model', destinationWorkspaceId: 1 }),
    ).toEqual({});
    expect(await getModel(m, token, created.id)).toEqual(created);
    await expectError(
      await m.request('POST', path, {
        token,
        body: { modelName: 'my model', destinationWorkspaceId: 2 },
      }),
      404,
      'workspace',
    );
    await expectError(
      await m.request('POST', `${modelPath('nope')}/move`, {
        token,
        body: { modelName: 'nope', destinationWorkspaceId: 1 },
      }),
      404,
      'model "nope" not found',
    );
    expect(await getModel(m, token, created.id)).toEqual(created);
  });

  it('deletes a model with its versions, keeping the checkpoints', async () => {
    const m = master();
    const s = await seedTrial(m);
    const token = s.token;
    const model = await createModel(m, token, { name: 'doomed', labels: ['gone'] });
    const kept = await createModel(m, token, { name: 'kept' });
    const uuid = await reportCheckpoint(m, s, 10);
    await register(m, token, 'doomed', uuid);
    await register(m, token, 'doomed', uuid);
    const survivor = await register(m, token, 'kept', uuid);
    expect(await call(m, token, 'DELETE', modelPath('doomed'))).toEqual({});
    for (const ident of ['doomed', String(model.id)]) {
      const path = modelPath(ident);
      const gone = `model "${ident}" not found`;
      const requests: [string, string, unknown?][] = [
        ['GET', path],
        ['PATCH', path, { description: 'x' }],
        ['DELETE', path],
        ['POST', `${path}/archive`],
        ['POST', `${path}/unarchive`],
        ['POST', `${path}/move`, { modelName: ident, destinationWorkspaceId: 1 }],
        ['GET', `${path}/versions`],
        ['POST', `${path}/versions`, { checkpointUuid: uuid }],
        ['GET', `${path}/versions/1`],
        ['PATCH', `${path}/versions/1`, { name: 'x' }],
        ['DELETE', `${path}/versions/1`],
      ];
      for (const [method, p, body] of requests) {
        await expectError(await m.request(method, p, { token, body }), 404, gone);
      }
    }
    expect(await listIds(m, token)).toEqual([kept.id]);
    expect(
      (await call<GetModelLabelsResponse>(m, token, 'GET', '/api/v1/model/labels')).labels,
    ).toEqual([]);
    const { checkpoint } = await call<{ checkpoint: { state: string } }>(
      m,
      token,
      'GET',
      `/api/v1/checkpoints/${uuid}`,
    );
    expect(checkpoint.state).toBe('STATE_COMPLETED');
    expect((await getModel(m, token, 'kept')).numVersions).toBe(1);
    expect(
      (
        await call<{ modelVersion: ModelVersionDto }>(
          m,
          token,
          'GET',
          `${modelPath('kept')}/versions/1`,
        )
      ).modelVersion.id,
    ).toBe(survivor.id);
    // The name is free again; the new model starts its versions at 1.
    const again = await createModel(m, token, { name: 'doomed' });
    expect(again.id).toBe(3);
    expect((await register(m, token, 'doomed', uuid)).version).toBe(1);
  });
});
