import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { createServer } from 'node:https';
import type { Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

import { clientHashPassword } from '@determined-ts/api';
import { getRequestListener } from '@hono/node-server';

import type { FetchLike } from '../src/client.js';
import { memoryDb, testMasterApp } from './master-app.js';

/*
 * Helpers for the auth tests (src/auth/*.test.ts): the real master in-process, with every request
 * recorded (method, path, login username, bearer token), a temp config dir for Determined's
 * token cache, and the same master behind HTTPS with a certificate made by `openssl` at test time.
 */

/** One request the SDK sent. */
export interface SeenRequest {
  method: string;
  path: string;
  /** The bearer token, if any. */
  token: string | undefined;
  /** For logins: the username asked for, and the password as sent. */
  login?: { username: string; password: string; isHashed: boolean };
}

/** The real master's app on SQLite in memory. */
export interface AuthMaster {
  /** The canonical URL the SDK resolves for it. */
  baseUrl: string;
  /** Reaches the app in-process and records each request. */
  fetch: FetchLike;
  requests: SeenRequest[];
  /** `app.fetch`, unrecorded, for servers that front the app. */
  appFetch: (request: Request) => Response | Promise<Response>;
  /** Creates a user (as admin) with a password. */
  createUser(username: string, password: string): Promise<void>;
  /** Sets an existing user's password (as admin). */
  setPassword(username: string, password: string): Promise<void>;
  /** Logs in directly (not through the SDK) and returns the token. */
  login(username: string, password: string): Promise<string>;
  /** Revokes a token, as `det user logout` does. */
  logout(token: string): Promise<void>;
  logins(): SeenRequest[];
  close(): Promise<void>;
}

export async function startAuthMaster(baseUrl = 'http://master.test:8080'): Promise<AuthMaster> {
  const db = await memoryDb();
  const app = testMasterApp(db, tmpdir(), { maxBodyBytes: 1024 * 1024 });
  const appFetch = (request: Request): Response | Promise<Response> => app.fetch(request);
  const requests: SeenRequest[] = [];
  const fetch: FetchLike = (input, init) => {
    const url = new URL(input);
    const auth = new Headers(init?.headers).get('authorization') ?? undefined;
    const seen: SeenRequest = {
      method: init?.method ?? 'GET',
      path: url.pathname,
      token: auth?.replace(/^Bearer /, ''),
    };
    if (url.pathname === '/api/v1/auth/login' && typeof init?.body === 'string') {
      seen.login = JSON.parse(init.body) as SeenRequest['login'];
    }
    requests.push(seen);
    return Promise.resolve(appFetch(new Request(input, init)));
  };
  const call = async (
    path: string,
    body: unknown,
    token?: string,
    method = 'POST',
  ): Promise<unknown> => {
    const headers: Record<string, string> = { 'content-type': 'application/json' };
    if (token !== undefined) {
      headers.authorization = `Bearer ${token}`;
    }
    const res = await appFetch(
      new Request(`${baseUrl}${path}`, {
        method,
        headers,
        body: method === 'GET' ? undefined : JSON.stringify(body),
      }),
    );
    if (!res.ok) {
      throw new Error(`${path}: ${res.status} ${await res.text()}`);
    }
    return res.json();
  };
  const login = async (username: string, password: string): Promise<string> => {
    const res = (await call('/api/v1/auth/login', {
      username,
      password: await clientHashPassword(password),
      isHashed: true,
    })) as { token: string };
    return res.token;
  };
  return {
    baseUrl,
    fetch,
    requests,
    appFetch,
    login,
    async createUser(username, password) {
      const admin = await login('admin', '');
      await call(
        '/api/v1/users',
        { user: { username }, password: await clientHashPassword(password), isHashed: true },
        admin,
      );
    },
    async setPassword(username, password) {
      const admin = await login('admin', '');
      const { users } = (await call('/api/v1/users', undefined, admin, 'GET')) as {
        users: { id: number; username: string }[];
      };
      const user = users.find((u) => u.username === username);
      if (user === undefined) {
        throw new Error(`no user ${username}`);
      }
      await call(
        `/api/v1/users/${user.id}`,
        { password: await clientHashPassword(password), isHashed: true },
        admin,
        'PATCH',
      );
    },
    async logout(token) {
      await call('/api/v1/auth/logout', {}, token);
    },
    logins: () => requests.filter((r) => r.login !== undefined),
    close: () => db.close(),
  };
}

/** A temporary directory, removed by `cleanup`. */
export async function tempDir(): Promise<{ path: string; cleanup: () => Promise<void> }> {
  const path = await mkdtemp(join(tmpdir(), 'det-auth-test-'));
  return { path, cleanup: () => rm(path, { recursive: true, force: true }) };
}

/** A self-signed certificate for the DNS name `name` only, made by the openssl CLI. */
export async function selfSignedCert(
  dir: string,
  name: string,
): Promise<{ keyPem: string; certPem: string; certPath: string }> {
  const keyPath = join(dir, `${name}.key.pem`);
  const certPath = join(dir, `${name}.cert.pem`);
  await promisify(execFile)('openssl', [
    'req',
    '-x509',
    '-newkey',
    'ec',
    '-pkeyopt',
    'ec_paramgen_curve:prime256v1',
    '-nodes',
    '-days',
    '1',
    '-subj',
    `/CN=${name}`,
    '-addext',
    `subjectAltName=DNS:${name}`,
    '-keyout',
    keyPath,
    '-out',
    certPath,
  ]);
  return {
    keyPem: await readFile(keyPath, 'utf8'),
    certPem: await readFile(certPath, 'utf8'),
    certPath,
  };
}

/** `app` served over HTTPS on 127.0.0.1 with the given key and certificate. */
export async function serveHttps(
  appFetch: (request: Request) => Response | Promise<Response>,
  tls: { keyPem: string; certPem: string },
): Promise<{ port: number; close: () => Promise<void> }> {
  const listener = getRequestListener((request) => appFetch(request));
  const server: Server = createServer({ key: tls.keyPem, cert: tls.certPem }, (req, res) => {
    void listener(req, res);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    port,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
