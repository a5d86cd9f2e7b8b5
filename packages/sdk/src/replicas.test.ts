// Two det-master replicas on one PostgreSQL database and one checkpoint storage, behind Debian's
// nginx running the repository's config (deploy/nginx/det-master.conf): whichever replica
// answers, and while replicas die, clients that retry as the SDK does lose and double nothing.
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';

import { openDb } from '@determined-ts/master';
import { describe, expect, it, onTestFinished } from 'vitest';

import { freePort, freshPostgresDatabase, spawnMaster } from '../../master/test/child-master.js';
import type { ChildMaster } from '../../master/test/child-master.js';
import { checkAgainstLedger } from '../../master/test/crash-check.js';
import { LOAD_SEARCHER, writeFor } from '../../master/test/crash-load.js';
import type { Ledger, LoadTrial } from '../../master/test/crash-load.js';
import { startNginx } from '../../master/test/nginx.js';
import { makeTree, readTree } from '../test/core-helpers.js';
import { tempDir } from '../test/master.js';
import { getCheckpoint } from './api/checkpoints.js';
import { createClient } from './client.js';
import type { Client } from './client.js';
import { init } from './core/init.js';
import { downloadCheckpoint } from './download/download.js';

const CLIENTS = 16;
const TRIALS = 8;
/** Acknowledged reports to wait for before each kill; the replicas are killed in turn. */
const KILL_AFTER = [40, 5, 120, 20, 80, 1];
/** The SDK's retries, quicker: a replica is back within a few seconds. */
const RETRY = { attempts: 40, baseDelayMs: 25, maxDelayMs: 500 };

/** Both replicas see the same database and the same storage directory. */
function replicaArgv(port: number, dbUrl: string, dataDir: string, storage: string): string[] {
  return [
    '--port',
    String(port),
    '--db',
    dbUrl,
    '--data-dir',
    dataDir,
    '--checkpoint-storage',
    storage,
  ];
}

async function login(url: string): Promise<string> {
  const anonymous = createClient({ baseUrl: url });
  const { token } = await anonymous.request<{ token: string }>('POST', '/api/v1/auth/login', {
    body: { username: 'admin', password: '' },
  });
  return token;
}

/** One experiment with `TRIALS` started trials, created through `client`. */
async function seed(client: Client): Promise<LoadTrial[]> {
  const config =
    `{name: replicas, searcher: {name: single, metric: ${LOAD_SEARCHER.metric}, ` +
    `smaller_is_better: ${String(LOAD_SEARCHER.smallerIsBetter)}}}`;
  const { experiment } = await client.request<{ experiment: { id: number } }>(
    'POST',
    '/api/v1/experiments',
    { body: { config, unmanaged: true } },
  );
  const trials: LoadTrial[] = [];
  for (let i = 0; i < TRIALS; i += 1) {
    const { trial } = await client.request<{ trial: { id: number; taskId: string } }>(
      'PUT',
      '/api/v1/trials',
      {
        body: {
          createTrialRequest: { experimentId: experiment.id, hparams: { i }, unmanaged: true },
          externalTrialId: `replicas-${i}`,
        },
      },
    );
    const { trialRunId } = await client.request<{ trialRunId: number }>(
      'POST',
      `/api/v1/trials/${trial.id}/start`,
      { body: { trialId: trial.id, resume: true } },
    );
    trials.push({ id: trial.id, taskId: trial.taskId, runId: trialRunId });
  }
  return trials;
}

/**
 * `CLIENTS` clients reporting through `client` (metrics and checkpoints, as crash-safety's load)
 * until stopped. Each report is retried as the SDK retries its idempotent writes; one the SDK
 * gave up on is unacknowledged.
 */
function startReporting(client: Client, trials: readonly LoadTrial[]) {
  const ledger: Ledger = { acked: [], unacked: [], failures: [] };
  let isStopped = false;
  let waiters: { n: number; resolve(): void }[] = [];
  const run = async (c: number): Promise<void> => {
    for (let seq = 0; !isStopped; seq += 1) {
      const write = writeFor(c, seq, trials);
      try {
        await client.request('POST', write.path, { body: write.body, idempotent: true });
      } catch (err: unknown) {
        ledger.unacked.push(write);
        ledger.failures.push(
          `POST ${write.path}: ${err instanceof Error ? err.message : String(err)}`,
        );
        continue;
      }
      ledger.acked.push(write);
      waiters = waiters.filter((w) => (ledger.acked.length >= w.n ? (w.resolve(), false) : true));
    }
  };
  const running = Array.from({ length: CLIENTS }, (_, c) => run(c));
  return {
    ledger,
    waitForAcks: (more: number): Promise<void> => {
      const n = ledger.acked.length + more;
      return new Promise((resolve) => waiters.push({ n, resolve }));
    },
    stop: async (): Promise<void> => {
      isStopped = true;
      await Promise.all(running);
    },
  };
}

describe.runIf(process.env.DET_TEST_POSTGRES_URL !== undefined)('replicas behind nginx', () => {
  it(
    'migrate together, share sessions and checkpoints, and keep every acknowledged report across SIGKILLs',
    { timeout: 180_000 },
    async () => {
      const dir = await tempDir();
      onTestFinished(dir.cleanup);
      const database = await freshPostgresDatabase();
      onTestFinished(database.drop);
      const storage = join(dir.path, 'checkpoints');
      await mkdir(storage);
      const ports = [await freePort(), await freePort()];
      const argv = ports.map((port, i) =>
        replicaArgv(port, database.url, join(dir.path, `replica-${i}`), storage),
      );

      // Both replicas start at the same moment on the empty database: both migrate and listen.
      const replicas: ChildMaster[] = await Promise.all(argv.map((a) => spawnMaster(a)));
      onTestFinished(async () => {
        for (const r of replicas) {
          r.child.kill('SIGKILL');
          await r.exited;
        }
      });
      const nginx = await startNginx(ports.map((p) => `127.0.0.1:${p}`));
      onTestFinished(() => nginx.stop());
      const [a, b] = replicas.map((r) => r.url) as [string, string];

      // A session from one replica works on the other, and through nginx.
      const token = await login(a);
      for (const url of [b, nginx.url]) {
        const me = await createClient({ baseUrl: url, token }).request<{
          user: { username: string };
        }>('GET', '/api/v1/me');
        expect(me.user.username).toBe('admin');
      }
      const ready = await fetch(`${nginx.url}/ready`);
      expect(ready.status).toBe(200);

      // A checkpoint uploaded with the SDK talking to one replica downloads through the other.
      const viaA = createClient({ baseUrl: a, token });
      const core = await init({
        master: a,
        client: viaA,
        env: { DET_DEBUG_CONFIG_PATH: join(dir.path, 'det-config') },
        config: { searcher: { metric: 'loss' }, checkpoint_storage: storage },
        shipOutput: false,
      });
      const src = join(dir.path, 'src');
      await makeTree(src, { 'w.bin': new Uint8Array(100_000).fill(7), 'd/e.txt': 'e' });
      const uuid = await core.checkpoint.upload(src, { steps_completed: 3 });
      await core.close();
      const viaB = createClient({ baseUrl: b, token });
      const checkpoint = await getCheckpoint(viaB, uuid);
      const downloaded = await downloadCheckpoint(
        { ...checkpoint, client: viaB },
        join(dir.path, 'down'),
        {
          mode: 'master',
        },
      );
      expect(await readTree(downloaded)).toEqual(await readTree(join(storage, uuid)));

      // 16 clients report through nginx while the replicas are killed in turn and restarted.
      const client = createClient({ baseUrl: nginx.url, token, retry: RETRY });
      const trials = await seed(client);
      const load = startReporting(client, trials);
      onTestFinished(() => load.stop());
      for (const [i, n] of KILL_AFTER.entries()) {
        await load.waitForAcks(n);
        const victim = i % 2;
        replicas[victim]!.child.kill('SIGKILL');
        await replicas[victim]!.exited;
        replicas[victim] = await spawnMaster(argv[victim]!);
      }
      await load.waitForAcks(200);
      await load.stop();

      const { ledger } = load;
      expect(ledger.failures).toEqual([]);
      expect(ledger.unacked).toEqual([]);
      expect(ledger.acked.length).toBeGreaterThan(KILL_AFTER.reduce((s, n) => s + n, 200));
      const db = openDb(database.url, { poolSize: 2 });
      onTestFinished(() => db.close());
      const check = await checkAgainstLedger(db.kysely, ledger, trials);
      expect(check.problems).toEqual([]);
      expect(await nginx.errorLog()).not.toMatch(/\[(emerg|alert|crit)\]/);
    },
  );
});
