// Deleting checkpoint files from S3 (`DELETE /api/v1/checkpoints`, `POST /api/v1/checkpoints/rm`):
// objects go from the bucket, rows record what remains, and a failing store changes nothing.
import type { CheckpointDto } from '@determined-ts/api';
import type { S3Client } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, expect, it } from 'vitest';

import { startFakeS3 } from '../../../storage/test/fake-s3.js';
import { startS3rver, testS3Client } from '../../../storage/test/s3rver.js';
import type { S3rverHandle } from '../../../storage/test/s3rver.js';
import { expectError } from '../../test/expect-error.js';
import { call, seedTrial, testUuid } from '../../test/flow.js';
import type { Seeded } from '../../test/flow.js';
import { describeEachDialect } from '../../test/helpers.js';
import type { TestMaster } from '../../test/helpers.js';
import { BUCKET, listKeys, putCheckpoint, putObject, s3StorageYaml } from '../../test/s3.js';

const FILES: Record<string, Buffer> = {
  'metadata.json': Buffer.from('{"steps_completed": 10}'),
  'model.bin': Buffer.from('weights'),
  'sub/a.txt': Buffer.from('alpha'),
  'sub/dir/b.bin': Buffer.from('bravo'),
};
/** CRC32C of each file, as a reporter computes them (values only need the right form here). */
const CRC32C = {
  'metadata.json': '0a0b0c0d',
  'model.bin': '11223344',
  'sub/a.txt': 'aabbccdd',
  'sub/dir/b.bin': '01234567',
};

let s3rver: S3rverHandle;
let client: S3Client;

beforeAll(async () => {
  s3rver = await startS3rver();
  client = testS3Client(s3rver.endpoint);
});

afterAll(async () => {
  client.destroy();
  await s3rver.close();
});

/** Puts FILES under `<prefix>/<uuid>/` and reports them with their CRC32Cs; returns the uuid. */
async function storeCheckpoint(
  m: TestMaster,
  s: Seeded,
  prefix: string,
  s3: S3Client = client,
): Promise<{ uuid: string; resources: Record<string, string> }> {
  const uuid = testUuid();
  const resources = await putCheckpoint(s3, prefix, uuid, FILES);
  await call(m, s.token, 'POST', '/api/v1/checkpoints', {
    uuid,
    taskId: s.taskId,
    state: 'STATE_COMPLETED',
    resources,
    metadata: { steps_completed: 10 },
    crc32c: CRC32C,
  });
  return { uuid, resources };
}

async function getCheckpoint(m: TestMaster, s: Seeded, uuid: string): Promise<CheckpointDto> {
  return (
    await call<{ checkpoint: CheckpointDto }>(m, s.token, 'GET', `/api/v1/checkpoints/${uuid}`)
  ).checkpoint;
}

/** The keys of a checkpoint, relative to it. */
async function keysOf(prefix: string, uuid: string): Promise<string[]> {
  const base = `${prefix}/${uuid}/`;
  return (await listKeys(client, base)).map((k) => k.slice(base.length));
}

describeEachDialect('delete checkpoint files from s3', ({ master }) => {
  it('deletes every object of the checkpoint, strays included, and marks it DELETED', async () => {
    const m = master();
    const prefix = `del-${testUuid()}`;
    const s = await seedTrial(m, { storage: s3StorageYaml(s3rver.endpoint, prefix) });
    const gone = await storeCheckpoint(m, s, prefix);
    const kept = await storeCheckpoint(m, s, prefix);
    // An object the report never listed: a trainer's leftover.
    await putObject(client, `${prefix}/${gone.uuid}/stray.tmp`, Buffer.from('left behind'));
    await call(m, s.token, 'DELETE', '/api/v1/checkpoints', { checkpointUuids: [gone.uuid] });
    expect(await keysOf(prefix, gone.uuid)).toEqual([]);
    expect(await keysOf(prefix, kept.uuid)).toEqual(Object.keys(kept.resources).sort());
    const got = await getCheckpoint(m, s, gone.uuid);
    expect([got.state, got.resources, got.crc32c]).toEqual(['STATE_DELETED', {}, {}]);
    expect((await getCheckpoint(m, s, kept.uuid)).state).toBe('STATE_COMPLETED');
    // Deleting again is a no-op.
    await call(m, s.token, 'DELETE', '/api/v1/checkpoints', { checkpointUuids: [gone.uuid] });
    expect((await getCheckpoint(m, s, gone.uuid)).state).toBe('STATE_DELETED');
  });

  it('removes the objects a glob matches, records what remains and prunes crc32c', async () => {
    const m = master();
    const prefix = `rm-${testUuid()}`;
    const s = await seedTrial(m, { storage: s3StorageYaml(s3rver.endpoint, prefix) });
    const c = await storeCheckpoint(m, s, prefix);
    await call(m, s.token, 'POST', '/api/v1/checkpoints/rm', {
      checkpointUuids: [c.uuid],
      checkpointGlobs: ['**/*.bin'],
    });
    const remaining = ['metadata.json', 'sub/', 'sub/a.txt', 'sub/dir/'];
    expect(await keysOf(prefix, c.uuid)).toEqual(remaining);
    let got = await getCheckpoint(m, s, c.uuid);
    expect(got.state).toBe('STATE_PARTIALLY_DELETED');
    expect(Object.keys(got.resources).sort()).toEqual(remaining);
    expect(got.crc32c).toEqual({
      'metadata.json': CRC32C['metadata.json'],
      'sub/a.txt': CRC32C['sub/a.txt'],
    });
    // Removing what is left, directory markers included, deletes the checkpoint.
    await call(m, s.token, 'POST', '/api/v1/checkpoints/rm', {
      checkpointUuids: [c.uuid],
      checkpointGlobs: ['**'],
    });
    expect(await keysOf(prefix, c.uuid)).toEqual([]);
    got = await getCheckpoint(m, s, c.uuid);
    expect([got.state, got.resources, got.crc32c]).toEqual(['STATE_DELETED', {}, {}]);
  });

  it('counts an object already missing from the bucket as deleted', async () => {
    const m = master();
    const prefix = `missing-${testUuid()}`;
    const s = await seedTrial(m, { storage: s3StorageYaml(s3rver.endpoint, prefix) });
    const uuid = testUuid();
    // Reported, but model.bin never reached the bucket.
    await putObject(client, `${prefix}/${uuid}/metadata.json`, Buffer.from('{}'));
    await call(m, s.token, 'POST', '/api/v1/checkpoints', {
      uuid,
      taskId: s.taskId,
      state: 'STATE_COMPLETED',
      resources: { 'metadata.json': '2', 'model.bin': '7' },
      metadata: { steps_completed: 1 },
    });
    await call(m, s.token, 'POST', '/api/v1/checkpoints/rm', {
      checkpointUuids: [uuid],
      checkpointGlobs: ['model.bin'],
    });
    expect(await keysOf(prefix, uuid)).toEqual(['metadata.json']);
    expect((await getCheckpoint(m, s, uuid)).resources).toEqual({ 'metadata.json': '2' });
  });

  it('leaves the checkpoint as it was and answers 502 when the store refuses', async () => {
    const m = master();
    const fake = await startFakeS3();
    try {
      const prefix = 'refused';
      const s = await seedTrial(m, { storage: s3StorageYaml(fake.endpoint, prefix) });
      const fakeClient = testS3Client(fake.endpoint);
      const c = await storeCheckpoint(m, s, prefix, fakeClient);
      fakeClient.destroy();
      const before = await getCheckpoint(m, s, c.uuid);
      const keys = fake.keys(BUCKET);
      for (const [method, path, body] of [
        ['DELETE', '/api/v1/checkpoints', { checkpointUuids: [c.uuid] }],
        [
          'POST',
          '/api/v1/checkpoints/rm',
          { checkpointUuids: [c.uuid], checkpointGlobs: ['*.bin'] },
        ],
      ] as const) {
        // Every DeleteObjects request is refused.
        fake.inject({
          kind: 'status',
          status: 403,
          times: 1,
          match: (r) => r.method === 'POST' && r.query.has('delete'),
        });
        const res = await m.request(method, path, { token: s.token, body });
        const error = await expectError(res, 502, 'access denied');
        expect(error.message).toContain(
          `the master cannot delete files of checkpoint ${c.uuid} from s3://${BUCKET}/${prefix}/${c.uuid}`,
        );
        expect(fake.keys(BUCKET)).toEqual(keys);
        expect(await getCheckpoint(m, s, c.uuid)).toEqual(before);
      }
    } finally {
      await fake.close();
    }
  });

  it('leaves the checkpoint as it was and answers 502 when the store cannot be reached', async () => {
    const m = master();
    const fake = await startFakeS3();
    const endpoint = fake.endpoint;
    await fake.close(); // nothing listens there any more
    const s = await seedTrial(m, { storage: s3StorageYaml(endpoint, 'gone') });
    const uuid = testUuid();
    await call(m, s.token, 'POST', '/api/v1/checkpoints', {
      uuid,
      taskId: s.taskId,
      state: 'STATE_COMPLETED',
      resources: { 'model.bin': '7' },
      metadata: { steps_completed: 1 },
      crc32c: { 'model.bin': CRC32C['model.bin'] },
    });
    const before = await getCheckpoint(m, s, uuid);
    const res = await m.request('DELETE', '/api/v1/checkpoints', {
      token: s.token,
      body: { checkpointUuids: [uuid] },
    });
    const error = await expectError(
      res,
      502,
      `the master cannot delete files of checkpoint ${uuid}`,
    );
    expect(error.message).toContain(`s3://${BUCKET}/gone/${uuid}`);
    expect(await getCheckpoint(m, s, uuid)).toEqual(before);
  });
});
