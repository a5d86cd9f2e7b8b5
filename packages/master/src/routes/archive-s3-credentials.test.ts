// Which credentials the master reads S3 with: the config's keys when it has them, else its own
// AWS chain (environment, profile, instance role). The chain reads process.env itself, so these
// tests set its variables for their duration.
import type { S3Client } from '@aws-sdk/client-s3';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';

import {
  S3RVER_ACCESS_KEY_ID,
  S3RVER_SECRET_ACCESS_KEY,
  startS3rver,
  testS3Client,
} from '../../../storage/test/s3rver.js';
import type { S3rverHandle } from '../../../storage/test/s3rver.js';
import { digestsOf, extractArchive } from '../../test/archives.js';
import { expectError } from '../../test/expect-error.js';
import { reportCheckpoint, seedTrial, testUuid } from '../../test/flow.js';
import { openTestMaster } from '../../test/helpers.js';
import type { TestMaster } from '../../test/helpers.js';
import { BUCKET, putCheckpoint, s3StorageYaml } from '../../test/s3.js';

/** Everything the AWS SDK's default chain looks at, so no test sees the machine's own. */
const AWS_ENV = [
  'AWS_ACCESS_KEY_ID',
  'AWS_SECRET_ACCESS_KEY',
  'AWS_SESSION_TOKEN',
  'AWS_PROFILE',
  'AWS_SHARED_CREDENTIALS_FILE',
  'AWS_CONFIG_FILE',
  'AWS_EC2_METADATA_DISABLED',
  'AWS_WEB_IDENTITY_TOKEN_FILE',
  'AWS_ROLE_ARN',
  'AWS_CONTAINER_CREDENTIALS_RELATIVE_URI',
  'AWS_CONTAINER_CREDENTIALS_FULL_URI',
] as const;

const FILES = { 'metadata.json': Buffer.from('{}'), 'model.bin': Buffer.from('weights') };

let s3rver: S3rverHandle;
let client: S3Client;
let m: TestMaster;
let closeMaster: () => Promise<void>;
const saved = new Map<string, string | undefined>();

beforeAll(async () => {
  s3rver = await startS3rver();
  client = testS3Client(s3rver.endpoint);
});

afterAll(async () => {
  client.destroy();
  await s3rver.close();
});

beforeEach(async () => {
  for (const name of AWS_ENV) {
    saved.set(name, process.env[name]);
    delete process.env[name];
  }
  // No instance role, no profile from this machine's ~/.aws.
  process.env.AWS_EC2_METADATA_DISABLED = 'true';
  process.env.AWS_SHARED_CREDENTIALS_FILE = '/nonexistent/aws/credentials';
  process.env.AWS_CONFIG_FILE = '/nonexistent/aws/config';
  ({ master: m, close: closeMaster } = await openTestMaster('sqlite'));
});

afterEach(async () => {
  await closeMaster();
  for (const [name, value] of saved) {
    if (value === undefined) {
      delete process.env[name];
    } else {
      process.env[name] = value;
    }
  }
});

/** Stores a checkpoint under a fresh prefix and asks the master for its archive. */
async function archiveOf({ hasKeys }: { hasKeys: boolean }): Promise<Response> {
  const prefix = `keys-${testUuid()}`;
  const s = await seedTrial(m, { storage: s3StorageYaml(s3rver.endpoint, prefix, { hasKeys }) });
  const uuid = testUuid();
  const resources = await putCheckpoint(client, prefix, uuid, FILES);
  await reportCheckpoint(m, s, 1, { uuid, resources });
  return m.request('GET', `/checkpoints/${uuid}`, { token: s.token });
}

describe('s3 credentials of the master', () => {
  it("uses the master's AWS environment when the config has no keys", async () => {
    process.env.AWS_ACCESS_KEY_ID = S3RVER_ACCESS_KEY_ID;
    process.env.AWS_SECRET_ACCESS_KEY = S3RVER_SECRET_ACCESS_KEY;
    const res = await archiveOf({ hasKeys: false });
    expect(res.status).toBe(200);
    const { files } = extractArchive(Buffer.from(await res.arrayBuffer()), 'tar');
    expect(files).toEqual(digestsOf(FILES));
  });

  it("prefers the config's keys to the master's environment", async () => {
    process.env.AWS_ACCESS_KEY_ID = 'NOT-S3RVER';
    process.env.AWS_SECRET_ACCESS_KEY = 'wrong';
    const withKeys = await archiveOf({ hasKeys: true });
    expect(withKeys.status).toBe(200);
    await withKeys.arrayBuffer();
    // Without keys in the config, the environment's (refused) ones are what the master sends.
    await expectError(await archiveOf({ hasKeys: false }), 502, 'InvalidAccessKeyId');
  });

  it('answers 502 naming the missing credentials, without waiting on the network', async () => {
    const body = await expectError(await archiveOf({ hasKeys: false }), 502, 'no AWS credentials');
    expect(body.message).toMatch(
      new RegExp(`^the master cannot read s3://${BUCKET}/keys-[0-9a-f-]+/[0-9a-f-]+: `),
    );
    expect(body.error.reason).toBe('Unavailable');
  }, 10_000); // the AWS chain without an instance role answers at once: no hang
});
