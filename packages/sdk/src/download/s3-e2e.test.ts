// S3 end to end, across processes as a team runs it: a master whose environment holds AWS
// credentials (its default checkpoint storage is S3 too); a training process with credentials
// of its own that uploads through the Core API to S3 storage named without keys; and this
// process, a service with no AWS credentials at all, which picks the best checkpoint and
// downloads it: `auto` reads S3 through URLs the master signs, `master` takes its archive, and
// `direct` says what is missing.
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { mkdtemp, readFile, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

import { ListObjectsCommand } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import {
  S3RVER_ACCESS_KEY_ID,
  S3RVER_SECRET_ACCESS_KEY,
  startS3rver,
  testS3Client,
} from '../../../storage/test/s3rver.js';
import type { S3rverHandle } from '../../../storage/test/s3rver.js';
import { s3TestFiles } from '../../test/s3-files.js';
import { TrialReference } from '../trial-reference.js';
import type { DownloadEvent } from './events.js';

const HERE = dirname(fileURLToPath(import.meta.url));
const MASTER_MAIN = resolve(HERE, '../../../master/src/main.ts');
const TRAIN_CHILD = resolve(HERE, '../../test/s3-train-child.ts');
const ROOT = resolve(HERE, '../../../..');

/** The environment of a process that has the bucket's credentials. */
function withCredentials(scratch: string): NodeJS.ProcessEnv {
  return {
    ...process.env,
    AWS_ACCESS_KEY_ID: S3RVER_ACCESS_KEY_ID,
    AWS_SECRET_ACCESS_KEY: S3RVER_SECRET_ACCESS_KEY,
    DET_DEBUG_CONFIG_PATH: join(scratch, 'det-config'),
  };
}

/** Runs `node --import tsx` on `script`, collecting its output; resolves when it exits. */
function run(script: string, args: string[], env: NodeJS.ProcessEnv): Promise<string> {
  return new Promise((resolveRun, reject) => {
    const child = spawn(
      process.execPath,
      ['--import', 'tsx', '--conditions=source', script, ...args],
      {
        cwd: ROOT,
        env,
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    child.once('error', reject);
    child.once('exit', (code) =>
      code === 0 ? resolveRun(stdout) : reject(new Error(`${script} exited ${code}: ${stderr}`)),
    );
  });
}

/** Starts det-master in a process of its own; resolves with its URL once it listens. */
function startMasterProcess(
  args: string[],
  env: NodeJS.ProcessEnv,
): Promise<{ url: string; child: ChildProcess }> {
  return new Promise((resolveStart, reject) => {
    const child = spawn(
      process.execPath,
      ['--import', 'tsx', '--conditions=source', MASTER_MAIN, ...args],
      {
        cwd: ROOT,
        env,
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    let out = '';
    let err = '';
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (err += chunk));
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
      out += chunk;
      const url = /listening on (http:\/\/\S+)/.exec(out)?.[1];
      if (url !== undefined) {
        resolveStart({ url, child });
      }
    });
    child.once('exit', (code) => reject(new Error(`det-master exited ${code}: ${err}`)));
  });
}

let s3rver: S3rverHandle;
let scratch: string;
let master: { url: string; child: ChildProcess };
let trained: { trialId: number; uuids: string[] };

beforeAll(async () => {
  s3rver = await startS3rver();
  scratch = await mkdtemp(join(tmpdir(), 'det-s3-e2e-'));
  const storage = `{type: s3, bucket: det-test, prefix: team/e2e, endpoint_url: "${s3rver.endpoint}"}`;
  master = await startMasterProcess(
    ['--port', '0', '--data-dir', join(scratch, 'master'), '--checkpoint-storage', storage],
    withCredentials(scratch),
  );
  const keyless = {
    type: 's3',
    bucket: 'det-test',
    prefix: 'team/e2e',
    endpoint_url: s3rver.endpoint,
  };
  trained = JSON.parse(
    await run(TRAIN_CHILD, [master.url, JSON.stringify(keyless)], withCredentials(scratch)),
  ) as typeof trained;
}, 120_000);

afterAll(async () => {
  master.child.kill('SIGTERM');
  await new Promise((r) => master.child.once('exit', r));
  await s3rver.close();
  await rm(scratch, { recursive: true, force: true });
});

/** The checkpoint of step 2 (loss 0.1), the best, as this credential-less process sees it. */
async function best(): ReturnType<TrialReference['topCheckpoint']> {
  const trial = new TrialReference(trained.trialId, { master: master.url });
  return trial.topCheckpoint();
}

async function expectFiles(dir: string, steps: number): Promise<void> {
  for (const [path, bytes] of Object.entries(s3TestFiles(steps))) {
    expect((await readFile(join(dir, path))).equals(bytes), path).toBe(true);
  }
  expect(JSON.parse(await readFile(join(dir, 'metadata.json'), 'utf8'))).toEqual({
    steps_completed: steps,
  });
}

describe('S3 end to end: trainer, master and service in processes of their own', () => {
  it('stores the checkpoints in S3, laid out as Determined lays them out', async () => {
    const listed = await testS3Client(s3rver.endpoint).send(
      new ListObjectsCommand({ Bucket: 'det-test', Prefix: 'team/e2e/' }),
    );
    const keys = (listed.Contents ?? []).map((o) => o.Key);
    for (const uuid of trained.uuids) {
      expect(keys).toContain(`team/e2e/${uuid}/model.bin`);
      expect(keys).toContain(`team/e2e/${uuid}/sub/`);
      expect(keys).toContain(`team/e2e/${uuid}/empty/`);
      expect(keys).toContain(`team/e2e/${uuid}/metadata.json`);
    }
  });

  it('picks the best checkpoint, with a CRC32C recorded for every file', async () => {
    const checkpoint = await best();
    expect(checkpoint.uuid).toBe(trained.uuids[1]);
    expect(checkpoint.storageConfig).toMatchObject({ type: 's3', bucket: 'det-test' });
    const files = Object.keys(checkpoint.resources).filter((p) => !p.endsWith('/'));
    expect(Object.keys(checkpoint.crc32c).sort()).toEqual(files.sort());
  });

  it('auto: a service without AWS credentials reads S3 through URLs the master signs, verified', async () => {
    const checkpoint = await best();
    const events: DownloadEvent[] = [];
    const dir = await checkpoint.download(join(scratch, 'auto'), {
      mode: 'auto',
      onProgress: (e) => events.push(e),
    });
    expect(events.find((e) => e.type === 'start')).toMatchObject({
      mode: 'presigned',
      source: `s3://det-test/team/e2e/${checkpoint.uuid}`,
    });
    await expectFiles(dir, 2);
    expect((await readdir(join(dir, 'empty'))).length).toBe(0);
  });

  it('master: the same bytes', async () => {
    const dir = await (await best()).download(join(scratch, 'master-mode'), { mode: 'master' });
    await expectFiles(dir, 2);
  });

  it('direct: without credentials, a typed error that says so, and nothing left behind', async () => {
    const checkpoint = await best();
    const target = join(scratch, 'direct');
    const err = await checkpoint.download(target, { mode: 'direct' }).catch((e: unknown) => e);
    expect(err).toMatchObject({ name: 'StorageUnreachableError', reason: 'no_access' });
    expect((err as Error).message).toMatch(/no AWS credentials/);
    expect((await readdir(scratch)).filter((n) => n.includes('direct'))).toEqual([]);
  });
});
