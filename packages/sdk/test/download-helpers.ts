// Helpers for the download tests (src/download/*.test.ts): the real master in-process with a
// transport tests can wrap (to fail, truncate or corrupt archives), checkpoints seeded through
// its API with their files written to `directory` storage (with their sha256 and CRC32C), and
// tar archives built by hand.
import { createHash, randomUUID } from 'node:crypto';
import { mkdir, mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { loadConfig, silentLogger, startMaster } from '@determined-ts/master';

import { getCheckpoint } from '../src/api/checkpoints.js';
import { Checkpoint } from '../src/checkpoint.js';
import { createClient } from '../src/client.js';
import type { Client, FetchLike } from '../src/client.js';
import { crc32cOf } from './core-helpers.js';
import { memoryDb, testMasterApp } from './master-app.js';
import { makeTree as writeTree } from './tree.js';
import type { Tree } from './tree.js';

export { crc32cOf, writeTree };
export { buildTar } from '../../storage/test/tar.js';
export type { TarEntry } from '../../storage/test/tar.js';
export { liveWorkers } from '../../storage/test/workers.js';
export type { Tree };

/** Puts a fetch between the SDK and the app: gets the request and the app's own fetch. */
export type Transport = (
  input: string,
  init: RequestInit | undefined,
  next: FetchLike,
) => Promise<Response>;

export interface SeedOptions {
  /** Report each file's sha256. @default true */
  digests?: boolean;
  /** Report each file's CRC32C. @default true */
  crc32c?: boolean;
  /** The experiment's `checkpoint_storage`. @default directory storage in `storageDir` */
  storage?: Record<string, unknown>;
}

export interface DownloadMaster {
  baseUrl: string;
  /** A signed-in client whose transport is the app behind `transport`. */
  client: Client;
  /** `directory` storage of the experiments seeded here. */
  storageDir: string;
  /** A scratch directory for targets, removed by `close`. */
  workDir: string;
  /** Replaces the transport for the rest of the test; `undefined` restores the plain app. */
  setTransport(transport: Transport | undefined): void;
  /** Requests that reached the transport: `METHOD path`. */
  requests: string[];
  /**
   * Reports a checkpoint holding `tree` (written to storage first) with every file's sha256
   * (`digests: false` leaves them out) and CRC32C (`crc32c: false` leaves them out), and
   * fetches it back.
   */
  seed(tree: Tree, options?: SeedOptions): Promise<Checkpoint>;
  /** Deletes some of a checkpoint's files through the master (PARTIALLY_DELETED). */
  removeFiles(uuid: string, globs: string[]): Promise<void>;
  /** Deletes a checkpoint through the master (DELETED). */
  deleteCheckpoint(uuid: string): Promise<void>;
  close(): Promise<void>;
}

/**
 * The real master on a fresh SQLite database: in-process through `app.fetch` (default), or
 * listening on a loopback port and reached with the global `fetch` (`loopback: true`).
 */
export async function startDownloadMaster(
  options: { loopback?: boolean } = {},
): Promise<DownloadMaster> {
  const workDir = await mkdtemp(join(tmpdir(), 'det-dl-'));
  const storageDir = join(workDir, 'storage');
  await mkdir(storageDir);
  let appFetch: FetchLike;
  let baseUrl: string;
  let stop: () => Promise<void>;
  if (options.loopback === true) {
    const config = loadConfig(
      ['--port', '0', '--data-dir', join(tmpdir(), `det-dlm-${randomUUID()}`)],
      {},
    );
    if (config === 'help') {
      throw new Error('unexpected help');
    }
    const running = await startMaster(config, silentLogger);
    baseUrl = running.url;
    appFetch = (input, init) => globalThis.fetch(input, init);
    stop = async () => {
      await running.close();
      await rm(config.dataDir, { recursive: true, force: true });
    };
  } else {
    const db = await memoryDb();
    const app = testMasterApp(db, storageDir, { sessionTtlMs: 3600_000 });
    baseUrl = 'http://master.test:8080';
    appFetch = (input, init) => Promise.resolve(app.fetch(new Request(input, init)));
    stop = () => db.close();
  }
  const requests: string[] = [];
  let transport: Transport | undefined;
  const fetch: FetchLike = (input, init) => {
    requests.push(`${init?.method ?? 'GET'} ${new URL(input).pathname}`);
    return transport === undefined ? appFetch(input, init) : transport(input, init, appFetch);
  };
  const anonymous = createClient({ baseUrl, fetch, retry: { baseDelayMs: 0 } });
  const { token } = await anonymous.request<{ token: string }>('POST', '/api/v1/auth/login', {
    body: { username: 'determined', password: '' },
  });
  const client = anonymous.withToken(token);
  const experiments = new Map<string, string>();

  const seedTrial = async (storage: Record<string, unknown>): Promise<string> => {
    const key = JSON.stringify(storage);
    const known = experiments.get(key);
    if (known !== undefined) {
      return known;
    }
    const { experiment } = await client.request<{ experiment: { id: number } }>(
      'POST',
      '/api/v1/experiments',
      {
        body: {
          config: JSON.stringify({
            name: 'download-test',
            searcher: { name: 'single', metric: 'loss', smaller_is_better: true },
            checkpoint_storage: storage,
          }),
          unmanaged: true,
        },
      },
    );
    const created = await client.request<{ trial: { id: number; taskId: string } }>(
      'POST',
      '/api/v1/trials',
      { body: { experimentId: experiment.id, hparams: {}, unmanaged: true } },
    );
    await client.request('POST', `/api/v1/trials/${created.trial.id}/start`, {
      body: { trialId: created.trial.id, resume: true },
    });
    experiments.set(key, created.trial.taskId);
    return created.trial.taskId;
  };

  let steps = 0;
  return {
    baseUrl,
    client,
    storageDir,
    workDir,
    requests,
    setTransport(next) {
      transport = next;
    },
    async seed(tree, options = {}) {
      const storage = options.storage ?? { type: 'directory', container_path: storageDir };
      const taskId = await seedTrial(storage);
      const uuid = randomUUID();
      const root = join(storageRoot(storage), uuid);
      const resources: Record<string, string> = {};
      const digests: Record<string, string> = {};
      const crcs: Record<string, string> = {};
      await writeTree(root, tree);
      for (const [path, content] of Object.entries(tree)) {
        if (content === null) {
          resources[path.endsWith('/') ? path : `${path}/`] = '0';
          continue;
        }
        const bytes = typeof content === 'string' ? Buffer.from(content) : content;
        resources[path] = String(bytes.byteLength);
        digests[path] = createHash('sha256').update(bytes).digest('hex');
        crcs[path] = crc32cOf(bytes);
      }
      steps += 1;
      await client.request('POST', '/api/v1/checkpoints', {
        body: {
          uuid,
          taskId,
          allocationId: null,
          reportTime: new Date().toISOString(),
          state: 'STATE_COMPLETED',
          resources,
          metadata: { steps_completed: steps, framework: 'test' },
          training: {},
          storageId: null,
          ...(options.digests === false ? {} : { digests }),
          ...(options.crc32c === false ? {} : { crc32c: crcs }),
        },
      });
      return new Checkpoint(await getCheckpoint(client, uuid), client);
    },
    async removeFiles(uuid, globs) {
      await client.request('POST', '/api/v1/checkpoints/rm', {
        body: { checkpointUuids: [uuid], checkpointGlobs: globs },
      });
    },
    async deleteCheckpoint(uuid) {
      await client.request('DELETE', '/api/v1/checkpoints', { body: { checkpointUuids: [uuid] } });
    },
    async close() {
      await stop();
      await rm(workDir, { recursive: true, force: true });
    },
  };
}

function storageRoot(storage: Record<string, unknown>): string {
  if (storage.type === 'directory' && typeof storage.container_path === 'string') {
    return storage.container_path;
  }
  if (storage.type === 'shared_fs' && typeof storage.host_path === 'string') {
    return join(
      storage.host_path,
      typeof storage.storage_path === 'string' ? storage.storage_path : '',
    );
  }
  throw new Error(`no local root for ${JSON.stringify(storage)}`);
}

/** Every file under `root` with its content as text, and directories as `null`. */
export async function readTree(root: string): Promise<Record<string, string | null>> {
  const out: Record<string, string | null> = {};
  const walk = async (dir: string, prefix: string): Promise<void> => {
    for (const entry of await readdir(dir, { withFileTypes: true })) {
      const rel = `${prefix}${entry.name}`;
      if (entry.isDirectory()) {
        out[`${rel}/`] = null;
        await walk(join(dir, entry.name), `${rel}/`);
      } else {
        out[rel] = await readFile(join(dir, entry.name), 'utf8');
      }
    }
  };
  await walk(root, '');
  return out;
}

/** Names in `dir` that look like a download's temporary sibling. */
export async function partialDirs(dir: string): Promise<string[]> {
  return (await readdir(dir).catch(() => [] as string[])).filter((n) => n.includes('.partial-'));
}

/** A Response with `body` delivered in pieces, optionally failing after `failAfter` bytes. */
export function bodyResponse(
  body: Uint8Array,
  options: {
    headers?: Headers | Record<string, string>;
    status?: number;
    failAfter?: number;
    endAfter?: number;
  } = {},
): Response {
  const limit = options.endAfter ?? options.failAfter ?? body.byteLength;
  let sent = 0;
  const stream = new ReadableStream<Uint8Array>({
    pull(controller) {
      if (sent >= limit) {
        if (options.failAfter !== undefined) {
          controller.error(Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' }));
        } else {
          controller.close();
        }
        return;
      }
      const n = Math.min(4096, limit - sent);
      controller.enqueue(body.slice(sent, sent + n));
      sent += n;
    },
  });
  return new Response(stream, { status: options.status ?? 200, headers: options.headers });
}

/** Reads a response's whole body, for transports that rewrite archives. */
export async function readBody(res: Response): Promise<Buffer> {
  return Buffer.from(await res.arrayBuffer());
}
