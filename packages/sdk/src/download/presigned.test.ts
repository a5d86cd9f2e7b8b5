// Downloads through URLs the master signs, for services that hold no storage credentials: the
// trainer and the master have Azure credentials, the downloading process has none, and `auto`
// goes from the store (refused: no credentials) to the master's URLs, never to its archive.
import { randomBytes } from 'node:crypto';
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';

import { StorageUnreachableError } from '@determined-ts/storage';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';

import { startAzurite } from '../../../storage/test/azurite.js';
import type { AzuriteHandle } from '../../../storage/test/azurite.js';
import { init } from '../core/init.js';
import type { CoreContext } from '../core/context.js';
import { StorageError } from '../errors.js';
import { inProcessMaster, makeTree, readTree, recordingFetch } from '../../test/core-helpers.js';
import type { TestMaster } from '../../test/core-helpers.js';
import type { DownloadEvent } from './events.js';

const MiB = 1024 * 1024;

let azurite: AzuriteHandle;

beforeAll(async () => {
  azurite = await startAzurite();
}, 60_000);

afterAll(async () => {
  await azurite?.close();
});

describe('downloads through URLs the master signs', () => {
  let m: TestMaster;
  let core: CoreContext;
  let rec: ReturnType<typeof recordingFetch>;
  let uuid: string;
  const weights = randomBytes(21 * MiB + 3);

  beforeEach(async () => {
    const container = `urls-${randomBytes(4).toString('hex')}`;
    await azurite.service.getContainerClient(container).create();
    m = await inProcessMaster({
      storageEnv: { AZURE_STORAGE_CONNECTION_STRING: azurite.connectionString },
    });
    rec = recordingFetch(m.fetch);
    // The experiment names the container only: credentials live in each machine's environment.
    core = await init({
      master: m.url,
      fetch: rec.fetch,
      env: { ...m.env, AZURE_STORAGE_CONNECTION_STRING: azurite.connectionString },
      config: { searcher: { metric: 'loss' }, checkpoint_storage: { type: 'azure', container } },
    });
    const src = join(m.dir, 'src');
    await makeTree(src, { 'w.bin': weights, 'sub/x.txt': 'x', 'sub/e': null });
    uuid = await core.checkpoint.upload(src, { steps_completed: 1 });
    rec.calls.length = 0;
  });
  afterEach(async () => {
    await core.close();
    await m.close();
  });

  const urlRequests = (): number =>
    rec.calls.filter((c) => c.path.endsWith(`/checkpoints/${uuid}/download-urls`)).length;
  const archiveRequests = (): number =>
    rec.calls.filter((c) => c.path.startsWith(`/checkpoints/${uuid}`)).length;

  it('auto: a process without credentials reads the store through the URLs, not the archive', async () => {
    const events: DownloadEvent[] = [];
    const dir = await core.checkpoint.download(uuid, join(m.dir, 'out'), {
      env: {}, // no AZURE_STORAGE_CONNECTION_STRING here
      onProgress: (e) => events.push(e),
    });
    expect(events[0]).toMatchObject({ type: 'start', mode: 'presigned' });
    expect((events[0] as { source: string }).source).toMatch(/^azure:\/\/urls-[0-9a-f]+\//);
    const tree = await readTree(dir);
    expect(Object.keys(tree).sort()).toEqual([
      'metadata.json',
      'sub/',
      'sub/e/',
      'sub/x.txt',
      'w.bin',
    ]);
    expect(tree['w.bin']?.equals(weights)).toBe(true);
    expect(urlRequests()).toBe(1);
    expect(archiveRequests()).toBe(0);
  });

  it('presigned mode uses the URLs; direct mode says credentials are missing', async () => {
    const dir = await core.checkpoint.download(uuid, join(m.dir, 'urls'), {
      mode: 'presigned',
      env: {},
    });
    expect((await readTree(dir))['w.bin']?.equals(weights)).toBe(true);
    const direct = await core.checkpoint
      .download(uuid, join(m.dir, 'direct'), { mode: 'direct', env: {} })
      .catch((e: unknown) => e);
    expect(direct).toBeInstanceOf(StorageUnreachableError);
    expect((direct as Error).message).toMatch(/credentials are missing/);
    // Nothing left behind: no target, no temporary sibling of it.
    expect((await readdir(m.dir)).filter((name) => name.includes('direct'))).toEqual([]);
  });
});

describe('presigned mode where the master signs no URLs', () => {
  it('fails with a StorageError naming why, for local storage', async () => {
    const m = await inProcessMaster();
    const core = await init({
      master: m.url,
      fetch: m.fetch,
      env: m.env,
      config: { searcher: { metric: 'loss' }, checkpoint_storage: join(m.dir, 'local') },
    });
    try {
      await makeTree(join(m.dir, 'src'), { 'a.bin': 'a' });
      const uuid = await core.checkpoint.upload(join(m.dir, 'src'), { steps_completed: 1 });
      const err = await core.checkpoint
        .download(uuid, join(m.dir, 'out'), { mode: 'presigned' })
        .catch((e: unknown) => e);
      expect(err).toBeInstanceOf(StorageError);
      expect((err as Error).message).toMatch(
        /no download URLs: .*directory storage is read through the master/,
      );
    } finally {
      await core.close();
      await m.close();
    }
  });
});
