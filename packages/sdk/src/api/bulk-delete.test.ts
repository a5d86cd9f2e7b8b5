import { existsSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import {
  addTrial,
  createTrial,
  reportCheckpoint,
  setCheckpointState,
  startInProcessMaster,
  testDialects,
  testUuid,
} from '../../test/master.js';
import type { MasterTarget, SeededTrial } from '../../test/master.js';
import { createClient } from '../client.js';
import type { Client } from '../client.js';
import { ApiError, ArgumentError, UnexpectedResponseError } from '../errors.js';
import { bulkDeleteCheckpoints } from './bulk-delete.js';
import { getCheckpoint } from './checkpoints.js';
import { createModel, registerModelVersion } from './models.js';

interface Stored {
  uuid: string;
  bytes: number;
}

/** Writes `bytes` bytes into the master's directory storage, then reports the checkpoint. */
async function store(
  master: MasterTarget,
  client: Client,
  trial: SeededTrial,
  state: 'COMPLETED' | 'ERROR',
  bytes: number,
): Promise<Stored> {
  const uuid = testUuid(16);
  await mkdir(join(master.storageDir, uuid), { recursive: true });
  await writeFile(join(master.storageDir, uuid, 'model.bin'), Buffer.alloc(bytes, 1));
  await reportCheckpoint(client, trial, { uuid, steps: bytes, resources: { 'model.bin': bytes } });
  if (state === 'ERROR') {
    await setCheckpointState(master, uuid, 'STATE_ERROR');
  }
  return { uuid, bytes };
}

describe.each(testDialects())('bulkDeleteCheckpoints [%s]', (dialect) => {
  let master: MasterTarget;
  let client: Client;
  let experimentId: number;
  /** Trial A: done (COMPLETED), failed (ERROR), kept (COMPLETED, registered); trial B: failed. */
  let ck: Record<'done' | 'failedA' | 'kept' | 'failedB', Stored>;
  const onDisk = (...checkpoints: Stored[]): boolean[] =>
    checkpoints.map((c) => existsSync(join(master.storageDir, c.uuid)));

  beforeAll(async () => {
    master = await startInProcessMaster(dialect);
    client = await master.login();
    const a = await createTrial(client, { storageDir: master.storageDir });
    const b = await addTrial(client, a.experimentId, { lr: 0.2 });
    experimentId = a.experimentId;
    ck = {
      done: await store(master, client, a, 'COMPLETED', 10),
      failedA: await store(master, client, a, 'ERROR', 20),
      kept: await store(master, client, a, 'COMPLETED', 30),
      failedB: await store(master, client, b, 'ERROR', 40),
    };
    await createModel(client, { name: 'keeper' });
    await registerModelVersion(client, 'keeper', ck.kept.uuid);
  });

  afterAll(async () => {
    await master.close();
  });

  it('says in a dry run what would go and what is skipped, deleting nothing', async () => {
    const result = await bulkDeleteCheckpoints(client, {
      experimentIds: [experimentId],
      dryRun: true,
    });
    expect(result).toEqual({
      deleted: [],
      failed: [],
      freedBytes: 0,
      selected: {
        count: 3,
        bytes: ck.done.bytes + ck.failedA.bytes + ck.failedB.bytes,
        uuids: expect.arrayContaining([ck.done.uuid, ck.failedA.uuid, ck.failedB.uuid]) as string[],
      },
      skipped: [{ uuid: ck.kept.uuid, reason: expect.stringMatching(/registered/) as string }],
      dryRun: true,
    });
    expect(onDisk(ck.done, ck.failedA, ck.kept, ck.failedB)).toEqual([true, true, true, true]);
    expect((await getCheckpoint(client, ck.failedA.uuid)).state).toBe('ERROR');
  });

  it("deletes an experiment's checkpoints in the given states only, files and all", async () => {
    const result = await bulkDeleteCheckpoints(client, {
      experimentIds: [experimentId],
      states: ['ERROR'],
    });
    expect(result.dryRun).toBe(false);
    expect(result.failed).toEqual([]);
    expect(result.deleted).toEqual(
      expect.arrayContaining([
        { uuid: ck.failedA.uuid, bytes: ck.failedA.bytes },
        { uuid: ck.failedB.uuid, bytes: ck.failedB.bytes },
      ]),
    );
    expect(result.deleted).toHaveLength(2);
    expect(result.freedBytes).toBe(ck.failedA.bytes + ck.failedB.bytes);
    expect(onDisk(ck.done, ck.failedA, ck.kept, ck.failedB)).toEqual([true, false, true, false]);
    expect((await getCheckpoint(client, ck.failedB.uuid)).state).toBe('DELETED');
    expect((await getCheckpoint(client, ck.done.uuid)).state).toBe('COMPLETED');
  });

  it('deletes named checkpoints, and refuses a registered one as a whole', async () => {
    const refused = await bulkDeleteCheckpoints(client, {
      checkpointUuids: [ck.done.uuid, ck.kept.uuid],
    }).catch((err: unknown) => err);
    expect(refused).toBeInstanceOf(ApiError);
    expect((refused as ApiError).status).toBe(400);
    expect(onDisk(ck.done, ck.kept)).toEqual([true, true]);

    const result = await bulkDeleteCheckpoints(client, { checkpointUuids: [ck.done.uuid] });
    expect(result.deleted).toEqual([{ uuid: ck.done.uuid, bytes: ck.done.bytes }]);
    expect(result.selected).toEqual({ count: 1, bytes: ck.done.bytes, uuids: [ck.done.uuid] });
    expect(onDisk(ck.done, ck.kept)).toEqual([false, true]);
  });

  it('refuses an empty or malformed selection before asking', async () => {
    const before = master.requests.length;
    await expect(bulkDeleteCheckpoints(client, {})).rejects.toBeInstanceOf(ArgumentError);
    await expect(
      bulkDeleteCheckpoints(client, { checkpointUuids: [], trialIds: [] }),
    ).rejects.toThrow(/say what to delete/);
    await expect(bulkDeleteCheckpoints(client, { trialIds: [0] })).rejects.toThrow(
      /trialIds must hold positive integers, got 0/,
    );
    await expect(
      bulkDeleteCheckpoints(client, {
        experimentIds: [experimentId],
        states: ['DELETED' as 'ERROR'],
      }),
    ).rejects.toThrow(/states must be among COMPLETED, PARTIALLY_DELETED, ERROR, got DELETED/);
    expect(master.requests.length).toBe(before);

    const missing = await bulkDeleteCheckpoints(client, { trialIds: [999_999] }).catch(
      (err: unknown) => err,
    );
    expect((missing as ApiError).status).toBe(404);
  });
});

describe('bulkDeleteCheckpoints answers', () => {
  const answering = (body: unknown): Client =>
    createClient({
      baseUrl: 'http://master.test',
      token: 'v2.public.x',
      fetch: () => Promise.resolve(Response.json(body)),
    });
  const good = {
    deleted: [{ uuid: 'a', bytes: 3 }],
    failed: [{ uuid: 'b', error: 'permission denied' }],
    freedBytes: 3,
    selected: { count: 2, bytes: 5, uuids: ['a', 'b'] },
    skipped: [],
    dryRun: false,
  };

  it('decodes a whole answer, failures included', async () => {
    expect(await bulkDeleteCheckpoints(answering(good), { trialIds: [1] })).toEqual(good);
  });

  it('rejects a malformed answer, naming the field', async () => {
    for (const [body, field] of [
      [{ ...good, failed: undefined }, 'failed'],
      [{ ...good, selected: { ...good.selected, uuids: [1] } }, 'selected.uuids[0]'],
      [{ ...good, skipped: [{ uuid: 'c' }] }, 'skipped[0].reason'],
      [{ ...good, dryRun: 'no' }, 'dryRun'],
    ] as const) {
      const err = await bulkDeleteCheckpoints(answering(body), { trialIds: [1] }).catch(
        (e: unknown) => e,
      );
      expect(err).toBeInstanceOf(UnexpectedResponseError);
      expect((err as Error).message).toContain(`field ${field}:`);
    }
  });
});
