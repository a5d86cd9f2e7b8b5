import type { LoginRequest } from '@determined-ts/api';
import { clientHashPassword } from '@determined-ts/api';

import type { Client } from '../client.js';
import { decodeLoginResponse, decodeUserResponse } from '../decode-responses.js';
import type { UserData } from '../models.js';

/**
 * Signs in with a password (salted and hashed here, as Determined's clients do). The master
 * answers with a session token and also sets its `auth` cookie, which is what a browser on the
 * master's own origin uses; other callers pass `token` to `client.withToken`. A wrong password
 * is an `ApiError` with code `unauthenticated`.
 */
export async function login(
  client: Client,
  username: string,
  password: string,
  options: { signal?: AbortSignal } = {},
): Promise<{ token: string; user: UserData }> {
  // Browsers give `crypto.subtle` only to secure contexts (https, localhost); a UI served over
  // plain http on a LAN address sends the password for the master to hash, as Determined allows.
  const canHash = globalThis.crypto?.subtle !== undefined;
  const body: LoginRequest = canHash
    ? { username, password: await clientHashPassword(password), isHashed: true }
    : { username, password, isHashed: false };
  return client.request('POST', '/api/v1/auth/login', {
    body,
    signal: options.signal,
    decode: decodeLoginResponse,
  });
}

/** Ends the session (the client's token, or the browser's cookie) on the master. */
export async function logout(
  client: Client,
  options: { signal?: AbortSignal } = {},
): Promise<void> {
  await client.request('POST', '/api/v1/auth/logout', { signal: options.signal });
}

/** The signed-in user; without a valid session an `ApiError` with code `unauthenticated`. */
export async function getCurrentUser(
  client: Client,
  options: { signal?: AbortSignal } = {},
): Promise<UserData> {
  return client.request('GET', '/api/v1/me', {
    signal: options.signal,
    decode: decodeUserResponse,
  });
}
