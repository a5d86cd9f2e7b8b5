// Model aliases, our extension of the registry (no Determined counterpart): named pointers to a
// model's versions, their history, `latest`, and aliases wherever a version number is accepted.
import type {
  GetModelAliasHistoryResponse,
  GetModelAliasesResponse,
  GetModelResponse,
  GetModelVersionResponse,
  GetModelVersionsResponse,
  MasterInfoDto,
  ModelAliasDto,
  ModelAliasEventDto,
  ModelVersionDto,
  PostAccessTokenResponse,
  PutModelAliasResponse,
} from '@determined-ts/api';
import { expect, it } from 'vitest';

import { call, reportCheckpoint, seedTrial } from '../../test/flow.js';
import { expectError } from '../../test/expect-error.js';
import { describeEachDialect } from '../../test/helpers.js';
import type { TestMaster } from '../../test/helpers.js';
import {
  SECOND_MS,
  addUser,
  aliasPath,
  iso,
  meId,
  modelPath,
  versionPath,
} from '../../test/registry.js';

/** A model named `name` with `versions` versions, all of one fresh checkpoint. */
async function modelWithVersions(
  m: TestMaster,
  token: string,
  name: string,
  versions: number,
): Promise<ModelVersionDto[]> {
  const s = await seedTrial(m);
  await call<GetModelResponse>(m, token, 'POST', '/api/v1/models', { name });
  const uuid = await reportCheckpoint(m, s, 10);
  const out: ModelVersionDto[] = [];
  for (let i = 0; i < versions; i++) {
    const { modelVersion } = await call<GetModelVersionResponse>(
      m,
      token,
      'POST',
      `${modelPath(name)}/versions`,
      { checkpointUuid: uuid },
    );
    out.push(modelVersion);
  }
  return out;
}

async function setAlias(
  m: TestMaster,
  token: string,
  model: string | number,
  alias: string,
  body: Record<string, unknown>,
): Promise<ModelAliasDto> {
  return (await call<PutModelAliasResponse>(m, token, 'PUT', aliasPath(model, alias), body)).alias;
}

async function listAliases(m: TestMaster, token: string, model: string): Promise<ModelAliasDto[]> {
  return (await call<GetModelAliasesResponse>(m, token, 'GET', `${modelPath(model)}/aliases`))
    .aliases;
}

async function history(
  m: TestMaster,
  token: string,
  model: string,
  query = '',
): Promise<GetModelAliasHistoryResponse> {
  return call<GetModelAliasHistoryResponse>(
    m,
    token,
    'GET',
    `${modelPath(model)}/alias-history${query}`,
  );
}

/** Events as `[alias, fromVersion, toVersion]`, in the order served. */
async function changes(
  m: TestMaster,
  token: string,
  model: string,
  query = '',
): Promise<[string, number | null, number | null][]> {
  return (await history(m, token, model, query)).events.map((e) => [
    e.alias,
    e.fromVersion,
    e.toVersion,
  ]);
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

describeEachDialect('model aliases: set, move, remove', ({ master }) => {
  it('sets, moves and removes an alias, recording who changed it and when', async () => {
    const m = master();
    const token = await m.login();
    const myId = await meId(m, token);
    const other = await addUser(m, 'other');
    const [v1, v2] = await modelWithVersions(m, token, 'm', 2);
    const t1 = (m.now.ms += SECOND_MS);
    const set = await setAlias(m, token, 'm', 'prod', { version: 1 });
    const first: ModelAliasDto = {
      alias: 'prod',
      version: 1,
      modelVersionId: v1?.id ?? -1,
      updatedTime: iso(t1),
      userId: myId,
      username: 'determined',
    };
    expect(set).toEqual(first);
    expect(
      (await call<PutModelAliasResponse>(m, token, 'GET', aliasPath('m', 'prod'))).alias,
    ).toEqual(first);
    expect(await listAliases(m, token, 'm')).toEqual([first]);

    // Any user may move it.
    const t2 = (m.now.ms += SECOND_MS);
    const moved: ModelAliasDto = {
      alias: 'prod',
      version: 2,
      modelVersionId: v2?.id ?? -1,
      updatedTime: iso(t2),
      userId: other.id,
      username: 'other',
    };
    expect(await setAlias(m, other.token, 'm', 'prod', { version: 2 })).toEqual(moved);
    // Pointing it where it points already changes nothing and records nothing.
    m.now.ms += SECOND_MS;
    expect(await setAlias(m, token, 'm', 'prod', { version: 2 })).toEqual(moved);
    expect(await listAliases(m, token, 'm')).toEqual([moved]);

    const t4 = (m.now.ms += SECOND_MS);
    expect(await call(m, other.token, 'DELETE', aliasPath('m', 'prod'))).toEqual({});
    expect(await listAliases(m, token, 'm')).toEqual([]);
    for (const method of ['GET', 'DELETE']) {
      await expectError(await m.request(method, aliasPath('m', 'prod'), { token }), 404, 'prod');
    }

    const { events, pagination } = await history(m, token, 'm');
    const withoutIds = events.map(({ id: _id, ...rest }) => rest);
    expect(withoutIds).toEqual([
      {
        alias: 'prod',
        fromVersion: 2,
        toVersion: null,
        time: iso(t4),
        userId: other.id,
        username: 'other',
      },
      {
        alias: 'prod',
        fromVersion: 1,
        toVersion: 2,
        time: iso(t2),
        userId: other.id,
        username: 'other',
      },
      {
        alias: 'prod',
        fromVersion: null,
        toVersion: 1,
        time: iso(t1),
        userId: myId,
        username: 'determined',
      },
    ] satisfies Omit<ModelAliasEventDto, 'id'>[]);
    const ids = events.map((e) => e.id);
    expect([...ids].sort((a, b) => b - a)).toEqual(ids);
    expect(new Set(ids).size).toBe(3);
    expect(pagination).toEqual({ offset: 0, limit: 0, startIndex: 0, endIndex: 3, total: 3 });
  });

  it('pages the history newest first and filters it by alias', async () => {
    const m = master();
    const token = await m.login();
    await modelWithVersions(m, token, 'm', 2);
    m.now.ms += SECOND_MS;
    // Two events at the same instant: the later one is newer.
    await setAlias(m, token, 'm', 'prod', { version: 1 });
    await setAlias(m, token, 'm', 'staging', { version: 1 });
    m.now.ms += SECOND_MS;
    await setAlias(m, token, 'm', 'prod', { version: 2 });
    m.now.ms += SECOND_MS;
    await call(m, token, 'DELETE', aliasPath('m', 'staging'));
    expect(await changes(m, token, 'm')).toEqual([
      ['staging', 1, null],
      ['prod', 1, 2],
      ['staging', null, 1],
      ['prod', null, 1],
    ]);
    expect(await changes(m, token, 'm', '?alias=prod')).toEqual([
      ['prod', 1, 2],
      ['prod', null, 1],
    ]);
    expect(await changes(m, token, 'm', '?alias=staging')).toEqual([
      ['staging', 1, null],
      ['staging', null, 1],
    ]);
    expect(await history(m, token, 'm', '?alias=canary')).toEqual({
      events: [],
      pagination: { offset: 0, limit: 0, startIndex: 0, endIndex: 0, total: 0 },
    });
    const page = await history(m, token, 'm', '?offset=1&limit=2');
    expect(page.events.map((e) => [e.alias, e.fromVersion, e.toVersion])).toEqual([
      ['prod', 1, 2],
      ['staging', null, 1],
    ]);
    expect(page.pagination).toEqual({ offset: 1, limit: 2, startIndex: 1, endIndex: 3, total: 4 });
    expect(await changes(m, token, 'm', '?offset=-1')).toEqual([['prod', null, 1]]);
    expect(await changes(m, token, 'm', '?alias=prod&offset=1&limit=1')).toEqual([
      ['prod', null, 1],
    ]);
    await expectError(
      await m.request('GET', `${modelPath('m')}/alias-history?offset=5`, { token }),
      400,
      'offset out of bounds',
    );
    await expectError(
      await m.request('GET', `${modelPath('m')}/alias-history?limit=-1`, { token }),
      400,
      'limit',
    );
    await expectError(
      await m.request('GET', `${modelPath('nope')}/alias-history`, { token }),
      404,
      'model "nope" not found',
    );
  });

  it('refuses bad names and latest with 400, unknown versions and models with 404', async () => {
    const m = master();
    const token = await m.login();
    await modelWithVersions(m, token, 'm', 1);
    const put = (alias: string, body: unknown = { version: 1 }): Promise<Response> =>
      m.request('PUT', aliasPath('m', alias), { token, body });
    const bad = ['Prod', '1abc', '123', '_x', '-x', 'a.b', 'a b', `a${'b'.repeat(64)}`, 'latest'];
    for (const alias of bad) {
      const body = await expectError(await put(alias), 400, '');
      expect(body.error.reason, alias).toBe('InvalidArgument');
    }
    for (const alias of ['a', `a${'b'.repeat(63)}`, 'x-1_y', 'v2']) {
      expect((await setAlias(m, token, 'm', alias, { version: 1 })).alias).toBe(alias);
    }
    await expectError(await put('prod', { version: 2 }), 404, '2');
    await expectError(await put('prod', {}), 400, 'version');
    await expectError(await put('prod', { version: null }), 400, 'version');
    await expectError(
      await m.request('PUT', aliasPath('nope', 'prod'), { token, body: { version: 1 } }),
      404,
      'model "nope" not found',
    );
    await expectError(
      await m.request('GET', `${modelPath('nope')}/aliases`, { token }),
      404,
      'model "nope" not found',
    );
    expect((await history(m, token, 'm')).pagination.total).toBe(4);
  });

  it('compares and sets with expectedVersion, changing nothing on a mismatch', async () => {
    const m = master();
    const token = await m.login();
    await modelWithVersions(m, token, 'm', 3);
    const refused = async (body: Record<string, unknown>): Promise<void> => {
      const err = await expectError(
        await m.request('PUT', aliasPath('m', 'prod'), { token, body }),
        400,
        '',
      );
      expect(err.error.reason, JSON.stringify(body)).toBe('FailedPrecondition');
    };
    // Absent: only 0 (or no expectation) matches.
    await refused({ version: 1, expectedVersion: 2 });
    await refused({ version: 1, expectedVersion: 1 });
    expect(await listAliases(m, token, 'm')).toEqual([]);
    expect(
      (await setAlias(m, token, 'm', 'prod', { version: 1, expectedVersion: 0 })).version,
    ).toBe(1);
    // Present at 1.
    await refused({ version: 2, expectedVersion: 0 });
    await refused({ version: 2, expectedVersion: 3 });
    expect((await listAliases(m, token, 'm')).map((a) => a.version)).toEqual([1]);
    expect(
      (await setAlias(m, token, 'm', 'prod', { version: 2, expectedVersion: 1 })).version,
    ).toBe(2);
    expect(
      (await setAlias(m, token, 'm', 'prod', { version: 3, expectedVersion: null })).version,
    ).toBe(3);
    expect(
      (await setAlias(m, token, 'm', 'prod', { version: 3, expectedVersion: 3 })).version,
    ).toBe(3);
    expect(await changes(m, token, 'm')).toEqual([
      ['prod', 2, 3],
      ['prod', 1, 2],
      ['prod', null, 1],
    ]);
  });
});

describeEachDialect('model aliases: versions', ({ master }) => {
  it('accepts latest and alias names wherever a version number goes', async () => {
    const m = master();
    const token = await m.login();
    const versions = await modelWithVersions(m, token, 'm', 3);
    await setAlias(m, token, 'm', 'prod', { version: 1 });
    await setAlias(m, token, 'm', 'staging', { version: 2 });
    expect((await getVersion(m, token, 'm', 'prod')).id).toBe(versions[0]?.id);
    expect((await getVersion(m, token, 1, 'staging')).id).toBe(versions[1]?.id);
    expect((await getVersion(m, token, 'm', 'latest')).id).toBe(versions[2]?.id);
    const patched = await call<GetModelVersionResponse>(
      m,
      token,
      'PATCH',
      versionPath('m', 'prod'),
      { name: 'production' },
    );
    expect([patched.modelVersion.version, patched.modelVersion.name]).toEqual([1, 'production']);
    await call(m, token, 'PATCH', versionPath('m', 'latest'), { comment: 'newest' });
    expect((await getVersion(m, token, 'm', 3)).comment).toBe('newest');
    expect(
      await call(m, token, 'GET', `${versionPath('m', 'staging')}/metrics?metricGroup=inference`),
    ).toEqual({ metrics: [] });
    for (const method of ['GET', 'PATCH', 'DELETE']) {
      await expectError(
        await m.request(method, versionPath('m', 'canary'), {
          token,
          body: method === 'PATCH' ? { name: 'x' } : undefined,
        }),
        404,
        `alias 'canary' not found for model "m"`,
      );
    }
    // `latest` follows the highest number as versions come and go.
    await call(m, token, 'DELETE', versionPath('m', 'latest'));
    expect((await getVersion(m, token, 'm', 'latest')).version).toBe(2);
    const s = await seedTrial(m);
    await call(m, token, 'POST', `${modelPath('m')}/versions`, {
      checkpointUuid: await reportCheckpoint(m, s, 10),
    });
    expect((await getVersion(m, token, 'm', 'latest')).version).toBe(3);
    await call(m, token, 'POST', '/api/v1/models', { name: 'empty' });
    await expectError(
      await m.request('GET', versionPath('empty', 'latest'), { token }),
      404,
      'empty',
    );
  });

  it('lists the aliases of each version, sorted', async () => {
    const m = master();
    const token = await m.login();
    await modelWithVersions(m, token, 'm', 2);
    for (const alias of ['staging', 'prod', 'canary']) {
      await setAlias(m, token, 'm', alias, { version: 1 });
    }
    expect((await getVersion(m, token, 'm', 1)).aliases).toEqual(['canary', 'prod', 'staging']);
    expect((await getVersion(m, token, 'm', 2)).aliases).toEqual([]);
    const { modelVersions } = await call<GetModelVersionsResponse>(
      m,
      token,
      'GET',
      `${modelPath('m')}/versions?orderBy=ORDER_BY_DESC`,
    );
    expect(modelVersions.map((v) => v.aliases)).toEqual([[], ['canary', 'prod', 'staging']]);
    expect((await listAliases(m, token, 'm')).map((a) => [a.alias, a.version])).toEqual([
      ['canary', 1],
      ['prod', 1],
      ['staging', 1],
    ]);
    await setAlias(m, token, 'm', 'prod', { version: 2 });
    expect((await getVersion(m, token, 'm', 'latest')).aliases).toEqual(['prod']);
  });

  it('refuses to delete a version an alias points at, naming the aliases', async () => {
    const m = master();
    const token = await m.login();
    await modelWithVersions(m, token, 'm', 2);
    await setAlias(m, token, 'm', 'prod', { version: 1 });
    await setAlias(m, token, 'm', 'canary', { version: 1 });
    const del = (version: string | number): Promise<Response> =>
      m.request('DELETE', versionPath('m', version), { token });
    const err = await expectError(await del(1), 400, 'prod');
    expect(err.message).toContain('canary');
    expect(err.error.reason).toBe('FailedPrecondition');
    await setAlias(m, token, 'm', 'prod', { version: 2 });
    await expectError(await del(1), 400, 'canary');
    await expectError(await del('prod'), 400, 'prod');
    await call(m, token, 'DELETE', aliasPath('m', 'canary'));
    expect((await del(1)).status).toBe(200);
    expect((await getVersion(m, token, 'm', 'prod')).version).toBe(2);
  });

  it('refuses to set an alias on an archived model, but removes and reads them', async () => {
    const m = master();
    const token = await m.login();
    await modelWithVersions(m, token, 'm', 2);
    await setAlias(m, token, 'm', 'prod', { version: 1 });
    await setAlias(m, token, 'm', 'old', { version: 1 });
    await call(m, token, 'POST', `${modelPath('m')}/archive`);
    for (const [alias, version] of [
      ['staging', 1],
      ['prod', 2],
    ] as const) {
      const err = await expectError(
        await m.request('PUT', aliasPath('m', alias), { token, body: { version } }),
        400,
        'archived',
      );
      expect(err.error.reason).toBe('FailedPrecondition');
    }
    expect((await getVersion(m, token, 'm', 'prod')).version).toBe(1);
    expect((await listAliases(m, token, 'm')).map((a) => a.alias)).toEqual(['old', 'prod']);
    await call(m, token, 'DELETE', aliasPath('m', 'old'));
    expect(await changes(m, token, 'm')).toEqual([
      ['old', 1, null],
      ['old', null, 1],
      ['prod', null, 1],
    ]);
  });

  it('removes aliases and their history with the model', async () => {
    const m = master();
    const token = await m.login();
    await modelWithVersions(m, token, 'm', 2);
    await setAlias(m, token, 'm', 'prod', { version: 1 });
    await setAlias(m, token, 'm', 'prod', { version: 2 });
    expect(await call(m, token, 'DELETE', modelPath('m'))).toEqual({});
    await expectError(
      await m.request('GET', `${modelPath('m')}/aliases`, { token }),
      404,
      'model "m" not found',
    );
    await modelWithVersions(m, token, 'm', 2);
    expect(await listAliases(m, token, 'm')).toEqual([]);
    expect((await history(m, token, 'm')).events).toEqual([]);
    expect((await getVersion(m, token, 'm', 2)).aliases).toEqual([]);
    await expectError(await m.request('GET', versionPath('m', 'prod'), { token }), 404, 'prod');
  });
});

describeEachDialect('model aliases: discovery and scopes', ({ master }) => {
  it('announces aliases in GET /api/v1/master', async () => {
    const m = master();
    const res = await m.request('GET', '/api/v1/master');
    expect(res.status).toBe(200);
    const info = (await res.json()) as MasterInfoDto;
    expect(info.determinedTs.modelAliases).toBe(true);
  });

  /** A model `m` with version 1 aliased `prod`, and one access token per scope. */
  async function scoped(m: TestMaster): Promise<{
    token: string;
    tokens: Record<string, string>;
    reads: string[];
    writes: [string, string, unknown][];
  }> {
    const token = await m.login();
    const me = await meId(m, token);
    const [v1] = await modelWithVersions(m, token, 'm', 1);
    await setAlias(m, token, 'm', 'prod', { version: 1 });
    const tokens: Record<string, string> = {};
    for (const scope of ['read-only', 'download-only', 'report-only']) {
      tokens[scope] = (
        await call<PostAccessTokenResponse>(m, token, 'POST', '/api/v1/tokens', {
          userId: me,
          scope,
        })
      ).token;
    }
    const reads = [
      '/api/v1/models',
      '/api/v1/models?name=m&sortBy=SORT_BY_NAME',
      modelPath('m'),
      modelPath(1),
      '/api/v1/model/labels',
      `${modelPath('m')}/versions`,
      versionPath('m', 1),
      versionPath('m', 'prod'),
      versionPath('m', 'latest'),
      `${versionPath('m', 1)}/metrics`,
      `${modelPath('m')}/aliases`,
      aliasPath('m', 'prod'),
      `${modelPath('m')}/alias-history`,
    ];
    const writes: [string, string, unknown][] = [
      ['POST', '/api/v1/models', { name: 'n' }],
      ['PATCH', modelPath('m'), { description: 'x' }],
      ['POST', `${modelPath('m')}/archive`, undefined],
      ['POST', `${modelPath('m')}/unarchive`, undefined],
      ['POST', `${modelPath('m')}/move`, { modelName: 'm', destinationWorkspaceId: 1 }],
      ['POST', `${modelPath('m')}/versions`, { checkpointUuid: v1?.checkpoint.uuid }],
      ['PATCH', versionPath('m', 1), { name: 'x' }],
      ['DELETE', versionPath('m', 1), undefined],
      ['PUT', aliasPath('m', 'staging'), { version: 1 }],
      ['DELETE', aliasPath('m', 'prod'), undefined],
      ['DELETE', modelPath('m'), undefined],
    ];
    return { token, tokens, reads, writes };
  }

  it('lets read-only and download-only tokens read the registry but change nothing', async () => {
    const m = master();
    const { token, tokens, reads, writes } = await scoped(m);
    for (const scope of ['read-only', 'download-only']) {
      const scopedToken = tokens[scope] ?? '';
      for (const path of reads) {
        const res = await m.request('GET', path, { token: scopedToken });
        expect(res.status, `${scope} GET ${path}: ${await res.text()}`).toBe(200);
      }
      for (const [method, path, body] of writes) {
        await expectError(
          await m.request(method, path, { token: scopedToken, body }),
          403,
          `has scope ${scope}, which does not allow ${method}`,
        );
      }
    }
    const { model } = await call<GetModelResponse>(m, token, 'GET', modelPath('m'));
    expect([model.description, model.archived, model.numVersions]).toEqual(['', false, 1]);
    expect((await listAliases(m, token, 'm')).map((a) => [a.alias, a.version])).toEqual([
      ['prod', 1],
    ]);
    expect(
      (await call<{ models: unknown[] }>(m, token, 'GET', '/api/v1/models')).models,
    ).toHaveLength(1);
  });

  it('lets report-only tokens read the registry (a fine-tuning job starts from a version) but change nothing', async () => {
    const m = master();
    const { tokens, reads, writes } = await scoped(m);
    const scopedToken = tokens['report-only'] ?? '';
    for (const path of reads) {
      const res = await m.request('GET', path, { token: scopedToken });
      expect(res.status, `report-only GET ${path}: ${await res.text()}`).toBe(200);
    }
    for (const [method, path, body] of writes) {
      await expectError(
        await m.request(method, path, { token: scopedToken, body }),
        403,
        `has scope report-only, which does not allow ${method}`,
      );
    }
  });
});
