import { ROUTES } from '@determined-ts/api';

import { login as passwordLogin } from '../api/users.js';
import { createClient } from '../client.js';
import type { Client, FetchLike, RetryPolicy } from '../client.js';
import { ApiError, AuthenticationError } from '../errors.js';
import { isDefaultCert, loadMasterCert } from './certs.js';
import { determinedConfigDir } from './config-path.js';
import { resolveMasterUrl } from './master-url.js';
import { createTlsTransport } from './tls-fetch.js';
import type { TlsTransport } from './tls-fetch.js';
import { TokenStore } from './token-store.js';

/** How to reach and sign in to a master. */
export interface SessionOptions {
  /** Master address; else `DET_MASTER`, `DET_MASTER_ADDR`, then `localhost:8080`. */
  master?: string;
  /**
   * User to sign in as; else `DET_USER` (when `DET_PASS` is set too), else the user
   * `det user login` made active for this master, else `determined`.
   */
  user?: string;
  /**
   * Plain password; hashed before it leaves the process. Only used when no cached token is
   * valid. Where Determined would prompt for it, the empty password is tried.
   * @default ''
   */
  password?: string;
  /**
   * `false` reuses an existing session (a valid cached token, or `DET_USER` + `DET_USER_TOKEN`)
   * and never logs in, nor goes anonymous: without one it throws {@link AuthenticationError}.
   * @default true
   */
  attemptAuth?: boolean;
  /**
   * A PEM file to trust for an `https://` master, on top of the default CAs. Any of `certPath`,
   * `certName` and `noverify` overrides `DET_MASTER_CERT_FILE`, `DET_MASTER_CERT_NAME` and
   * Determined's `certs.json`.
   */
  certPath?: string;
  /** The name the master's certificate must carry, when it is not the URL's host. */
  certName?: string;
  /** Do not verify the master's certificate. @default false */
  noverify?: boolean;
  /**
   * Environment to read `DET_*` settings (and the config directory: `DET_DEBUG_CONFIG_PATH`,
   * `XDG_CONFIG_HOME`, `HOME`) from.
   * @default process.env
   */
  env?: Record<string, string | undefined>;
  /** Transport for every request; when given, the certificate settings are not applied. */
  fetch?: FetchLike;
  retry?: Partial<RetryPolicy>;
  signal?: AbortSignal;
}

/**
 * Opens a signed-in client for a master, as Determined's `login_with_cache` does
 * (determined-ai/determined: harness/determined/common/api/authentication.py):
 * 1. pick the user and password (see {@link SessionOptions.user});
 * 2. reuse that user's token from Determined's token cache (`auth.json`, shared with `det`) if
 *    `GET /api/v1/me` accepts it; a token the master rejects (401, 404, any other error status)
 *    is dropped from the cache, while a 403 or a network failure is thrown;
 * 3. else use `DET_USER_TOKEN` when `DET_USER` is set and no other user was asked for;
 * 4. else log in (unless `attemptAuth` is false) and cache the token (the active user is left
 *    alone; `det user login` sets it).
 *
 * Throws {@link AuthenticationError} when the master refuses the credentials, when there is no
 * session and `attemptAuth` is false, and when the token cache was corrupt (it is then deleted,
 * as Determined does; retrying starts afresh).
 *
 * @example
 * const client = await openSession({ master: 'https://det.example.com', user: 'alice' });
 * const { user } = await client.request<{ user: { username: string } }>('GET', '/api/v1/me');
 */
export async function openSession(options: SessionOptions = {}): Promise<Client> {
  const env = options.env ?? process.env;
  const baseUrl = resolveMasterUrl(options.master, env);
  const configDir = determinedConfigDir(env);
  const transport =
    options.fetch === undefined
      ? await tlsTransport(baseUrl, options, env, configDir)
      : { fetch: options.fetch };
  const anonymous = createClient({ baseUrl, ...transport, retry: options.retry });
  const signal = options.signal;

  const store = await TokenStore.open(baseUrl, configDir);
  const { user, password, isFallback } = resolveCredentials(options, env, store.activeUser);

  const cached = store.getToken(user);
  if (cached !== undefined) {
    const client = anonymous.withToken(cached);
    if (await isTokenValid(client, signal)) {
      return client;
    }
    await store.dropUser(user);
  }

  const envToken = containerToken(options.user, env);
  if (envToken !== undefined) {
    return anonymous.withToken(envToken);
  }

  if (options.attemptAuth === false) {
    throw new AuthenticationError(
      `no session for ${user} on ${baseUrl} and attemptAuth is false: log in first ` +
        `(det -m ${baseUrl} user login ${user})`,
    );
  }
  const token = await login(anonymous, user, password, isFallback, signal);
  await store.setToken(user, token);
  return anonymous.withToken(token);
}

/** The user and password a session is opened with (Determined's `default_load_user_password`). */
export interface Credentials {
  user: string;
  password: string;
  /** Nobody named a user: the default `determined` was picked. */
  isFallback: boolean;
}

/**
 * Picks the user: explicit `user` (with `password`); else `DET_USER` and `DET_PASS` when both
 * are set (containers set `DET_USER` alone, which must not override `det user login`); else the
 * token cache's active user (with `password`); else `determined` (with `password`, default '').
 */
export function resolveCredentials(
  options: Pick<SessionOptions, 'user' | 'password'>,
  env: Record<string, string | undefined>,
  activeUser: string | undefined,
): Credentials {
  const password = options.password ?? '';
  if (options.user !== undefined && options.user !== '') {
    return { user: options.user, password, isFallback: false };
  }
  if (env.DET_USER !== undefined && env.DET_PASS !== undefined) {
    return { user: env.DET_USER, password: env.DET_PASS, isFallback: false };
  }
  if (activeUser !== undefined) {
    return { user: activeUser, password, isFallback: false };
  }
  return { user: 'determined', password, isFallback: true };
}

/** `DET_USER_TOKEN`, when `DET_USER` is set and names the requested user (or none was asked). */
function containerToken(
  requestedUser: string | undefined,
  env: Record<string, string | undefined>,
): string | undefined {
  const envUser = env.DET_USER;
  const envToken = env.DET_USER_TOKEN;
  if (envUser === undefined || envUser === '' || envToken === undefined || envToken === '') {
    return undefined;
  }
  const requested = requestedUser === '' ? undefined : requestedUser;
  return requested === undefined || requested === envUser ? envToken : undefined;
}

/** Whether the master accepts `client`'s token; a 403 and network failures are thrown. */
async function isTokenValid(client: Client, signal: AbortSignal | undefined): Promise<boolean> {
  try {
    await client.request('GET', ROUTES.me, { signal });
    return true;
  } catch (err: unknown) {
    if (err instanceof ApiError && err.status !== 403) {
      return false;
    }
    throw err;
  }
}

async function login(
  anonymous: Client,
  user: string,
  password: string,
  isFallback: boolean,
  signal: AbortSignal | undefined,
): Promise<string> {
  try {
    return (await passwordLogin(anonymous, user, password, { signal })).token;
  } catch (err: unknown) {
    if (err instanceof ApiError && (err.status === 401 || err.status === 403)) {
      const hint = isFallback
        ? ' (no user was given: pass one, set DET_USER and DET_PASS, or run `det user login`)'
        : '';
      throw new AuthenticationError(
        `cannot log in to ${anonymous.baseUrl} as ${user}: ${err.message}${hint}`,
        { cause: err },
      );
    }
    throw err;
  }
}

/** A transport applying the certificate settings, or none when the default one will do. */
async function tlsTransport(
  baseUrl: string,
  options: SessionOptions,
  env: Record<string, string | undefined>,
  configDir: string,
): Promise<TlsTransport | undefined> {
  if (!baseUrl.startsWith('https://')) {
    return undefined;
  }
  const cert = await loadMasterCert(baseUrl, options, env, configDir);
  return isDefaultCert(cert) ? undefined : createTlsTransport(cert);
}
