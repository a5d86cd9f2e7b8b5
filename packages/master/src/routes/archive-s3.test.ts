// The archive of checkpoints in S3: the same archives, validators and ranges as for local
// storage, read from s3rver (a real S3 implementation) and from the storage package's strict
// fake S3 (If-Match, request log, faults).
import { randomBytes } from 'node:crypto';

import type { S3Client } from '@aws-sdk/client-s3';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';

import { startFakeS3 } from '../../../storage/test/fake-s3.js';
import type { FakeS3, FakeS3Request } from '../../../storage/test/fake-s3.js';
import { startS3rver, testS3Client } from '../../../storage/test/s3rver.js';
import type { S3rverHandle } from '../../../storage/test/s3rver.js';
import { bytes, digestsOf, extractArchive } from '../../test/archives.js';
import { expectError } from '../../test/expect-error.js';
import { reportCheckpoint, seedTrial, testUuid } from '../../test/flow.js';
import type { Seeded } from '../../test/flow.js';
import { describeEachDialect, openTestMaster } from '../../test/helpers.js';
import type { TestMaster } from '../../test/helpers.js';
import { capturingLogger, fetchOver, listen } from '../../test/over-http.js';
import { BUCKET, putCheckpoint, putObject, s3StorageYaml } from '../../test/s3.js';

const FILES: Record<string, Buffer> = {
  'metadata.json': Buffer.from('{"steps_completed": 10}'),
  'model.bin': bytes(300_001, 1),
  'empty.txt': Buffer.alloc(0),
  'sub/a.txt': Buffer.from('alpha\n'),
  'sub/dir/deep.bin': bytes(513, 2),
};
const EXPECTED = digestsOf(FILES);

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

/** Puts FILES (with directory markers) in S3 and reports them as a checkpoint of `s`. */
async function storeCheckpoint(
  m: TestMaster,
  s: Seeded,
  prefix: string,
  files: Record<string, Buffer> = FILES,
): Promise<string> {
  const uuid = testUuid();
  const resources = await putCheckpoint(client, prefix, uuid, files);
  await reportCheckpoint(m, s, 10, { uuid, resources });
  return uuid;
}

function download(
  m: TestMaster,
  s: Seeded,
  uuid: string,
  headers: Record<string, string> = {},
  method = 'GET',
): Promise<Response> {
  return m.request(method, `/checkpoints/${uuid}`, { token: s.token, headers });
}

describeEachDialect('checkpoint archive from s3', ({ master }) => {
  it('serves tar, tar.gz and zip holding the regular files byte for byte', async () => {
    const m = master();
    const prefix = `p-${testUuid()}/ckpts`;
    const s = await seedTrial(m, { storage: s3StorageYaml(s3rver.endpoint, prefix) });
    const uuid = await storeCheckpoint(m, s, prefix);
    for (const [accept, kind] of [
      ['application/x-tar', 'tar'],
      ['application/gzip', 'tgz'],
      ['application/zip', 'zip'],
    ] as const) {
      const res = await download(m, s, uuid, { accept });
      expect(res.status, kind).toBe(200);
      const body = Buffer.from(await res.arrayBuffer());
      const { names, files } = extractArchive(body, kind);
      // Listing order (sorted keys); no directory markers; names relative to the checkpoint.
      expect(names, kind).toEqual(Object.keys(FILES).sort());
      expect(files, kind).toEqual(EXPECTED);
      if (kind === 'tar') {
        expect(res.headers.get('content-length')).toBe(String(body.length));
      }
    }
  });
});

describe('checkpoint archive from s3: validators and ranges', () => {
  let m: TestMaster;
  let s: Seeded;
  let prefix: string;
  let closeMaster: () => Promise<void>;

  beforeEach(async () => {
    ({ master: m, close: closeMaster } = await openTestMaster('sqlite'));
    prefix = `p-${testUuid()}`;
    s = await seedTrial(m, { storage: s3StorageYaml(s3rver.endpoint, prefix) });
  });

  afterEach(() => closeMaster());

  it('answers HEAD and Range + If-Range with the exact bytes of the whole tar', async () => {
    const uuid = await storeCheckpoint(m, s, prefix);
    const first = await download(m, s, uuid);
    const full = Buffer.from(await first.arrayBuffer());
    const etag = first.headers.get('etag') ?? '';
    expect(etag).toMatch(/^"[0-9a-f]{32}"$/);
    const head = await download(m, s, uuid, {}, 'HEAD');
    expect([head.status, head.headers.get('etag'), head.headers.get('content-length')]).toEqual([
      200,
      etag,
      String(full.length),
    ]);
    expect((await head.arrayBuffer()).byteLength).toBe(0);
    // Resume points in a header, inside the big object, in the small ones and in the end blocks.
    const modelData = full.indexOf(FILES['model.bin']?.subarray(0, 64) ?? Buffer.alloc(0));
    for (const start of [1, 511, 700, modelData + 12_345, full.length - 1500, full.length - 1]) {
      const res = await download(m, s, uuid, { range: `bytes=${start}-`, 'if-range': etag });
      expect(res.status, String(start)).toBe(206);
      expect(res.headers.get('content-range')).toBe(
        `bytes ${start}-${full.length - 1}/${full.length}`,
      );
      expect(Buffer.from(await res.arrayBuffer()).equals(full.subarray(start)), String(start)).toBe(
        true,
      );
    }
  });

  it('changes the ETag when an object is replaced, and serves the new bytes', async () => {
    const uuid = await storeCheckpoint(m, s, prefix);
    const before = await download(m, s, uuid, {}, 'HEAD');
    const etag = before.headers.get('etag') ?? '';
    // Same size, other bytes: only the object's version tells.
    const replaced = Buffer.from('ALPHA\n');
    await putObject(client, `${prefix}/${uuid}/sub/a.txt`, replaced);
    const after = await download(m, s, uuid, { range: 'bytes=0-', 'if-range': etag });
    expect(after.status).toBe(200); // If-Range names the old archive: the whole new one
    expect(after.headers.get('etag')).not.toBe(etag);
    const { files } = extractArchive(Buffer.from(await after.arrayBuffer()), 'tar');
    expect(files).toEqual(digestsOf({ ...FILES, 'sub/a.txt': replaced }));
    await expectError(await download(m, s, uuid, { 'if-match': etag }), 412, etag);
  });

  it('answers 404 naming the checkpoint and where it looked when no object is there', async () => {
    const uuid = await reportCheckpoint(m, s, 10);
    const body = await expectError(await download(m, s, uuid), 404, uuid);
    expect(body.message).toContain(`s3://${BUCKET}/${prefix}/${uuid}`);
  });
});

describe('checkpoint archive from the fake s3', () => {
  let fake: FakeS3;
  let m: TestMaster;
  let s: Seeded;
  let closeMaster: () => Promise<void>;
  const prefix = 'ckpts';

  beforeEach(async () => {
    fake = await startFakeS3();
    ({ master: m, close: closeMaster } = await openTestMaster('sqlite'));
    s = await seedTrial(m, { storage: s3StorageYaml(fake.endpoint, prefix) });
  });

  afterEach(async () => {
    await closeMaster();
    await fake.close();
  });

  /** Puts `files` in the fake (with directory markers) and reports them; returns the uuid. */
  async function store(files: Record<string, Buffer>): Promise<string> {
    const uuid = testUuid();
    const resources: Record<string, string> = {};
    for (const [name, data] of Object.entries(files)) {
      fake.putObject(BUCKET, `${prefix}/${uuid}/${name}`, data);
      resources[name] = String(data.length);
    }
    fake.putObject(BUCKET, `${prefix}/${uuid}/sub/`, '');
    await reportCheckpoint(m, s, 10, { uuid, resources: { ...resources, 'sub/': '0' } });
    return uuid;
  }

  const objectGets = (uuid: string): FakeS3Request[] =>
    fake.requests.filter((r) => r.method === 'GET' && r.key.startsWith(`${prefix}/${uuid}/`));

  it('reads only the objects, and the bytes of them, that a range needs', async () => {
    const uuid = await store(FILES);
    const full = Buffer.from(await (await download(m, s, uuid)).arrayBuffer());
    const etag = (await download(m, s, uuid, {}, 'HEAD')).headers.get('etag') ?? '';
    const dataStart = full.indexOf(FILES['model.bin']?.subarray(0, 64) ?? Buffer.alloc(0));
    const before = objectGets(uuid).length;
    const [start, end] = [dataStart + 1000, dataStart + 2999];
    const res = await download(m, s, uuid, { range: `bytes=${start}-${end}`, 'if-range': etag });
    expect(res.status).toBe(206);
    expect(Buffer.from(await res.arrayBuffer()).equals(full.subarray(start, end + 1))).toBe(true);
    const gets = objectGets(uuid).slice(before);
    expect(gets.map((r) => [r.key, r.headers.range, r.headers['if-match']])).toEqual([
      [
        `${prefix}/${uuid}/model.bin`,
        'bytes=1000-2999',
        fake.getObject(BUCKET, `${prefix}/${uuid}/model.bin`).etag,
      ],
    ]);
  });

  it('asks again from where a dropped connection stopped, pinned to the version', async () => {
    const uuid = await store(FILES);
    const key = `${prefix}/${uuid}/model.bin`;
    fake.inject({
      kind: 'reset-after',
      bytes: 100_000,
      times: 1,
      match: (r) => r.method === 'GET' && r.key === key,
    });
    const res = await download(m, s, uuid);
    expect(res.status).toBe(200);
    const { files } = extractArchive(Buffer.from(await res.arrayBuffer()), 'tar');
    expect(files).toEqual(EXPECTED);
    const gets = objectGets(uuid).filter((r) => r.key === key);
    expect(gets).toHaveLength(2);
    const resumedAt = Number(/^bytes=(\d+)-300000$/.exec(gets[1]?.headers.range ?? '')?.[1]);
    expect(resumedAt).toBeGreaterThan(0);
    expect(resumedAt).toBeLessThanOrEqual(100_000);
    expect(gets[1]?.headers['if-match']).toBe(fake.getObject(BUCKET, key).etag);
  });

  for (const change of ['replaced', 'deleted'] as const) {
    it(`ends the response early, naming the object, when one is ${change} mid-stream`, async () => {
      const first = randomBytes(3 * 2 ** 20);
      const second = randomBytes(100_000);
      const uuid = await store({ 'a-first.bin': first, 'b-second.bin': second });
      const before = Buffer.from(await (await download(m, s, uuid)).arrayBuffer());
      const key = `${prefix}/${uuid}/b-second.bin`;
      fake.inject({
        kind: 'hook',
        times: 1,
        match: (r) => r.method === 'GET' && r.key === key,
        run: () => {
          if (change === 'replaced') {
            fake.putObject(BUCKET, key, randomBytes(second.length));
          } else {
            fake.deleteObject(BUCKET, key);
          }
        },
      });
      const logger = capturingLogger();
      const server = await listen({ ...m.deps, logger });
      const got = await fetchOver(`${server.url}/checkpoints/${uuid}`, {
        authorization: `Bearer ${s.token}`,
      });
      await server.close();
      expect(got.status).toBe(200);
      expect(got.complete).toBe(false);
      // Mid-stream: the first object went out before the second one's read failed.
      expect(got.body.length).toBeGreaterThan(first.length - 2 ** 20);
      expect(got.body.length).toBeLessThan(before.length);
      // What arrived is the archive as listed: never bytes of another version.
      expect(got.body.equals(before.subarray(0, got.body.length))).toBe(true);
      expect(logger.errors).toHaveLength(1);
      expect(logger.errors[0]).toMatch(
        change === 'replaced' ? /b-second\.bin.*changed/ : /b-second\.bin.*NoSuchKey/,
      );
    });
  }

  it('answers 502 saying why when the store refuses the master', async () => {
    const uuid = await store(FILES);
    fake.inject({ kind: 'status', status: 403, times: 1, match: (r) => r.method === 'GET' });
    const body = await expectError(await download(m, s, uuid), 502, 'access denied');
    expect(body.message).toContain(`the master cannot read s3://${BUCKET}/${prefix}/${uuid}`);
  });

  it('answers 502 when the store cannot be reached', async () => {
    const uuid = await store(FILES);
    await fake.close(); // nothing listens on the endpoint any more
    const body = await expectError(await download(m, s, uuid), 502, 'the master cannot read');
    expect(body.message).toContain(`s3://${BUCKET}/${prefix}/${uuid}`);
    fake = await startFakeS3(); // for afterEach
  });
});
