import { randomBytes } from 'node:crypto';

import type { TokenScope, UserDto } from '@determined-ts/api';
import { clientHashPassword, encodeTimestamp } from '@determined-ts/api';

import { hashPassword, verifyPassword } from '../auth/passwords.js';
import { lookUpSession } from '../auth/session-lookup.js';
import type { LoginThrottle } from '../auth/login-throttle.js';
import { newToken, tokenDigest, tokenKind } from '../auth/tokens.js';
import type { AppDeps, AuthUser } from '../context.js';
import type { UserRow } from '../db/schema.js';
import { HttpError, badRequest, forbidden, notFound, unauthenticated } from '../errors.js';

export function toUserDto(row: UserRow): UserDto {
  return {
    id: row.id,
    username: row.username,
    admin: row.admin === 1,
    active: row.active === 1,
    displayName: row.display_name,
    agentUserGroup: null,
    remote: false,
    modifiedAt: encodeTimestamp(new Date(row.modified_at)),
    ...(row.last_auth_at === null
      ? {}
      : { lastAuthAt: encodeTimestamp(new Date(row.last_auth_at)) }),
  };
}

/** The stored form of a password given as sent by a client; `null` for the empty password. */
async function storedPassword(password: string, isHashed: boolean): Promise<string | null> {
  const clientHash = isHashed ? password : await clientHashPassword(password);
  return clientHash === '' ? null : hashPassword(clientHash);
}

let dummyHash: Promise<string> | undefined;

/**
 * A stored hash no client hash matches. Checking against it when a user has no stored hash (or
 * does not exist) makes every login cost one scrypt, so timing does not tell them apart.
 */
function hashOfNothing(): Promise<string> {
  dummyHash ??= hashPassword(randomBytes(32).toString('base64'));
  return dummyHash;
}

/** Who is logging in, from where, for throttling and the log. */
export interface LoginAttempt {
  username: string;
  password: string;
  isHashed: boolean;
  address: string;
}

/**
 * Checks credentials and opens a session. Unknown user and wrong password get the same 401
 * after the same work; repeated failures are throttled per user name and per address (429).
 */
export async function login(
  deps: AppDeps,
  throttle: LoginThrottle,
  req: LoginAttempt,
): Promise<{ token: string; user: UserDto }> {
  if (req.username === '') {
    throw badRequest('missing argument: username');
  }
  const wait = throttle.retryAfterMs(req.username, req.address);
  if (wait > 0) {
    deps.logger.info('login refused: too many failures', {
      username: req.username,
      address: req.address,
    });
    throw new HttpError(
      'too_many_requests',
      `too many failed logins for this user or address; retry in ${Math.ceil(wait / 1000)} s`,
      { details: { retryAfterSeconds: Math.ceil(wait / 1000) } },
    );
  }
  const db = deps.db.kysely;
  const user = await db
    .selectFrom('users')
    .selectAll()
    .where('username', '=', req.username)
    .executeTakeFirst();
  const clientHash = req.isHashed ? req.password : await clientHashPassword(req.password);
  const stored = user?.password_hash ?? null;
  const matches = await verifyPassword(clientHash, stored ?? (await hashOfNothing()));
  const ok =
    stored === null ? user !== undefined && clientHash === '' : clientHash !== '' && matches;
  if (user === undefined || !ok) {
    throttle.failed(req.username, req.address);
    deps.logger.info('login failed', { username: req.username, address: req.address });
    throw unauthenticated();
  }
  throttle.succeeded(req.username);
  if (user.active !== 1) {
    throw forbidden('user is not active');
  }
  const now = deps.clock();
  const token = newToken();
  await db.transaction().execute(async (trx) => {
    await trx
      .insertInto('sessions')
      .values({
        user_id: user.id,
        token_hash: tokenDigest(token),
        created_at: now,
        expires_at: now + deps.settings.sessionTtlMs,
      })
      .execute();
    await trx.updateTable('users').set({ last_auth_at: now }).where('id', '=', user.id).execute();
  });
  return { token, user: toUserDto({ ...user, last_auth_at: now }) };
}

/**
 * Resolves a bearer token (a login session's or an access token's) to its user, or throws 401.
 * Expired sessions are removed; expired and revoked access tokens stay, for listing.
 */
export async function authenticate(deps: AppDeps, token: string): Promise<AuthUser> {
  return tokenKind(token) === 'access'
    ? authenticateAccessToken(deps, token)
    : authenticateSession(deps, token);
}

async function authenticateSession(deps: AppDeps, token: string): Promise<AuthUser> {
  const db = deps.db.kysely;
  const row = await lookUpSession(deps.db, tokenDigest(token));
  if (row === undefined) {
    throw unauthenticated();
  }
  if (row.expires_at <= deps.clock()) {
    await db.deleteFrom('sessions').where('id', '=', row.session_id).execute();
    throw unauthenticated('session expired');
  }
  if (row.active !== 1) {
    throw unauthenticated('user is not active');
  }
  return { id: row.id, username: row.username, admin: row.admin === 1, scope: 'full' };
}

async function authenticateAccessToken(deps: AppDeps, token: string): Promise<AuthUser> {
  const row = await deps.db.kysely
    .selectFrom('access_tokens')
    .innerJoin('users', 'users.id', 'access_tokens.user_id')
    .select([
      'access_tokens.id as token_id',
      'access_tokens.expires_at',
      'access_tokens.revoked_at',
      'access_tokens.scope',
      'users.id',
      'users.username',
      'users.admin',
      'users.active',
    ])
    .where('access_tokens.token_hash', '=', tokenDigest(token))
    .executeTakeFirst();
  if (row === undefined) {
    throw unauthenticated();
  }
  if (row.revoked_at !== null) {
    throw unauthenticated(`access token ${row.token_id} was revoked`);
  }
  if (row.expires_at <= deps.clock()) {
    throw unauthenticated(`access token ${row.token_id} expired`);
  }
  if (row.active !== 1) {
    throw unauthenticated('user is not active');
  }
  return {
    id: row.id,
    username: row.username,
    admin: row.admin === 1,
    scope: row.scope as TokenScope,
    accessTokenId: row.token_id,
  };
}

/** Revokes the session behind `token` (an access token is revoked through its own route). */
export async function logout(deps: AppDeps, token: string): Promise<void> {
  await deps.db.kysely
    .deleteFrom('sessions')
    .where('token_hash', '=', tokenDigest(token))
    .execute();
}

export async function getUser(deps: AppDeps, id: number): Promise<UserRow> {
  const row = await deps.db.kysely
    .selectFrom('users')
    .selectAll()
    .where('id', '=', id)
    .executeTakeFirst();
  if (row === undefined) {
    throw notFound('user', id);
  }
  return row;
}

export async function getUserByName(deps: AppDeps, username: string): Promise<UserRow> {
  const row = await deps.db.kysely
    .selectFrom('users')
    .selectAll()
    .where('username', '=', username)
    .executeTakeFirst();
  if (row === undefined) {
    throw notFound('user', username);
  }
  return row;
}

export async function listUsers(deps: AppDeps): Promise<UserRow[]> {
  return deps.db.kysely.selectFrom('users').selectAll().orderBy('id').execute();
}

function requireAdmin(actor: AuthUser, action: string): void {
  if (!actor.admin) {
    throw forbidden(`only admins may ${action}`);
  }
}

export async function createUser(
  deps: AppDeps,
  actor: AuthUser,
  req: {
    username: string;
    displayName: string;
    admin: boolean;
    active: boolean;
    password: string;
    isHashed: boolean;
  },
): Promise<UserRow> {
  requireAdmin(actor, 'create users');
  if (!/^[A-Za-z0-9_.@-]{1,128}$/.test(req.username)) {
    throw badRequest(
      `invalid username '${req.username}': use 1-128 letters, digits, '_', '.', '@' or '-'`,
    );
  }
  const db = deps.db.kysely;
  const existing = await db
    .selectFrom('users')
    .select('id')
    .where('username', '=', req.username)
    .executeTakeFirst();
  if (existing !== undefined) {
    throw new HttpError('already_exists', `user '${req.username}' already exists`);
  }
  const row = await db
    .insertInto('users')
    .values({
      username: req.username,
      display_name: req.displayName,
      admin: req.admin ? 1 : 0,
      active: req.active ? 1 : 0,
      password_hash: await storedPassword(req.password, req.isHashed),
      modified_at: deps.clock(),
      last_auth_at: null,
    })
    .returningAll()
    .executeTakeFirstOrThrow();
  return row;
}

/**
 * Sets a user's password. Users may change their own; admins anyone's. The password arrives
 * client-hashed unless `isHashed` is false.
 */
export async function setPassword(
  deps: AppDeps,
  actor: AuthUser,
  userId: number,
  password: string,
  isHashed: boolean,
): Promise<UserRow> {
  if (actor.id !== userId) {
    requireAdmin(actor, "change other users' passwords");
  }
  await getUser(deps, userId);
  const db = deps.db.kysely;
  const hash = await storedPassword(password, isHashed);
  await db
    .updateTable('users')
    .set({ password_hash: hash, modified_at: deps.clock() })
    .where('id', '=', userId)
    .execute();
  return getUser(deps, userId);
}

/** Patches a user's display name, admin or active flags (admins only) or password. */
export async function patchUser(
  deps: AppDeps,
  actor: AuthUser,
  userId: number,
  patch: {
    displayName?: string;
    admin?: boolean;
    active?: boolean;
    password?: string;
    isHashed?: boolean;
  },
): Promise<UserRow> {
  if (patch.admin !== undefined || patch.active !== undefined || actor.id !== userId) {
    requireAdmin(actor, 'change other users or the admin and active flags');
  }
  await getUser(deps, userId);
  if (patch.password !== undefined) {
    await setPassword(deps, actor, userId, patch.password, patch.isHashed ?? false);
  }
  const set: { display_name?: string; admin?: number; active?: number; modified_at: number } = {
    modified_at: deps.clock(),
  };
  if (patch.displayName !== undefined) {
    set.display_name = patch.displayName;
  }
  if (patch.admin !== undefined) {
    set.admin = patch.admin ? 1 : 0;
  }
  if (patch.active !== undefined) {
    set.active = patch.active ? 1 : 0;
  }
  await deps.db.kysely.updateTable('users').set(set).where('id', '=', userId).execute();
  return getUser(deps, userId);
}
