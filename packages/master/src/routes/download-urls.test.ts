// `GET /api/v1/checkpoints/{uuid}/download-urls` (our extension): URLs that read a checkpoint's
// objects from its store with no credentials, signed with the master's own (azurite's account
// key; s3rver's keys), each opening its own object only, and only to signed-in users.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import type { CheckpointDownloadUrlsDto } from '@determined-ts/api';
import type { S3Client } from '@aws-sdk/client-s3';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';

import { startAzurite } from '../../../storage/test/azurite.js';
import type { AzuriteHandle } from '../../../storage/test/azurite.js';
import { startFakeGcs } from '../../../storage/test/fake-gcs.js';
import { writeServiceAccountKey } from '../../../storage/test/presigned-helpers.js';
import { startS3rver, testS3Client } from '../../../storage/test/s3rver.js';
import type { S3rverHandle } from '../../../storage/test/s3rver.js';
import { bytes } from '../../test/archives.js';
import { azureBackend, gcsBackend } from '../../test/cloud.js';
import { expectError } from '../../test/expect-error.js';
import { call, reportCheckpoint, seedTrial, testUuid } from '../../test/flow.js';
import { openTestMaster } from '../../test/helpers.js';
import type { TestMaster } from '../../test/helpers.js';
import { putCheckpoint, s3StorageYaml } from '../../test/s3.js';

const FILES: Record<string, Buffer> = {
  'metadata.json': Buffer.from('{"steps_completed": 3}'),
  'model.bin': bytes(200_003, 7),
  'sub/a.txt': Buffer.from('alpha\n'),
};

let azurite: AzuriteHandle;
let s3rver: S3rverHandle;
let s3: S3Client;
const closers: (() => Promise<void>)[] = [];

beforeAll(async () => {
  [azurite, s3rver] = await Promise.all([startAzurite(), startS3rver()]);
  s3 = testS3Client(s3rver.endpoint);
}, 60_000);

afterAll(async () => {
  s3?.destroy();
  await Promise.all([azurite?.close(), s3rver?.close()]);
});

afterEach(async () => {
  for (const close of closers.splice(0)) {
    await close();
  }
});

async function master(storageEnv: Record<string, string> = {}): Promise<TestMaster> {
  // The master reads Azure with its own environment's credentials: the experiments name none.
  const { master: m, close } = await openTestMaster('sqlite', {
    settings: {
      storageEnv: { AZURE_STORAGE_CONNECTION_STRING: azurite.connectionString, ...storageEnv },
    },
  });
  closers.push(close);
  return m;
}

async function urlsOf(
  m: TestMaster,
  token: string,
  uuid: string,
  query = '',
): Promise<CheckpointDownloadUrlsDto> {
  return call<CheckpointDownloadUrlsDto>(
    m,
    token,
    'GET',
    `/api/v1/checkpoints/${uuid}/download-urls${query}`,
  );
}

/** Each file's bytes, fetched with its URL alone. */
async function fetchAll(dto: CheckpointDownloadUrlsDto): Promise<Record<string, Buffer>> {
  const out: Record<string, Buffer> = {};
  for (const o of dto.objects) {
    if (o.url !== undefined) {
      const res = await fetch(o.url);
      expect(res.status, o.path).toBe(200);
      out[o.path] = Buffer.from(await res.arrayBuffer());
    }
  }
  return out;
}

describe('download URLs for azure checkpoints', () => {
  async function stored(): Promise<{ m: TestMaster; token: string; uuid: string }> {
    const m = await master();
    const container = `u-${testUuid().slice(-12)}`;
    const backend = azureBackend(azurite, { hasCredentials: false });
    const s = await seedTrial(m, { storage: backend.storageYaml(container) });
    const uuid = testUuid();
    const resources = await azureBackend(azurite).putCheckpoint(container, uuid, FILES);
    await reportCheckpoint(m, s, 3, { uuid, resources });
    return { m, token: s.token, uuid };
  }

  it('lists every object, files with a URL that reads them with no credentials', async () => {
    const { m, token, uuid } = await stored();
    const before = Date.now();
    const dto = await urlsOf(m, token, uuid, '?expiresInSeconds=120');
    expect(dto.storageType).toBe('azure');
    expect(dto.location).toMatch(new RegExp(`^azure://u-[0-9a-f]+/${uuid}$`));
    expect(dto.objects.map((o) => [o.path, o.size, o.url !== undefined])).toEqual([
      ['metadata.json', String(FILES['metadata.json']?.length), true],
      ['model.bin', '200003', true],
      ['sub/', '0', false],
      ['sub/a.txt', '6', true],
    ]);
    const expiresAt = Date.parse(dto.expiresAt);
    expect(expiresAt).toBeGreaterThan(before);
    expect(expiresAt).toBeLessThanOrEqual(Date.now() + 120_000);
    expect(await fetchAll(dto)).toEqual(
      Object.fromEntries(Object.entries(FILES).sort(([a], [b]) => (a < b ? -1 : 1))),
    );
    // No credential of the master's in the answer: the URLs carry a signature, not the key.
    expect(JSON.stringify(dto)).not.toContain(azurite.accountKey);
  });

  it('gives URLs that open their own object only', async () => {
    const { m, token, uuid } = await stored();
    const dto = await urlsOf(m, token, uuid);
    const url = dto.objects.find((o) => o.path === 'model.bin')?.url ?? '';
    const other = url.replace('/model.bin?', '/sub/a.txt?');
    expect(other).not.toBe(url);
    expect((await fetch(other)).status).toBe(403);
  });

  it('refuses a request without a session', async () => {
    const { m, uuid } = await stored();
    const res = await m.request('GET', `/api/v1/checkpoints/${uuid}/download-urls`);
    await expectError(res, 401, '');
  });
});

describe('download URLs for s3 checkpoints', () => {
  it('signs URLs with the keys of the checkpoint storage, which read the objects without them', async () => {
    const m = await master();
    const prefix = `urls-${testUuid().slice(-12)}`;
    const s = await seedTrial(m, { storage: s3StorageYaml(s3rver.endpoint, prefix) });
    const uuid = testUuid();
    const resources = await putCheckpoint(s3, prefix, uuid, FILES);
    await reportCheckpoint(m, s, 3, { uuid, resources });
    const dto = await urlsOf(m, s.token, uuid);
    expect(dto.storageType).toBe('s3');
    expect(dto.objects.filter((o) => o.url !== undefined).map((o) => o.path)).toEqual([
      'metadata.json',
      'model.bin',
      'sub/a.txt',
    ]);
    expect(await fetchAll(dto)).toEqual(
      Object.fromEntries(Object.entries(FILES).sort(([a], [b]) => (a < b ? -1 : 1))),
    );
    const url = new URL(dto.objects.find((o) => o.path === 'model.bin')?.url ?? '');
    expect(url.searchParams.get('X-Amz-Expires')).toBe('900');
    expect(url.searchParams.has('X-Amz-Signature')).toBe(true);
  });
});

describe('download URLs for gcs checkpoints', () => {
  it('signs V4 URLs pinned to each generation with the master service account', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'det-gcs-key-'));
    closers.push(() => rm(dir, { recursive: true, force: true }));
    const key = await writeServiceAccountKey(dir);
    const gcs = await startFakeGcs({ signedUrlKeys: { [key.clientEmail]: key.publicKeyPem } });
    closers.push(() => gcs.close());
    const m = await master({
      STORAGE_EMULATOR_HOST: gcs.endpoint,
      GOOGLE_APPLICATION_CREDENTIALS: key.path,
    });
    const backend = gcsBackend(gcs);
    const prefix = `urls-${testUuid().slice(-12)}`;
    const s = await seedTrial(m, { storage: backend.storageYaml(prefix) });
    const uuid = testUuid();
    const resources = await backend.putCheckpoint(prefix, uuid, FILES);
    await reportCheckpoint(m, s, 3, { uuid, resources });
    const dto = await urlsOf(m, s.token, uuid);
    expect(dto.storageType).toBe('gcs');
    expect(await fetchAll(dto)).toEqual(
      Object.fromEntries(Object.entries(FILES).sort(([a], [b]) => (a < b ? -1 : 1))),
    );
    const model = dto.objects.find((o) => o.path === 'model.bin');
    const url = new URL(model?.url ?? '');
    expect(url.searchParams.get('generation')).toBe(model?.version);
    expect(url.searchParams.get('X-Goog-Algorithm')).toBe('GOOG4-RSA-SHA256');
    // Rewritten since: the URL reads the generation it was signed for, which is gone.
    gcs.putObject('det-test', `${prefix}/${uuid}/model.bin`, Buffer.from('new weights'));
    expect((await fetch(url)).status).toBe(404);
  });
});
