// Credentials when no emulator is named: Google's default chain, a key file, the metadata
// server. Nothing here may reach Google: the chain's environment is stubbed (no gcloud files,
// no GOOGLE_APPLICATION_CREDENTIALS of the machine's), and object bodies are read from the fake
// through a transport that rewrites Google's endpoint.
import { randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';

import { startFakeGcs } from '../../test/fake-gcs.js';
import type { FakeGcs } from '../../test/fake-gcs.js';
import { BUCKET, PREFIX, gcsConfig, mediaGets } from '../../test/gcs-helpers.js';
import { startHttpServer } from '../../test/http-server.js';
import type { TestServer } from '../../test/http-server.js';
import type { BodyOpener } from '../common.js';
import { StorageUnreachableError } from '../errors.js';
import { openKeptAliveBody } from '../http/raw-body.js';
import { GCS_ENDPOINT } from './gcs-client.js';
import { openGcsStore } from './open-gcs.js';

let fake: FakeGcs;
let home: string;
let uuid: string;
const never = new AbortController().signal;

beforeEach(async () => {
  fake = await startFakeGcs();
  uuid = randomUUID();
  home = await mkdtemp(join(tmpdir(), 'det-gcs-home-'));
  vi.stubEnv('HOME', home); // where gcloud keeps application default credentials
  vi.stubEnv('GOOGLE_APPLICATION_CREDENTIALS', undefined);
  vi.stubEnv('STORAGE_EMULATOR_HOST', undefined);
});

afterEach(async () => {
  vi.unstubAllEnvs();
  await fake.close();
  await rm(home, { recursive: true, force: true });
});

/** Object bodies from the fake wherever the store sends them (Google's endpoint, here). */
function toFake(): BodyOpener {
  return (url, init) => openKeptAliveBody(url.replace(GCS_ENDPOINT, fake.endpoint), init);
}

describe('GCS credentials', () => {
  it('fails at once, no_access and naming the variable, when GOOGLE_APPLICATION_CREDENTIALS names a missing file', async () => {
    const missing = join(home, 'no-such-key.json');
    const store = openGcsStore(gcsConfig(), uuid, {
      env: { GOOGLE_APPLICATION_CREDENTIALS: missing },
    });
    const started = Date.now();
    const err = await store.probe().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(StorageUnreachableError);
    expect(err).toMatchObject({ storageType: 'gcs', reason: 'no_access' });
    expect((err as Error).message).toContain(`${missing} (GOOGLE_APPLICATION_CREDENTIALS)`);
    expect(Date.now() - started).toBeLessThan(2000); // no retries, no network
    // Reads and writes say the same.
    await expect(store.read('a.bin', { signal: never })).rejects.toMatchObject({
      reason: 'no_access',
    });
    await expect(store.putObject('a.bin', Buffer.from('a'), 1, undefined)).rejects.toMatchObject({
      reason: 'no_access',
    });
  });

  it('fails at once, no_access and saying where credentials come from, when the default chain finds none', async () => {
    // Not on Google Cloud: no metadata server to ask (as METADATA_SERVER_DETECTION=none says).
    vi.stubEnv('METADATA_SERVER_DETECTION', 'none');
    const store = openGcsStore(gcsConfig(), uuid, { env: {}, openBody: toFake() });
    fake.putObject(BUCKET, `${PREFIX}/${uuid}/a.bin`, 'a');
    const started = Date.now();
    const err = await store.probe().catch((e: unknown) => e);
    expect(err).toMatchObject({ name: 'StorageUnreachableError', reason: 'no_access' });
    expect((err as Error).message).toMatch(
      /no Google Cloud credentials: set GOOGLE_APPLICATION_CREDENTIALS/,
    );
    expect(Date.now() - started).toBeLessThan(2000);
    // No anonymous request went out instead.
    await expect(store.read('a.bin', { signal: never })).rejects.toMatchObject({
      reason: 'no_access',
    });
    expect(fake.requests).toEqual([]);
  });

  describe('on Google Cloud (a fake metadata server)', () => {
    let metadata: TestServer;
    let tokenRequests: number;

    beforeEach(async () => {
      tokenRequests = 0;
      metadata = await startHttpServer((req, res) => {
        const isGoogle = req.headers['metadata-flavor'] === 'Google';
        const path = new URL(req.url ?? '/', 'http://metadata').pathname;
        if (isGoogle && path === '/computeMetadata/v1/instance/service-accounts/default/token') {
          tokenRequests += 1;
          res.writeHead(200, { 'metadata-flavor': 'Google', 'content-type': 'application/json' });
          res.end(
            JSON.stringify({ access_token: 'ya29.fake', expires_in: 3599, token_type: 'Bearer' }),
          );
          return;
        }
        res.writeHead(isGoogle && path === '/computeMetadata/v1/instance' ? 200 : 404, {
          'metadata-flavor': 'Google',
        });
        res.end();
      });
      vi.stubEnv('GCE_METADATA_HOST', new URL(metadata.url).host);
      // Else google-auth looks for a project id first, by running the gcloud CLI.
      vi.stubEnv('GOOGLE_CLOUD_PROJECT', 'det-test-project');
    });

    afterEach(async () => {
      await metadata.close();
    });

    it("reads object bodies with the service account's bearer token, fetched once", async () => {
      fake.putObject(BUCKET, `${PREFIX}/${uuid}/a.bin`, 'abc');
      const store = openGcsStore(gcsConfig(), uuid, { env: {}, openBody: toFake() });
      for (let i = 0; i < 2; i += 1) {
        const read = await store.read('a.bin', { signal: never });
        read.cancel();
      }
      const gets = mediaGets(fake.requests, `${PREFIX}/${uuid}/a.bin`);
      expect(gets.map((r) => r.headers.authorization)).toEqual([
        'Bearer ya29.fake',
        'Bearer ya29.fake',
      ]);
      expect(tokenRequests).toBe(1);
    });
  });
});
