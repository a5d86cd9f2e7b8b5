// Helpers for the Core API tests: the real master in-process or over loopback, a fetch that
// records what the SDK sends, and small file-tree builders.
import { createHash } from 'node:crypto';
import { mkdtemp, readFile, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { loadConfig, silentLogger, startMaster } from '@determined-ts/master';
import type { AppSettings } from '@determined-ts/master';
import { crc32c, crc32cHex } from '@determined-ts/storage';

import type { FetchLike } from '../src/client.js';
import { memoryDb, testMasterApp } from './master-app.js';
export { makeTree } from './tree.js';
export type { Tree } from './tree.js';

export interface TestMaster {
  /** What to pass as `master`. */
  url: string;
  /** What to pass as `fetch` (the in-process app, or global fetch over loopback). */
  fetch: FetchLike;
  /** A scratch directory removed by `close`; checkpoint storage goes under it. */
  dir: string;
  /** What to pass as `env`: keeps the token cache in `dir`, away from the user's. */
  env: Record<string, string>;
  close(): Promise<void>;
}

/**
 * A master on a fresh SQLite database, called in-process through `app.fetch`; `settings`
 * replaces single ones (the environment it reads stores with, its own checkpoint storage).
 */
export async function inProcessMaster(
  settings: Partial<Pick<AppSettings, 'storageEnv' | 'defaultCheckpointStorage'>> = {},
): Promise<TestMaster> {
  const dir = await mkdtemp(join(tmpdir(), 'det-core-'));
  const db = await memoryDb();
  const app = testMasterApp(db, join(dir, 'default'), { sessionTtlMs: 3600_000, ...settings });
  return {
    url: 'http://master.test:8080',
    fetch: (input, init) => Promise.resolve(app.fetch(new Request(input, init))),
    dir,
    env: { DET_DEBUG_CONFIG_PATH: join(dir, 'det-config') },
    close: async () => {
      await db.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/** A real master listening on a loopback port, with its SQLite file in a temp dir. */
export async function loopbackMaster(): Promise<TestMaster> {
  const dir = await mkdtemp(join(tmpdir(), 'det-core-lb-'));
  const config = loadConfig(['--port', '0', '--data-dir', join(dir, 'data')], {});
  if (config === 'help') {
    throw new Error('loadConfig returned help');
  }
  const master = await startMaster(config, silentLogger);
  return {
    url: master.url,
    fetch: (input, init) => globalThis.fetch(input, init),
    dir,
    env: { DET_DEBUG_CONFIG_PATH: join(dir, 'det-config') },
    close: async () => {
      await master.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

export interface RecordedCall {
  method: string;
  path: string;
  body: unknown;
  status: number;
}

/**
 * Wraps a fetch to record every call (method, path, parsed body, status). `intercept` may answer
 * a call itself (to inject failures). `waitFor` resolves once some recorded call matches.
 */
export function recordingFetch(
  inner: FetchLike,
  intercept?: (call: { method: string; path: string; body: unknown }) => Response | undefined,
): {
  fetch: FetchLike;
  calls: RecordedCall[];
  waitFor(count: number, match: (call: RecordedCall) => boolean): Promise<void>;
} {
  const calls: RecordedCall[] = [];
  const waiters: { count: number; match: (c: RecordedCall) => boolean; resolve: () => void }[] = [];
  const check = (): void => {
    for (const w of [...waiters]) {
      if (calls.filter(w.match).length >= w.count) {
        waiters.splice(waiters.indexOf(w), 1);
        w.resolve();
      }
    }
  };
  const fetch: FetchLike = async (input, init) => {
    const url = new URL(input);
    const text = typeof init?.body === 'string' ? init.body : undefined;
    const body: unknown = text === undefined ? undefined : JSON.parse(text);
    const method = init?.method ?? 'GET';
    const path = url.pathname;
    const res = intercept?.({ method, path, body }) ?? (await inner(input, init));
    calls.push({ method, path, body, status: res.status });
    check();
    return res;
  };
  return {
    fetch,
    calls,
    waitFor: (count, match) =>
      new Promise<void>((resolve) => {
        waiters.push({ count, match, resolve });
        check();
      }),
  };
}

/** Reads every file under `root` into relative path → bytes; directories map to `null`. */
export async function readTree(root: string): Promise<Record<string, Buffer | null>> {
  const out: Record<string, Buffer | null> = {};
  const walk = async (dir: string, prefix: string): Promise<void> => {
    for (const entry of await readdir(dir, { withFileTypes: true })) {
      const rel = prefix + entry.name;
      if (entry.isDirectory()) {
        out[`${rel}/`] = null;
        await walk(join(dir, entry.name), `${rel}/`);
      } else {
        out[rel] = await readFile(join(dir, entry.name));
      }
    }
  };
  await walk(root, '');
  return out;
}

export function sha256(data: string | Uint8Array): string {
  return createHash('sha256').update(data).digest('hex');
}

/** The CRC32C of `data` as checkpoints record it: 8 lowercase hex digits. */
export function crc32cOf(data: string | Uint8Array): string {
  return crc32cHex(crc32c(typeof data === 'string' ? Buffer.from(data) : data));
}
