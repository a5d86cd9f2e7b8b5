// `POST /api/v1/checkpoints/bulk-delete` (ours): many checkpoints in one call, named or by
// experiment, trial and state, with a dry run, each deleted storage first as a GC deletes.
import { mkdir, readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

import { expect, it } from 'vitest';

import { expectError } from '../../test/expect-error.js';
import { addTrial, call, seedTrial, testUuid } from '../../test/flow.js';
import type { Seeded } from '../../test/flow.js';
import { describeEachDialect } from '../../test/helpers.js';
import type { TestMaster } from '../../test/helpers.js';

interface BulkAnswer {
  deleted: { uuid: string; bytes: number }[];
  failed: { uuid: string; error: string }[];
  freedBytes: number;
  selected: { count: number; bytes: number; uuids: string[] };
  skipped: { uuid: string; reason: string }[];
  dryRun: boolean;
}

/** A COMPLETED checkpoint of `bytes` bytes on disk. */
async function stored(m: TestMaster, s: Seeded, steps: number, bytes: number) {
  const uuid = testUuid();
  await mkdir(join(m.storageDir, uuid), { recursive: true });
  await writeFile(join(m.storageDir, uuid, 'model.bin'), Buffer.alloc(bytes));
  await call(m, s.token, 'POST', '/api/v1/checkpoints', {
    uuid,
    taskId: s.taskId,
    state: 'STATE_COMPLETED',
    resources: { 'model.bin': String(bytes) },
    metadata: { steps_completed: steps },
  });
  return uuid;
}

async function setup(m: TestMaster) {
  const a = await seedTrial(m);
  const b = await addTrial(m, a);
  const a1 = await stored(m, a, 1, 10);
  const a2 = await stored(m, a, 2, 20);
  const aKept = await stored(m, a, 3, 30);
  const b1 = await stored(m, b, 1, 40);
  // PARTIALLY_DELETED: its record lost a file (as `rm` leaves it); 50 bytes remain.
  const bPartial = await stored(m, b, 2, 50);
  await call(m, a.token, 'PATCH', '/api/v1/checkpoints', {
    checkpoints: [
      { uuid: bPartial, resources: { resources: { 'model.bin': '50', 'x.bin': '0' } } },
    ],
  });
  await call(m, a.token, 'PATCH', '/api/v1/checkpoints', {
    checkpoints: [{ uuid: bPartial, resources: { resources: { 'model.bin': '50' } } }],
  });
  // ACTIVE (still being written): no report makes one, so the row is set as a crash leaves it.
  const bActive = await stored(m, b, 3, 60);
  await m.deps.db.kysely
    .updateTable('checkpoints')
    .set({ state: 'STATE_ACTIVE' })
    .where('uuid', '=', bActive)
    .execute();
  await call(m, a.token, 'POST', '/api/v1/models', { name: 'keep' });
  await call(m, a.token, 'POST', '/api/v1/models/keep/versions', { checkpointUuid: aKept });
  return {
    token: a.token,
    experimentId: a.experimentId,
    a,
    b,
    a1,
    a2,
    aKept,
    b1,
    bPartial,
    bActive,
  };
}

async function bulk(m: TestMaster, token: string, body: unknown): Promise<BulkAnswer> {
  return call<BulkAnswer>(m, token, 'POST', '/api/v1/checkpoints/bulk-delete', body);
}

const onDisk = async (m: TestMaster) => (await readdir(m.storageDir)).sort();

describeEachDialect('bulk delete', ({ master }) => {
  it('previews an experiment, skipping registered and ACTIVE checkpoints, then deletes it', async () => {
    const m = master();
    const t = await setup(m);
    const before = await onDisk(m);
    const preview = await bulk(m, t.token, { experimentIds: [t.experimentId], dryRun: true });
    expect(preview).toEqual({
      deleted: [],
      failed: [],
      freedBytes: 0,
      selected: { count: 4, bytes: 120, uuids: [t.a1, t.a2, t.b1, t.bPartial] },
      skipped: [{ uuid: t.aKept, reason: 'registered as version 1 of model "keep"' }],
      dryRun: true,
    });
    expect(await onDisk(m)).toEqual(before);

    const done = await bulk(m, t.token, { experimentIds: [t.experimentId] });
    expect(done.deleted.map((d) => d.uuid)).toEqual(preview.selected.uuids);
    expect([done.freedBytes, done.failed, done.dryRun]).toEqual([120, [], false]);
    expect(await onDisk(m)).toEqual([t.aKept, t.bActive].sort());
    // Nothing left to do the second time.
    expect((await bulk(m, t.token, { experimentIds: [t.experimentId] })).selected.count).toBe(0);
  });

  it('narrows by trial and state, and takes named checkpoints with them', async () => {
    const m = master();
    const t = await setup(m);
    const errors = await bulk(m, t.token, {
      experimentIds: [t.experimentId],
      states: ['STATE_PARTIALLY_DELETED'],
    });
    expect(errors.deleted).toEqual([{ uuid: t.bPartial, bytes: 50 }]);
    const mixed = await bulk(m, t.token, { trialIds: [t.b.trialId], checkpointUuids: [t.a1] });
    expect(mixed.deleted.map((d) => d.uuid)).toEqual([t.a1, t.b1]);
    expect(mixed.freedBytes).toBe(50);
    expect(await onDisk(m)).toEqual([t.a2, t.aKept, t.bActive].sort());
  });

  it('refuses named registered or ACTIVE checkpoints, and bad selectors, changing nothing', async () => {
    const m = master();
    const t = await setup(m);
    const before = await onDisk(m);
    const post = (body: unknown) =>
      m.request('POST', '/api/v1/checkpoints/bulk-delete', { token: t.token, body });
    await expectError(
      await post({ checkpointUuids: [t.a1, t.aKept] }),
      400,
      `${t.aKept}, registered to keep`,
    );
    await expectError(
      await post({ checkpointUuids: [t.bActive] }),
      400,
      `checkpoint ${t.bActive} is ACTIVE`,
    );
    await expectError(await post({}), 400, 'say what to delete');
    await expectError(await post({ experimentIds: [999] }), 404, "experiment '999' not found");
    await expectError(await post({ trialIds: [999] }), 404, "trial '999' not found");
    await expectError(
      await post({ experimentIds: [t.experimentId], states: ['STATE_ACTIVE'] }),
      400,
      'states.0',
    );
    await expectError(await post({ checkpointUuids: ['nope'] }), 400, 'checkpointUuids.0');
    expect(await onDisk(m)).toEqual(before);
  });
});
