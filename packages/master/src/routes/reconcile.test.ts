// `POST /api/v1/storage/reconcile` (ours): files in storage with no live checkpoint, and live
// checkpoints whose files are gone or changed; a dry run unless `apply`.
import { mkdir, readdir, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

import { expect, it } from 'vitest';

import { expectError } from '../../test/expect-error.js';
import { call, seedTrial, testUuid } from '../../test/flow.js';
import type { Seeded } from '../../test/flow.js';
import { setState } from '../../test/gc.js';
import { describeEachDialect, tempDir } from '../../test/helpers.js';
import type { TestMaster } from '../../test/helpers.js';

interface Answer {
  orphans: { storage: string; uuid: string; bytes: number; modifiedTime: string }[];
  missing: {
    uuid: string;
    state: string;
    missingPaths: string[];
    changedPaths: string[];
    error?: string;
  }[];
  applied: { orphansDeleted: number; bytesFreed: number; checkpointsUpdated: number } | null;
}

/** Files on disk (path → bytes) under `<storageDir>/<uuid>`. */
async function writeTree(m: TestMaster, uuid: string, files: Record<string, number>) {
  for (const [path, bytes] of Object.entries(files)) {
    if (path.endsWith('/')) {
      await mkdir(join(m.storageDir, uuid, path), { recursive: true });
      continue;
    }
    await mkdir(join(m.storageDir, uuid, path, '..'), { recursive: true });
    await writeFile(join(m.storageDir, uuid, path), Buffer.alloc(bytes));
  }
}

/** A COMPLETED checkpoint whose files are on disk as recorded. */
async function stored(m: TestMaster, s: Seeded, files: Record<string, number>) {
  const uuid = testUuid();
  await writeTree(m, uuid, files);
  await call(m, s.token, 'POST', '/api/v1/checkpoints', {
    uuid,
    taskId: s.taskId,
    state: 'STATE_COMPLETED',
    resources: Object.fromEntries(Object.entries(files).map(([p, n]) => [p, String(n)])),
    metadata: { steps_completed: 1 },
  });
  return uuid;
}

async function setup(m: TestMaster) {
  // Files are written in real time: the master's clock runs a minute ahead of them.
  m.now.ms = Date.now() + 60_000;
  const s = await seedTrial(m);
  return { s, admin: await m.login('admin') };
}

function reconcile(m: TestMaster, token: string, body: unknown = {}): Promise<Answer> {
  return call<Answer>(m, token, 'POST', '/api/v1/storage/reconcile', body);
}

async function exists(path: string): Promise<boolean> {
  return stat(path).then(
    () => true,
    () => false,
  );
}

async function stateOf(m: TestMaster, uuid: string) {
  return m.deps.db.kysely
    .selectFrom('checkpoints')
    .select(['state', 'resources', 'size'])
    .where('uuid', '=', uuid)
    .executeTakeFirstOrThrow();
}

describeEachDialect('POST /api/v1/storage/reconcile', ({ master }) => {
  it('lists an orphan directory on a dry run and deletes it only with apply', async () => {
    const m = master();
    const { admin } = await setup(m);
    const orphan = testUuid();
    await writeTree(m, orphan, { 'model.bin': 30, 'sub/state.bin': 12 });
    const dry = await reconcile(m, admin, { graceSeconds: 0 });
    expect(dry.orphans.map(({ modifiedTime: _t, ...o }) => o)).toEqual([
      { storage: m.storageDir, uuid: orphan, bytes: 42 },
    ]);
    expect(Date.parse(dry.orphans[0]?.modifiedTime ?? '')).toBeLessThanOrEqual(Date.now());
    expect(dry.applied).toBeNull();
    expect(await exists(join(m.storageDir, orphan))).toBe(true);

    const applied = await reconcile(m, admin, { graceSeconds: 0, apply: true });
    expect(applied.applied).toEqual({ orphansDeleted: 1, bytesFreed: 42, checkpointsUpdated: 0 });
    expect(await exists(join(m.storageDir, orphan))).toBe(false);
    expect((await reconcile(m, admin, { graceSeconds: 0 })).orphans).toEqual([]);
  });

  it('ignores entries not named like a checkpoint uuid', async () => {
    const m = master();
    const { admin } = await setup(m);
    await mkdir(join(m.storageDir, 'notes'));
    // Uppercase, and a v1 uuid: neither is how checkpoints are named.
    await mkdir(join(m.storageDir, 'ABCDEF00-0000-4000-8000-000000000001'));
    await mkdir(join(m.storageDir, 'abcdef00-0000-1000-8000-000000000001'));
    await writeFile(join(m.storageDir, `${testUuid()}.tmp`), 'x');
    const answer = await reconcile(m, admin, { graceSeconds: 0, apply: true });
    expect(answer.orphans).toEqual([]);
    expect((await readdir(m.storageDir)).length).toBe(4);
  });

  it('never follows nor deletes a link named like a checkpoint, nor one inside an orphan', async () => {
    const m = master();
    const { admin } = await setup(m);
    const outside = await tempDir();
    try {
      await writeFile(join(outside.path, 'precious.bin'), Buffer.alloc(100));
      const linked = testUuid();
      await symlink(outside.path, join(m.storageDir, linked));
      const orphan = testUuid();
      await writeTree(m, orphan, { 'model.bin': 5 });
      await symlink(outside.path, join(m.storageDir, orphan, 'escape'));
      const answer = await reconcile(m, admin, { graceSeconds: 0, apply: true });
      // The link inside is neither counted nor followed: only the orphan's own 5 bytes.
      expect(answer.orphans.map((o) => [o.uuid, o.bytes])).toEqual([[orphan, 5]]);
      expect(answer.applied).toMatchObject({ orphansDeleted: 1, bytesFreed: 5 });
      expect(await exists(join(m.storageDir, orphan))).toBe(false);
      expect(await exists(join(m.storageDir, linked))).toBe(true);
      expect(await exists(join(outside.path, 'precious.bin'))).toBe(true);
    } finally {
      await outside.cleanup();
    }
  });

  it("counts a DELETED checkpoint's leftover directory as an orphan", async () => {
    const m = master();
    const { s, admin } = await setup(m);
    const uuid = await stored(m, s, { 'model.bin': 7 });
    await setState(m, uuid, 'STATE_DELETED');
    const answer = await reconcile(m, admin, { graceSeconds: 0, apply: true });
    expect(answer.orphans.map((o) => o.uuid)).toEqual([uuid]);
    expect(answer.missing).toEqual([]);
    expect(await exists(join(m.storageDir, uuid))).toBe(false);
  });

  it("never touches a live or ACTIVE checkpoint's directory", async () => {
    const m = master();
    const { s, admin } = await setup(m);
    const live = await stored(m, s, { 'model.bin': 7 });
    const active = await stored(m, s, { 'model.bin': 8 });
    await setState(m, active, 'STATE_ACTIVE');
    const answer = await reconcile(m, admin, { graceSeconds: 0, apply: true });
    expect(answer).toMatchObject({ orphans: [], missing: [] });
    expect(answer.applied).toEqual({ orphansDeleted: 0, bytesFreed: 0, checkpointsUpdated: 0 });
    expect(await exists(join(m.storageDir, live, 'model.bin'))).toBe(true);
    expect(await exists(join(m.storageDir, active, 'model.bin'))).toBe(true);
  });

  it('leaves an orphan younger than the grace period alone', async () => {
    const m = master();
    const { admin } = await setup(m);
    const orphan = testUuid();
    await writeTree(m, orphan, { 'model.bin': 3 });
    const answer = await reconcile(m, admin, { apply: true });
    expect(answer.orphans).toEqual([]);
    expect(await exists(join(m.storageDir, orphan, 'model.bin'))).toBe(true);
  });

  it('reports a missing file and, with apply, records the checkpoint PARTIALLY_DELETED', async () => {
    const m = master();
    const { s, admin } = await setup(m);
    const uuid = await stored(m, s, { 'a.bin': 10, 'dir/b.bin': 20, 'dir/': 0 });
    await rm(join(m.storageDir, uuid, 'a.bin'));
    const dry = await reconcile(m, admin, { graceSeconds: 0 });
    expect(dry.missing).toEqual([
      { uuid, state: 'STATE_COMPLETED', missingPaths: ['a.bin'], changedPaths: [] },
    ]);
    expect((await stateOf(m, uuid)).state).toBe('STATE_COMPLETED');

    const applied = await reconcile(m, admin, { graceSeconds: 0, apply: true });
    expect(applied.applied).toEqual({ orphansDeleted: 0, bytesFreed: 0, checkpointsUpdated: 1 });
    const row = await stateOf(m, uuid);
    expect(row.state).toBe('STATE_PARTIALLY_DELETED');
    expect(JSON.parse(row.resources)).toEqual({ 'dir/': 0, 'dir/b.bin': 20 });
    expect(Number(row.size)).toBe(20);
    expect((await reconcile(m, admin, { graceSeconds: 0 })).missing).toEqual([]);
  });

  it('reports a file of another size as changed and keeps the record as reported', async () => {
    const m = master();
    const { s, admin } = await setup(m);
    const uuid = await stored(m, s, { 'a.bin': 10, 'b.bin': 5 });
    await writeFile(join(m.storageDir, uuid, 'a.bin'), Buffer.alloc(4));
    const before = await stateOf(m, uuid);
    const answer = await reconcile(m, admin, { graceSeconds: 0, apply: true });
    expect(answer.missing).toEqual([
      { uuid, state: 'STATE_COMPLETED', missingPaths: [], changedPaths: ['a.bin'] },
    ]);
    expect(answer.applied?.checkpointsUpdated).toBe(0);
    // The master cannot tell which side is right: the changed file is reported again next time.
    expect(await stateOf(m, uuid)).toEqual(before);
    expect((await reconcile(m, admin, { graceSeconds: 0 })).missing).toHaveLength(1);
  });

  it('marks a checkpoint whose files are all gone DELETED', async () => {
    const m = master();
    const { s, admin } = await setup(m);
    const uuid = await stored(m, s, { 'a.bin': 10, 'b.bin': 5 });
    await rm(join(m.storageDir, uuid), { recursive: true });
    const answer = await reconcile(m, admin, { graceSeconds: 0, apply: true });
    expect(answer.missing).toEqual([
      { uuid, state: 'STATE_COMPLETED', missingPaths: ['a.bin', 'b.bin'], changedPaths: [] },
    ]);
    const row = await stateOf(m, uuid);
    expect(row.state).toBe('STATE_DELETED');
    expect(Number(row.size)).toBe(0);
    const { checkpoint } = await call<{ checkpoint: { state: string } }>(
      m,
      admin,
      'GET',
      `/api/v1/checkpoints/${uuid}`,
    );
    expect(checkpoint.state).toBe('STATE_DELETED');
  });

  it('reports a checkpoint whose store cannot be reached, and changes nothing', async () => {
    const m = master();
    m.now.ms = Date.now() + 60_000;
    // Azure with no credentials anywhere: refused before any request is made.
    const s = await seedTrial(m, { storage: '{type: azure, container: nowhere}' });
    const uuid = testUuid();
    await call(m, s.token, 'POST', '/api/v1/checkpoints', {
      uuid,
      taskId: s.taskId,
      state: 'STATE_COMPLETED',
      resources: { 'a.bin': '10' },
      metadata: { steps_completed: 1 },
    });
    const admin = await m.login('admin');
    const answer = await reconcile(m, admin, { graceSeconds: 0, apply: true });
    expect(answer.missing).toEqual([
      {
        uuid,
        state: 'STATE_COMPLETED',
        missingPaths: [],
        changedPaths: [],
        error: expect.stringContaining('cannot reach') as unknown,
      },
    ]);
    expect(answer.applied).toMatchObject({ checkpointsUpdated: 0 });
    expect((await stateOf(m, uuid)).state).toBe('STATE_COMPLETED');
  });

  it('changes nothing on a dry run', async () => {
    const m = master();
    const { s, admin } = await setup(m);
    const gone = await stored(m, s, { 'a.bin': 10 });
    await rm(join(m.storageDir, gone), { recursive: true });
    const orphan = testUuid();
    await writeTree(m, orphan, { 'x.bin': 1 });
    const before = await m.deps.db.kysely.selectFrom('checkpoints').selectAll().execute();
    const answer = await reconcile(m, admin, { graceSeconds: 0, apply: false });
    expect(answer.orphans).toHaveLength(1);
    expect(answer.missing).toHaveLength(1);
    expect(answer.applied).toBeNull();
    expect(await m.deps.db.kysely.selectFrom('checkpoints').selectAll().execute()).toEqual(before);
    expect(await exists(join(m.storageDir, orphan, 'x.bin'))).toBe(true);
  });

  it('refuses users who are not admins, and bad bodies', async () => {
    const m = master();
    const { s, admin } = await setup(m);
    await expectError(
      await m.request('POST', '/api/v1/storage/reconcile', { token: s.token, body: {} }),
      403,
      'access denied',
    );
    await expectError(
      await m.request('POST', '/api/v1/storage/reconcile', {
        token: admin,
        body: { graceSeconds: -1 },
      }),
      400,
      'graceSeconds',
    );
  });
});
