// s3rver 3.7.1 in-process, for throughput and "does it talk to a real S3 implementation" tests.
// It is lax where correctness tests need strictness (it ignores If-Match, serves `bytes=-n`
// from the start, sends no x-amz-checksum-*, answers a truncated ListObjectsV2 with 500 and
// stores aws-chunked framing as data); use fake-s3.ts for those.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { S3Client } from '@aws-sdk/client-s3';
import type { S3ClientConfig } from '@aws-sdk/client-s3';
import S3rver from 's3rver';

// The SDK warns on Node 20 at each first client; the suite runs on 20 on purpose.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = 'true';

/** The one access key s3rver knows; it checks the key id but never a SigV4 signature. */
export const S3RVER_ACCESS_KEY_ID = 'S3RVER';
export const S3RVER_SECRET_ACCESS_KEY = 'S3RVER';
export const DEFAULT_TEST_BUCKET = 'det-test';

export interface S3rverHandle {
  /** `http://127.0.0.1:<port>`; use path-style addressing. */
  endpoint: string;
  /** Where s3rver keeps the objects; removed by close(). */
  dir: string;
  close(): Promise<void>;
}

/** Starts s3rver on a free port of 127.0.0.1 in a fresh temp directory, with `buckets` created. */
export async function startS3rver({
  buckets = [DEFAULT_TEST_BUCKET],
}: { buckets?: string[] } = {}): Promise<S3rverHandle> {
  const dir = await mkdtemp(join(tmpdir(), 'det-s3rver-'));
  const server = new S3rver({
    address: '127.0.0.1',
    port: 0,
    silent: true,
    directory: dir,
    configureBuckets: buckets.map((name) => ({ name })),
  });
  try {
    const { port } = await server.run();
    return {
      endpoint: `http://127.0.0.1:${port}`,
      dir,
      close: async () => {
        // close() alone would wait for the SDK's keep-alive sockets to time out.
        server.httpServer?.closeAllConnections();
        await server.close();
        await rm(dir, { recursive: true, force: true });
      },
    };
  } catch (err: unknown) {
    await rm(dir, { recursive: true, force: true });
    throw err;
  }
}

/**
 * An S3 client for a test endpoint: path-style, us-east-1, s3rver's credentials (any are
 * accepted by fake-s3), and checksums only where an operation requires them, because the
 * SDK's default (aws-chunked CRC32 trailers on streamed bodies) corrupts objects on s3rver.
 */
export function testS3Client(endpoint: string, config: S3ClientConfig = {}): S3Client {
  return new S3Client({
    endpoint,
    region: 'us-east-1',
    forcePathStyle: true,
    credentials: { accessKeyId: S3RVER_ACCESS_KEY_ID, secretAccessKey: S3RVER_SECRET_ACCESS_KEY },
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
    ...config,
  });
}

/** The S3 error code and HTTP status a rejected SDK call carries (throws if it succeeded). */
export async function s3Failure(
  promise: Promise<unknown>,
): Promise<{ code: string; status: number }> {
  const err: unknown = await promise.then(
    () => new Error('expected the call to fail'),
    (e: unknown) => e,
  );
  if (!(err instanceof Error) || !('$metadata' in err)) {
    throw err;
  }
  const { httpStatusCode } = err.$metadata as { httpStatusCode?: number };
  return { code: err.name, status: httpStatusCode ?? 0 };
}
