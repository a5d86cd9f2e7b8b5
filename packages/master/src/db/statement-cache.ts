import type SQLite from 'better-sqlite3';
import type { SqliteDatabase, SqliteStatement } from 'kysely';

/**
 * Wraps an SQLite database so kysely reuses prepared statements. kysely's driver prepares every
 * query afresh, and on the metric-report path preparing cost as much as running the statement.
 *
 * The cache is bounded, since `in (?, ?, …)` lists make many shapes. Only `all` and `run` reuse
 * the statement; `iterate` (kysely's streams) prepares its own, so an open stream never shares a
 * statement with another query.
 */
export function cachingStatements(database: SQLite.Database, capacity = 500): SqliteDatabase {
  const cache = new Map<string, SqliteStatement>();
  return {
    close: () => {
      cache.clear();
      database.close();
    },
    prepare: (sql: string): SqliteStatement => {
      const cached = cache.get(sql);
      if (cached !== undefined) {
        return cached;
      }
      const statement = database.prepare(sql);
      const reusable: SqliteStatement = {
        // Read once: it is a native getter, and kysely asks on every run.
        reader: statement.reader,
        all: (parameters) => statement.all(parameters),
        run: (parameters) => statement.run(parameters),
        iterate: (parameters) => database.prepare(sql).iterate(parameters),
      };
      cache.set(sql, reusable);
      if (cache.size > capacity) {
        // First in, first out (a Map keeps insertion order): cheaper per hit than LRU, and a hot
        // statement pushed out by a burst of new shapes costs one prepare to come back.
        const oldest = cache.keys().next();
        if (oldest.done !== true) {
          cache.delete(oldest.value);
        }
      }
      return reusable;
    },
  };
}
