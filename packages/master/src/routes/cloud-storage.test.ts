// Checkpoints in GCS (the storage package's fake GCS) and Azure (azurite): the master serves
// their archives and deletes their files as it does for local and S3 storage, reading each store
// with the experiment's credentials, else its own `checkpoint_storage`'s, else its environment.
import type { CheckpointDto } from '@determined-ts/api';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';

import { startAzurite } from '../../../storage/test/azurite.js';
import type { AzuriteHandle } from '../../../storage/test/azurite.js';
import { startFakeGcs } from '../../../storage/test/fake-gcs.js';
import type { FakeGcs } from '../../../storage/test/fake-gcs.js';
import { bytes, digestsOf, extractArchive } from '../../test/archives.js';
import { azureBackend, gcsBackend } from '../../test/cloud.js';
import type { CloudBackend } from '../../test/cloud.js';
import { expectError } from '../../test/expect-error.js';
import { call, reportCheckpoint, seedTrial, testUuid } from '../../test/flow.js';
import type { Seeded } from '../../test/flow.js';
import { openTestMaster } from '../../test/helpers.js';
import type { TestMaster } from '../../test/helpers.js';
import type { AppSettings } from '../context.js';

const FILES: Record<string, Buffer> = {
  'metadata.json': Buffer.from('{"steps_completed": 10}'),
  'model.bin': bytes(300_001, 1),
  'empty.txt': Buffer.alloc(0),
  'sub/a.txt': Buffer.from('alpha\n'),
  'sub/dir/deep.bin': bytes(513, 2),
};

let gcs: FakeGcs;
let azurite: AzuriteHandle;
const closers: (() => Promise<void>)[] = [];

beforeAll(async () => {
  [gcs, azurite] = await Promise.all([startFakeGcs(), startAzurite()]);
}, 60_000);

afterAll(async () => {
  await Promise.all([gcs?.close(), azurite?.close()]);
});

afterEach(async () => {
  for (const close of closers.splice(0)) {
    await close();
  }
});

async function master(
  settings: Partial<Pick<AppSettings, 'defaultCheckpointStorage' | 'storageEnv'>> = {},
): Promise<TestMaster> {
  const { master: m, close } = await openTestMaster('sqlite', { settings });
  closers.push(close);
  return m;
}

/** A fresh bucket prefix or container name: lower case, as Azure wants container names. */
const place = (): string => `c-${testUuid().slice(-12)}`;

async function storeCheckpoint(
  m: TestMaster,
  s: Seeded,
  backend: CloudBackend,
  where: string,
): Promise<string> {
  const uuid = testUuid();
  const resources = await backend.putCheckpoint(where, uuid, FILES);
  await reportCheckpoint(m, s, 10, { uuid, resources });
  return uuid;
}

async function getCheckpoint(m: TestMaster, s: Seeded, uuid: string): Promise<CheckpointDto> {
  return (
    await call<{ checkpoint: CheckpointDto }>(m, s.token, 'GET', `/api/v1/checkpoints/${uuid}`)
  ).checkpoint;
}

const backends: [string, () => CloudBackend, () => Record<string, string>][] = [
  ['gcs', () => gcsBackend(gcs), () => ({ STORAGE_EMULATOR_HOST: gcs.endpoint })],
  ['azure', () => azureBackend(azurite), () => ({})],
];

describe.each(backends)(
  'checkpoints in %s storage, through the master',
  (_type, backendOf, envOf) => {
    it('serves tar, tar.gz and zip holding the regular files byte for byte', async () => {
      const backend = backendOf();
      const m = await master({ storageEnv: envOf() });
      const where = place();
      const s = await seedTrial(m, { storage: backend.storageYaml(where) });
      const uuid = await storeCheckpoint(m, s, backend, where);
      for (const [accept, kind] of [
        ['application/x-tar', 'tar'],
        ['application/gzip', 'tgz'],
        ['application/zip', 'zip'],
      ] as const) {
        const res = await m.request('GET', `/checkpoints/${uuid}`, {
          token: s.token,
          headers: { accept },
        });
        expect(res.status, kind).toBe(200);
        const { names, files } = extractArchive(Buffer.from(await res.arrayBuffer()), kind);
        expect(names, kind).toEqual(Object.keys(FILES).sort());
        expect(files, kind).toEqual(digestsOf(FILES));
      }
    });

    it('resumes the tar from a Range with the exact bytes', async () => {
      const backend = backendOf();
      const m = await master({ storageEnv: envOf() });
      const where = place();
      const s = await seedTrial(m, { storage: backend.storageYaml(where) });
      const uuid = await storeCheckpoint(m, s, backend, where);
      const full = Buffer.from(
        await (await m.request('GET', `/checkpoints/${uuid}`, { token: s.token })).arrayBuffer(),
      );
      // Inside model.bin, so the master reads a range of one object and the rest after it.
      const from = full.indexOf(FILES['model.bin']?.subarray(0, 64) ?? Buffer.alloc(1)) + 1000;
      const res = await m.request('GET', `/checkpoints/${uuid}`, {
        token: s.token,
        headers: { range: `bytes=${from}-` },
      });
      expect(res.status).toBe(206);
      expect(Buffer.from(await res.arrayBuffer()).equals(full.subarray(from))).toBe(true);
    });

    it('deletes every object of the checkpoint, strays included, and marks it DELETED', async () => {
      const backend = backendOf();
      const m = await master({ storageEnv: envOf() });
      const where = place();
      const s = await seedTrial(m, { storage: backend.storageYaml(where) });
      const uuid = await storeCheckpoint(m, s, backend, where);
      const kept = await storeCheckpoint(m, s, backend, where);
      await backend.putObject(where, uuid, 'stray.log', Buffer.from('left by a trainer'));
      await call(m, s.token, 'DELETE', '/api/v1/checkpoints', { checkpointUuids: [uuid] });
      expect(await backend.objectsOf(where, uuid)).toEqual([]);
      const got = await getCheckpoint(m, s, uuid);
      expect([got.state, got.resources]).toEqual(['STATE_DELETED', {}]);
      expect(await backend.objectsOf(where, kept)).toHaveLength(Object.keys(FILES).length + 2);
    });

    it('removes the files a glob names and records what remains', async () => {
      const backend = backendOf();
      const m = await master({ storageEnv: envOf() });
      const where = place();
      const s = await seedTrial(m, { storage: backend.storageYaml(where) });
      const uuid = await storeCheckpoint(m, s, backend, where);
      await call(m, s.token, 'POST', '/api/v1/checkpoints/rm', {
        checkpointUuids: [uuid],
        checkpointGlobs: ['sub/**'],
      });
      expect(await backend.objectsOf(where, uuid)).toEqual([
        'empty.txt',
        'metadata.json',
        'model.bin',
      ]);
      const got = await getCheckpoint(m, s, uuid);
      expect(got.state).toBe('STATE_PARTIALLY_DELETED');
      expect(Object.keys(got.resources).sort()).toEqual([
        'empty.txt',
        'metadata.json',
        'model.bin',
      ]);
    });
  },
);

describe('the credentials the master reads Azure with', () => {
  /** An experiment whose config names the container but carries no credentials. */
  async function archiveWithout(
    settings: Partial<Pick<AppSettings, 'defaultCheckpointStorage' | 'storageEnv'>>,
    where = place(),
  ): Promise<Response> {
    const m = await master(settings);
    const bare = azureBackend(azurite, { hasCredentials: false });
    const s = await seedTrial(m, { storage: bare.storageYaml(where) });
    const uuid = testUuid();
    const resources = await azureBackend(azurite).putCheckpoint(where, uuid, FILES);
    await reportCheckpoint(m, s, 1, { uuid, resources });
    return m.request('GET', `/checkpoints/${uuid}`, { token: s.token });
  }

  it("lends the master's own checkpoint_storage credentials for the same container", async () => {
    const where = place();
    const res = await archiveWithout(
      {
        defaultCheckpointStorage: {
          type: 'azure',
          container: where,
          connection_string: azurite.connectionString,
        },
      },
      where,
    );
    expect(res.status).toBe(200);
    expect(extractArchive(Buffer.from(await res.arrayBuffer()), 'tar').files).toEqual(
      digestsOf(FILES),
    );
  });

  it("falls to the master's AZURE_STORAGE_CONNECTION_STRING, never lending to another container", async () => {
    const res = await archiveWithout({
      defaultCheckpointStorage: {
        type: 'azure',
        container: 'some-other-container',
        connection_string: 'AccountName=nobody;AccountKey=bm9ib2R5;BlobEndpoint=http://127.0.0.1:9',
      },
      storageEnv: { AZURE_STORAGE_CONNECTION_STRING: azurite.connectionString },
    });
    expect(res.status).toBe(200);
    expect(extractArchive(Buffer.from(await res.arrayBuffer()), 'tar').files).toEqual(
      digestsOf(FILES),
    );
  });

  it('answers 502 saying credentials are missing when there are none', async () => {
    const body = await expectError(
      await archiveWithout({}),
      502,
      'the master cannot reach azure://',
    );
    expect(body.message).toMatch(/credentials are missing/);
  });
});
