import { access, constants, stat } from 'node:fs/promises';
import { dirname } from 'node:path';

import { ROUTES } from '@determined-ts/api';
import type { CheckpointStore } from '@determined-ts/storage';
import { Hono } from 'hono';
import { sql } from 'kysely';

import type { AppDeps, AppEnv } from '../context.js';
import { HttpError } from '../errors.js';
import { localRoot, openStore } from '../services/storage.js';
import { storageLabel } from '../storage-label.js';

/** Load balancers call these without a session. */
export const PUBLIC_HEALTH_PATHS = [ROUTES.health, ROUTES.ready];

/** How long each readiness check may take before it counts as failed. */
const CHECK_TIMEOUT_MS = 3000;
/** The checkpoint the storage probe lists: none has this name, so the listing is empty. */
const PROBE_UUID = 'det-ready-probe';

/** What `/ready` found: `ok`, or why this replica should get no traffic. */
export interface ReadyResponse {
  status: 'ok' | 'unavailable';
  checks: { database: string; storage: string; draining: boolean };
}

/**
 * `GET /health`: the process answers (no database work), for liveness probes.
 * `GET /ready`: 200 when the database answers and the default checkpoint storage is reachable
 * (a local root exists and is writable; an object store answers a listing), and the master is
 * not draining after SIGTERM; else 503 with what failed, so a balancer sends its traffic
 * elsewhere.
 */
export function healthRoutes(deps: AppDeps): Hono<AppEnv> {
  const app = new Hono<AppEnv>();
  let store: Promise<CheckpointStore> | undefined;

  app.get(ROUTES.health, (c) => c.json({ status: 'ok' }));

  app.get(ROUTES.ready, async (c) => {
    const draining = deps.isDraining?.() ?? false;
    const [database, storage] = await Promise.all([
      check(async () => {
        await sql`select 1`.execute(deps.db.kysely);
      }),
      check(async () => {
        store ??= openStore(
          deps.settings,
          deps.settings.defaultCheckpointStorage,
          PROBE_UUID,
          (r) =>
            new HttpError('failed_precondition', r.problem ?? `unsupported storage type ${r.type}`),
        );
        await probeStore(
          await store.catch((err: unknown) => {
            store = undefined; // a bad config stays bad, but a transient failure should not stick
            throw err;
          }),
        );
      }),
    ]);
    const isReady = !draining && database === 'ok' && storage === 'ok';
    const body: ReadyResponse = {
      status: isReady ? 'ok' : 'unavailable',
      checks: {
        database,
        storage:
          storage === 'ok'
            ? storage
            : `${storageLabel(deps.settings.defaultCheckpointStorage)}: ${storage}`,
        draining,
      },
    };
    return c.json(body, isReady ? 200 : 503);
  });
  return app;
}

/** A local root must exist and take new checkpoints; an object store must answer a listing. */
async function probeStore(store: CheckpointStore): Promise<void> {
  const checkpointDir = localRoot(store);
  if (checkpointDir === undefined) {
    await store.list(AbortSignal.timeout(CHECK_TIMEOUT_MS));
    return;
  }
  const root = dirname(checkpointDir);
  try {
    if (!(await stat(root)).isDirectory()) {
      throw new Error('not a directory');
    }
    await access(root, constants.W_OK | constants.X_OK);
  } catch (err: unknown) {
    throw new Error(`${root} is not a writable directory`, { cause: err });
  }
}

/** `ok`, or the failure's message; a check still running at the bound has failed. */
async function check(run: () => Promise<void>): Promise<string> {
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([
      run(),
      new Promise<never>((_resolve, reject) => {
        timer = setTimeout(
          () => reject(new Error(`no answer within ${CHECK_TIMEOUT_MS} ms`)),
          CHECK_TIMEOUT_MS,
        );
      }),
    ]);
    return 'ok';
  } catch (err: unknown) {
    return err instanceof Error ? err.message : String(err);
  } finally {
    clearTimeout(timer);
  }
}
