import { ROUTES, TOKEN_SCOPES } from '@determined-ts/api';
import type { JsonObject, PostAccessTokenRequest, TokenScope } from '@determined-ts/api';

import type { Client } from '../client.js';
import { array, date, fail, int, isObject, object, string } from '../decode-fields.js';
import { decodePagination } from '../decode.js';
import { UnsupportedFeatureError } from '../errors.js';
import type { Pagination } from '../models.js';
import { getMasterInfo } from './trials.js';

/** A long-lived access token, as the master lists it (never the token itself). */
export interface AccessTokenInfo {
  id: number;
  userId: number;
  description: string;
  createdAt: Date;
  expiresAt: Date;
  revoked: boolean;
  /** What it may do; `full` on a Determined master, whose tokens have no scope. */
  scope: TokenScope;
}

function decodeTokenInfo(value: unknown, field: string): AccessTokenInfo {
  const t = object(value, field);
  const scope = t.scope ?? 'full';
  if (typeof scope !== 'string' || !(TOKEN_SCOPES as readonly string[]).includes(scope)) {
    fail(`${field}.scope`, `one of ${TOKEN_SCOPES.join(', ')}`, scope);
  }
  return {
    id: int(t.id, `${field}.id`),
    userId: int(t.userId, `${field}.userId`),
    description: t.description === undefined ? '' : string(t.description, `${field}.description`),
    createdAt: date(t.createdAt, `${field}.createdAt`),
    expiresAt: date(t.expiry, `${field}.expiry`),
    revoked: t.revoked === true,
    scope: scope as TokenScope,
  };
}

export interface CreateAccessTokenOptions {
  /** @default the signed-in user */
  userId?: number;
  /** A Go duration (`720h`), or `-1` for the longest the master allows. @default 30 days */
  lifespan?: string;
  description?: string;
  /**
   * What the token may do (Determined-TS only). Other than `full`, a master that cannot
   * enforce scopes is refused with `UnsupportedFeatureError` rather than handed a wider token.
   * @default 'full'
   */
  scope?: TokenScope;
  signal?: AbortSignal;
}

/**
 * Creates a long-lived access token for automation (`det token create`). The token is
 * returned once and never again: store it as a secret.
 */
export async function createAccessToken(
  client: Client,
  options: CreateAccessTokenOptions = {},
): Promise<{ token: string; tokenId: number }> {
  const { signal } = options;
  if (options.scope !== undefined && options.scope !== 'full') {
    const info = await getMasterInfo(client, { signal });
    if (info.determinedTs?.accessTokenScopes !== true) {
      throw new UnsupportedFeatureError(
        'accessTokenScopes',
        `${client.baseUrl} cannot limit an access token to ${options.scope}: its tokens can do everything their user can (Determined's master has no token scopes)`,
      );
    }
  }
  const userId =
    options.userId ??
    (await client.request('GET', ROUTES.me, {
      signal,
      decode: (body) => int(object(body.user, 'user').id, 'user.id'),
    }));
  const body: PostAccessTokenRequest = {
    userId,
    ...(options.lifespan === undefined ? {} : { lifespan: options.lifespan }),
    ...(options.description === undefined ? {} : { description: options.description }),
    ...(options.scope === undefined ? {} : { scope: options.scope }),
  };
  return client.request('POST', ROUTES.tokens, {
    body,
    signal,
    decode: (res: JsonObject) => ({
      token: string(res.token, 'token'),
      tokenId: int(res.tokenId, 'tokenId'),
    }),
  });
}

export interface ListAccessTokensOptions {
  /** Only this user's (admins may name anyone). @default everyone the caller may see */
  username?: string;
  tokenIds?: readonly number[];
  /** Include revoked and expired tokens. @default false */
  showInactive?: boolean;
  offset?: number;
  limit?: number;
  signal?: AbortSignal;
}

/** Lists access tokens: an admin sees everyone's, other users their own. */
export async function listAccessTokens(
  client: Client,
  options: ListAccessTokensOptions = {},
): Promise<{ tokens: AccessTokenInfo[]; pagination: Pagination | undefined }> {
  return client.request('GET', ROUTES.tokens, {
    query: {
      username: options.username,
      tokenIds: options.tokenIds,
      showInactive: options.showInactive === true ? 'true' : undefined,
      offset: options.offset,
      limit: options.limit,
    },
    signal: options.signal,
    decode: (res) => ({
      tokens: (res.tokenInfo === undefined ? [] : array(res.tokenInfo, 'tokenInfo')).map((t, i) =>
        decodeTokenInfo(t, `tokenInfo[${i}]`),
      ),
      pagination: isObject(res.pagination) ? decodePagination(res.pagination) : undefined,
    }),
  });
}

/** Changes a token's description, or revokes it (for good: a revoked token never works again). */
export async function patchAccessToken(
  client: Client,
  tokenId: number,
  patch: { description?: string; revoke?: boolean },
  options: { signal?: AbortSignal } = {},
): Promise<AccessTokenInfo> {
  return client.request('PATCH', ROUTES.token.replace(':tokenId', String(tokenId)), {
    body: {
      tokenId,
      ...(patch.description === undefined ? {} : { description: patch.description }),
      setRevoked: patch.revoke === true,
    },
    signal: options.signal,
    decode: (res) => decodeTokenInfo(res.tokenInfo, 'tokenInfo'),
  });
}
