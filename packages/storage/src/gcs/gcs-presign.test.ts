import { randomUUID } from 'node:crypto';

import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';

import { startFakeGcs } from '../../test/fake-gcs.js';
import type { FakeGcs } from '../../test/fake-gcs.js';
import { BUCKET, PREFIX, gcsConfig, scratch } from '../../test/gcs-helpers.js';
import { describePresignedDownloads } from '../../test/presigned-downloads.js';
import { writeServiceAccountKey } from '../../test/presigned-helpers.js';
import type { ServiceAccountKey } from '../../test/presigned-helpers.js';
import type { StoredObject } from '../backend.js';
import { StorageUnreachableError } from '../errors.js';
import { openKeptAliveBody } from '../http/raw-body.js';
import type { GcsStore } from './gcs-store.js';
import { openGcsStore } from './open-gcs.js';

let keyDir: { dir: string; remove: () => Promise<void> };
let key: ServiceAccountKey;
let fake: FakeGcs;
/** Added to the fake's clock: signed URLs' expiry is checked against it. */
let shiftMs: number;
let uuid: string;
let store: GcsStore;

beforeAll(async () => {
  keyDir = await scratch();
  key = await writeServiceAccountKey(keyDir.dir);
});

afterAll(async () => {
  await keyDir.remove();
});

/** The store of checkpoint `id` at `server`, signing with the test key file. */
function signingStore(server: FakeGcs, id: string): GcsStore {
  return openGcsStore(gcsConfig(), id, {
    env: { STORAGE_EMULATOR_HOST: server.endpoint, GOOGLE_APPLICATION_CREDENTIALS: key.path },
  });
}

beforeEach(async () => {
  shiftMs = 0;
  fake = await startFakeGcs({
    now: () => Date.now() + shiftMs,
    signedUrlKeys: { [key.clientEmail]: key.publicKeyPem },
  });
  uuid = randomUUID();
  store = signingStore(fake, uuid);
});

afterEach(async () => {
  await fake.close();
});

const nameOf = (path: string): string => `${PREFIX}/${uuid}/${path}`;

async function listed(path: string): Promise<StoredObject> {
  const found = (await store.list()).find((o) => o.path === path);
  if (found === undefined) {
    throw new Error(`${path} is not listed`);
  }
  return found;
}

async function errorCode(res: Response): Promise<string | undefined> {
  return /<Code>([^<]*)<\/Code>/.exec(await res.text())?.[1];
}

describe('GcsStore.presignRead', () => {
  it('signs a V4 URL at the emulator, pinned to the generation, that plain fetch reads', async () => {
    const { generation } = fake.putObject(BUCKET, nameOf('model.bin'), 'the weights');
    const object = await listed('model.bin');
    const before = Date.now();
    const { url, expiresAtMs } = await store.presignRead(object, 900);
    expect(expiresAtMs).toBeGreaterThanOrEqual(Math.floor(before / 1000) * 1000 + 900_000);
    expect(expiresAtMs).toBeLessThanOrEqual(Date.now() + 900_000);
    expect(url.startsWith(`${fake.endpoint}/${BUCKET}/${nameOf('model.bin')}?`)).toBe(true);
    const q = new URL(url).searchParams;
    expect(q.get('generation')).toBe(generation);
    expect(q.get('X-Goog-Algorithm')).toBe('GOOG4-RSA-SHA256');
    expect(q.get('X-Goog-Credential')).toMatch(
      new RegExp(`^${key.clientEmail}/\\d{8}/auto/storage/goog4_request$`),
    );
    expect(q.get('X-Goog-Expires')).toBe('900');

    const whole = await fetch(url);
    expect(whole.status).toBe(200);
    expect(whole.headers.get('x-goog-generation')).toBe(generation);
    expect(await whole.text()).toBe('the weights');
    const ranged = await fetch(url, { headers: { range: 'bytes=4-10' } });
    expect(ranged.status).toBe(206);
    expect(await ranged.text()).toBe('weights');
    // Rewritten, the object has another generation: the URL reads nothing else.
    fake.putObject(BUCKET, nameOf('model.bin'), 'new weights');
    const gone = await fetch(url);
    expect(gone.status).toBe(404);
    await gone.body?.cancel();
  });

  it('signs a URL that stops working once expired (400 ExpiredToken, as GCS answers)', async () => {
    fake.putObject(BUCKET, nameOf('a.bin'), 'a');
    const { url } = await store.presignRead(await listed('a.bin'), 60);
    expect((await fetch(url)).status).toBe(200);
    shiftMs = 61_000;
    const expired = await fetch(url);
    expect(expired.status).toBe(400);
    expect(await errorCode(expired)).toBe('ExpiredToken');
  });

  it('signs a URL that opens its object and generation only', async () => {
    const a = fake.putObject(BUCKET, nameOf('a.bin'), 'a');
    fake.putObject(BUCKET, nameOf('b.bin'), 'b');
    const { url } = await store.presignRead(await listed('a.bin'), 60);
    const other = await fetch(url.replace('/a.bin?', '/b.bin?'));
    expect(other.status).toBe(403);
    expect(await errorCode(other)).toBe('SignatureDoesNotMatch');
    const unpinned = await fetch(url.replace(`generation=${a.generation}`, 'generation=1'));
    expect(await errorCode(unpinned)).toBe('SignatureDoesNotMatch');
  });

  it('is unsupported on an emulator without a key file, and asks nothing of it', async () => {
    fake.putObject(BUCKET, nameOf('a.bin'), 'a');
    const object = await listed('a.bin');
    const keyless = openGcsStore(gcsConfig(), uuid, {
      env: { STORAGE_EMULATOR_HOST: fake.endpoint },
    });
    const asked = fake.requests.length;
    const err = await keyless.presignRead(object, 60).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(StorageUnreachableError);
    expect(err).toMatchObject({ reason: 'unsupported', storageType: 'gcs' });
    expect((err as Error).message).toContain('cannot sign URLs with these credentials');
    expect(fake.requests).toHaveLength(asked);
  });
});

describePresignedDownloads('GCS', async () => {
  const server = await startFakeGcs({ signedUrlKeys: { [key.clientEmail]: key.publicKeyPem } });
  const id = randomUUID();
  const name = (path: string): string => `${PREFIX}/${id}/${path}`;
  return {
    signer: signingStore(server, id),
    put: (path, data) => {
      server.putObject(BUCKET, name(path), data);
      return Promise.resolve();
    },
    refusal: (path, times) =>
      Promise.resolve(() =>
        server.inject({
          kind: 'status',
          status: 403,
          reason: 'AccessDenied',
          times,
          match: (r) => r.api === 'xml' && r.method === 'GET' && r.name === name(path),
        }),
      ),
    openBody: openKeptAliveBody,
    close: () => server.close(),
  };
});
