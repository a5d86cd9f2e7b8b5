import type {
  GetAccessTokensResponse,
  PatchAccessTokenResponse,
  PostAccessTokenResponse,
  TokenInfoDto,
  UserDto,
} from '@determined-ts/api';
import { expect, it } from 'vitest';

import { call, reportCheckpoint, seedTrial } from '../../test/flow.js';
import { expectError } from '../../test/expect-error.js';
import { describeEachDialect } from '../../test/helpers.js';
import type { TestMaster } from '../../test/helpers.js';

const HOUR_MS = 3600 * 1000;
const DAY_MS = 24 * HOUR_MS;

async function userId(m: TestMaster, token: string): Promise<number> {
  return (await call<{ user: UserDto }>(m, token, 'GET', '/api/v1/me')).user.id;
}

async function createToken(
  m: TestMaster,
  token: string,
  body: Record<string, unknown>,
): Promise<PostAccessTokenResponse> {
  return call<PostAccessTokenResponse>(m, token, 'POST', '/api/v1/tokens', body);
}

async function listTokens(m: TestMaster, token: string, query = ''): Promise<TokenInfoDto[]> {
  return (await call<GetAccessTokensResponse>(m, token, 'GET', `/api/v1/tokens${query}`)).tokenInfo;
}

describeEachDialect('access tokens', ({ master }) => {
  it("creates, lists, describes, edits and revokes a user's own token", async () => {
    const m = master();
    const session = await m.login();
    const me = await userId(m, session);
    const created = await createToken(m, session, { userId: me, description: 'ci job' });
    expect(created.token).toMatch(/^dtsa1\.[\w-]{43}$/);
    expect(created.tokenId).toBeGreaterThan(0);

    // The token signs its user in, as a session does.
    const who = await call<{ user: UserDto }>(m, created.token, 'GET', '/api/v1/me');
    expect(who.user.username).toBe('determined');

    const [info] = await listTokens(m, session);
    expect(info).toEqual({
      id: created.tokenId,
      userId: me,
      description: 'ci job',
      createdAt: new Date(m.now.ms).toISOString(),
      expiry: new Date(m.now.ms + 30 * DAY_MS).toISOString(),
      revoked: false,
      tokenType: 'TOKEN_TYPE_ACCESS_TOKEN',
      scope: 'full',
    });
    const other = await createToken(m, session, { userId: me });
    expect((await listTokens(m, session, `?tokenIds=${other.tokenId}`)).map((t) => t.id)).toEqual([
      other.tokenId,
    ]);

    const edited = await call<PatchAccessTokenResponse>(
      m,
      session,
      'PATCH',
      `/api/v1/tokens/${created.tokenId}`,
      { tokenId: created.tokenId, description: 'nightly', setRevoked: false },
    );
    expect(edited.tokenInfo).toMatchObject({ description: 'nightly', revoked: false });

    const revoked = await call<PatchAccessTokenResponse>(
      m,
      session,
      'PATCH',
      `/api/v1/tokens/${created.tokenId}`,
      { tokenId: created.tokenId, description: null, setRevoked: true },
    );
    expect(revoked.tokenInfo).toMatchObject({ description: 'nightly', revoked: true });
    await expectError(
      await m.request('GET', '/api/v1/me', { token: created.token }),
      401,
      `access token ${created.tokenId} was revoked`,
    );
    // Revoking twice is not an error; editing a revoked token is.
    await call(m, session, 'PATCH', `/api/v1/tokens/${created.tokenId}`, { setRevoked: true });
    await expectError(
      await m.request('PATCH', `/api/v1/tokens/${created.tokenId}`, {
        token: session,
        body: { description: 'again' },
      }),
      400,
      'is revoked',
    );
    // Inactive tokens are listed only when asked for.
    expect((await listTokens(m, session)).map((t) => t.id)).toEqual([other.tokenId]);
    expect((await listTokens(m, session, '?showInactive=true')).map((t) => t.id)).toEqual([
      created.tokenId,
      other.tokenId,
    ]);
  });

  it('reads lifespans as Go durations, within the bounds the master allows', async () => {
    const m = master();
    const session = await m.login();
    const me = await userId(m, session);
    const cases: [string, number][] = [
      ['72h', 72 * HOUR_MS],
      ['1h30m', 90 * 60 * 1000],
      ['2.5s', 2500],
      ['-1', 365 * DAY_MS],
    ];
    for (const [lifespan, ms] of cases) {
      const { tokenId } = await createToken(m, session, { userId: me, lifespan });
      const [info] = await listTokens(m, session, `?tokenIds=${tokenId}`);
      expect(info?.expiry, lifespan).toBe(new Date(m.now.ms + ms).toISOString());
    }
    for (const [lifespan, fragment] of [
      ['3 days', 'expected a duration'],
      ['-5h', 'at least 1s'],
      ['0', 'at least 1s'],
      ['8761h', 'longer than the 365 days'],
    ]) {
      await expectError(
        await m.request('POST', '/api/v1/tokens', {
          token: session,
          body: { userId: me, lifespan },
        }),
        400,
        fragment ?? '',
      );
    }
    const { token, tokenId } = await createToken(m, session, { userId: me, lifespan: '10m' });
    m.now.ms += 10 * 60 * 1000 - 1;
    expect((await m.request('GET', '/api/v1/me', { token })).status).toBe(200);
    m.now.ms += 1;
    await expectError(
      await m.request('GET', '/api/v1/me', { token }),
      401,
      `access token ${tokenId} expired`,
    );
  });

  it("keeps users to their own tokens; admins manage everyone's", async () => {
    const m = master();
    const user = await m.login();
    const admin = await m.login('admin');
    const userIdOf = await userId(m, user);
    const adminId = await userId(m, admin);
    const adminToken = await createToken(m, admin, { userId: adminId });
    const forUser = await createToken(m, admin, { userId: userIdOf, description: 'from admin' });

    await expectError(
      await m.request('POST', '/api/v1/tokens', { token: user, body: { userId: adminId } }),
      403,
      'only admins may create access tokens for other users (admin)',
    );
    await expectError(
      await m.request('GET', '/api/v1/tokens?username=admin', { token: user }),
      403,
      "only admins may list other users' access tokens",
    );
    await expectError(
      await m.request('PATCH', `/api/v1/tokens/${adminToken.tokenId}`, {
        token: user,
        body: { setRevoked: true },
      }),
      403,
      "only admins may change other users' access tokens",
    );
    // A user sees only their own, the admin's included nowhere.
    expect((await listTokens(m, user)).map((t) => t.id)).toEqual([forUser.tokenId]);
    expect((await listTokens(m, admin)).map((t) => t.id)).toEqual([
      adminToken.tokenId,
      forUser.tokenId,
    ]);
    expect((await listTokens(m, admin, '?username=determined')).map((t) => t.id)).toEqual([
      forUser.tokenId,
    ]);
    expect((await listTokens(m, admin, '?orderBy=ORDER_BY_DESC&limit=1')).map((t) => t.id)).toEqual(
      [forUser.tokenId],
    );
    await expectError(
      await m.request('GET', '/api/v1/tokens?username=nobody', { token: admin }),
      404,
      "user 'nobody' not found",
    );
    await expectError(
      await m.request('POST', '/api/v1/tokens', { token: admin, body: { userId: 999 } }),
      404,
      "user '999' not found",
    );
    await expectError(
      await m.request('PATCH', '/api/v1/tokens/999', { token: admin, body: { setRevoked: true } }),
      404,
      "access token '999' not found",
    );
    // An admin revokes a user's token; the user can no longer use it.
    await call(m, admin, 'PATCH', `/api/v1/tokens/${forUser.tokenId}`, { setRevoked: true });
    expect((await m.request('GET', '/api/v1/me', { token: forUser.token })).status).toBe(401);
  });

  it('finds a user by name, as `det token create USER` asks', async () => {
    const m = master();
    const session = await m.login();
    const { user } = await call<{ user: UserDto }>(
      m,
      session,
      'GET',
      '/api/v1/users/admin/by-username',
    );
    expect(user).toMatchObject({ username: 'admin', admin: true });
    await expectError(
      await m.request('GET', '/api/v1/users/nobody/by-username', { token: session }),
      404,
      "user 'nobody' not found",
    );
  });

  it('lets each scope do only what it names', async () => {
    const m = master();
    const s = await seedTrial(m, { metric: 'loss' });
    const uuid = await reportCheckpoint(m, s, 10);
    const me = await userId(m, s.token);
    const tokens: Record<string, string> = {};
    for (const scope of ['read-only', 'download-only', 'report-only']) {
      tokens[scope] = (await createToken(m, s.token, { userId: me, scope })).token;
    }
    const metrics = {
      group: 'validation',
      metrics: {
        trialId: s.trialId,
        trialRunId: s.runId,
        stepsCompleted: 20,
        metrics: { avgMetrics: { loss: 0.5 } },
      },
    };
    const probes: { method: string; path: string; body?: unknown; allowed: string[] }[] = [
      {
        method: 'GET',
        path: `/api/v1/checkpoints/${uuid}`,
        allowed: ['read-only', 'download-only', 'report-only'],
      },
      {
        method: 'GET',
        path: `/api/v1/trials/${s.trialId}/checkpoints`,
        allowed: ['read-only', 'download-only', 'report-only'],
      },
      { method: 'GET', path: `/api/v1/trials/${s.trialId}/logs`, allowed: ['read-only'] },
      { method: 'GET', path: '/api/v1/users', allowed: ['read-only'] },
      {
        method: 'POST',
        path: `/api/v1/trials/${s.trialId}/metrics`,
        body: metrics,
        allowed: ['report-only'],
      },
      {
        method: 'POST',
        path: '/api/v1/checkpoints/rm',
        body: { checkpointUuids: [uuid], checkpointGlobs: ['*.bin'] },
        allowed: [],
      },
      { method: 'POST', path: '/api/v1/tokens', body: { userId: me }, allowed: [] },
    ];
    for (const probe of probes) {
      for (const [scope, token] of Object.entries(tokens)) {
        const res = await m.request(probe.method, probe.path, { token, body: probe.body });
        const what = `${scope} ${probe.method} ${probe.path}`;
        if (probe.allowed.includes(scope)) {
          expect(res.status, `${what}: ${await res.text()}`).toBe(200);
        } else {
          await expectError(res, 403, `has scope ${scope}, which does not allow ${probe.method}`);
        }
      }
    }
    // Signing out is always allowed; for an access token it ends nothing.
    const res = await m.request('POST', '/api/v1/auth/logout', { token: tokens['read-only'] });
    expect(res.status).toBe(200);
    expect((await m.request('GET', '/api/v1/me', { token: tokens['read-only'] })).status).toBe(200);
    await expectError(
      await m.request('POST', '/api/v1/tokens', {
        token: s.token,
        body: { userId: me, scope: 'everything' },
      }),
      400,
      'scope',
    );
  });
});
