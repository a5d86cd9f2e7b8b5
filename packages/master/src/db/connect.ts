import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';

import SQLite from 'better-sqlite3';
import { Kysely, Migrator, PostgresDialect, SqliteDialect, sql } from 'kysely';
import type { LogEvent, MigrationProvider, MigrationResultSet } from 'kysely';
import pg from 'pg';

import type { DialectName } from './dialect.js';
import { foldedBatches } from './folded-batches.js';
import type { TwoStepRunner } from './folded-batches.js';
import { groupCommit, transactionPerWrite } from './group-commit.js';
import type { WriteRunner } from './group-commit.js';
import { migrationsFor } from './migrations/index.js';
import type { Database } from './schema.js';
import { cachingStatements } from './statement-cache.js';

/** An open database and the dialect it speaks. */
export interface Db {
  kysely: Kysely<Database>;
  dialect: DialectName;
  /**
   * Runs a unit of writes in a transaction, resolving after it committed. On SQLite units that
   * arrive together share one commit (see group-commit.ts); on PostgreSQL each has its own.
   */
  write: WriteRunner;
  /**
   * On PostgreSQL, runs two-step writes (metric reports) that arrive together in one
   * transaction of two round trips (folded-batches.ts); undefined on SQLite, whose `write`
   * already batches and has no round trips to save.
   */
  twoStepWrite: TwoStepRunner | undefined;
  close(): Promise<void>;
}

/** True when `url` selects PostgreSQL rather than an SQLite file. */
export function isPostgresUrl(url: string): boolean {
  return /^postgres(ql)?:\/\//i.test(url);
}

// pg returns int8 as strings by default; every int64 column here (ids, times in ms, sizes)
// fits a double exactly, so parse them as numbers.
const INT8_OID = 20;
const pgTypes = {
  getTypeParser: ((oid: number, format?: 'text' | 'binary'): unknown =>
    oid === INT8_OID
      ? (value: string) => Number(value)
      : (pg.types.getTypeParser(
          oid,
          format ?? 'text',
        ) as unknown)) as typeof pg.types.getTypeParser,
};

/**
 * Opens the database `url` names: a `postgres://` URL, an SQLite file path, or `:memory:`.
 * PostgreSQL's pool holds up to `poolSize` connections (10: the ingest path batches onto two or
 * three, the rest serve reads; see the README's configuration section).
 * Nothing is migrated here; call {@link migrate}. `log` receives kysely's query events (the
 * benchmarks use it to capture the SQL they explain).
 */
export function openDb(
  url: string,
  { poolSize = 10, log }: { poolSize?: number; log?: (event: LogEvent) => void } = {},
): Db {
  if (isPostgresUrl(url)) {
    const pool = new pg.Pool({ connectionString: url, max: poolSize, types: pgTypes });
    const kysely = new Kysely<Database>({ dialect: new PostgresDialect({ pool }), log });
    return {
      kysely,
      dialect: 'postgres',
      write: transactionPerWrite(kysely),
      twoStepWrite: foldedBatches(pool),
      close: () => kysely.destroy(),
    };
  }
  if (url !== ':memory:') {
    mkdirSync(dirname(url), { recursive: true });
  }
  const database = new SQLite(url);
  // WAL lets readers run beside the writer; FULL sync keeps every acknowledged write on disk.
  database.pragma('journal_mode = WAL');
  database.pragma('synchronous = FULL');
  database.pragma('foreign_keys = ON');
  database.pragma('busy_timeout = 5000');
  const kysely = new Kysely<Database>({
    dialect: new SqliteDialect({ database: cachingStatements(database) }),
    log,
  });
  return {
    kysely,
    dialect: 'sqlite',
    write: groupCommit(kysely),
    twoStepWrite: undefined,
    close: () => kysely.destroy(),
  };
}

/**
 * The PostgreSQL advisory lock key that orders migrations between masters on one database
 * ("det-" in ASCII). Advisory locks are per database, so every schema in it shares the key.
 */
const MIGRATION_LOCK_KEY = 0x6465742d;

/** How long an SQLite migration waits for another process's, before failing with SQLITE_BUSY. */
const SQLITE_MIGRATION_WAIT_MS = 120_000;

/**
 * Brings the schema up to date. Returns kysely's per-migration results; throws if one failed.
 *
 * Several masters may start at once on one database (replicas, a rolling upgrade): each holds a
 * lock for the whole run, from looking for kysely's tables to the last migration, so the others
 * wait and then find nothing left to do. kysely's own lock covers only the migrations, not the
 * creation of its tables before them, where concurrent starts on an empty database collide.
 */
export async function migrate(db: Db): Promise<MigrationResultSet> {
  const migrations = migrationsFor(db.dialect);
  const provider: MigrationProvider = { getMigrations: () => Promise.resolve(migrations) };
  const result = await db.kysely.connection().execute(async (conn) => {
    if (db.dialect === 'sqlite') {
      return migrateSqliteExclusively(conn, provider);
    }
    // A session lock on the connection the migrator runs on; released below, or by PostgreSQL
    // if this process dies holding it.
    await sql`select pg_advisory_lock(${MIGRATION_LOCK_KEY})`.execute(conn);
    try {
      // kysely looks for its migration tables in every schema unless told which one; another
      // schema's tables (a second master, another kysely app) would make it skip creating ours.
      const schema = (await sql<{ s: string }>`select current_schema() as s`.execute(conn)).rows[0]
        ?.s;
      return await new Migrator({
        db: conn,
        provider,
        migrationTableSchema: schema,
      }).migrateToLatest();
    } finally {
      await sql`select pg_advisory_unlock(${MIGRATION_LOCK_KEY})`.execute(conn);
    }
  });
  if (result.error !== undefined) {
    throw new Error('database migration failed', { cause: result.error });
  }
  return result;
}

/**
 * SQLite: one write transaction taken before anything is read (BEGIN IMMEDIATE), so a second
 * process waits for the first to commit instead of both reading "nothing migrated" and the
 * second failing at its first write (a deferred transaction cannot wait for a newer snapshot).
 */
async function migrateSqliteExclusively(
  conn: Kysely<Database>,
  provider: MigrationProvider,
): Promise<MigrationResultSet> {
  const waitMs = (await sql<{ timeout: number }>`pragma busy_timeout`.execute(conn)).rows[0]
    ?.timeout;
  await sql.raw(`pragma busy_timeout = ${SQLITE_MIGRATION_WAIT_MS}`).execute(conn);
  try {
    await sql`begin immediate`.execute(conn);
  } finally {
    await sql.raw(`pragma busy_timeout = ${waitMs ?? 0}`).execute(conn);
  }
  let result: MigrationResultSet;
  try {
    // Our transaction is the migrator's: SQLite cannot nest a second BEGIN.
    result = await new Migrator({
      db: conn,
      provider,
      disableTransactions: true,
    }).migrateToLatest();
  } catch (err: unknown) {
    await sql`rollback`.execute(conn);
    throw err;
  }
  await sql.raw(result.error === undefined ? 'commit' : 'rollback').execute(conn);
  return result;
}
