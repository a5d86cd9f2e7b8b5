import type { Pagination, TokenInfoDto, TokenScope } from '@determined-ts/api';
import { TOKEN_SCOPES, encodeTimestamp } from '@determined-ts/api';

import { parseGoDuration } from '../auth/go-duration.js';
import { newToken, tokenDigest } from '../auth/tokens.js';
import type { AppDeps, AuthUser } from '../context.js';
import type { AccessTokenRow } from '../db/schema.js';
import { HttpError, badRequest, forbidden, notFound } from '../errors.js';
import { paginate } from './checkpoint-list.js';
import { getUser, getUserByName } from './users.js';

const DAY_MS = 24 * 60 * 60 * 1000;
/** Determined's default lifespan. */
export const DEFAULT_TOKEN_LIFESPAN_MS = 30 * DAY_MS;
/** The longest a token may live, and what `lifespan: "-1"` asks for. */
export const MAX_TOKEN_LIFESPAN_MS = 365 * DAY_MS;

export function toTokenInfo(row: AccessTokenRow): TokenInfoDto {
  return {
    id: row.id,
    userId: row.user_id,
    expiry: encodeTimestamp(new Date(row.expires_at)),
    createdAt: encodeTimestamp(new Date(row.created_at)),
    tokenType: 'TOKEN_TYPE_ACCESS_TOKEN',
    revoked: row.revoked_at !== null,
    description: row.description,
    scope: row.scope as TokenScope,
  };
}

/** The token's lifespan in milliseconds from Determined's `lifespan` field. */
function lifespanMs(lifespan: string | undefined): number {
  if (lifespan === undefined || lifespan === '') {
    return DEFAULT_TOKEN_LIFESPAN_MS;
  }
  if (lifespan === '-1') {
    return MAX_TOKEN_LIFESPAN_MS;
  }
  const ms = parseGoDuration(lifespan);
  if (ms === undefined) {
    throw badRequest(`invalid lifespan '${lifespan}': expected a duration such as 72h or 90m`);
  }
  if (ms < 1000) {
    throw badRequest(`invalid lifespan '${lifespan}': a token must live at least 1s`);
  }
  if (ms > MAX_TOKEN_LIFESPAN_MS) {
    throw badRequest(
      `invalid lifespan '${lifespan}': longer than the ${MAX_TOKEN_LIFESPAN_MS / DAY_MS} days the master allows`,
    );
  }
  return Math.floor(ms);
}

/**
 * Creates an access token for `userId`. Users may create their own; admins anyone's
 * (Determined lets only admins create any).
 */
export async function createAccessToken(
  deps: AppDeps,
  actor: AuthUser,
  req: { userId: number; lifespan?: string; description?: string; scope?: TokenScope },
): Promise<{ token: string; tokenId: number }> {
  const target = await getUser(deps, req.userId);
  if (!actor.admin && actor.id !== target.id) {
    throw forbidden(`only admins may create access tokens for other users (${target.username})`);
  }
  const now = deps.clock();
  const expiresAt = now + lifespanMs(req.lifespan);
  const token = newToken('access');
  const row = await deps.db.kysely
    .insertInto('access_tokens')
    .values({
      user_id: target.id,
      token_hash: tokenDigest(token),
      description: req.description ?? '',
      scope: req.scope ?? 'full',
      created_at: now,
      expires_at: expiresAt,
      revoked_at: null,
    })
    .returning('id')
    .executeTakeFirstOrThrow();
  return { token, tokenId: row.id };
}

export const TOKEN_SORT_KEYS = [
  'SORT_BY_UNSPECIFIED',
  'SORT_BY_USER_ID',
  'SORT_BY_EXPIRY',
  'SORT_BY_CREATED_AT',
  'SORT_BY_TOKEN_TYPE',
  'SORT_BY_REVOKED',
  'SORT_BY_DESCRIPTION',
] as const;

const SORT_COLUMNS = {
  SORT_BY_UNSPECIFIED: 'id',
  SORT_BY_USER_ID: 'user_id',
  SORT_BY_EXPIRY: 'expires_at',
  SORT_BY_CREATED_AT: 'created_at',
  // Every row is an access token: the id keeps the order stable.
  SORT_BY_TOKEN_TYPE: 'id',
  SORT_BY_REVOKED: 'revoked_at',
  SORT_BY_DESCRIPTION: 'description',
} as const satisfies Record<(typeof TOKEN_SORT_KEYS)[number], keyof AccessTokenRow>;

export interface ListTokensOptions {
  username?: string;
  tokenIds: number[];
  showInactive: boolean;
  sortBy: (typeof TOKEN_SORT_KEYS)[number];
  descending: boolean;
  offset: number;
  limit: number;
}

/**
 * Lists access tokens as `GET /api/v1/tokens` does: admins see everyone's (or one user's),
 * others only their own; inactive (revoked or expired) tokens only on request.
 */
export async function listAccessTokens(
  deps: AppDeps,
  actor: AuthUser,
  opts: ListTokensOptions,
): Promise<{ tokenInfo: TokenInfoDto[]; pagination: Pagination }> {
  const db = deps.db.kysely;
  let query = db.selectFrom('access_tokens').selectAll();
  if (opts.username !== undefined && opts.username !== '') {
    const user = await getUserByName(deps, opts.username);
    if (!actor.admin && user.id !== actor.id) {
      throw forbidden("only admins may list other users' access tokens");
    }
    query = query.where('user_id', '=', user.id);
  } else if (!actor.admin) {
    query = query.where('user_id', '=', actor.id);
  }
  if (!opts.showInactive) {
    query = query.where('revoked_at', 'is', null).where('expires_at', '>', deps.clock());
  }
  const ids = opts.tokenIds.filter((id) => id > 0);
  if (ids.length > 0) {
    query = query.where('id', 'in', ids);
  }
  const direction = opts.descending ? 'desc' : 'asc';
  query = query.orderBy(SORT_COLUMNS[opts.sortBy], direction).orderBy('id', 'asc');
  const rows = await query.execute();
  const pagination = paginate(opts.offset, opts.limit, rows.length);
  return {
    tokenInfo: rows.slice(pagination.startIndex, pagination.endIndex).map(toTokenInfo),
    pagination,
  };
}

/**
 * Changes a token's description or revokes it. Users may change their own; admins anyone's.
 * Revoking a revoked token changes nothing; an inactive token's description is fixed.
 */
export async function patchAccessToken(
  deps: AppDeps,
  actor: AuthUser,
  tokenId: number,
  patch: { description?: string | null; setRevoked: boolean },
): Promise<TokenInfoDto> {
  const db = deps.db.kysely;
  return db.transaction().execute(async (trx) => {
    const row = await trx
      .selectFrom('access_tokens')
      .selectAll()
      .where('id', '=', tokenId)
      .executeTakeFirst();
    if (row === undefined) {
      throw notFound('access token', tokenId);
    }
    if (!actor.admin && row.user_id !== actor.id) {
      throw forbidden("only admins may change other users' access tokens");
    }
    const now = deps.clock();
    const inactive = row.revoked_at !== null || row.expires_at <= now;
    const describe = patch.description !== undefined && patch.description !== null;
    if (inactive && describe) {
      throw new HttpError(
        'failed_precondition',
        `access token ${tokenId} is ${row.revoked_at === null ? 'expired' : 'revoked'}: its description cannot change`,
      );
    }
    const set: { description?: string; revoked_at?: number } = {};
    if (describe) {
      set.description = patch.description ?? '';
    }
    if (patch.setRevoked && row.revoked_at === null) {
      set.revoked_at = now;
    }
    if (Object.keys(set).length === 0) {
      return toTokenInfo(row);
    }
    await trx.updateTable('access_tokens').set(set).where('id', '=', tokenId).execute();
    return toTokenInfo({ ...row, ...set });
  });
}

/** Validates a scope name from a request. */
export function parseScope(raw: string): TokenScope {
  if (!(TOKEN_SCOPES as readonly string[]).includes(raw)) {
    throw badRequest(`invalid scope '${raw}': expected one of ${TOKEN_SCOPES.join(', ')}`);
  }
  return raw as TokenScope;
}
