import { randomUUID } from 'node:crypto';

import { afterEach, beforeEach, describe, expect, it } from 'vitest';

import { startFakeS3 } from '../../test/fake-s3.js';
import type { FakeS3 } from '../../test/fake-s3.js';
import { describePresignedDownloads } from '../../test/presigned-downloads.js';
import { BUCKET, PREFIX, s3Config, testStore } from '../../test/s3-helpers.js';
import { S3RVER_ACCESS_KEY_ID, S3RVER_SECRET_ACCESS_KEY } from '../../test/s3rver.js';
import type { StoredObject } from '../backend.js';
import { openKeptAliveBody } from '../http/raw-body.js';
import { openS3Store } from './open-s3.js';
import type { S3Store } from './s3-store.js';

let fake: FakeS3;
/** Added to the fake's clock: presigned expiry is checked against it. */
let shiftMs: number;
let uuid: string;
let store: S3Store;

beforeEach(async () => {
  shiftMs = 0;
  // Anonymous requests are refused: only a valid signature opens an object.
  fake = await startFakeS3({ shouldRequireAuth: true, now: () => Date.now() + shiftMs });
  uuid = randomUUID();
  store = testStore(fake.endpoint, uuid);
});

afterEach(async () => {
  await fake.close();
});

const keyOf = (path: string): string => `${PREFIX}/${uuid}/${path}`;

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

describe('S3Store.presignRead', () => {
  it('signs a URL that plain fetch reads with no credentials, Range and If-Match unsigned', async () => {
    const { etag } = fake.putObject(BUCKET, keyOf('model.bin'), 'the weights');
    const before = Date.now();
    const { url, expiresAtMs } = await store.presignRead(await listed('model.bin'), 900);
    expect(expiresAtMs).toBeGreaterThanOrEqual(Math.floor(before / 1000) * 1000 + 900_000);
    expect(expiresAtMs).toBeLessThanOrEqual(Date.now() + 900_000);
    const q = new URL(url).searchParams;
    expect(q.get('X-Amz-Expires')).toBe('900');
    expect(q.get('X-Amz-SignedHeaders')).toBe('host');
    expect(url.startsWith(`${fake.endpoint}/${BUCKET}/${keyOf('model.bin')}?`)).toBe(true);

    const whole = await fetch(url);
    expect(whole.status).toBe(200);
    expect(await whole.text()).toBe('the weights');
    const ranged = await fetch(url, { headers: { range: 'bytes=4-10', 'if-match': etag } });
    expect(ranged.status).toBe(206);
    expect(await ranged.text()).toBe('weights');
    const stale = await fetch(url, { headers: { 'if-match': '"0000"' } });
    expect(stale.status).toBe(412);
    await stale.body?.cancel();
    // Without the signature the object is not readable at all.
    const anonymous = await fetch(url.slice(0, url.indexOf('?')));
    expect(anonymous.status).toBe(403);
    await anonymous.body?.cancel();
  });

  it('signs a URL that stops working once expired', async () => {
    fake.putObject(BUCKET, keyOf('a.bin'), 'a');
    const { url } = await store.presignRead(await listed('a.bin'), 60);
    expect((await fetch(url)).status).toBe(200);
    shiftMs = 61_000;
    const expired = await fetch(url);
    expect(expired.status).toBe(403);
    expect(await expired.text()).toContain('<Message>Request has expired</Message>');
  });

  it('signs a URL that opens its object only', async () => {
    fake.putObject(BUCKET, keyOf('a.bin'), 'a');
    fake.putObject(BUCKET, keyOf('b.bin'), 'b');
    const { url } = await store.presignRead(await listed('a.bin'), 60);
    const other = await fetch(url.replace('/a.bin?', '/b.bin?'));
    expect(other.status).toBe(403);
    expect(await errorCode(other)).toBe('SignatureDoesNotMatch');
  });

  it('signs no x-amz-* header: checksum mode sent along is refused, as S3 refuses it', async () => {
    fake.putObject(BUCKET, keyOf('a.bin'), 'a');
    const { url } = await store.presignRead(await listed('a.bin'), 60);
    const res = await fetch(url, { headers: { 'x-amz-checksum-mode': 'ENABLED' } });
    expect(res.status).toBe(403);
    expect(await res.text()).toContain('headers present in the request which were not signed');
  });

  it('never outlives temporary credentials, and signs their session token', async () => {
    fake.putObject(BUCKET, keyOf('a.bin'), 'a');
    const expiration = new Date(Date.now() + 120_000);
    const session = openS3Store({ ...s3Config(fake.endpoint), accessKey: undefined }, uuid, {
      env: {},
      credentials: {
        accessKeyId: S3RVER_ACCESS_KEY_ID,
        secretAccessKey: S3RVER_SECRET_ACCESS_KEY,
        sessionToken: 'session-token',
        expiration,
      },
      openBody: openKeptAliveBody,
    });
    const { url, expiresAtMs } = await session.presignRead(await listed('a.bin'), 3600);
    expect(expiresAtMs).toBeLessThanOrEqual(expiration.getTime());
    const q = new URL(url).searchParams;
    expect(Number(q.get('X-Amz-Expires'))).toBeLessThanOrEqual(120);
    expect(Number(q.get('X-Amz-Expires'))).toBeGreaterThan(100);
    expect(q.get('X-Amz-Security-Token')).toBe('session-token');
    expect((await fetch(url)).status).toBe(200);
    // The token is signed: another one breaks the signature.
    const forged = await fetch(url.replace('session-token', 'other-token'));
    expect(await errorCode(forged)).toBe('SignatureDoesNotMatch');
  });

  it('signs for 7 days at most', async () => {
    fake.putObject(BUCKET, keyOf('a.bin'), 'a');
    const { url, expiresAtMs } = await store.presignRead(await listed('a.bin'), 30 * 86_400);
    expect(new URL(url).searchParams.get('X-Amz-Expires')).toBe('604800');
    expect(expiresAtMs).toBeLessThanOrEqual(Date.now() + 604_800_000);
  });
});

describePresignedDownloads('S3', async () => {
  const server = await startFakeS3({ shouldRequireAuth: true });
  const id = randomUUID();
  const key = (path: string): string => `${PREFIX}/${id}/${path}`;
  return {
    signer: testStore(server.endpoint, id),
    put: (path, data) => {
      server.putObject(BUCKET, key(path), data);
      return Promise.resolve();
    },
    refusal: (path, times) =>
      Promise.resolve(() =>
        server.inject({
          kind: 'status',
          status: 403,
          times,
          match: (r) => r.method === 'GET' && r.key === key(path),
        }),
      ),
    openBody: openKeptAliveBody,
    close: () => server.close(),
  };
});
