import { ROUTES } from '@determined-ts/api';
import { Hono } from 'hono';
import { deleteCookie, setCookie } from 'hono/cookie';
import { z } from 'zod';

import { AUTH_COOKIE, requestToken } from '../auth/request-token.js';
import { LoginThrottle } from '../auth/login-throttle.js';
import type { AppDeps, AppEnv } from '../context.js';
import { clientAddress, pathId, readBody } from '../http.js';
import {
  createUser,
  getUser,
  getUserByName,
  listUsers,
  login,
  logout,
  patchUser,
  setPassword,
  toUserDto,
} from '../services/users.js';

export const PUBLIC_AUTH_PATHS = [ROUTES.login];

const loginBody = z.object({
  username: z.string(),
  password: z.string().default(''),
  isHashed: z.boolean().default(false),
});

const createUserBody = z.object({
  user: z.object({
    username: z.string(),
    displayName: z.string().nullish(),
    admin: z.boolean().default(false),
    active: z.boolean().default(true),
  }),
  password: z.string().default(''),
  isHashed: z.boolean().default(false),
});

const patchUserBody = z.object({
  displayName: z.string().optional(),
  admin: z.boolean().optional(),
  active: z.boolean().optional(),
  password: z.string().optional(),
  isHashed: z.boolean().optional(),
});

export function authRoutes(deps: AppDeps): Hono<AppEnv> {
  const app = new Hono<AppEnv>();

  const throttle = new LoginThrottle(deps.clock);

  app.post(ROUTES.login, async (c) => {
    const body = await readBody(c, loginBody);
    const result = await login(deps, throttle, {
      ...body,
      address: clientAddress(c, deps.settings.trustedProxies),
    });
    setCookie(c, AUTH_COOKIE, result.token, {
      path: '/',
      httpOnly: true,
      sameSite: 'Lax',
      maxAge: Math.floor(deps.settings.sessionTtlMs / 1000),
    });
    return c.json(result);
  });

  app.post(ROUTES.logout, async (c) => {
    const token = requestToken(c.req);
    if (token !== undefined) {
      await logout(deps, token);
    }
    deleteCookie(c, AUTH_COOKIE, { path: '/' });
    return c.json({});
  });

  app.get(ROUTES.me, async (c) =>
    c.json({ user: toUserDto(await getUser(deps, c.get('user').id)) }),
  );

  app.get(ROUTES.users, async (c) => {
    const users = (await listUsers(deps)).map(toUserDto);
    return c.json({
      users,
      pagination: {
        offset: 0,
        limit: 0,
        startIndex: 0,
        endIndex: users.length,
        total: users.length,
      },
    });
  });

  app.get(ROUTES.userByUsername, async (c) =>
    c.json({ user: toUserDto(await getUserByName(deps, c.req.param('username') ?? '')) }),
  );

  app.get(ROUTES.user, async (c) =>
    c.json({ user: toUserDto(await getUser(deps, pathId(c, 'userId'))) }),
  );

  app.post(ROUTES.users, async (c) => {
    const body = await readBody(c, createUserBody);
    const row = await createUser(deps, c.get('user'), {
      username: body.user.username,
      displayName: body.user.displayName ?? '',
      admin: body.user.admin,
      active: body.user.active,
      password: body.password,
      isHashed: body.isHashed,
    });
    return c.json({ user: toUserDto(row) });
  });

  // Determined's gateway maps this route's whole body to the password field: a bare JSON
  // string holding the client-side hash.
  app.post(ROUTES.userPassword, async (c) => {
    const password = await readBody(c, z.string());
    const row = await setPassword(deps, c.get('user'), pathId(c, 'userId'), password, true);
    return c.json({ user: toUserDto(row) });
  });

  app.patch(ROUTES.user, async (c) => {
    const body = await readBody(c, patchUserBody);
    const row = await patchUser(deps, c.get('user'), pathId(c, 'userId'), body);
    return c.json({ user: toUserDto(row) });
  });

  return app;
}
