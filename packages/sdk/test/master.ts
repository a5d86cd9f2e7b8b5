import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { loadConfig, migrate, openDb, silentLogger, startMaster } from '@determined-ts/master';
import type { Db } from '@determined-ts/master';

import { createClient } from '../src/client.js';
import type { Client, FetchLike } from '../src/client.js';
import { memoryDb, testMasterApp } from './master-app.js';

/*
 * The real master for the SDK's contract tests: in-process (an injected `fetch` into the Hono
 * app, SQLite always, PostgreSQL when DET_TEST_POSTGRES_URL is set) or over loopback
 * (`startMaster` on port 0). Seeding goes through the master's own HTTP API, as a training
 * script would report.
 */

export type DialectName = 'sqlite' | 'postgres';

/** SQLite always; PostgreSQL too when DET_TEST_POSTGRES_URL is set; DET_TEST_DIALECTS narrows. */
export function testDialects(): DialectName[] {
  const wanted = process.env.DET_TEST_DIALECTS?.split(',').map((s) => s.trim());
  const all: DialectName[] =
    process.env.DET_TEST_POSTGRES_URL === undefined || process.env.DET_TEST_POSTGRES_URL === ''
      ? ['sqlite']
      : ['sqlite', 'postgres'];
  return wanted === undefined ? all : all.filter((d) => wanted.includes(d));
}

/** A temporary directory, removed by `cleanup`. */
export async function tempDir(): Promise<{ path: string; cleanup: () => Promise<void> }> {
  const path = await mkdtemp(join(tmpdir(), 'det-sdk-test-'));
  return { path, cleanup: () => rm(path, { recursive: true, force: true }) };
}

/** One request as the SDK sent it. */
export interface RecordedRequest {
  method: string;
  /** Path and query, e.g. `/api/v1/trials/1/checkpoints?limit=1`. */
  path: string;
  query: URLSearchParams;
}

/** Wraps `fetch` so a test can see (and count) every request the SDK makes through it. */
export function recordingFetch(inner: FetchLike): {
  fetch: FetchLike;
  requests: RecordedRequest[];
} {
  const requests: RecordedRequest[] = [];
  const fetch: FetchLike = (input, init) => {
    const url = new URL(input);
    requests.push({
      method: init?.method ?? 'GET',
      path: url.pathname + url.search,
      query: url.searchParams,
    });
    return inner(input, init);
  };
  return { fetch, requests };
}

/** A master the SDK can talk to, with every request recorded. */
export interface MasterTarget {
  /** `in-process [sqlite]`, `loopback [sqlite]`, ... */
  name: string;
  baseUrl: string;
  /** Reaches the master and records the request. */
  fetch: FetchLike;
  requests: RecordedRequest[];
  /** Directory storage the master's experiments default to. */
  storageDir: string;
  /** A client signed in as `determined`, with retries that never wait. */
  login(): Promise<Client>;
  close(): Promise<void>;
  /** The master's database, in-process only: for the states no API call produces. */
  db?: Db['kysely'];
}

async function loginWith(baseUrl: string, fetch: FetchLike): Promise<Client> {
  // Logs in by hand rather than through auth/session.ts, so these tests never read or write
  // a token cache.
  const anonymous = createClient({ baseUrl, fetch, retry: { baseDelayMs: 0 } });
  const { token } = await anonymous.request<{ token: string }>('POST', '/api/v1/auth/login', {
    body: { username: 'determined', password: '', isHashed: true },
  });
  return anonymous.withToken(token);
}

/** Opens a migrated database: SQLite in memory, or a private PostgreSQL schema. */
async function testDb(dialect: DialectName): Promise<Db> {
  if (dialect === 'sqlite') {
    return memoryDb();
  }
  const url = process.env.DET_TEST_POSTGRES_URL;
  if (url === undefined || url === '') {
    throw new Error('DET_TEST_POSTGRES_URL is not set');
  }
  const schema = `sdk_${randomBytes(6).toString('hex')}`;
  const admin = openDb(url, { poolSize: 1 });
  // kysely's migrator introspects every schema of the database, which fails when a parallel
  // test file drops its schema meanwhile. The master's tests take this advisory lock around
  // migrations and drops; so do we, on one connection, through the master's own kysely.
  const locked = (fn: (conn: Db['kysely']) => Promise<void>): Promise<void> =>
    admin.kysely.connection().execute(async (conn) => {
      await conn
        .selectNoFrom((eb) => eb.fn('pg_advisory_lock', [eb.lit(727001)]).as('locked'))
        .execute();
      try {
        await fn(conn);
      } finally {
        await conn
          .selectNoFrom((eb) => eb.fn('pg_advisory_unlock', [eb.lit(727001)]).as('unlocked'))
          .execute();
      }
    });
  const sep = url.includes('?') ? '&' : '?';
  const db = openDb(`${url}${sep}options=${encodeURIComponent(`-c search_path=${schema}`)}`, {
    poolSize: 4,
  });
  await locked(async (conn) => {
    await conn.schema.createSchema(schema).execute();
    await migrate(db);
  });
  return {
    ...db,
    close: async () => {
      await db.close();
      await locked(async (conn) => {
        await conn.schema.dropSchema(schema).cascade().execute();
      });
      await admin.close();
    },
  };
}

/** The real master's app on a fresh database, reached through an injected `fetch`. */
export async function startInProcessMaster(dialect: DialectName): Promise<MasterTarget> {
  const db = await testDb(dialect);
  const dir = await tempDir();
  const app = testMasterApp(db, dir.path, { maxBodyBytes: 16 * 1024 * 1024 });
  const baseUrl = 'http://master.test';
  const { fetch, requests } = recordingFetch((input, init) =>
    Promise.resolve(app.fetch(new Request(input, init))),
  );
  return {
    name: `in-process [${dialect}]`,
    baseUrl,
    fetch,
    requests,
    storageDir: dir.path,
    login: () => loginWith(baseUrl, fetch),
    close: async () => {
      await db.close();
      await dir.cleanup();
    },
    db: db.kysely,
  };
}

/** The real master listening on 127.0.0.1 (a free port), on an SQLite file in a temp dir. */
export async function startLoopbackMaster(): Promise<MasterTarget> {
  const dir = await tempDir();
  const config = loadConfig(['--host', '127.0.0.1', '--port', '0', '--data-dir', dir.path], {});
  if (config === 'help') {
    throw new Error('unexpected help');
  }
  const running = await startMaster(config, silentLogger);
  const { fetch, requests } = recordingFetch((input, init) => globalThis.fetch(input, init));
  return {
    name: 'loopback [sqlite]',
    baseUrl: running.url,
    fetch,
    requests,
    storageDir: join(dir.path, 'checkpoints'),
    login: () => loginWith(running.url, fetch),
    close: async () => {
      await running.close();
      await dir.cleanup();
    },
  };
}

/** Every target the contract tests run on: each dialect in-process, and SQLite over loopback. */
export function masterTargets(): { name: string; start: () => Promise<MasterTarget> }[] {
  return [
    ...testDialects().map((d) => ({
      name: `in-process [${d}]`,
      start: () => startInProcessMaster(d),
    })),
    { name: 'loopback [sqlite]', start: startLoopbackMaster },
  ];
}

// ---------------------------------------------------------------------------------------------
// Seeding through the API, as Determined's core_v2 reports.

/** A started trial of a fresh unmanaged experiment. */
export interface SeededTrial {
  experimentId: number;
  trialId: number;
  taskId: string;
  runId: number;
}

/** Creates an unmanaged experiment with `searcher` and one started trial. */
export async function createTrial(
  client: Client,
  opts: { metric?: string; smallerIsBetter?: boolean; storageDir: string },
): Promise<SeededTrial> {
  const sib =
    opts.smallerIsBetter === undefined
      ? ''
      : `, smaller_is_better: ${String(opts.smallerIsBetter)}`;
  const config = `{name: sdk-test, searcher: {name: single, metric: ${opts.metric ?? 'validation_loss'}${sib}}, checkpoint_storage: {type: directory, container_path: ${opts.storageDir}}}`;
  const { experiment } = await client.request<{ experiment: { id: number } }>(
    'POST',
    '/api/v1/experiments',
    { body: { config, unmanaged: true } },
  );
  return addTrial(client, experiment.id, { lr: 0.1 });
}

/** A started trial added to an experiment, as a managed searcher would add one. */
export async function addTrial(
  client: Client,
  experimentId: number,
  hparams: Record<string, unknown>,
): Promise<SeededTrial> {
  const { trial } = await client.request<{ trial: { id: number; taskId: string } }>(
    'POST',
    '/api/v1/trials',
    { body: { experimentId, hparams, unmanaged: true } },
  );
  const { trialRunId } = await client.request<{ trialRunId: number }>(
    'POST',
    `/api/v1/trials/${trial.id}/start`,
    { body: { trialId: trial.id, resume: true } },
  );
  return { experimentId, trialId: trial.id, taskId: trial.taskId, runId: trialRunId };
}

/**
 * Ends a trial (COMPLETED), as its run does when it finishes. A GC keeps the latest checkpoint
 * of a trial still running whatever the policy; tests of the policy itself end their trials.
 */
export async function endTrial(client: Client, trial: SeededTrial): Promise<void> {
  await client.request('PATCH', `/api/v1/trials/${trial.trialId}`, {
    body: { state: 'STATE_COMPLETED' },
  });
}

/** Reports metrics of `group` (`validation`, `training`) at `steps`. */
export async function reportMetrics(
  client: Client,
  trial: SeededTrial,
  group: string,
  steps: number,
  metrics: Record<string, unknown>,
): Promise<void> {
  await client.request('POST', `/api/v1/trials/${trial.trialId}/metrics`, {
    body: {
      group,
      metrics: {
        trialId: trial.trialId,
        trialRunId: trial.runId,
        stepsCompleted: steps,
        reportTime: null,
        metrics: { avgMetrics: metrics, batchMetrics: null },
      },
    },
  });
}

/** Reports a COMPLETED checkpoint at `steps` (no files are written). */
export async function reportCheckpoint(
  client: Client,
  trial: SeededTrial,
  opts: {
    uuid: string;
    steps: number;
    reportTime?: Date;
    resources?: Record<string, number>;
    digests?: Record<string, string>;
  },
): Promise<void> {
  const resources = opts.resources ?? { 'metadata.json': 20, 'model.bin': 100 };
  await client.request('POST', '/api/v1/checkpoints', {
    body: {
      uuid: opts.uuid,
      taskId: trial.taskId,
      allocationId: null,
      reportTime: (opts.reportTime ?? new Date()).toISOString(),
      state: 'STATE_COMPLETED',
      resources: Object.fromEntries(Object.entries(resources).map(([k, v]) => [k, String(v)])),
      metadata: { steps_completed: opts.steps },
      training: {},
      storageId: null,
      ...(opts.digests === undefined ? {} : { digests: opts.digests }),
    },
  });
}

/**
 * Moves a checkpoint out of COMPLETED the only ways Determined allows: `DELETED` (its files are
 * all gone) or `PARTIALLY_DELETED` (some are), through `PATCH /api/v1/checkpoints`.
 */
export async function markCheckpoint(
  client: Client,
  uuid: string,
  state: 'DELETED' | 'PARTIALLY_DELETED',
): Promise<void> {
  const resources = state === 'DELETED' ? {} : { 'metadata.json': '20' };
  await client.request('PATCH', '/api/v1/checkpoints', {
    body: { checkpoints: [{ uuid, resources: { resources } }] },
  });
}

/** Sets a checkpoint's state as a crash leaves it (ERROR, ACTIVE): no API call does this. */
export async function setCheckpointState(
  master: MasterTarget,
  uuid: string,
  state: 'STATE_ERROR' | 'STATE_ACTIVE',
): Promise<void> {
  if (master.db === undefined) {
    throw new Error(`${master.name} has no database to reach`);
  }
  await master.db.updateTable('checkpoints').set({ state }).where('uuid', '=', uuid).execute();
}

let uuidCounter = 0;

/** A fresh UUID whose order follows creation order within a run (the last group is a counter). */
export function testUuid(prefix = 0): string {
  uuidCounter += 1;
  return `${prefix.toString(16).padStart(8, '0')}-0000-4000-8000-${uuidCounter.toString(16).padStart(12, '0')}`;
}
