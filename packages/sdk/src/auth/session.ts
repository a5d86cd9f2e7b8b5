import { clientHashPassword } from '@determined-ts/api';
import type { LoginResponse } from '@determined-ts/api';

import { createClient } from '../client.js';
import type { Client, FetchLike, RetryPolicy } from '../client.js';
import { ApiError, AuthenticationError } from '../errors.js';
import { resolveMasterUrl } from './master-url.js';

/** How to reach and sign in to a master. */
export interface SessionOptions {
  /** Master address; else `DET_MASTER`, `DET_MASTER_ADDR`, then `localhost:8080`. */
  master?: string;
  /** @default 'determined' */
  user?: string;
  /** Plain password; hashed before it leaves the process. @default '' */
  password?: string;
  /**
   * `false` reuses an existing session and never logs in (nor goes anonymous).
   * @default true
   */
  attemptAuth?: boolean;
  /** Environment to read `DET_*` settings from. @default process.env */
  env?: Record<string, string | undefined>;
  fetch?: FetchLike;
  retry?: Partial<RetryPolicy>;
  signal?: AbortSignal;
}

/**
 * Opens a signed-in client for a master.
 * TODO(#3): the token cache shared with Determined's CLI, DET_USER/DET_PASS, certificates.
 */
export async function openSession(options: SessionOptions = {}): Promise<Client> {
  const env = options.env ?? process.env;
  const baseUrl = resolveMasterUrl(options.master, env);
  const anonymous = createClient({ baseUrl, fetch: options.fetch, retry: options.retry });
  if (options.attemptAuth === false) {
    throw new AuthenticationError(`no session for ${baseUrl}; log in first (attemptAuth is false)`);
  }
  const username = options.user ?? 'determined';
  try {
    const res = await anonymous.request<LoginResponse>('POST', '/api/v1/auth/login', {
      body: {
        username,
        password: await clientHashPassword(options.password ?? ''),
        isHashed: true,
      },
      signal: options.signal,
    });
    return anonymous.withToken(res.token);
  } catch (err: unknown) {
    if (err instanceof ApiError && (err.status === 401 || err.status === 403)) {
      throw new AuthenticationError(`cannot log in to ${baseUrl} as ${username}: ${err.message}`, {
        cause: err,
      });
    }
    throw err;
  }
}
