// det-master killed with SIGKILL, again and again, while 16 training clients report to it: after
// each restart on the same database, every acknowledged write is there exactly as sent, a write
// in flight at the kill is there whole or not at all, and the trials' denormalized columns agree
// with their rows. Most of a run is the master's 21 starts from the sources (2-4 s each), so the
// dialects run side by side.
import { describe, it, onTestFinished } from 'vitest';

import { freePort, freshPostgresDatabase, spawnMaster } from '../test/child-master.js';
import type { ChildMaster } from '../test/child-master.js';
import { checkAgainstLedger } from '../test/crash-check.js';
import { LOAD_SEARCHER, startLoad } from '../test/crash-load.js';
import type { LoadTrial } from '../test/crash-load.js';
import { tempDir, testDialects } from '../test/helpers.js';
import { openDb } from './db/connect.js';

const CLIENTS = 16;
const TRIALS = 8;
/**
 * Acknowledged writes to wait for after each start before the next kill, one entry per kill: 0
 * kills a master while the clients reconnect, the larger ones kill it in full flow.
 */
const KILL_AFTER = [0, 25, 4, 110, 1, 60, 9, 150, 2, 40, 0, 80, 6, 30, 130, 1, 50, 15, 100, 20];

async function call<T>(url: string, token: string, path: string, body: unknown): Promise<T> {
  const res = await fetch(`${url}${path}`, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}` },
    body: JSON.stringify(body),
  });
  const text = await res.text();
  if (res.status !== 200) {
    throw new Error(`POST ${path}: ${res.status} ${text}`);
  }
  return JSON.parse(text) as T;
}

/** One experiment with `TRIALS` started trials; the admin's token. */
async function seed(url: string): Promise<{ token: string; trials: LoadTrial[] }> {
  const { token } = await call<{ token: string }>(url, '', '/api/v1/auth/login', {
    username: 'admin',
    password: '',
  });
  const config =
    `{name: crash, searcher: {name: single, metric: ${LOAD_SEARCHER.metric}, ` +
    `smaller_is_better: ${String(LOAD_SEARCHER.smallerIsBetter)}}}`;
  const { experiment } = await call<{ experiment: { id: number } }>(
    url,
    token,
    '/api/v1/experiments',
    { config, unmanaged: true },
  );
  const trials: LoadTrial[] = [];
  for (let i = 0; i < TRIALS; i += 1) {
    const { trial } = await call<{ trial: { id: number; taskId: string } }>(
      url,
      token,
      '/api/v1/trials',
      { experimentId: experiment.id, hparams: { i }, unmanaged: true },
    );
    const { trialRunId } = await call<{ trialRunId: number }>(
      url,
      token,
      `/api/v1/trials/${trial.id}/start`,
      { trialId: trial.id, resume: true },
    );
    trials.push({ id: trial.id, taskId: trial.taskId, runId: trialRunId });
  }
  return { token, trials };
}

describe('det-master killed with SIGKILL under load', () => {
  it.concurrent.for(testDialects())(
    `keeps every acknowledged write, and no half write, across ${KILL_AFTER.length} kills [%s]`,
    { timeout: 240_000 },
    async (dialect, { expect }) => {
      const startedAt = Date.now();
      const dir = await tempDir();
      onTestFinished(dir.cleanup);
      let dbUrl = `${dir.path}/master.db`;
      if (dialect === 'postgres') {
        const database = await freshPostgresDatabase();
        onTestFinished(database.drop);
        dbUrl = database.url;
      }
      // A fixed port, so that clients find each restarted master where they left the last.
      const port = await freePort();
      const argv = ['--port', String(port), '--data-dir', dir.path, '--db', dbUrl];
      let master: ChildMaster = await spawnMaster(argv);
      // Registered after the database's drop, so it runs before it.
      onTestFinished(async () => {
        master.child.kill('SIGKILL');
        await master.exited;
      });

      const { token, trials } = await seed(master.url);
      const load = startLoad({ url: master.url, token, trials, clients: CLIENTS });
      onTestFinished(() => load.stop());
      for (const n of KILL_AFTER) {
        await load.waitForAcks(n);
        master.child.kill('SIGKILL');
        expect((await master.exited).signal).toBe('SIGKILL');
        load.resetCount();
        master = await spawnMaster(argv);
      }
      await load.waitForAcks(100);
      await load.stop();
      master.child.kill('SIGTERM');
      expect(await master.exited).toEqual({ code: 0, signal: null });

      const db = openDb(dbUrl);
      let result;
      try {
        result = await checkAgainstLedger(db.kysely, load.ledger, trials);
      } finally {
        await db.close();
      }
      const { ledger } = load;
      expect(ledger.failures).toEqual([]);
      expect(result.problems).toEqual([]);
      expect(ledger.acked.length).toBeGreaterThan(KILL_AFTER.reduce((a, b) => a + b, 100));
      const count = (kind: 'metrics' | 'checkpoint') =>
        ledger.acked.filter((w) => w[kind] !== undefined).length;
      process.stderr.write(
        `crash-safety [${dialect}]: ${KILL_AFTER.length} kills; acknowledged ` +
          `${count('metrics')} metric reports and ${count('checkpoint')} checkpoints, all ` +
          `present as sent; unacknowledged checkpoints ${result.unackedPresent.checkpoints} ` +
          `present whole / ${result.unackedAbsent.checkpoints} absent, metric reports ` +
          `${result.unackedPresent.metrics} present / ${result.unackedAbsent.metrics} absent; ` +
          `${((Date.now() - startedAt) / 1000).toFixed(1)} s\n`,
      );
    },
  );
});
