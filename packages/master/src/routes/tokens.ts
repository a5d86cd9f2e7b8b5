import { ROUTES, TOKEN_SCOPES } from '@determined-ts/api';
import { Hono } from 'hono';
import { z } from 'zod';

import type { AppDeps, AppEnv } from '../context.js';
import {
  int32,
  pathId,
  queryBool,
  queryEnum,
  queryIds,
  queryInt,
  queryOne,
  readBody,
} from '../http.js';
import {
  TOKEN_SORT_KEYS,
  createAccessToken,
  listAccessTokens,
  patchAccessToken,
} from '../services/access-tokens.js';
import { badRequest } from '../errors.js';

const postBody = z.object({
  userId: int32,
  lifespan: z.string().nullish(),
  description: z.string().max(1024).nullish(),
  scope: z.enum(TOKEN_SCOPES).optional(),
});

const patchBody = z.object({
  tokenId: int32.optional(),
  description: z.string().max(1024).nullish(),
  setRevoked: z.boolean().default(false),
});

const ORDER_BY = ['ORDER_BY_UNSPECIFIED', 'ORDER_BY_ASC', 'ORDER_BY_DESC'] as const;

/** Determined 0.38's access token API (`det token`), with our `scope`. */
export function tokenRoutes(deps: AppDeps): Hono<AppEnv> {
  const app = new Hono<AppEnv>();

  app.post(ROUTES.tokens, async (c) => {
    const body = await readBody(c, postBody);
    const created = await createAccessToken(deps, c.get('user'), {
      userId: body.userId,
      ...(body.lifespan == null ? {} : { lifespan: body.lifespan }),
      ...(body.description == null ? {} : { description: body.description }),
      ...(body.scope === undefined ? {} : { scope: body.scope }),
    });
    return c.json(created);
  });

  app.get(ROUTES.tokens, async (c) => {
    const tokenIds = queryIds(c, 'tokenIds');
    const username = queryOne(c, 'username');
    const result = await listAccessTokens(deps, c.get('user'), {
      ...(username === undefined ? {} : { username }),
      tokenIds,
      showInactive: queryBool(c, 'showInactive') ?? false,
      sortBy: queryEnum(c, TOKEN_SORT_KEYS, 'sortBy') ?? 'SORT_BY_UNSPECIFIED',
      descending: queryEnum(c, ORDER_BY, 'orderBy') === 'ORDER_BY_DESC',
      offset: queryInt(c, 'offset') ?? 0,
      limit: queryInt(c, 'limit', { min: 0 }) ?? 0,
    });
    return c.json(result);
  });

  app.patch(ROUTES.token, async (c) => {
    const tokenId = pathId(c, 'tokenId');
    const body = await readBody(c, patchBody);
    if (body.tokenId !== undefined && body.tokenId !== tokenId) {
      throw badRequest(`tokenId ${body.tokenId} in the body differs from ${tokenId} in the path`);
    }
    const tokenInfo = await patchAccessToken(deps, c.get('user'), tokenId, {
      description: body.description,
      setRevoked: body.setRevoked,
    });
    return c.json({ tokenInfo });
  });

  return app;
}
