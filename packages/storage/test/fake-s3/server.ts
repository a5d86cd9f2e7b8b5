// The fake's HTTP front: request log, reading bodies, faults, and the inspection and
// fault-injection handle tests hold. What S3 does with a request is in routes.ts.
import { createServer } from 'node:http';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';

import { FaultQueue, DEFAULT_FAULT_CODES, faultRequestBody, writeReply } from './faults.js';
import type { FakeS3Fault, FakeS3Request } from './faults.js';
import { S3RVER_ACCESS_KEY_ID, S3RVER_SECRET_ACCESS_KEY } from '../s3rver.js';
import { checkRequest, notImplemented, route } from './routes.js';
import { checkPresignedSignature, checkSignature } from './sigv4.js';
import { S3Error, crc32cBase64, errorReply, makeObject } from './store.js';
import type { FakeS3Object, Reply, S3Context, Upload } from './store.js';

export interface FakeS3Options {
  /** Buckets that exist from the start. @default ['det-test'] */
  buckets?: string[];
  /** Smallest size of every part but the last in CompleteMultipartUpload. @default 5 MiB (S3's) */
  minPartBytes?: number;
  /** The server's clock (ms since the epoch): Date headers, Last-Modified, skew and expiry checks. @default Date.now */
  now?: () => number;
  /** Answer 403 AccessDenied to requests with neither an Authorization header nor a presigned signature. @default false */
  shouldRequireAuth?: boolean;
  /**
   * Access key id → secret key: a request signed with an Authorization header, or a presigned
   * URL, must carry a valid SigV4 signature by one of them, as S3 demands (403
   * SignatureDoesNotMatch or InvalidAccessKeyId otherwise). `undefined` checks no signature.
   * @default s3rver's key (S3RVER / S3RVER), which test clients sign with
   */
  secrets?: Readonly<Record<string, string>> | undefined;
}

export interface FakeS3 {
  /** `http://127.0.0.1:<port>`; use path-style addressing. */
  readonly endpoint: string;
  /** Every request so far, in arrival order (faulted ones included). */
  readonly requests: FakeS3Request[];
  /** Stores an object directly (creating the bucket if needed), as a single PUT would. */
  putObject(
    bucket: string,
    key: string,
    bytes: Uint8Array | string,
    options?: { crc32c?: boolean; contentType?: string },
  ): FakeS3Object;
  /** The stored object; throws if there is none. */
  getObject(bucket: string, key: string): FakeS3Object;
  /** Whether there was an object to delete. */
  deleteObject(bucket: string, key: string): boolean;
  /** The bucket's keys, sorted (empty for an unknown bucket). */
  keys(bucket: string): string[];
  inject(fault: FakeS3Fault): void;
  /** Uses left over all injected faults (0 once every one has struck). */
  pendingFaults(): number;
  /** Multipart uploads neither completed nor aborted. */
  pendingUploads(): { bucket: string; key: string; uploadId: string }[];
  /** Destroys every connection (stalled ones included) and stops the server. */
  close(): Promise<void>;
}

const MiB = 1024 * 1024;

async function readBody(req: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) {
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks);
}

/** Starts the fake on a free port of 127.0.0.1. */
export async function startFakeS3({
  buckets: initialBuckets = ['det-test'],
  minPartBytes = 5 * MiB,
  now = Date.now,
  shouldRequireAuth = false,
  secrets = { [S3RVER_ACCESS_KEY_ID]: S3RVER_SECRET_ACCESS_KEY },
}: FakeS3Options = {}): Promise<FakeS3> {
  const buckets = new Map<string, Map<string, FakeS3Object>>(
    initialBuckets.map((b) => [b, new Map()]),
  );
  const uploads = new Map<string, Upload>();
  const requests: FakeS3Request[] = [];
  const faults = new FaultQueue();
  const sockets = new Set<Socket>();
  let requestCount = 0;

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://fake-s3');
    const rawHeaders: Record<string, string> = {};
    for (const [name, value] of Object.entries(req.headers)) {
      if (value !== undefined) {
        rawHeaders[name] = Array.isArray(value) ? value.join(', ') : value;
      }
    }
    const [, rawBucket = '', ...rest] = url.pathname.split('/');
    let bucketName = '';
    let key = '';
    let isBadUri = false;
    try {
      bucketName = decodeURIComponent(rawBucket);
      key = decodeURIComponent(rest.join('/'));
    } catch {
      isBadUri = true; // answered below, once the request is logged
    }
    const record: FakeS3Request = {
      method: req.method ?? 'GET',
      path: url.pathname,
      query: url.searchParams,
      headers: rawHeaders,
      bucket: bucketName,
      key,
    };
    requests.push(record);
    const requestId = `FAKE${String(++requestCount).padStart(12, '0')}`;
    const nowMs = now();
    const { hooks, fault } = faults.take(record);
    for (const hook of hooks) {
      await hook.run(record);
    }
    if (fault?.kind === 'drop-request') {
      req.socket.resetAndDestroy();
      return;
    }
    let received: Buffer;
    try {
      received = await readBody(req);
    } catch (err: unknown) {
      if (req.socket.destroyed) {
        return; // the client went away (e.g. killed while a hook held its request)
      }
      throw err;
    }
    if (!req.complete) {
      return; // cut off mid-body: never act on a truncated upload
    }
    const body = faultRequestBody(received, fault);
    // Presigned URLs carry their x-amz-* headers in the query; S3 reads them from there too.
    const headers = { ...rawHeaders };
    for (const [name, value] of url.searchParams) {
      if (/^x-amz-/i.test(name) && headers[name.toLowerCase()] === undefined) {
        headers[name.toLowerCase()] = value;
      }
    }
    let reply: Reply;
    try {
      if (fault?.kind === 'status') {
        const [code, message] = DEFAULT_FAULT_CODES[fault.status];
        throw new S3Error(fault.status, fault.code ?? code, message);
      }
      if (isBadUri) {
        throw new S3Error(400, 'InvalidURI', "Couldn't parse the specified URI.");
      }
      const target = req.url ?? '/';
      const at = target.indexOf('?');
      const rawPath = at < 0 ? target : target.slice(0, at);
      const rawQuery = at < 0 ? '' : target.slice(at + 1);
      if (secrets !== undefined && rawHeaders.authorization !== undefined) {
        checkSignature(record.method, rawPath, rawQuery, rawHeaders, secrets);
      }
      checkRequest(record, headers, body, nowMs, { shouldRequireAuth });
      // After checkRequest: an expired URL says "Request has expired", whatever its signature.
      const isPresigned = url.searchParams.has('X-Amz-Signature');
      if (secrets !== undefined && rawHeaders.authorization === undefined && isPresigned) {
        checkPresignedSignature(record.method, rawPath, rawQuery, rawHeaders, secrets);
      }
      const bucket = buckets.get(bucketName);
      if (bucketName === '') {
        throw notImplemented(record);
      }
      if (bucket === undefined) {
        throw new S3Error(404, 'NoSuchBucket', 'The specified bucket does not exist', {
          details: { BucketName: bucketName },
        });
      }
      const ctx: S3Context = {
        method: record.method,
        bucketName,
        bucket,
        key,
        query: url.searchParams,
        headers,
        body,
        nowMs,
        uploads,
        minPartBytes,
      };
      reply = route(ctx, record);
    } catch (err: unknown) {
      if (!(err instanceof S3Error)) {
        throw err;
      }
      reply = errorReply(err, url.pathname, requestId);
    }
    reply.headers['x-amz-request-id'] = requestId;
    reply.headers.date = new Date(nowMs).toUTCString();
    reply.headers['content-length'] ??= String(reply.body?.length ?? 0);
    if (!req.socket.destroyed) {
      await writeReply(res, req.socket, reply, record.method !== 'HEAD', fault);
    }
  }

  const server = createServer((req, res) => {
    handle(req, res).catch((err: unknown) => {
      // A bug in the fake or a throwing hook: make it loud (vitest fails the run on an uncaught
      // error) rather than answer a 500 the code under test would retry and hide.
      req.socket.destroy();
      queueMicrotask(() => {
        throw err;
      });
    });
  });
  server.on('connection', (socket: Socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;

  const bucketFor = (name: string): Map<string, FakeS3Object> => {
    const existing = buckets.get(name);
    if (existing !== undefined) {
      return existing;
    }
    const created = new Map<string, FakeS3Object>();
    buckets.set(name, created);
    return created;
  };

  return {
    endpoint: `http://127.0.0.1:${port}`,
    requests,
    putObject(bucket, key, bytes, { crc32c: hasCrc = false, contentType } = {}) {
      // A copy: the caller may reuse its buffer.
      const body = typeof bytes === 'string' ? Buffer.from(bytes) : Buffer.from(bytes);
      const checksum = hasCrc
        ? { crc32c: crc32cBase64(body), type: 'FULL_OBJECT' as const }
        : undefined;
      const object = makeObject(body, now(), { contentType, checksum });
      bucketFor(bucket).set(key, object);
      return object;
    },
    getObject(bucket, key) {
      const object = buckets.get(bucket)?.get(key);
      if (object === undefined) {
        throw new Error(`fake S3 has no object ${bucket}/${key}`);
      }
      return object;
    },
    deleteObject: (bucket, key) => buckets.get(bucket)?.delete(key) ?? false,
    keys: (bucket) => [...(buckets.get(bucket)?.keys() ?? [])].sort(),
    inject: (fault) => faults.add(fault),
    pendingFaults: () => faults.pending(),
    pendingUploads: () =>
      [...uploads.values()].map(({ bucket, key, uploadId }) => ({ bucket, key, uploadId })),
    close: async () => {
      for (const socket of sockets) {
        socket.destroy();
      }
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
