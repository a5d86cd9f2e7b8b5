import { clientHashPassword } from '@determined-ts/api';
import type { UserDto } from '@determined-ts/api';
import { expect, it } from 'vitest';

import { call } from '../../test/flow.js';
import { expectError } from '../../test/expect-error.js';
import { describeEachDialect } from '../../test/helpers.js';
import type { TestMaster } from '../../test/helpers.js';

const DAY_MS = 24 * 3600 * 1000;

async function loginRes(
  m: TestMaster,
  body: { username: string; password?: string; isHashed?: boolean },
): Promise<Response> {
  return m.request('POST', '/api/v1/auth/login', { body });
}

/** Creates a user as `admin` and returns its DTO. */
async function createUser(
  m: TestMaster,
  username: string,
  opts: { password?: string; admin?: boolean; active?: boolean } = {},
): Promise<UserDto> {
  const adminToken = await m.login('admin');
  const { user } = await call<{ user: UserDto }>(m, adminToken, 'POST', '/api/v1/users', {
    user: { username, admin: opts.admin ?? false, active: opts.active ?? true },
    password: opts.password ?? '',
    isHashed: false,
  });
  return user;
}

async function me(m: TestMaster, token: string): Promise<Response> {
  return m.request('GET', '/api/v1/me', { token });
}

describeEachDialect('auth routes', ({ master }) => {
  it('logs the built-in users in with the empty password', async () => {
    const m = master();
    // The Python SDK's exact body: an empty password still says isHashed: true.
    const res = await loginRes(m, { username: 'determined', password: '', isHashed: true });
    expect(res.status).toBe(200);
    const body = (await res.json()) as { token: string; user: UserDto };
    expect(body.token).toMatch(/\S{20,}/);
    expect(body.user).toMatchObject({ username: 'determined', admin: false, active: true });
    expect(body.user.id).toBeGreaterThan(0);
    expect(body.user.lastAuthAt).toBe(new Date(m.now.ms).toISOString());

    const admin = await loginRes(m, { username: 'admin' });
    expect(admin.status).toBe(200);
    const adminBody = (await admin.json()) as { user: UserDto };
    expect(adminBody.user).toMatchObject({ username: 'admin', admin: true, active: true });
    expect(adminBody.user.id).toBeGreaterThan(0);
    expect(adminBody.user.id).not.toBe(body.user.id);
  });

  it('sets the auth cookie on login', async () => {
    const m = master();
    const res = await loginRes(m, { username: 'determined', password: '' });
    const { token } = (await res.json()) as { token: string };
    const cookie = res.headers.get('set-cookie') ?? '';
    expect(cookie).toContain(`auth=${token}`);
    expect(cookie).toMatch(/HttpOnly/i);
    expect(cookie).toContain('Max-Age=604800');
  });

  it('accepts a client-hashed password and a plain one', async () => {
    const m = master();
    await createUser(m, 'alice', { password: 'hunter2' });
    const hashed = await loginRes(m, {
      username: 'alice',
      password: await clientHashPassword('hunter2'),
      isHashed: true,
    });
    expect(hashed.status).toBe(200);
    const plain = await loginRes(m, { username: 'alice', password: 'hunter2', isHashed: false });
    expect(plain.status).toBe(200);
    // A plain password sent as if hashed is not the hash.
    await expectError(
      await loginRes(m, { username: 'alice', password: 'hunter2', isHashed: true }),
      401,
      'invalid credentials',
    );
    // A user with a password cannot log in with the empty one.
    await expectError(
      await loginRes(m, { username: 'alice', password: '' }),
      401,
      'invalid credentials',
    );
  });

  it('answers a wrong password and an unknown user with the same 401', async () => {
    const m = master();
    const wrong = await expectError(
      await loginRes(m, { username: 'determined', password: 'nope' }),
      401,
      'invalid credentials',
    );
    const unknown = await expectError(
      await loginRes(m, { username: 'nobody', password: 'nope' }),
      401,
      'invalid credentials',
    );
    expect(unknown).toEqual(wrong);
    expect(wrong.error).toMatchObject({ code: 16, reason: 'Unauthenticated' });
  });

  it('refuses an empty username with 400', async () => {
    const m = master();
    await expectError(await loginRes(m, { username: '' }), 400, 'missing argument: username');
  });

  it('refuses an inactive user with 403', async () => {
    const m = master();
    await createUser(m, 'sleepy', { password: 'pw', active: false });
    const body = await expectError(
      await loginRes(m, { username: 'sleepy', password: 'pw' }),
      403,
      'user is not active',
    );
    expect(body.error.reason).toBe('PermissionDenied');
  });

  it('serves /me with a bearer token and with the auth cookie', async () => {
    const m = master();
    const token = await m.login();
    const bearer = await me(m, token);
    expect(bearer.status).toBe(200);
    const { user } = (await bearer.json()) as { user: UserDto };
    expect(user).toMatchObject({ username: 'determined', admin: false, active: true });
    expect(user.id).toBeGreaterThan(0);

    const cookie = await m.request('GET', '/api/v1/me', {
      headers: { cookie: `theme=dark; auth=${token}` },
    });
    expect(cookie.status).toBe(200);
    expect(((await cookie.json()) as { user: UserDto }).user.id).toBe(user.id);
  });

  it('answers /me without a token, or with a garbage one, with 401', async () => {
    const m = master();
    await expectError(await m.request('GET', '/api/v1/me'), 401, 'token missing');
    await expectError(await me(m, 'garbage'), 401, 'invalid credentials');
    await expectError(
      await m.request('GET', '/api/v1/me', { headers: { authorization: 'Basic Zm9vOmJhcg==' } }),
      401,
      'token missing',
    );
    await expectError(
      await m.request('GET', '/api/v1/me', { headers: { cookie: 'auth=garbage' } }),
      401,
      'invalid credentials',
    );
  });

  it('revokes the token on logout', async () => {
    const m = master();
    const token = await m.login();
    const other = await m.login();
    const res = await m.request('POST', '/api/v1/auth/logout', { token });
    expect(res.status).toBe(200);
    expect(res.headers.get('set-cookie') ?? '').toMatch(/auth=;.*Max-Age=0/);
    await expectError(await me(m, token), 401, 'invalid credentials');
    // Other sessions of the same user survive.
    expect((await me(m, other)).status).toBe(200);
  });

  it('expires a token 7 days after login', async () => {
    const m = master();
    const token = await m.login();
    m.now.ms += 7 * DAY_MS - 1;
    expect((await me(m, token)).status).toBe(200);
    m.now.ms += 1;
    await expectError(await me(m, token), 401, 'session expired');
    // Expired sessions are removed, so moving the clock back does not revive them.
    m.now.ms -= DAY_MS;
    await expectError(await me(m, token), 401, 'invalid credentials');
  });

  it('lets an admin create users; others get 403 and duplicates 409', async () => {
    const m = master();
    const adminToken = await m.login('admin');
    const { user } = await call<{ user: UserDto }>(m, adminToken, 'POST', '/api/v1/users', {
      user: { username: 'bob', admin: false, active: true, displayName: 'Bob' },
      password: 'pw',
      isHashed: false,
    });
    expect(user).toMatchObject({ username: 'bob', admin: false, active: true, displayName: 'Bob' });
    expect(user.id).toBeGreaterThan(2);
    const { user: fetched } = await call<{ user: UserDto }>(
      m,
      adminToken,
      'GET',
      `/api/v1/users/${user.id}`,
    );
    expect(fetched).toEqual(user);
    const { users } = await call<{ users: UserDto[] }>(m, adminToken, 'GET', '/api/v1/users');
    expect(users.map((u) => u.username).sort()).toEqual(['admin', 'bob', 'determined']);

    const userToken = await m.login();
    await expectError(
      await m.request('POST', '/api/v1/users', {
        token: userToken,
        body: { user: { username: 'eve' }, password: '' },
      }),
      403,
      'only admins may create users',
    );
    await expectError(
      await m.request('POST', '/api/v1/users', {
        token: adminToken,
        body: { user: { username: 'bob' }, password: '' },
      }),
      409,
      "user 'bob' already exists",
    );
    const count = await m.deps.db.kysely
      .selectFrom('users')
      .select((eb) => eb.fn.countAll<number>().as('n'))
      .executeTakeFirstOrThrow();
    expect(Number(count.n)).toBe(3);
  });

  it('sets a password from a bare JSON string holding the client hash', async () => {
    const m = master();
    const carol = await createUser(m, 'carol', { password: 'old' });
    const adminToken = await m.login('admin');
    const res = await m.request('POST', `/api/v1/users/${carol.id}/password`, {
      token: adminToken,
      rawBody: JSON.stringify(await clientHashPassword('new password')),
    });
    expect(res.status).toBe(200);
    expect(((await res.json()) as { user: UserDto }).user.username).toBe('carol');
    await expectError(
      await loginRes(m, { username: 'carol', password: 'old' }),
      401,
      'invalid credentials',
    );
    const token = await m.login('carol', 'new password');
    // A user may change their own password, but not someone else's.
    const own = await m.request('POST', `/api/v1/users/${carol.id}/password`, {
      token,
      rawBody: JSON.stringify(await clientHashPassword('third')),
    });
    expect(own.status).toBe(200);
    expect(
      (await loginRes(m, { username: 'carol', password: 'third', isHashed: false })).status,
    ).toBe(200);
    const { user: determined } = (await (await me(m, await m.login())).json()) as {
      user: UserDto;
    };
    await expectError(
      await m.request('POST', `/api/v1/users/${determined.id}/password`, {
        token,
        rawBody: JSON.stringify(await clientHashPassword('pwned')),
      }),
      403,
      "only admins may change other users' passwords",
    );
    expect((await loginRes(m, { username: 'determined', password: '' })).status).toBe(200);
  });

  it('patches display name, flags and password', async () => {
    const m = master();
    const dave = await createUser(m, 'dave', { password: 'pw' });
    const adminToken = await m.login('admin');
    m.now.ms += 1000;
    const { user } = await call<{ user: UserDto }>(
      m,
      adminToken,
      'PATCH',
      `/api/v1/users/${dave.id}`,
      { displayName: 'Dave D', admin: true },
    );
    expect(user).toMatchObject({ id: dave.id, displayName: 'Dave D', admin: true, active: true });
    expect(user.modifiedAt).toBe(new Date(m.now.ms).toISOString());

    const daveToken = await m.login('dave', 'pw');
    await call(m, daveToken, 'PATCH', `/api/v1/users/${dave.id}`, {
      password: 'changed',
      isHashed: false,
    });
    expect((await loginRes(m, { username: 'dave', password: 'changed' })).status).toBe(200);

    // Deactivating a user ends its sessions too.
    await call(m, adminToken, 'PATCH', `/api/v1/users/${dave.id}`, { active: false });
    await expectError(await me(m, daveToken), 401, 'user is not active');

    const userToken = await m.login();
    await expectError(
      await m.request('PATCH', `/api/v1/users/${dave.id}`, {
        token: userToken,
        body: { displayName: 'hacked' },
      }),
      403,
      'only admins may change other users',
    );
    const { user: after } = await call<{ user: UserDto }>(
      m,
      adminToken,
      'GET',
      `/api/v1/users/${dave.id}`,
    );
    expect(after.displayName).toBe('Dave D');
  });

  it('stores neither passwords nor tokens in plain text', async () => {
    const m = master();
    await createUser(m, 'erin', { password: 'secret' });
    const clientHash = await clientHashPassword('secret');
    const token = await m.login('erin', 'secret');
    const db = m.deps.db.kysely;
    const row = await db
      .selectFrom('users')
      .select('password_hash')
      .where('username', '=', 'erin')
      .executeTakeFirstOrThrow();
    expect(row.password_hash).not.toBeNull();
    expect(row.password_hash).not.toContain(clientHash);
    expect(row.password_hash).not.toContain('secret');
    expect(row.password_hash).toMatch(/^scrypt\$/);
    // Two users with the same password get different stored hashes (salted).
    await createUser(m, 'frank', { password: 'secret' });
    const frank = await db
      .selectFrom('users')
      .select('password_hash')
      .where('username', '=', 'frank')
      .executeTakeFirstOrThrow();
    expect(frank.password_hash).not.toBe(row.password_hash);

    const sessions = await db.selectFrom('sessions').select('token_hash').execute();
    expect(sessions.length).toBeGreaterThan(0);
    for (const s of sessions) {
      expect(s.token_hash).not.toContain(token);
      expect(token).not.toContain(s.token_hash);
    }
  });
});
