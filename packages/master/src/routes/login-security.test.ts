import { afterEach, beforeEach, describe, expect, it } from 'vitest';

import { expectError } from '../../test/expect-error.js';
import { openTestMaster, testDialects } from '../../test/helpers.js';
import type { TestMaster } from '../../test/helpers.js';
import { fetchOver, listen } from '../../test/over-http.js';
import { TrustedProxies } from '../trusted-proxies.js';

async function login(m: TestMaster, username: string, password = ''): Promise<Response> {
  return m.request('POST', '/api/v1/auth/login', { body: { username, password } });
}

for (const dialect of testDialects()) {
  describe(`login throttling and cross-site checks [${dialect}]`, () => {
    let m: TestMaster;
    let close: () => Promise<void>;
    beforeEach(async () => {
      ({ master: m, close } = await openTestMaster(dialect));
    });
    afterEach(async () => {
      await close();
    });

    it('backs off a user name after 5 failures, doubling, and forgets on success', async () => {
      for (let i = 0; i < 6; i++) {
        await expectError(await login(m, 'admin', 'wrong'), 401, 'invalid credentials');
      }
      // Blocked before any password check: the right password does not help.
      const blocked = await login(m, 'admin');
      await expectError(blocked, 429, 'too many failed logins');
      expect(blocked.headers.get('retry-after')).toBe('1');
      // Other user names are not blocked by this one's failures.
      expect((await login(m, 'determined')).status).toBe(200);
      m.now.ms += 1000;
      await expectError(await login(m, 'admin', 'wrong'), 401, 'invalid credentials');
      const longer = await login(m, 'admin');
      await expectError(longer, 429, 'retry in 2 s');
      expect(longer.headers.get('retry-after')).toBe('2');
      m.now.ms += 2000;
      expect((await login(m, 'admin')).status).toBe(200);
      // The success cleared the count: five more failures are free again.
      for (let i = 0; i < 5; i++) {
        await expectError(await login(m, 'admin', 'wrong'), 401, 'invalid credentials');
      }
      expect((await login(m, 'admin')).status).toBe(200);
    });

    it('throttles user names that do not exist the same way', async () => {
      for (let i = 0; i < 6; i++) {
        await expectError(await login(m, 'ghost', 'x'), 401, 'invalid credentials');
      }
      await expectError(await login(m, 'ghost', 'x'), 429, 'too many failed logins');
    });

    it('backs off an address after 20 failures over any user names', async () => {
      const served = await listen(m.deps);
      try {
        const attempt = async (username: string): Promise<number> => {
          const res = await fetch(`${served.url}/api/v1/auth/login`, {
            method: 'POST',
            body: JSON.stringify({ username, password: 'wrong' }),
          });
          await res.arrayBuffer();
          return res.status;
        };
        for (let i = 0; i < 21; i++) {
          expect(await attempt(`guess-${i}`)).toBe(401);
        }
        // A name never tried before, from the same address.
        expect(await attempt('fresh-name')).toBe(429);
        m.now.ms += 1000;
        expect(await attempt('fresh-name')).toBe(401);
      } finally {
        await served.close();
      }
    });

    it('behind a trusted proxy counts the client X-Forwarded-For names, and believes no one else', async () => {
      const served = await listen(m.deps);
      const attempt = async (forwardedFor: string): Promise<number> => {
        const res = await fetch(`${served.url}/api/v1/auth/login`, {
          method: 'POST',
          headers: { 'x-forwarded-for': forwardedFor },
          body: JSON.stringify({
            username: `guess-${forwardedFor}-${Math.random()}`,
            password: 'x',
          }),
        });
        await res.arrayBuffer();
        return res.status;
      };
      try {
        // Untrusted peer: its X-Forwarded-For is whatever it wrote, so its own address counts.
        for (let i = 0; i < 21; i++) {
          expect(await attempt(`198.51.100.${i}`)).toBe(401);
        }
        expect(await attempt('198.51.100.99')).toBe(429);
        m.now.ms += 60 * 60 * 1000;

        // Loopback is the balancer now: one guesser is throttled, another client is not.
        m.deps.settings.trustedProxies = new TrustedProxies(['127.0.0.0/8', '::1']);
        for (let i = 0; i < 21; i++) {
          expect(await attempt('203.0.113.7')).toBe(401);
        }
        expect(await attempt('203.0.113.7')).toBe(429);
        // What a client writes left of the address the balancer appended does not help it.
        expect(await attempt('10.9.9.9, 203.0.113.7')).toBe(429);
        expect(await attempt('203.0.113.8')).toBe(401);
      } finally {
        await served.close();
      }
    });

    it('sets the session cookie HttpOnly and SameSite=Lax', async () => {
      const res = await login(m, 'determined');
      expect(res.headers.get('set-cookie')).toMatch(/^auth=dts1\.[\w-]+; .*HttpOnly; SameSite=Lax/);
    });

    it('refuses state changes authenticated by the cookie unless they come from our origin', async () => {
      const served = await listen(m.deps);
      try {
        const res = await login(m, 'determined');
        const { token, user } = (await res.json()) as { token: string; user: { id: number } };
        const host = new URL(served.url).host;
        const patch = (headers: Record<string, string>): ReturnType<typeof fetchOver> =>
          fetchOver(`${served.url}/api/v1/users/${user.id}`, headers, { method: 'PATCH' });
        const cookie = { cookie: `auth=${token}` };
        const refused: [Record<string, string>, string][] = [
          [{ 'sec-fetch-site': 'cross-site' }, 'refused a cross-site PATCH request'],
          // Another port of the same host is same-site, which SameSite=Lax lets through.
          [{ 'sec-fetch-site': 'same-site' }, 'refused a same-site PATCH request'],
          [{ origin: 'http://evil.example' }, 'from origin http://evil.example'],
          [{ origin: 'null' }, 'from origin null'],
          [{}, 'send the token as Authorization: Bearer'],
        ];
        for (const [headers, fragment] of refused) {
          const got = await patch({ ...cookie, ...headers });
          expect(got.status, JSON.stringify(headers)).toBe(403);
          expect((JSON.parse(got.body.toString()) as { message: string }).message).toContain(
            fragment,
          );
        }
        expect((await patch({ ...cookie, 'sec-fetch-site': 'same-origin' })).status).toBe(200);
        expect((await patch({ ...cookie, origin: `http://${host}` })).status).toBe(200);
        // Reads stay open to the cookie from anywhere (a link to an archive, say).
        const read = await fetchOver(`${served.url}/api/v1/me`, {
          ...cookie,
          'sec-fetch-site': 'cross-site',
        });
        expect(read.status).toBe(200);
        // Bearer tokens are not sent by browsers on their own: no check.
        expect(
          (await patch({ authorization: `Bearer ${token}`, origin: 'http://evil.example' })).status,
        ).toBe(200);
        // A login from another site's page is refused (it would sign the browser in as the
        // attacker); one with no browser headers is a script's and passes.
        await expectError(
          await m.request('POST', '/api/v1/auth/login', {
            body: { username: 'determined' },
            headers: { 'sec-fetch-site': 'cross-site' },
          }),
          403,
          'refused a cross-site POST request',
        );
      } finally {
        await served.close();
      }
    });
  });
}
