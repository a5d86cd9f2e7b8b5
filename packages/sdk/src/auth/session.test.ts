import { existsSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

import { clientHashPassword } from '@determined-ts/api';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';

import { startAuthMaster, tempDir } from '../../test/auth-helpers.js';
import type { AuthMaster } from '../../test/auth-helpers.js';
import type { FetchLike } from '../client.js';
import { ApiError, AuthenticationError, NetworkError } from '../errors.js';
import { openSession, resolveCredentials } from './session.js';
import type { SessionOptions } from './session.js';
import { TokenStore } from './token-store.js';
import { toPythonJson } from './token-store-format.js';

const MASTER = 'http://master.test:8080';

describe('resolveCredentials', () => {
  it('takes the explicit user, with the explicit password', () => {
    const env = { DET_USER: 'e', DET_PASS: 'ep' };
    expect(resolveCredentials({ user: 'u', password: 'p' }, env, 'active')).toEqual({
      user: 'u',
      password: 'p',
      isFallback: false,
    });
  });

  it('then DET_USER and DET_PASS, only both together, ignoring the explicit password', () => {
    expect(resolveCredentials({ password: 'p' }, { DET_USER: 'e', DET_PASS: 'ep' }, 'a')).toEqual({
      user: 'e',
      password: 'ep',
      isFallback: false,
    });
    expect(resolveCredentials({}, { DET_USER: 'e', DET_PASS: '' }, undefined).user).toBe('e');
    expect(resolveCredentials({}, { DET_USER: 'e' }, 'active').user).toBe('active');
    expect(resolveCredentials({}, { DET_PASS: 'ep' }, 'active').user).toBe('active');
  });

  it('then the active user, with the explicit password', () => {
    expect(resolveCredentials({ password: 'p' }, {}, 'active')).toEqual({
      user: 'active',
      password: 'p',
      isFallback: false,
    });
  });

  it("then determined, with the given password or ''", () => {
    expect(resolveCredentials({}, {}, undefined)).toEqual({
      user: 'determined',
      password: '',
      isFallback: true,
    });
    expect(resolveCredentials({ user: '', password: 'p' }, {}, undefined)).toEqual({
      user: 'determined',
      password: 'p',
      isFallback: true,
    });
  });
});

describe('openSession', () => {
  let master: AuthMaster;
  let dir: { path: string; cleanup: () => Promise<void> };
  let config: string;
  beforeEach(async () => {
    master = await startAuthMaster();
    dir = await tempDir();
    config = join(dir.path, 'det-config');
  });
  afterEach(async () => {
    await master.close();
    await dir.cleanup();
  });

  /** Options for the in-process master, a private config dir and `extraEnv`. */
  const opts = (
    options: SessionOptions = {},
    extraEnv: Record<string, string> = {},
  ): SessionOptions => ({
    master: MASTER,
    fetch: master.fetch,
    retry: { baseDelayMs: 0 },
    ...options,
    env: { DET_DEBUG_CONFIG_PATH: config, ...extraEnv },
  });
  const cached = async (): Promise<TokenStore> => TokenStore.open(MASTER, config);
  const whoami = async (client: { request: <T>(m: string, p: string) => Promise<T> }) =>
    (await client.request<{ user: { username: string } }>('GET', '/api/v1/me')).user.username;

  it('logs in as determined with the empty password, and caches the token, not the active user', async () => {
    const client = await openSession(opts());
    expect(master.logins().map((r) => r.login)).toEqual([
      { username: 'determined', password: '', isHashed: true },
    ]);
    expect(await whoami(client)).toBe('determined');
    const store = await cached();
    expect(store.getToken('determined')).toBe(client.token);
    expect(store.activeUser).toBeUndefined();
  });

  it('sends the password hashed, and caches under the user', async () => {
    await master.createUser('alice', 'Secret-123');
    const client = await openSession(opts({ user: 'alice', password: 'Secret-123' }));
    const [login] = master.logins();
    expect(login?.login).toEqual({
      username: 'alice',
      password: await clientHashPassword('Secret-123'),
      isHashed: true,
    });
    expect(login?.login?.password).toMatch(/^[0-9a-f]{128}$/);
    expect(await whoami(client)).toBe('alice');
    expect((await cached()).getToken('alice')).toBe(client.token);
  });

  it('reuses a cached token: the second session makes no login request', async () => {
    const first = await openSession(opts());
    master.requests.length = 0;
    const second = await openSession(opts());
    expect(second.token).toBe(first.token);
    expect(master.requests.map((r) => `${r.method} ${r.path}`)).toEqual(['GET /api/v1/me']);
    expect(master.requests[0]?.token).toBe(first.token);
  });

  it('finds the token under the canonical url, however the master was spelled', async () => {
    const first = await openSession(opts({ master: 'master.test' }));
    master.requests.length = 0;
    const second = await openSession(
      opts({ master: undefined }, { DET_MASTER: 'http://master.test:8080/' }),
    );
    expect(second.baseUrl).toBe(MASTER);
    expect(second.token).toBe(first.token);
    expect(master.logins()).toEqual([]);
  });

  it('drops a token the master no longer accepts, and logs in again', async () => {
    const first = await openSession(opts());
    await master.logout(first.token ?? '');
    master.requests.length = 0;
    const second = await openSession(opts());
    expect(master.requests.map((r) => `${r.method} ${r.path}`)).toEqual([
      'GET /api/v1/me',
      'POST /api/v1/auth/login',
    ]);
    expect(second.token).not.toBe(first.token);
    expect((await cached()).getToken('determined')).toBe(second.token);
    expect(await whoami(second)).toBe('determined');
  });

  it('refuses a wrong password with AuthenticationError and caches nothing', async () => {
    await master.createUser('alice', 'Secret-123');
    const err = await openSession(opts({ user: 'alice', password: 'wrong' })).catch(
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(AuthenticationError);
    expect((err as Error).message).toMatch(/cannot log in to http:\/\/master.test:8080 as alice/);
    expect(existsSync(join(config, 'auth.json'))).toBe(false);
  });

  it('says how to name a user when the default determined is refused', async () => {
    await master.setPassword('determined', 'Secret-123');
    await expect(openSession(opts())).rejects.toThrow(/no user was given: pass one, set DET_USER/);
  });

  it('logs in as DET_USER with DET_PASS when both are set', async () => {
    await master.createUser('erin', 'Erin-1234');
    const client = await openSession(opts({}, { DET_USER: 'erin', DET_PASS: 'Erin-1234' }));
    expect(await whoami(client)).toBe('erin');
    expect((await cached()).getToken('erin')).toBe(client.token);
  });

  it('prefers the explicit user to DET_USER and DET_PASS', async () => {
    await master.createUser('erin', 'Erin-1234');
    const client = await openSession(opts({ user: 'admin' }, { DET_USER: 'erin', DET_PASS: 'x' }));
    expect(await whoami(client)).toBe('admin');
  });

  it('takes the active user when DET_USER comes without DET_PASS', async () => {
    await master.createUser('alice', 'Secret-123');
    const token = await master.login('alice', 'Secret-123');
    const store = await cached();
    await store.setToken('alice', token);
    await store.setActive('alice');
    const client = await openSession(opts({}, { DET_USER: 'erin' }));
    expect(client.token).toBe(token);
    expect(master.logins()).toEqual([]);
  });

  it('logs the active user in again with the given password when its token is revoked', async () => {
    await master.createUser('alice', 'Secret-123');
    const token = await master.login('alice', 'Secret-123');
    const store = await cached();
    await store.setToken('alice', token);
    await store.setActive('alice');
    await master.logout(token);
    const client = await openSession(opts({ password: 'Secret-123' }));
    expect(master.logins().map((r) => r.login?.username)).toEqual(['alice']);
    expect(await whoami(client)).toBe('alice');
  });

  describe('DET_USER_TOKEN', () => {
    it('is used when there is no cached token, without logging in', async () => {
      const token = await master.login('admin', '');
      const client = await openSession(opts({}, { DET_USER: 'admin', DET_USER_TOKEN: token }));
      expect(client.token).toBe(token);
      expect(master.logins()).toEqual([]);
      expect(existsSync(join(config, 'auth.json'))).toBe(false);
    });

    it('is used when the requested user is DET_USER', async () => {
      const token = await master.login('admin', '');
      const client = await openSession(
        opts({ user: 'admin' }, { DET_USER: 'admin', DET_USER_TOKEN: token }),
      );
      expect(client.token).toBe(token);
    });

    it('is not used for another user', async () => {
      const token = await master.login('admin', '');
      const client = await openSession(
        opts({ user: 'determined' }, { DET_USER: 'admin', DET_USER_TOKEN: token }),
      );
      expect(client.token).not.toBe(token);
      expect(await whoami(client)).toBe('determined');
    });

    it('comes after a valid cached token', async () => {
      const first = await openSession(opts({ user: 'admin' }));
      const other = await master.login('admin', '');
      const client = await openSession(
        opts({}, { DET_USER: 'admin', DET_PASS: '', DET_USER_TOKEN: other }),
      );
      expect(client.token).toBe(first.token);
    });
  });

  describe('attemptAuth: false', () => {
    it('reuses a valid cached session without logging in', async () => {
      const first = await openSession(opts());
      master.requests.length = 0;
      const client = await openSession(opts({ attemptAuth: false }));
      expect(client.token).toBe(first.token);
      expect(master.logins()).toEqual([]);
    });

    it('never logs in nor goes anonymous without a session', async () => {
      await expect(openSession(opts({ attemptAuth: false }))).rejects.toThrow(AuthenticationError);
      expect(master.requests).toEqual([]);
    });

    it('drops a revoked token and fails rather than log in again', async () => {
      const first = await openSession(opts());
      await master.logout(first.token ?? '');
      master.requests.length = 0;
      await expect(openSession(opts({ attemptAuth: false }))).rejects.toThrow(
        /no session for determined on http:\/\/master.test:8080 and attemptAuth is false/,
      );
      expect(master.logins()).toEqual([]);
      expect((await cached()).getToken('determined')).toBeUndefined();
    });

    it('accepts the session a container gives through DET_USER_TOKEN', async () => {
      const token = await master.login('admin', '');
      const client = await openSession(
        opts({ attemptAuth: false }, { DET_USER: 'admin', DET_USER_TOKEN: token }),
      );
      expect(client.token).toBe(token);
    });
  });

  describe('checking a cached token', () => {
    /** The master behind a proxy that answers GET /api/v1/me itself. */
    const meAnswers =
      (status: number): FetchLike =>
      (input, init) =>
        new URL(input).pathname === '/api/v1/me'
          ? Promise.resolve(new Response('{"message":"from the proxy"}', { status }))
          : master.fetch(input, init);

    it.each([401, 404, 500])('drops the token on %i and logs in again', async (status) => {
      const first = await openSession(opts());
      master.requests.length = 0;
      const second = await openSession(opts({ fetch: meAnswers(status) }));
      expect(master.logins()).toHaveLength(1);
      expect(second.token).not.toBe(first.token);
      expect((await cached()).getToken('determined')).toBe(second.token);
    });

    it('throws a 403 and keeps the token', async () => {
      const first = await openSession(opts());
      const err = await openSession(opts({ fetch: meAnswers(403) })).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(ApiError);
      expect((err as ApiError).status).toBe(403);
      expect((await cached()).getToken('determined')).toBe(first.token);
    });

    it('throws a network failure and keeps the token', async () => {
      const first = await openSession(opts());
      const down: FetchLike = () => Promise.reject(new TypeError('fetch failed'));
      await expect(openSession(opts({ fetch: down, retry: { attempts: 1 } }))).rejects.toThrow(
        NetworkError,
      );
      expect((await cached()).getToken('determined')).toBe(first.token);
    });
  });

  it('deletes a corrupt token cache and says so; the next session logs in', async () => {
    await mkdir(config, { recursive: true });
    await writeFile(join(config, 'auth.json'), '{"version": 2, "masters": [');
    await expect(openSession(opts())).rejects.toThrow(/corrupt .* has been deleted/);
    expect(existsSync(join(config, 'auth.json'))).toBe(false);
    const client = await openSession(opts());
    expect(await whoami(client)).toBe('determined');
  });

  it("reuses a token Determined's CLI cached (auth.json v2 as Python writes it)", async () => {
    const token = await master.login('admin', '');
    await mkdir(config, { recursive: true });
    await writeFile(
      join(config, 'auth.json'),
      toPythonJson({
        version: 2,
        masters: { [MASTER]: { active_user: 'admin', tokens: { admin: token } } },
      }),
    );
    const client = await openSession(opts());
    expect(client.token).toBe(token);
    expect(master.logins()).toEqual([]);
    expect(JSON.parse(await readFile(join(config, 'auth.json'), 'utf8'))).toEqual({
      version: 2,
      masters: { [MASTER]: { active_user: 'admin', tokens: { admin: token } } },
    });
  });
});
