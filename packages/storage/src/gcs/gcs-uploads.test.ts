import { randomUUID } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';

import { afterEach, beforeEach, describe, expect, it } from 'vitest';

import { startFakeGcs } from '../../test/fake-gcs.js';
import type { FakeGcs } from '../../test/fake-gcs.js';
import {
  BUCKET,
  PREFIX,
  bytes,
  crcOf,
  holds,
  manifestOf,
  recordingProgress,
  scratch,
  testGcsStore,
} from '../../test/gcs-helpers.js';
import { crc32cToBase64 } from '../checksum.js';
import { IntegrityError, TransientStorageError } from '../errors.js';
import { fetchCheckpoint } from '../transfer/fetch-checkpoint.js';
import { uploadFiles } from '../transfer/upload-files.js';
import type { UploadTuning } from '../transfer/upload-files.js';
import type { GcsStore } from './gcs-store.js';

const KiB = 1024;
const MiB = 1024 * KiB;
const RETRY = { attempts: 4, baseDelayMs: 1, maxDelayMs: 5 };
/** Parts of 5 MiB (GCS's least) from 6 MiB on, so tests exercise multipart quickly. */
const TUNING: UploadTuning = { connections: 4, singleRequestBytes: 6 * MiB, minPartBytes: 5 * MiB };

let fake: FakeGcs;
let work: { dir: string; remove: () => Promise<void> };
let uuid: string;
let store: GcsStore;

beforeEach(async () => {
  fake = await startFakeGcs();
  work = await scratch();
  uuid = randomUUID();
  store = testGcsStore(fake.endpoint, uuid);
});

afterEach(async () => {
  await fake.close();
  await work.remove();
});

const nameOf = (path: string): string => `${PREFIX}/${uuid}/${path}`;
const b64 = (data: Uint8Array): string => crc32cToBase64(crcOf(data));

async function fileOf(path: string, data: Uint8Array): Promise<string> {
  const file = join(work.dir, path.replaceAll('/', '_'));
  await writeFile(file, data);
  return file;
}

describe('GcsStore.putObject', () => {
  it('writes a whole object streamed from disk in one request, naming its CRC32C for GCS to check', async () => {
    const data = bytes(300 * KiB);
    await store.putObject(
      'w.bin',
      createReadStream(await fileOf('w.bin', data)),
      data.length,
      b64(data),
    );
    const stored = fake.getObject(BUCKET, nameOf('w.bin'));
    expect(stored.body.equals(data)).toBe(true);
    expect(stored.crc32c).toBe(b64(data));
    const [upload] = fake.requests;
    expect(upload?.query.get('uploadType')).toBe('multipart');
    // One exact Content-Length, no chunked framing, no credentials for an emulator.
    expect(Number(upload?.headers['content-length'])).toBeGreaterThan(data.length);
    expect(upload?.headers['transfer-encoding']).toBeUndefined();
    expect(upload?.headers.authorization).toBeUndefined();
  });

  it('fails, storing nothing, when the CRC32C does not match the bytes', async () => {
    const data = bytes(1000);
    const err = await store
      .putObject('w.bin', data, data.length, b64(bytes(1000)))
      .catch((e: unknown) => e);
    // Corruption on the way looks the same to GCS: worth sending again.
    expect(err).toBeInstanceOf(TransientStorageError);
    expect((err as Error).message).toMatch(/400 invalid: Provided CRC32C/);
    expect(fake.names(BUCKET)).toEqual([]);
  });

  it('writes a directory marker as a zero-byte object, as Determined does', async () => {
    await store.putObject('sub/', new Uint8Array(0), 0, undefined);
    expect(fake.getObject(BUCKET, nameOf('sub/')).body.length).toBe(0);
    expect((await store.list()).map((o) => [o.path, o.size])).toEqual([['sub/', 0]]);
  });

  it('stops an upload when its signal aborts, storing nothing', async () => {
    const stop = new AbortController();
    fake.inject({ kind: 'hook', times: 1, run: () => stop.abort(new Error('stopped')) });
    const data = bytes(4 * MiB);
    const put = store.putObject('w.bin', data, data.length, b64(data), stop.signal);
    await expect(put).rejects.toThrow('stopped');
    expect(fake.names(BUCKET)).toEqual([]);
  });
});

describe('GcsStore.startParts (XML API multipart upload)', () => {
  const parts = [bytes(5 * MiB), bytes(5 * MiB), bytes(123 * KiB)];
  const whole = Buffer.concat(parts);

  it('uploads parts in any order, each checked by its x-goog-hash, and assembles them', async () => {
    const upload = await store.startParts('big.bin');
    const done = await Promise.all(
      [2, 0, 1].map(async (i) => {
        const data = parts[i] as Buffer;
        const etag = await upload.uploadPart(i + 1, data, data.length, b64(data));
        return { partNumber: i + 1, etag, crc32cBase64: b64(data) };
      }),
    );
    await upload.complete(done, b64(whole));
    const stored = fake.getObject(BUCKET, nameOf('big.bin'));
    expect(stored.body.equals(whole)).toBe(true);
    expect(stored.md5).toBeUndefined(); // as GCS: assembled objects have a CRC32C only
    const partRequests = fake.requests.filter((r) => r.query.has('partNumber'));
    expect(partRequests.map((r) => r.headers['x-goog-hash']).sort()).toEqual(
      parts.map((p) => `crc32c=${b64(p)}`).sort(),
    );
    expect(
      partRequests.every((r) => r.api === 'xml' && r.path === `/${BUCKET}/${nameOf('big.bin')}`),
    ).toBe(true);
    expect(fake.pendingUploads()).toEqual([]);
  });

  it('refuses a part whose bytes do not match its CRC32C', async () => {
    const upload = await store.startParts('big.bin');
    const data = parts[0] as Buffer;
    const err = await upload
      .uploadPart(1, data, data.length, b64(parts[1] as Buffer))
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TransientStorageError);
    expect((err as Error).message).toMatch(/400 BadDigest/);
    await upload.abort();
    expect(fake.pendingUploads()).toEqual([]);
  });

  it('deletes an assembled object whose CRC32C is not that of the bytes sent', async () => {
    const upload = await store.startParts('big.bin');
    const done = [];
    for (const [i, data] of parts.entries()) {
      done.push({
        partNumber: i + 1,
        etag: await upload.uploadPart(i + 1, data, data.length, b64(data)),
        crc32cBase64: b64(data),
      });
    }
    const err = await upload.complete(done, b64(bytes(10))).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(IntegrityError);
    expect(fake.names(BUCKET)).toEqual([]);
  });
});

describe('uploadFiles to GCS', () => {
  it('writes small files whole and large ones in parts, and they come back byte for byte', async () => {
    const files = {
      'model.bin': bytes(13 * MiB + 5),
      'sub/small.bin': bytes(100 * KiB),
      'metadata.json': Buffer.from('{"steps_completed":1}'),
    };
    const crcs = await uploadFiles({
      writer: store,
      files: [
        {
          path: 'model.bin',
          size: files['model.bin'].length,
          file: await fileOf('model.bin', files['model.bin']),
        },
        {
          path: 'sub/small.bin',
          size: files['sub/small.bin'].length,
          file: await fileOf('small.bin', files['sub/small.bin']),
        },
        {
          path: 'metadata.json',
          size: files['metadata.json'].length,
          bytes: files['metadata.json'],
        },
      ],
      dirs: ['sub/'],
      tuning: TUNING,
      retry: RETRY,
    });
    expect(crcs).toEqual(Object.fromEntries(Object.entries(files).map(([p, d]) => [p, crcOf(d)])));
    expect(fake.requests.filter((r) => r.query.has('partNumber'))).toHaveLength(3);
    expect(fake.getObject(BUCKET, nameOf('sub/')).body.length).toBe(0);
    // Back through the download engine, checked against the CRC32Cs the upload reported.
    const target = join(work.dir, 'back');
    const manifest = manifestOf(files, { dirs: ['sub/'] });
    await fetchCheckpoint({
      store,
      manifest,
      dir: target,
      journal: undefined,
      progress: recordingProgress(manifest.totalBytes).progress,
      retry: RETRY,
      tuning: {
        connections: 4,
        singleRequestBytes: MiB,
        rangeBytes: 4 * MiB,
        idleTimeoutMs: 30_000,
      },
      signal: new AbortController().signal,
    });
    for (const [path, data] of Object.entries(files)) {
      expect(await holds(join(target, path), data), path).toBe(true);
    }
  });

  it('sends a part again when GCS finds it corrupted on the way', async () => {
    const big = bytes(11 * MiB);
    fake.inject({
      kind: 'flip',
      target: 'request',
      at: 1000,
      times: 1,
      match: (r) => r.query.get('partNumber') === '2',
    });
    await uploadFiles({
      writer: store,
      files: [{ path: 'model.bin', size: big.length, file: await fileOf('model.bin', big) }],
      dirs: [],
      tuning: TUNING,
      retry: RETRY,
    });
    expect(fake.getObject(BUCKET, nameOf('model.bin')).body.equals(big)).toBe(true);
    expect(fake.requests.filter((r) => r.query.get('partNumber') === '2')).toHaveLength(2);
  });

  it('sends a whole object again when GCS finds it corrupted on the way', async () => {
    const small = bytes(200 * KiB);
    fake.inject({ kind: 'flip', target: 'request', at: 5000, times: 1 });
    await uploadFiles({
      writer: store,
      files: [{ path: 'w.bin', size: small.length, bytes: small }],
      dirs: [],
      tuning: TUNING,
      retry: RETRY,
    });
    expect(fake.getObject(BUCKET, nameOf('w.bin')).body.equals(small)).toBe(true);
    expect(fake.requests.filter((r) => r.method === 'POST')).toHaveLength(2);
  });
});
