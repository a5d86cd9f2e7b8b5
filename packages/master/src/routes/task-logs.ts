import { ROUTES } from '@determined-ts/api';
import { Hono } from 'hono';
import { z } from 'zod';

import type { AppDeps, AppEnv } from '../context.js';
import { notFound } from '../errors.js';
import { int32, readBody, timestamp } from '../http.js';

const logEntry = z.object({
  task_id: z.string().min(1),
  timestamp: timestamp.nullish(),
  rank: int32.refine((n) => n >= 0, 'must be ≥ 0').nullish(),
  log: z.string(),
  stdtype: z.string().nullish(),
});

export function taskLogRoutes(deps: AppDeps): Hono<AppEnv> {
  const app = new Hono<AppEnv>();

  // Determined's Core API ships stdout/stderr here (no /api/v1 prefix), in batches.
  app.post(ROUTES.taskLogs, async (c) => {
    // Programs may print NUL bytes; they are kept visible as U+FFFD rather than refused.
    const entries = await readBody(c, z.array(logEntry).max(100_000), { nul: 'replace' });
    if (entries.length === 0) {
      return c.json({});
    }
    const db = deps.db.kysely;
    const taskIds = [...new Set(entries.map((e) => e.task_id))];
    const trials: { id: number; task_id: string }[] = [];
    // Chunked so that many distinct task ids stay under the bound-parameter limits.
    for (let i = 0; i < taskIds.length; i += 5000) {
      trials.push(
        ...(await db
          .selectFrom('trials')
          .select(['id', 'task_id'])
          .where('task_id', 'in', taskIds.slice(i, i + 5000))
          .execute()),
      );
    }
    const byTask = new Map(trials.map((t) => [t.task_id, t.id]));
    const unknown = taskIds.find((id) => !byTask.has(id));
    if (unknown !== undefined) {
      throw notFound('task', unknown);
    }
    const now = deps.clock();
    await db.transaction().execute(async (trx) => {
      // Chunked so a big batch stays under both databases' bound-parameter limits.
      for (let i = 0; i < entries.length; i += 500) {
        await trx
          .insertInto('task_logs')
          .values(
            entries.slice(i, i + 500).map((e) => ({
              task_id: e.task_id,
              trial_id: byTask.get(e.task_id) ?? 0,
              timestamp: e.timestamp ?? now,
              rank_id: e.rank === null || e.rank === undefined ? null : Number(e.rank),
              stdtype: e.stdtype ?? null,
              log: e.log,
            })),
          )
          .execute();
      }
    });
    return c.json({});
  });

  return app;
}
