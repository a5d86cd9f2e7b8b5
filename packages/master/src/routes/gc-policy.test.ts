// Setting an experiment's GC policy (`PATCH /api/v1/experiments/{id}` with `checkpointStorage`,
// what `det experiment set gc-policy` sends): the policy is saved and collected with at once,
// storage first, checkpoint by checkpoint, with intents that survive a crash.
import { mkdir, readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

import type { CheckpointDto, ExperimentDto } from '@determined-ts/api';
import { expect, it } from 'vitest';

import { startFakeS3 } from '../../../storage/test/fake-s3.js';
import { expectError } from '../../test/expect-error.js';
import { addTrial, call, reportCheckpoint, reportMetric, seedTrial } from '../../test/flow.js';
import type { Seeded } from '../../test/flow.js';
import { endTrials } from '../../test/gc.js';
import { describeEachDialect } from '../../test/helpers.js';
import type { TestMaster } from '../../test/helpers.js';
import { s3StorageYaml } from '../../test/s3.js';
import { resumePendingDeletions } from '../services/checkpoint-gc.js';

interface GcAnswer {
  experiment: ExperimentDto;
  gc: {
    deleted: { uuid: string; bytes: number }[];
    failed: { uuid: string; error: string }[];
    freedBytes: number;
  };
}

/** A checkpoint with its files on disk (120 bytes) and a validation loss at its step. */
async function checkpointWithFiles(
  m: TestMaster,
  s: Seeded,
  steps: number,
  loss: number | undefined,
): Promise<string> {
  const uuid = await reportCheckpoint(m, s, steps);
  const dir = join(m.storageDir, uuid);
  await mkdir(dir, { recursive: true });
  await writeFile(join(dir, 'metadata.json'), 'x'.repeat(20));
  await writeFile(join(dir, 'model.bin'), Buffer.alloc(100, 7));
  if (loss !== undefined) {
    await reportMetric(m, s, 'validation', steps, { validation_loss: loss });
  }
  return uuid;
}

async function stateOf(m: TestMaster, token: string, uuid: string): Promise<string> {
  return (await call<{ checkpoint: CheckpointDto }>(m, token, 'GET', `/api/v1/checkpoints/${uuid}`))
    .checkpoint.state;
}

async function onDisk(m: TestMaster): Promise<string[]> {
  return (await readdir(m.storageDir)).sort();
}

/** Trial A: 100 (0.9), 200 (0.3), 300 (0.5); trial B: 100 (0.4), 200 (none). */
async function twoTrials(m: TestMaster) {
  const a = await seedTrial(m);
  const b = await addTrial(m, a);
  const a100 = await checkpointWithFiles(m, a, 100, 0.9);
  const a200 = await checkpointWithFiles(m, a, 200, 0.3);
  const a300 = await checkpointWithFiles(m, a, 300, 0.5);
  const b100 = await checkpointWithFiles(m, b, 100, 0.4);
  const b200 = await checkpointWithFiles(m, b, 200, undefined);
  await endTrials(m, a.experimentId);
  return { token: a.token, experimentId: a.experimentId, a100, a200, a300, b100, b200 };
}

function patch(m: TestMaster, token: string, id: number, policy: Record<string, unknown>) {
  return m.request('PATCH', `/api/v1/experiments/${id}`, {
    token,
    body: { id, checkpointStorage: policy },
  });
}

describeEachDialect('GC policy', ({ master }) => {
  it('saves the new policy and collects with it at once, files first', async () => {
    const m = master();
    const t = await twoTrials(m);
    const res = await patch(m, t.token, t.experimentId, {
      saveExperimentBest: 0,
      saveTrialBest: 1,
      saveTrialLatest: 0,
    });
    expect(res.status, await res.clone().text()).toBe(200);
    const answer = (await res.json()) as GcAnswer;
    // Kept: the best of each trial (A@200, B@100); B@200 has no value, so it is never "best".
    expect(answer.gc.deleted.map((d) => d.uuid).sort()).toEqual([t.a100, t.a300, t.b200].sort());
    expect(answer.gc.deleted.every((d) => d.bytes === 120)).toBe(true);
    expect(answer.gc).toMatchObject({ failed: [], freedBytes: 360 });
    expect(answer.experiment.config).toMatchObject({
      checkpoint_storage: { save_experiment_best: 0, save_trial_best: 1, save_trial_latest: 0 },
    });
    const { experiment } = await call<{ experiment: ExperimentDto }>(
      m,
      t.token,
      'GET',
      `/api/v1/experiments/${t.experimentId}`,
    );
    expect(experiment.config).toMatchObject({
      checkpoint_storage: { type: 'directory', save_trial_best: 1, save_trial_latest: 0 },
    });
    expect(await onDisk(m)).toEqual([t.a200, t.b100].sort());
    for (const uuid of [t.a100, t.a300, t.b200]) {
      expect(await stateOf(m, t.token, uuid)).toBe('STATE_DELETED');
    }
    expect(await stateOf(m, t.token, t.a200)).toBe('STATE_COMPLETED');

    // Again with the same policy: nothing left to do.
    const again = (await (
      await patch(m, t.token, t.experimentId, {
        saveExperimentBest: 0,
        saveTrialBest: 1,
        saveTrialLatest: 0,
      })
    ).json()) as GcAnswer;
    expect(again.gc).toEqual({ deleted: [], failed: [], freedBytes: 0 });
  });

  it('never deletes a registered checkpoint, whatever the policy', async () => {
    const m = master();
    const t = await twoTrials(m);
    await call(m, t.token, 'POST', '/api/v1/models', { name: 'keep' });
    await call(m, t.token, 'POST', '/api/v1/models/keep/versions', { checkpointUuid: t.a100 });
    const answer = (await (
      await patch(m, t.token, t.experimentId, {
        saveExperimentBest: 0,
        saveTrialBest: 0,
        saveTrialLatest: 0,
      })
    ).json()) as GcAnswer;
    expect(answer.gc.deleted.map((d) => d.uuid).sort()).toEqual(
      [t.a200, t.a300, t.b100, t.b200].sort(),
    );
    expect(await onDisk(m)).toEqual([t.a100]);
    expect(await stateOf(m, t.token, t.a100)).toBe('STATE_COMPLETED');
  });

  it('leaves checkpoints it cannot delete as they were, and says why', async () => {
    const m = master();
    const fake = await startFakeS3();
    await fake.close(); // nothing listens there any more
    const s = await seedTrial(m, { storage: s3StorageYaml(fake.endpoint, 'gone') });
    const old = await reportCheckpoint(m, s, 100);
    const latest = await reportCheckpoint(m, s, 200);
    const files = async () => {
      const { checkpoint } = await call<{ checkpoint: CheckpointDto }>(
        m,
        s.token,
        'GET',
        `/api/v1/checkpoints/${old}`,
      );
      return [checkpoint.state, checkpoint.resources];
    };
    const before = await files();
    const answer = (await (
      await patch(m, s.token, s.experimentId, {
        saveExperimentBest: 0,
        saveTrialBest: 0,
        saveTrialLatest: 1,
      })
    ).json()) as GcAnswer;
    expect(answer.gc.deleted).toEqual([]);
    expect(answer.gc.freedBytes).toBe(0);
    expect(answer.gc.failed.map((f) => f.uuid)).toEqual([old]);
    expect(answer.gc.failed[0]?.error).toContain(
      `the master cannot delete files of checkpoint ${old}`,
    );
    expect(await files()).toEqual(before);
    expect(await stateOf(m, s.token, latest)).toBe('STATE_COMPLETED');
    const intents = await m.deps.db.kysely.selectFrom('checkpoint_deletions').selectAll().execute();
    expect(intents).toEqual([]);
  });

  it('deletes nothing from a directory storage whose root the master does not see', async () => {
    const m = master();
    // The trainer's path, not mounted on the master's machine (Determined's GC would mark its
    // checkpoints DELETED as if their files were gone).
    const absent = join(m.storageDir, 'not-mounted');
    const s = await seedTrial(m, { storage: `{type: directory, container_path: ${absent}}` });
    const old = await reportCheckpoint(m, s, 100);
    await reportCheckpoint(m, s, 200);
    const answer = (await (
      await patch(m, s.token, s.experimentId, {
        saveExperimentBest: 0,
        saveTrialBest: 0,
        saveTrialLatest: 1,
      })
    ).json()) as GcAnswer;
    expect(answer.gc.deleted).toEqual([]);
    expect(answer.gc.failed.map((f) => f.uuid)).toEqual([old]);
    expect(answer.gc.failed[0]?.error).toContain(
      `its storage root ${absent} is not a directory on the master`,
    );
    expect(await stateOf(m, s.token, old)).toBe('STATE_COMPLETED');
    await expectError(
      await m.request('DELETE', '/api/v1/checkpoints', {
        token: s.token,
        body: { checkpointUuids: [old] },
      }),
      502,
      `its storage root ${absent} is not a directory on the master`,
    );
    expect(await stateOf(m, s.token, old)).toBe('STATE_COMPLETED');
  });

  it('finishes a deletion a killed master left half-done, and refuses to register it meanwhile', async () => {
    const m = master();
    const t = await twoTrials(m);
    const row = await m.deps.db.kysely
      .selectFrom('checkpoints')
      .select('id')
      .where('uuid', '=', t.a300)
      .executeTakeFirstOrThrow();
    // What a master killed after recording the intent and deleting one file leaves behind.
    await m.deps.db.kysely
      .insertInto('checkpoint_deletions')
      .values({ checkpoint_id: row.id, requested_at: m.now.ms, reason: 'test' })
      .execute();
    const { rm } = await import('node:fs/promises');
    await rm(join(m.storageDir, t.a300, 'model.bin'));

    await call(m, t.token, 'POST', '/api/v1/models', { name: 'late' });
    await expectError(
      await m.request('POST', '/api/v1/models/late/versions', {
        token: t.token,
        body: { checkpointUuid: t.a300 },
      }),
      400,
      `checkpoint ${t.a300} is being deleted and cannot be registered`,
    );

    const outcome = await resumePendingDeletions(m.deps);
    expect(outcome).toEqual({
      deleted: [{ uuid: t.a300, bytes: 120 }],
      failed: [],
      freedBytes: 120,
    });
    expect(await stateOf(m, t.token, t.a300)).toBe('STATE_DELETED');
    expect(await onDisk(m)).not.toContain(t.a300);
    expect(await m.deps.db.kysely.selectFrom('checkpoint_deletions').selectAll().execute()).toEqual(
      [],
    );
  });

  it('refuses a bad policy or id, changing nothing', async () => {
    const m = master();
    const t = await twoTrials(m);
    await expectError(
      await patch(m, t.token, t.experimentId, { saveTrialBest: -1 }),
      400,
      'checkpointStorage.saveTrialBest',
    );
    await expectError(
      await patch(m, t.token, t.experimentId, { saveTrialBest: 'one' }),
      400,
      'checkpointStorage.saveTrialBest',
    );
    await expectError(
      await m.request('PATCH', `/api/v1/experiments/${t.experimentId}`, {
        token: t.token,
        body: { id: t.experimentId + 1, checkpointStorage: {} },
      }),
      400,
      'differs from',
    );
    await expectError(await patch(m, t.token, 999, { saveTrialBest: 1 }), 404, "experiment '999'");
    // Determined's clients change descriptions and names through this route too.
    await expectError(
      await m.request('PATCH', `/api/v1/experiments/${t.experimentId}`, {
        token: t.token,
        body: { id: t.experimentId, description: 'x', name: 'y' },
      }),
      400,
      'changes only checkpointStorage (the GC policy) of an experiment, not description, name',
    );
    expect(await onDisk(m)).toHaveLength(5);
  });
});
