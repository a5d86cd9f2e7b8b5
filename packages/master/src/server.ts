import { randomUUID } from 'node:crypto';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';

import { createApp } from './app.js';
import { TrustedProxies } from './trusted-proxies.js';
import type { MasterConfig } from './config.js';
import type { AppSettings } from './context.js';
import { migrate, openDb } from './db/connect.js';
import type { Db } from './db/connect.js';
import { ConfigError } from './errors.js';
import { createMasterServer } from './http-server.js';
import type { Logger } from './logger.js';
import { resumePendingDeletions } from './services/checkpoint-gc.js';
import { normalizeStorageConfig } from './services/config.js';
import { HttpError } from './errors.js';

/** Version this master reports; Determined's SDK only shows it. */
export const MASTER_VERSION = '0.38.1+determined-ts.0.1.0';

const SESSION_TTL_MS = 7 * 24 * 60 * 60 * 1000;

/** True for addresses only this machine can reach. */
export function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || /^127(\.\d{1,3}){3}$/.test(host);
}

export function settingsFrom(config: MasterConfig): AppSettings {
  let storage;
  try {
    storage = normalizeStorageConfig(config.checkpointStorage, 'checkpoint_storage');
  } catch (err: unknown) {
    throw new ConfigError([err instanceof HttpError ? err.message : String(err)]);
  }
  return {
    version: MASTER_VERSION,
    masterId: randomUUID(),
    clusterName: config.clusterName,
    maxBodyBytes: config.maxBodyBytes,
    sessionTtlMs: SESSION_TTL_MS,
    defaultCheckpointStorage: storage,
    storageEnv: config.storageEnv ?? {},
    trustedProxies: new TrustedProxies(config.trustedProxies),
    ...(config.webRoot === undefined ? {} : { webRoot: config.webRoot }),
  };
}

/** A running master. */
export interface RunningMaster {
  url: string;
  db: Db;
  /**
   * Stops accepting connections, closes idle ones, lets in-flight requests finish for up to
   * `timeoutMs` (default: the config's `shutdownTimeoutMs`), cuts the rest, then closes the
   * database. Calling it again returns the same promise.
   */
  close(options?: { timeoutMs?: number }): Promise<void>;
}

/**
 * Creates the default checkpoint directory inside the data directory, which is the master's
 * own: without it a fresh master would answer `/ready` with 503 until the first upload, and a
 * balancer that waits for ready would never send one. A root the operator configured is left as
 * it is: missing, it means storage not mounted here, which `/ready` and deletions report.
 */
async function createOwnStorageRoot(config: MasterConfig): Promise<void> {
  const storage = config.checkpointStorage;
  if (
    storage.type === 'directory' &&
    storage.container_path === join(config.dataDir, 'checkpoints')
  ) {
    await mkdir(storage.container_path, { recursive: true });
  }
}

/**
 * Opens and migrates the database, checks that exposing the master is safe, and listens.
 * Refuses a non-loopback address while an active user has an empty password, unless allowed.
 */
export async function startMaster(config: MasterConfig, logger: Logger): Promise<RunningMaster> {
  const settings = settingsFrom(config);
  const db = openDb(config.db);
  try {
    await migrate(db);
    await createOwnStorageRoot(config);
    if (!isLoopback(config.host) && !config.allowEmptyPasswords) {
      const open = await db.kysely
        .selectFrom('users')
        .select('username')
        .where('active', '=', 1)
        .where('password_hash', 'is', null)
        .execute();
      if (open.length > 0) {
        throw new ConfigError([
          `refusing to listen on ${config.host}: active users without a password: ${open.map((u) => u.username).join(', ')}; ` +
            'set their passwords first, or pass --allow-empty-passwords',
        ]);
      }
    }
  } catch (err: unknown) {
    await db.close();
    throw err;
  }
  // Set when the drain starts: `/ready` answers 503 on the connections still open.
  let isDraining = false;
  const deps = { db, settings, clock: Date.now, logger, isDraining: () => isDraining };
  const app = createApp(deps);
  const http = createMasterServer(app.fetch, config);
  let address;
  try {
    address = await http.listen(config.host, config.port);
  } catch (err: unknown) {
    await db.close();
    throw err;
  }
  // Deletions a killed master left half-done: finished in the background, stopped at shutdown.
  const stopResuming = new AbortController();
  const resuming = resumePendingDeletions(deps, stopResuming.signal).catch((err: unknown) => {
    logger.error('resuming checkpoint deletions failed', {
      error: err instanceof Error ? err.message : String(err),
    });
  });
  const hostForUrl = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  let closing: Promise<void> | undefined;
  const close = async (timeoutMs: number): Promise<void> => {
    isDraining = true;
    stopResuming.abort();
    const { inFlight, cut } = await http.drain(timeoutMs);
    if (cut > 0) {
      logger.error('shutdown cut requests still in flight at its bound', { cut, timeoutMs });
    } else if (inFlight > 0) {
      logger.info('shutdown let in-flight requests finish', { inFlight });
    }
    await resuming;
    await db.close();
  };
  return {
    url: `http://${hostForUrl}:${address.port}`,
    db,
    close: (options = {}) => (closing ??= close(options.timeoutMs ?? config.shutdownTimeoutMs)),
  };
}
