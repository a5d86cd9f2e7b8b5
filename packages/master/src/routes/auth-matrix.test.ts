import { randomBytes } from 'node:crypto';

import type { PostAccessTokenResponse, UserDto } from '@determined-ts/api';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { call, reportCheckpoint, seedTrial } from '../../test/flow.js';
import { expectError } from '../../test/expect-error.js';
import { servedRoutes } from '../../test/fuzz.js';
import { openTestMaster, testDialects } from '../../test/helpers.js';
import type { TestMaster } from '../../test/helpers.js';

const DAY_MS = 24 * 3600 * 1000;

/** The only routes anyone may call without signing in. A new public route must be added here. */
const PUBLIC_ROUTES = [
  'POST /api/v1/auth/login',
  'GET /api/v1/master',
  'GET /info',
  'GET /health',
  'GET /ready',
];

/** Headers that must not get past the auth layer, by what is wrong with them. */
type Credentials = Record<string, Record<string, string>>;

function bearer(token: string): Record<string, string> {
  return { authorization: `Bearer ${token}` };
}

const random = (): string => randomBytes(32).toString('base64url');

for (const dialect of testDialects()) {
  describe(`auth matrix [${dialect}]`, () => {
    let m: TestMaster;
    let close: () => Promise<void>;
    let ids: Record<string, string>;
    let user: { session: string; id: number };
    let admin: { session: string; id: number; tokenId: number };
    let bad: Credentials;

    beforeAll(async () => {
      ({ master: m, close } = await openTestMaster(dialect));
      const s = await seedTrial(m, { metric: 'loss' });
      const uuid = await reportCheckpoint(m, s, 5);
      const adminSession = await m.login('admin');
      const me = async (token: string): Promise<number> =>
        (await call<{ user: UserDto }>(m, token, 'GET', '/api/v1/me')).user.id;
      user = { session: s.token, id: await me(s.token) };
      const adminId = await me(adminSession);
      const adminToken = await call<PostAccessTokenResponse>(
        m,
        adminSession,
        'POST',
        '/api/v1/tokens',
        { userId: adminId },
      );
      ids = {
        userId: String(user.id),
        experimentId: String(s.experimentId),
        trialId: String(s.trialId),
        checkpointUuid: uuid,
        externalExperimentId: 'ext-1',
        tokenId: String(adminToken.tokenId),
        username: 'admin',
        modelName: 'matrix model',
        modelVersionNum: '1',
        alias: 'prod',
      };
      // A model of the admin's with two versions, for the registry's routes and its
      // admin-or-owner checks.
      await call(m, adminSession, 'POST', '/api/v1/models', { name: 'matrix model' });
      for (let i = 0; i < 2; i++) {
        await call(m, adminSession, 'POST', '/api/v1/models/matrix%20model/versions', {
          checkpointUuid: uuid,
        });
      }
      await call(m, adminSession, 'PUT', '/api/v1/models/matrix%20model/aliases/prod', {
        version: 1,
      });

      // Expired: a session and an access token whose time has passed.
      const expiringSession = await m.login();
      const shortLived = await call<PostAccessTokenResponse>(
        m,
        user.session,
        'POST',
        '/api/v1/tokens',
        {
          userId: user.id,
          lifespan: '24h',
        },
      );
      // Revoked: a session that logged out and an access token revoked.
      const loggedOut = await m.login();
      await call(m, loggedOut, 'POST', '/api/v1/auth/logout');
      const revoked = await call<PostAccessTokenResponse>(
        m,
        user.session,
        'POST',
        '/api/v1/tokens',
        {
          userId: user.id,
        },
      );
      await call(m, user.session, 'PATCH', `/api/v1/tokens/${revoked.tokenId}`, {
        setRevoked: true,
      });
      m.now.ms += 8 * DAY_MS;
      // The clock moved past every session above: sign in again for the admin-only checks.
      user.session = await m.login();
      admin = { session: await m.login('admin'), id: adminId, tokenId: adminToken.tokenId };

      bad = {
        missing: {},
        'empty bearer': { authorization: 'Bearer' },
        'basic scheme': { authorization: `Basic ${Buffer.from('admin:').toString('base64')}` },
        'two tokens': { authorization: `Bearer ${user.session} ${user.session}` },
        'forged session': bearer(`dts1.${random()}`),
        'forged access token': bearer(`dtsa1.${random()}`),
        "Determined's token format": bearer(`v2.public.${random()}`),
        'tampered session': bearer(`${user.session.slice(0, -2)}AA`),
        'forged cookie': { cookie: `auth=dts1.${random()}` },
        'expired session': bearer(expiringSession),
        'expired access token': bearer(shortLived.token),
        'logged-out session': bearer(loggedOut),
        'revoked access token': bearer(revoked.token),
      };
    });

    afterAll(async () => {
      await close();
    });

    it('serves only the public routes without a token', () => {
      const routes = servedRoutes(m).map((r) => `${r.method} ${r.path}`);
      const open = routes.filter((r) => PUBLIC_ROUTES.includes(r));
      expect(open.sort()).toEqual([...PUBLIC_ROUTES].sort());
      // Enough routes to mean the enumeration worked.
      expect(routes.length).toBeGreaterThan(40);
    });

    it('refuses a missing, malformed, forged, expired or revoked token on every other route', async () => {
      const routes = servedRoutes(m).filter(
        (r) => !PUBLIC_ROUTES.includes(`${r.method} ${r.path}`),
      );
      let checked = 0;
      for (const route of routes) {
        const path = route.path.replace(/:(\w+)/g, (_all, name: string) => {
          const id = ids[name];
          if (id === undefined) {
            throw new Error(`no id for :${name} in ${route.path}`);
          }
          return encodeURIComponent(id);
        });
        for (const [what, headers] of Object.entries(bad)) {
          const res = await m.request(route.method, path, {
            headers,
            ...(route.method === 'GET' ? {} : { body: {} }),
          });
          const body = await expectError(res, 401, '').catch((err: unknown) => {
            throw new Error(`${what} on ${route.method} ${path}: ${String(err)}`);
          });
          expect(body.error.reason).toBe('Unauthenticated');
          checked += 1;
        }
      }
      expect(checked).toBe(routes.length * Object.keys(bad).length);
    });

    it('refuses admin-only actions to other users, and allows them to admins', async () => {
      const actions: { method: string; path: string; body?: unknown; fragment: string }[] = [
        {
          method: 'POST',
          path: '/api/v1/users',
          body: { user: { username: 'eve' } },
          fragment: 'only admins may create users',
        },
        {
          method: 'PATCH',
          path: `/api/v1/users/${admin.id}`,
          body: { displayName: 'Mallory' },
          fragment: 'only admins may change other users',
        },
        {
          method: 'PATCH',
          path: `/api/v1/users/${user.id}`,
          body: { admin: true },
          fragment: 'the admin and active flags',
        },
        {
          method: 'POST',
          path: `/api/v1/users/${admin.id}/password`,
          body: 'x'.repeat(64),
          fragment: "only admins may change other users' passwords",
        },
        {
          method: 'POST',
          path: '/api/v1/tokens',
          body: { userId: admin.id },
          fragment: 'only admins may create access tokens for other users',
        },
        {
          method: 'POST',
          path: '/api/v1/storage/reconcile',
          body: {},
          fragment: 'only admins may reconcile storage: access denied',
        },
        {
          method: 'GET',
          path: '/api/v1/tokens?username=admin',
          fragment: "only admins may list other users' access tokens",
        },
        {
          method: 'PATCH',
          path: `/api/v1/tokens/${admin.tokenId}`,
          body: { description: 'mine now' },
          fragment: "only admins may change other users' access tokens",
        },
        // Before the model's own delete: a version of another user's model, registered by them.
        {
          method: 'DELETE',
          path: '/api/v1/models/matrix%20model/versions/2',
          fragment: 'access denied',
        },
        {
          method: 'DELETE',
          path: '/api/v1/models/matrix%20model',
          fragment: 'access denied',
        },
      ];
      for (const action of actions) {
        await expectError(
          await m.request(action.method, action.path, {
            token: user.session,
            body: action.body,
          }),
          403,
          action.fragment,
        );
      }
      // The same requests from an admin pass the permission check.
      for (const action of actions) {
        const res = await m.request(action.method, action.path, {
          token: admin.session,
          body: action.body,
        });
        expect(res.status, `${action.method} ${action.path}: ${await res.text()}`).toBe(200);
      }
    });
  });
}
