// The Core API's checkpoints in GCS (the storage package's fake GCS) and Azure (azurite): laid
// out as Determined's Python SDK lays them out, checked by the store where it can, downloaded
// back directly; a store without credentials stores and reports nothing.
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';

import { ContainerClient } from '@azure/storage-blob';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';

import { startAzurite } from '../../../storage/test/azurite.js';
import type { AzuriteHandle } from '../../../storage/test/azurite.js';
import { startFakeGcs } from '../../../storage/test/fake-gcs.js';
import type { FakeGcs } from '../../../storage/test/fake-gcs.js';
import type { CheckpointStorageConfig } from './storage.js';
import { StorageError } from '../errors.js';
import {
  crc32cOf,
  inProcessMaster,
  makeTree,
  readTree,
  recordingFetch,
} from '../../test/core-helpers.js';
import type { TestMaster } from '../../test/core-helpers.js';
import { init } from './init.js';
import type { CoreContext } from './context.js';

const MiB = 1024 * 1024;

let gcs: FakeGcs;
let azurite: AzuriteHandle;

beforeAll(async () => {
  [gcs, azurite] = await Promise.all([startFakeGcs(), startAzurite()]);
}, 60_000);

afterAll(async () => {
  await Promise.all([gcs?.close(), azurite?.close()]);
});

interface Cloud {
  storage: CheckpointStorageConfig;
  /** What the client's environment adds: the emulator's address for GCS. */
  env: Record<string, string>;
  /** Where a checkpoint's objects are, as the download's start event names it. */
  location(uuid: string): string;
  /** The checkpoint's object names, relative to it, sorted. */
  names(uuid: string): Promise<string[]>;
  bytes(uuid: string, path: string): Promise<Buffer>;
}

const clouds: [string, () => Promise<Cloud>][] = [
  [
    'gcs',
    () =>
      Promise.resolve({
        storage: { type: 'gcs', bucket: 'det-test', prefix: 'ckpts' },
        env: { STORAGE_EMULATOR_HOST: gcs.endpoint },
        location: (uuid) => `gs://det-test/ckpts/${uuid}`,
        names: (uuid) =>
          Promise.resolve(
            gcs
              .names('det-test')
              .filter((n) => n.startsWith(`ckpts/${uuid}/`))
              .map((n) => n.slice(`ckpts/${uuid}/`.length)),
          ),
        bytes: (uuid, path) =>
          Promise.resolve(Buffer.from(gcs.getObject('det-test', `ckpts/${uuid}/${path}`).body)),
      }),
  ],
  [
    'azure',
    async () => {
      const container = `ckpts-${randomBytes(4).toString('hex')}`;
      const client = new ContainerClient(azurite.connectionString, container);
      await client.create();
      return {
        storage: { type: 'azure', container, connection_string: azurite.connectionString },
        env: {},
        location: (uuid) => `azure://${container}/${uuid}`,
        names: async (uuid) => {
          const out: string[] = [];
          for await (const blob of client.listBlobsFlat({ prefix: `${uuid}/` })) {
            out.push(blob.name.slice(uuid.length + 1));
          }
          return out.sort();
        },
        bytes: (uuid, path) => client.getBlobClient(`${uuid}/${path}`).downloadToBuffer(),
      };
    },
  ],
];

describe.each(clouds)('core.checkpoint (%s storage)', (_type, cloudOf) => {
  let m: TestMaster;
  let cloud: Cloud;
  let core: CoreContext;
  let rec: ReturnType<typeof recordingFetch>;

  beforeEach(async () => {
    m = await inProcessMaster();
    cloud = await cloudOf();
    rec = recordingFetch(m.fetch);
    core = await init({
      master: m.url,
      fetch: rec.fetch,
      env: { ...m.env, ...cloud.env },
      config: { searcher: { metric: 'loss' }, checkpoint_storage: cloud.storage },
    });
  });
  afterEach(async () => {
    await core.close();
    await m.close();
  });

  const reports = (): unknown[] =>
    rec.calls.filter((c) => c.path === '/api/v1/checkpoints').map((c) => c.body);

  it('uploads files, a large one in parts, and directory markers, and downloads them back', async () => {
    const src = join(m.dir, 'src');
    const weights = randomBytes(37 * MiB + 11);
    await makeTree(src, { 'w.bin': weights, 'sub/x.txt': 'x', 'sub/e': null });
    const uuid = await core.checkpoint.upload(src, { steps_completed: 3 });

    const metadataText = '{\n  "steps_completed": 3\n}';
    expect(await cloud.names(uuid)).toEqual([
      'metadata.json',
      'sub/',
      'sub/e/',
      'sub/x.txt',
      'w.bin',
    ]);
    expect((await cloud.bytes(uuid, 'w.bin')).equals(weights)).toBe(true);
    expect((await cloud.bytes(uuid, 'metadata.json')).toString()).toBe(metadataText);
    expect(reports()).toEqual([
      expect.objectContaining({
        uuid,
        crc32c: {
          'metadata.json': crc32cOf(metadataText),
          'sub/x.txt': crc32cOf('x'),
          'w.bin': crc32cOf(weights),
        },
      }),
    ]);

    const sources: string[] = [];
    const dir = await core.checkpoint.download(uuid, join(m.dir, 'out'), {
      mode: 'direct',
      env: cloud.env,
      onProgress: (e) => {
        if (e.type === 'start') {
          sources.push(e.source);
        }
      },
    });
    expect(sources).toEqual([cloud.location(uuid)]);
    const tree = await readTree(dir);
    expect(Object.keys(tree).sort()).toEqual([
      'metadata.json',
      'sub/',
      'sub/e/',
      'sub/x.txt',
      'w.bin',
    ]);
    expect(tree['w.bin']?.equals(weights)).toBe(true);
  });
});

describe('core.checkpoint without storage credentials', () => {
  it('fails with a StorageError saying credentials are missing, and reports nothing', async () => {
    const m = await inProcessMaster();
    const rec = recordingFetch(m.fetch);
    const core = await init({
      master: m.url,
      fetch: rec.fetch,
      env: m.env, // no AZURE_STORAGE_CONNECTION_STRING
      config: {
        searcher: { metric: 'loss' },
        checkpoint_storage: { type: 'azure', container: 'nowhere' },
      },
    });
    try {
      await makeTree(join(m.dir, 'src'), { 'a.bin': 'a' });
      const err = await core.checkpoint
        .upload(join(m.dir, 'src'), { steps_completed: 1 })
        .catch((e: unknown) => e);
      expect(err).toBeInstanceOf(StorageError);
      expect((err as Error).message).toMatch(/credentials/);
      expect(rec.calls.some((c) => c.path === '/api/v1/checkpoints')).toBe(false);
    } finally {
      await core.close();
      await m.close();
    }
  });
});
