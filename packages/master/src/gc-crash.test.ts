// det-master killed with SIGKILL in the middle of a GC (`PATCH /api/v1/experiments/{id}` with a
// new policy): after a restart on the same database, the deletions it had started are finished,
// every checkpoint the policy deletes is DELETED with its files gone, every one it keeps is
// COMPLETED with its files, and nothing else is left in storage.
import { mkdir, readdir, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

import { describe, it } from 'vitest';

import { freshPostgresDatabase, spawnMaster } from '../test/child-master.js';
import type { ChildMaster } from '../test/child-master.js';
import { tempDir, testDialects } from '../test/helpers.js';
import { openDb } from './db/connect.js';

const TRIALS = 2;
/** Checkpoints per trial: enough that deleting them takes longer than noticing it started. */
const PER_TRIAL = 150;
const POLICY = { saveExperimentBest: 1, saveTrialBest: 1, saveTrialLatest: 2 };

async function call<T>(url: string, token: string, method: string, path: string, body?: unknown) {
  const res = await fetch(`${url}${path}`, {
    method,
    headers: { authorization: `Bearer ${token}` },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const text = await res.text();
  if (res.status !== 200) {
    throw new Error(`${method} ${path}: ${res.status} ${text}`);
  }
  return JSON.parse(text) as T;
}

/** Bytes of the regular files under `root`. */
async function bytesIn(root: string): Promise<number> {
  let total = 0;
  for (const entry of await readdir(root, { withFileTypes: true, recursive: true })) {
    if (entry.isFile()) {
      total += (await stat(join(entry.parentPath, entry.name))).size;
    }
  }
  return total;
}

/** A distinct validation loss for each checkpoint, in no order the steps would give. */
const lossOf = (trial: number, i: number): number => ((i * 37) % 149) / 100 + trial / 1000;

interface Seeded {
  token: string;
  experimentId: number;
  /** uuid → trial index, step and loss. */
  checkpoints: Map<string, { trial: number; steps: number; loss: number }>;
}

async function seed(url: string, store: string): Promise<Seeded> {
  const { token } = await call<{ token: string }>(url, '', 'POST', '/api/v1/auth/login', {
    username: 'admin',
    password: '',
  });
  const config = `{name: gc-crash, searcher: {name: single, metric: loss, smaller_is_better: true}, checkpoint_storage: {type: directory, container_path: ${store}}}`;
  const { experiment } = await call<{ experiment: { id: number } }>(
    url,
    token,
    'POST',
    '/api/v1/experiments',
    { config, unmanaged: true },
  );
  const checkpoints = new Map<string, { trial: number; steps: number; loss: number }>();
  for (let t = 0; t < TRIALS; t++) {
    const { trial } = await call<{ trial: { id: number; taskId: string } }>(
      url,
      token,
      'POST',
      '/api/v1/trials',
      { experimentId: experiment.id, unmanaged: true },
    );
    const { trialRunId } = await call<{ trialRunId: number }>(
      url,
      token,
      'POST',
      `/api/v1/trials/${trial.id}/start`,
      { trialId: trial.id, resume: false },
    );
    for (let i = 1; i <= PER_TRIAL; i++) {
      const uuid = `00000000-0000-4000-8000-${(t * 10_000 + i).toString(16).padStart(12, '0')}`;
      const steps = i * 10;
      const loss = lossOf(t, i);
      await mkdir(join(store, uuid, 'sub'), { recursive: true });
      await writeFile(join(store, uuid, 'model.bin'), Buffer.alloc(100, i));
      await writeFile(join(store, uuid, 'sub', 'state.json'), '{"ok":1}');
      await call(url, token, 'POST', '/api/v1/checkpoints', {
        uuid,
        taskId: trial.taskId,
        state: 'STATE_COMPLETED',
        resources: { 'model.bin': '100', 'sub/': '0', 'sub/state.json': '8' },
        metadata: { steps_completed: steps },
      });
      await call(url, token, 'POST', `/api/v1/trials/${trial.id}/metrics`, {
        group: 'validation',
        metrics: {
          trialId: trial.id,
          trialRunId,
          stepsCompleted: steps,
          metrics: { avgMetrics: { loss } },
        },
      });
      checkpoints.set(uuid, { trial: t, steps, loss });
    }
  }
  return { token, experimentId: experiment.id, checkpoints };
}

/** What POLICY keeps, worked out here from the losses and steps, not by the master. */
function expectedKept(checkpoints: Seeded['checkpoints']): Set<string> {
  const all = [...checkpoints];
  const byLoss = (a: (typeof all)[number], b: (typeof all)[number]) => a[1].loss - b[1].loss;
  const kept = new Set<string>(
    [...all]
      .sort(byLoss)
      .slice(0, POLICY.saveExperimentBest)
      .map(([u]) => u),
  );
  for (let t = 0; t < TRIALS; t++) {
    const mine = all.filter(([, c]) => c.trial === t);
    for (const [u] of [...mine].sort(byLoss).slice(0, POLICY.saveTrialBest)) {
      kept.add(u);
    }
    const newest = [...mine].sort((a, b) => b[1].steps - a[1].steps);
    for (const [u] of newest.slice(0, POLICY.saveTrialLatest)) {
      kept.add(u);
    }
  }
  return kept;
}

describe('det-master killed with SIGKILL in the middle of a GC', () => {
  it.concurrent.for(testDialects())(
    'finishes the GC after a restart: nothing leaked, nothing deleted that the policy keeps [%s]',
    { timeout: 180_000 },
    async (dialect, { expect, onTestFinished }) => {
      const dir = await tempDir();
      onTestFinished(dir.cleanup);
      let dbUrl = `${dir.path}/master.db`;
      if (dialect === 'postgres') {
        const database = await freshPostgresDatabase();
        onTestFinished(database.drop);
        dbUrl = database.url;
      }
      const store = join(dir.path, 'store');
      const argv = ['--port', '0', '--data-dir', dir.path, '--db', dbUrl];
      let master: ChildMaster = await spawnMaster(argv);
      onTestFinished(async () => {
        master.child.kill('SIGKILL');
        await master.exited;
      });
      const seeded = await seed(master.url, store);
      const total = seeded.checkpoints.size;
      expect((await readdir(store)).length).toBe(total);

      const preview = await call<{ summary: { deleteCount: number; deleteBytes: number } }>(
        master.url,
        seeded.token,
        'GET',
        `/experiments/${seeded.experimentId}/preview_gc?save_experiment_best=${POLICY.saveExperimentBest}&save_trial_best=${POLICY.saveTrialBest}&save_trial_latest=${POLICY.saveTrialLatest}`,
      );
      const bytesBefore = await bytesIn(store);

      // The GC starts; the master is killed once its first deletions show in storage.
      const patch = call(
        master.url,
        seeded.token,
        'PATCH',
        `/api/v1/experiments/${seeded.experimentId}`,
        {
          id: seeded.experimentId,
          checkpointStorage: POLICY,
        },
      ).catch(() => undefined);
      while ((await readdir(store)).length > total - 3) {
        await new Promise((done) => setTimeout(done, 2));
      }
      master.child.kill('SIGKILL');
      expect((await master.exited).signal).toBe('SIGKILL');
      await patch;

      const db = openDb(dbUrl);
      onTestFinished(() => db.close());
      const pending = async () =>
        (await db.kysely.selectFrom('checkpoint_deletions').select('checkpoint_id').execute())
          .length;
      const leftAtKill = await pending();
      const goneAtKill = total - (await readdir(store)).length;

      // Every intent was recorded before the first file went, so none is lost with the process.
      expect(leftAtKill).toBeGreaterThan(0);
      expect(leftAtKill).toBeLessThanOrEqual(total - expectedKept(seeded.checkpoints).size);

      master = await spawnMaster(argv);
      for (let i = 0; i < 2000 && (await pending()) > 0; i++) {
        await new Promise((done) => setTimeout(done, 10));
      }
      expect(await pending()).toBe(0);
      // Applying the policy again finds nothing left to do.
      const again = await call<{ gc: { deleted: unknown[]; failed: unknown[] } }>(
        master.url,
        seeded.token,
        'PATCH',
        `/api/v1/experiments/${seeded.experimentId}`,
        { id: seeded.experimentId, checkpointStorage: POLICY },
      );
      expect(again.gc).toMatchObject({ deleted: [], failed: [] });

      const kept = expectedKept(seeded.checkpoints);
      const rows = await db.kysely.selectFrom('checkpoints').select(['uuid', 'state']).execute();
      const states = new Map(rows.map((r) => [r.uuid, r.state]));
      for (const [uuid] of seeded.checkpoints) {
        expect(states.get(uuid), uuid).toBe(kept.has(uuid) ? 'STATE_COMPLETED' : 'STATE_DELETED');
      }
      expect((await readdir(store)).sort()).toEqual([...kept].sort());
      for (const uuid of kept) {
        expect((await readdir(join(store, uuid))).sort()).toEqual(['model.bin', 'sub']);
      }
      const bytesAfter = await bytesIn(store);
      expect(preview.summary.deleteCount).toBe(total - kept.size);
      expect(bytesBefore - bytesAfter).toBe(preview.summary.deleteBytes);
      master.child.kill('SIGTERM');
      expect(await master.exited).toEqual({ code: 0, signal: null });
      process.stderr.write(
        `gc-crash [${dialect}]: killed with ${goneAtKill} of ${total - kept.size} deletions done ` +
          `in storage and ${leftAtKill} intents pending; after the restart ${kept.size} kept, ` +
          `${total - kept.size} deleted, nothing else in storage; bytes in storage ${bytesBefore} ` +
          `before, ${bytesAfter} after, ${preview.summary.deleteBytes} to free by the preview\n`,
      );
    },
  );
});
