import { writeFile } from 'node:fs/promises';

import { afterAll, beforeAll, describe, expect, it, onTestFinished } from 'vitest';

import {
  DEFAULT_TEST_BUCKET,
  S3RVER_ACCESS_KEY_ID,
  S3RVER_SECRET_ACCESS_KEY,
  startS3rver,
} from '../../../storage/test/s3rver.js';
import type { S3rverHandle } from '../../../storage/test/s3rver.js';
import { openTestMaster, testDialects } from '../../test/helpers.js';
import type { TestMaster } from '../../test/helpers.js';
import type { ReadyResponse } from './health.js';

let s3rver: S3rverHandle;

beforeAll(async () => {
  s3rver = await startS3rver();
});

afterAll(async () => {
  await s3rver.close();
});

async function ready(m: TestMaster): Promise<{ status: number; body: ReadyResponse }> {
  const res = await m.request('GET', '/ready');
  return { status: res.status, body: (await res.json()) as ReadyResponse };
}

async function open(
  dialect: (typeof DIALECTS)[number],
  settings?: Parameters<typeof openTestMaster>[1],
): Promise<TestMaster> {
  const { master, close } = await openTestMaster(dialect, settings);
  onTestFinished(close);
  return master;
}

function s3Storage(bucket: string): Record<string, string> {
  return {
    type: 's3',
    bucket,
    endpoint_url: s3rver.endpoint,
    access_key: S3RVER_ACCESS_KEY_ID,
    secret_key: S3RVER_SECRET_ACCESS_KEY,
  };
}

const DIALECTS = testDialects();

for (const dialect of DIALECTS) {
  describe(`health and readiness [${dialect}]`, () => {
    it('answers /health without a session or the database', async () => {
      const { master, close } = await openTestMaster(dialect);
      await close(); // the database is gone: liveness does not look at it
      const res = await master.request('GET', '/health');
      expect(res.status).toBe(200);
      expect(await res.json()).toEqual({ status: 'ok' });
    });

    it('is ready without a session when the database and a writable storage root answer', async () => {
      const m = await open(dialect);
      expect(await ready(m)).toEqual({
        status: 200,
        body: { status: 'ok', checks: { database: 'ok', storage: 'ok', draining: false } },
      });
    });

    it('is unavailable, naming the database, when the database does not answer', async () => {
      const { master, close } = await openTestMaster(dialect);
      await close();
      const { status, body } = await ready(master);
      expect(status).toBe(503);
      expect(body.status).toBe('unavailable');
      expect(body.checks.database).not.toBe('ok');
    });

    it('is unavailable, naming the path, when the storage root is missing or not a directory', async () => {
      const m = await open(dialect, {
        settings: {
          defaultCheckpointStorage: { type: 'directory', container_path: '/nonexistent/ckpts' },
        },
      });
      const missing = await ready(m);
      expect(missing.status).toBe(503);
      expect(missing.body.checks.database).toBe('ok');
      expect(missing.body.checks.storage).toContain(
        '/nonexistent/ckpts is not a writable directory',
      );

      const file = `${m.storageDir}/a-file`;
      await writeFile(file, '');
      const r = await open(dialect, {
        settings: { defaultCheckpointStorage: { type: 'directory', container_path: file } },
      });
      expect((await ready(r)).body.checks.storage).toContain(`${file} is not a writable directory`);
    });

    it('probes an object store with a listing: ready on a bucket, unavailable on a missing one', async () => {
      const good = await open(dialect, {
        settings: { defaultCheckpointStorage: s3Storage(DEFAULT_TEST_BUCKET) },
      });
      expect((await ready(good)).body.checks.storage).toBe('ok');
      const bad = await open(dialect, {
        settings: { defaultCheckpointStorage: s3Storage('no-such-bucket') },
      });
      const { status, body } = await ready(bad);
      expect(status).toBe(503);
      expect(body.checks.storage).toMatch(/^s3:\/\/no-such-bucket.*: ./);
    });

    it('is unavailable while draining, so the balancer stops sending', async () => {
      const m = await open(dialect);
      let isDraining = false;
      m.deps.isDraining = () => isDraining;
      expect((await ready(m)).status).toBe(200);
      isDraining = true;
      expect(await ready(m)).toEqual({
        status: 503,
        body: { status: 'unavailable', checks: { database: 'ok', storage: 'ok', draining: true } },
      });
    });
  });
}
