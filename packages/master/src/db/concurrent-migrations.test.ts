// Several masters starting at once on one database (replicas, a rolling upgrade) must all come
// up on the right schema: migrate() holds a lock for its whole run.
import { Migrator } from 'kysely';
import { describe, expect, it, onTestFinished } from 'vitest';

import { freshPostgresDatabase, spawnMaster } from '../../test/child-master.js';
import { tempDir, testDialects } from '../../test/helpers.js';
import { migrate, openDb } from './connect.js';
import type { Db } from './connect.js';
import { migrationsFor } from './migrations/index.js';

const MIGRATIONS = Object.keys(migrationsFor('sqlite'));
const STARTS = 4;

/** The migrations a database has run, in order. */
async function applied(db: Db): Promise<string[]> {
  const rows = await db.kysely
    .withoutPlugins()
    .selectFrom('kysely_migration' as never)
    .select('name' as never)
    .orderBy('name' as never)
    .execute();
  return rows.map((r) => (r as { name: string }).name);
}

/** Migrates `db` only up to (and including) `name`: a database an older master left. */
async function migrateTo(db: Db, name: string): Promise<void> {
  const migrator = new Migrator({
    db: db.kysely,
    provider: { getMigrations: () => Promise.resolve(migrationsFor(db.dialect)) },
  });
  const result = await migrator.migrateTo(name);
  expect(result.error).toBeUndefined();
}

describe.runIf(testDialects().includes('postgres'))('migrate on PostgreSQL', () => {
  it.for([
    ['an empty database', undefined],
    ['a database at 0002', '0002_trial_summaries'],
  ] as const)(
    'brings %s up to date once when several masters start at the same moment',
    { timeout: 60_000 },
    async ([, from]) => {
      const fresh = await freshPostgresDatabase();
      onTestFinished(fresh.drop);
      if (from !== undefined) {
        const old = openDb(fresh.url, { poolSize: 1 });
        await migrateTo(old, from);
        await old.close();
      }
      const dbs = Array.from({ length: STARTS }, () => openDb(fresh.url, { poolSize: 2 }));
      onTestFinished(async () => {
        await Promise.all(dbs.map((db) => db.close()));
      });
      const results = await Promise.all(dbs.map((db) => migrate(db)));
      const ran = results.flatMap((r) => (r.results ?? []).map((m) => m.migrationName)).sort();
      // Each pending migration ran exactly once, in one of the masters.
      const pending = from === undefined ? MIGRATIONS : MIGRATIONS.filter((m) => m > from);
      expect(ran).toEqual(pending);
      expect(await applied(dbs[0]!)).toEqual(MIGRATIONS);
      // The schema is the latest one: a table the last migration creates is there.
      await dbs[1]!.kysely.selectFrom('checkpoint_deletions').selectAll().execute();
    },
  );
});

describe('migrate on SQLite', () => {
  it(
    'lets several det-master processes start at the same moment on a new database file',
    { timeout: 60_000 },
    async () => {
      const dir = await tempDir();
      onTestFinished(dir.cleanup);
      const file = `${dir.path}/master.db`;
      const masters = await Promise.all(
        Array.from({ length: 3 }, () =>
          spawnMaster([
            '--port',
            '0',
            '--db',
            file,
            '--data-dir',
            dir.path,
            '--checkpoint-storage',
            `${dir.path}/ckpt`,
          ]),
        ),
      );
      for (const m of masters) {
        m.child.kill('SIGTERM');
        expect((await m.exited).code).toBe(0);
      }
      const db = openDb(file);
      onTestFinished(() => db.close());
      expect(await applied(db)).toEqual(MIGRATIONS);
    },
  );
});
