import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import type { Hono } from 'hono';
import { Migrator, sql } from 'kysely';
import type { LogEvent } from 'kysely';
import pg from 'pg';
import { afterEach, beforeEach, describe } from 'vitest';

import { createApp } from '../src/app.js';
import type { AppDeps, AppEnv, AppSettings } from '../src/context.js';
import { migrate, openDb } from '../src/db/connect.js';
import type { Db } from '../src/db/connect.js';
import type { DialectName } from '../src/db/dialect.js';
import { migrationsFor } from '../src/db/migrations/index.js';
import { silentLogger } from '../src/logger.js';

/** The dialects this run covers: SQLite always, PostgreSQL when DET_TEST_POSTGRES_URL is set. */
export function testDialects(): DialectName[] {
  const wanted = process.env.DET_TEST_DIALECTS?.split(',').map((s) => s.trim());
  const all: DialectName[] = process.env.DET_TEST_POSTGRES_URL
    ? ['sqlite', 'postgres']
    : ['sqlite'];
  return wanted === undefined ? all : all.filter((d) => wanted.includes(d));
}

/**
 * A fresh, migrated database. PostgreSQL gets a schema of its own, dropped by `close`, so
 * tests never see each other's rows.
 */
export async function testDb(
  dialect: DialectName,
  { log, upTo }: { log?: (event: LogEvent) => void; upTo?: string } = {},
): Promise<Db> {
  if (dialect === 'sqlite') {
    const db = openDb(':memory:', { log });
    await migrateTestDb(db, upTo);
    return db;
  }
  const url = process.env.DET_TEST_POSTGRES_URL;
  if (url === undefined) {
    throw new Error('DET_TEST_POSTGRES_URL is not set');
  }
  const schema = `t_${randomBytes(6).toString('hex')}`;
  // kysely's migrator introspects every schema of the database, which fails when a parallel
  // test file drops its schema meanwhile; one advisory lock orders migrations and drops.
  const locked = async (fn: (client: pg.Client) => Promise<void>): Promise<void> => {
    const client = new pg.Client({ connectionString: url });
    await client.connect();
    try {
      await client.query('select pg_advisory_lock(727001)');
      await fn(client);
    } finally {
      await client.end();
    }
  };
  const sep = url.includes('?') ? '&' : '?';
  // Commits need not reach the disk in tests: without the WAL flush per transaction, the
  // PostgreSQL suites that seed thousands of reports run several times faster.
  const options = `-c search_path=${schema} -c synchronous_commit=off`;
  const db = openDb(`${url}${sep}options=${encodeURIComponent(options)}`, {
    poolSize: 4,
    log,
  });
  await locked(async (client) => {
    await client.query(`create schema ${schema}`);
    await migrateTestDb(db, upTo);
  });
  return {
    ...db,
    close: async () => {
      await db.close();
      await locked(async (client) => {
        await client.query(`drop schema ${schema} cascade`);
      });
    },
  };
}

/** Migrates to the latest schema, or only up to (and including) migration `upTo`. */
async function migrateTestDb(db: Db, upTo: string | undefined): Promise<void> {
  if (upTo === undefined) {
    await migrate(db);
    return;
  }
  const migrations = migrationsFor(db.dialect);
  const migrator = new Migrator({
    db: db.kysely,
    provider: { getMigrations: () => Promise.resolve(migrations) },
    migrationTableSchema:
      db.dialect === 'postgres'
        ? (await sql<{ s: string }>`select current_schema() as s`.execute(db.kysely)).rows[0]?.s
        : undefined,
  });
  const result = await migrator.migrateTo(upTo);
  if (result.error !== undefined) {
    throw new Error(`migration to ${upTo} failed`, { cause: result.error });
  }
}

/** A temporary directory, removed by the returned cleanup. */
export async function tempDir(): Promise<{ path: string; cleanup: () => Promise<void> }> {
  const path = await mkdtemp(join(tmpdir(), 'det-test-'));
  return { path, cleanup: () => rm(path, { recursive: true, force: true }) };
}

/** A master app on a fresh database, with a clock tests can move. */
export interface TestMaster {
  app: Hono<AppEnv>;
  deps: AppDeps;
  dialect: DialectName;
  storageDir: string;
  now: { ms: number };
  /** Sends a request to the app; `token` adds `Authorization: Bearer`. */
  request(
    method: string,
    path: string,
    init?: { body?: unknown; rawBody?: string; token?: string; headers?: Record<string, string> },
  ): Promise<Response>;
  /** Logs in (default: `determined` with the empty password) and returns the token. */
  login(username?: string, password?: string): Promise<string>;
}

/** A master app on a fresh database and storage dir; `close` removes both. */
export async function openTestMaster(
  dialect: DialectName,
  options: {
    log?: (event: LogEvent) => void;
    webRoot?: string;
    /** Settings to override: the master's own storage and the environment it reads stores with. */
    settings?: Partial<Pick<AppSettings, 'defaultCheckpointStorage' | 'storageEnv'>>;
  } = {},
): Promise<{ master: TestMaster; close: () => Promise<void> }> {
  const db = await testDb(dialect, { log: options.log });
  const dir = await tempDir();
  const now = { ms: Date.parse('2025-01-01T00:00:00Z') };
  const deps: AppDeps = {
    db,
    clock: () => now.ms,
    logger: silentLogger,
    settings: {
      version: 'test',
      masterId: 'master-test',
      clusterName: 'test',
      maxBodyBytes: 1024 * 1024,
      sessionTtlMs: 7 * 24 * 3600 * 1000,
      defaultCheckpointStorage: { type: 'directory', container_path: dir.path },
      ...(options.webRoot === undefined ? {} : { webRoot: options.webRoot }),
      ...options.settings,
    },
  };
  const app = createApp(deps);
  const request: TestMaster['request'] = (method, path, init = {}) => {
    const headers: Record<string, string> = { ...init.headers };
    if (init.token !== undefined) {
      headers.authorization = `Bearer ${init.token}`;
    }
    const body = init.rawBody ?? (init.body === undefined ? undefined : JSON.stringify(init.body));
    return Promise.resolve(app.request(path, { method, headers, body }));
  };
  const master: TestMaster = {
    app,
    deps,
    dialect,
    storageDir: dir.path,
    now,
    request,
    login: async (username = 'determined', password = '') => {
      const res = await request('POST', '/api/v1/auth/login', {
        body: { username, password },
      });
      if (res.status !== 200) {
        throw new Error(`login failed: ${res.status} ${await res.text()}`);
      }
      return ((await res.json()) as { token: string }).token;
    },
  };
  return {
    master,
    close: async () => {
      await db.close();
      await dir.cleanup();
    },
  };
}

/**
 * Runs `fn` once per dialect. Each test gets a fresh master (`ctx.master()`), closed after it.
 */
export function describeEachDialect(
  name: string,
  fn: (ctx: { master: () => TestMaster }) => void,
): void {
  for (const dialect of testDialects()) {
    describe(`${name} [${dialect}]`, () => {
      let current: TestMaster | undefined;
      let close: (() => Promise<void>) | undefined;
      beforeEach(async () => {
        ({ master: current, close } = await openTestMaster(dialect));
      });
      afterEach(async () => {
        await close?.();
        current = undefined;
      });
      fn({
        master: () => {
          if (current === undefined) {
            throw new Error('master() is only available inside a test');
          }
          return current;
        },
      });
    });
  }
}
