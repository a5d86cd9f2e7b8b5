import { ROUTES } from '@determined-ts/api';
import { Hono } from 'hono';
import { z } from 'zod';

import type { AppDeps, AppEnv } from '../context.js';
import { forbidden } from '../errors.js';
import { readBody } from '../http.js';
import { reconcileStorage } from '../services/reconcile.js';

/** A year at most. */
const MAX_GRACE_S = 365 * 24 * 3600;

const reconcileBody = z.object({
  apply: z.boolean().default(false),
  graceSeconds: z.number().int().min(0).max(MAX_GRACE_S).default(3600),
});

/** `POST /api/v1/storage/reconcile` (ours): storage against the database, dry run by default. */
export function reconcileRoutes(deps: AppDeps): Hono<AppEnv> {
  const app = new Hono<AppEnv>();
  app.post(ROUTES.storageReconcile, async (c) => {
    if (!c.get('user').admin) {
      throw forbidden('only admins may reconcile storage: access denied');
    }
    const body = await readBody(c, reconcileBody);
    return c.json(await reconcileStorage(deps, body));
  });
  return app;
}
