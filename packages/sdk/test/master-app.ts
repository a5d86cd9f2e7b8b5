import { createApp, migrate, openDb, silentLogger } from '@determined-ts/master';
import type { AppSettings, Db } from '@determined-ts/master';

export type MasterApp = ReturnType<typeof createApp>;

/** The real master's app on `db` with test settings; `overrides` replace single ones. */
export function testMasterApp(
  db: Db,
  storageDir: string,
  overrides: Partial<AppSettings> = {},
): MasterApp {
  return createApp({
    db,
    clock: Date.now,
    logger: silentLogger,
    settings: {
      version: 'test',
      masterId: 'master-test',
      clusterName: 'test',
      maxBodyBytes: 8 * 1024 * 1024,
      sessionTtlMs: 7 * 24 * 3600 * 1000,
      defaultCheckpointStorage: { type: 'directory', container_path: storageDir },
      ...overrides,
    },
  });
}

/** A fresh, migrated in-memory SQLite database. */
export async function memoryDb(): Promise<Db> {
  const db = openDb(':memory:');
  await migrate(db);
  return db;
}
