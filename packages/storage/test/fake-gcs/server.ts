// The fake's HTTP front: routing by API, the request log, reading bodies, faults, V4 signed
// URLs, and the inspection and fault-injection handle tests hold. What GCS does with a request is in
// json-api.ts and xml-api.ts.
import { createServer } from 'node:http';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';

import { DEFAULT_REASONS, FaultQueue, faultRequestBody, writeReply } from './faults.js';
import type { FakeGcsFault, FakeGcsRequest } from './faults.js';
import { deleteObject, getObject, listObjects, uploadObject } from './json-api.js';
import { GcsError, Generations, errorReply, makeObject } from './store.js';
import type { FakeGcsObject, GcsApi, GcsContext, Reply, Upload } from './store.js';
import { checkSignedUrl } from './signed-urls.js';
import { routeXml } from './xml-api.js';

export interface FakeGcsOptions {
  /** Buckets that exist from the start. @default ['det-test'] */
  buckets?: string[];
  /**
   * Most objects a listing page holds (and the default of `maxResults`). Real GCS pages 1,000;
   * the fake pages fewer so that tests page. @default 100
   */
  maxPageSize?: number;
  /** Smallest size of every part but the last of an XML multipart upload. @default 5 MiB (GCS's) */
  minPartBytes?: number;
  /** The server's clock (ms since the epoch): generations, modification times, signed URLs' expiry. @default Date.now */
  now?: () => number;
  /**
   * Service account email → public key (PEM): a request with a V4 signed URL (`X-Goog-Signature`
   * in its query) must be signed by the private key of the account its credential names, and
   * not have expired. @default {} (every signed URL is refused)
   */
  signedUrlKeys?: Readonly<Record<string, string>>;
}

export interface FakeGcs {
  /** `http://127.0.0.1:<port>`: the value of `STORAGE_EMULATOR_HOST` that reaches it. */
  readonly endpoint: string;
  /** Every request so far, in arrival order (faulted ones included). */
  readonly requests: FakeGcsRequest[];
  /** Stores an object directly (creating the bucket if needed), with a new generation. */
  putObject(
    bucket: string,
    name: string,
    bytes: Uint8Array | string,
    options?: { contentType?: string; contentEncoding?: string },
  ): FakeGcsObject;
  /** The stored object; throws if there is none. */
  getObject(bucket: string, name: string): FakeGcsObject;
  /** Whether there was an object to delete. */
  deleteObject(bucket: string, name: string): boolean;
  /** The bucket's object names, sorted (empty for an unknown bucket). */
  names(bucket: string): string[];
  inject(fault: FakeGcsFault): void;
  /** Uses left over all injected faults (0 once every one has struck). */
  pendingFaults(): number;
  /** XML multipart uploads neither completed nor aborted. */
  pendingUploads(): { bucket: string; name: string; uploadId: string }[];
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

/** The API, bucket and object name a path addresses; `undefined` names for a bad escape. */
function parsePath(
  pathname: string,
): { api: GcsApi; route: string; bucket: string; name: string } | undefined {
  const segments = pathname.split('/').slice(1);
  try {
    const decode = (s: string | undefined): string => decodeURIComponent(s ?? '');
    // /storage/v1/b/B/o[/NAME] and /upload/storage/v1/b/B/o; NAME is one segment (`/` escaped).
    const isUpload = segments[0] === 'upload';
    const json = isUpload ? segments.slice(1) : segments;
    if (json[0] === 'storage') {
      const isObjects = json[1] === 'v1' && json[2] === 'b' && json[4] === 'o';
      const route = !isObjects
        ? 'unknown'
        : isUpload
          ? json.length === 5
            ? 'upload'
            : 'unknown'
          : json.length === 5
            ? 'objects'
            : json.length === 6
              ? 'object'
              : 'unknown';
      return { api: 'json', route, bucket: decode(json[3]), name: decode(json[5]) };
    }
    const [bucket, ...rest] = segments;
    return { api: 'xml', route: 'xml', bucket: decode(bucket), name: decode(rest.join('/')) };
  } catch {
    return undefined;
  }
}

function notImplemented(req: FakeGcsRequest): GcsError {
  const query = req.query.size > 0 ? `?${req.query.toString()}` : '';
  return new GcsError(
    501,
    'notImplemented',
    `${req.method} ${req.path}${query} is not implemented by the fake`,
  );
}

function route(ctx: GcsContext, api: GcsApi, where: string, req: FakeGcsRequest): Reply {
  const { method } = ctx;
  if (api === 'xml') {
    const reply = routeXml(ctx);
    if (reply === undefined) {
      throw notImplemented(req);
    }
    return reply;
  }
  if (where === 'objects' && method === 'GET') {
    return listObjects(ctx);
  }
  if (where === 'object' && method === 'GET') {
    return getObject(ctx);
  }
  if (where === 'object' && method === 'DELETE') {
    return deleteObject(ctx);
  }
  if (where === 'upload' && method === 'POST') {
    return uploadObject(ctx);
  }
  throw notImplemented(req);
}

/** Starts the fake on a free port of 127.0.0.1. */
export async function startFakeGcs({
  buckets: initialBuckets = ['det-test'],
  maxPageSize = 100,
  minPartBytes = 5 * MiB,
  now = Date.now,
  signedUrlKeys = {},
}: FakeGcsOptions = {}): Promise<FakeGcs> {
  const buckets = new Map<string, Map<string, FakeGcsObject>>(
    initialBuckets.map((b) => [b, new Map()]),
  );
  const uploads = new Map<string, Upload>();
  const generations = new Generations(now);
  const requests: FakeGcsRequest[] = [];
  const faults = new FaultQueue();
  const sockets = new Set<Socket>();

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://fake-gcs');
    const headers: Record<string, string> = {};
    for (const [name, value] of Object.entries(req.headers)) {
      if (value !== undefined) {
        headers[name] = Array.isArray(value) ? value.join(', ') : value;
      }
    }
    const parsed = parsePath(url.pathname);
    const api = parsed?.api ?? 'json';
    const record: FakeGcsRequest = {
      method: req.method ?? 'GET',
      path: url.pathname,
      query: url.searchParams,
      headers,
      api,
      bucket: parsed?.bucket ?? '',
      name: parsed?.name ?? '',
    };
    requests.push(record);
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
        return; // the client went away (e.g. aborted mid-upload)
      }
      throw err;
    }
    if (!req.complete) {
      return; // cut off mid-body: never act on a truncated upload
    }
    const body = faultRequestBody(received, fault);
    let reply: Reply;
    try {
      if (fault?.kind === 'status') {
        const [reason, message] = DEFAULT_REASONS[fault.status];
        throw new GcsError(fault.status, fault.reason ?? reason, message);
      }
      if (parsed === undefined) {
        throw new GcsError(400, 'invalid', 'The path is not a valid URI.');
      }
      if (url.searchParams.has('X-Goog-Signature')) {
        const target = req.url ?? '/';
        const at = target.indexOf('?');
        checkSignedUrl(
          record.method,
          at < 0 ? target : target.slice(0, at),
          at < 0 ? '' : target.slice(at + 1),
          headers,
          signedUrlKeys,
          nowMs,
        );
      }
      const bucket = buckets.get(parsed.bucket);
      if (parsed.bucket === '') {
        throw notImplemented(record);
      }
      if (bucket === undefined) {
        throw api === 'xml'
          ? new GcsError(404, 'NoSuchBucket', 'The specified bucket does not exist.')
          : new GcsError(404, 'notFound', 'The specified bucket does not exist.');
      }
      const ctx: GcsContext = {
        method: record.method,
        bucketName: parsed.bucket,
        bucket,
        name: parsed.name,
        query: url.searchParams,
        headers,
        body,
        nowMs,
        generations,
        uploads,
        minPartBytes,
        maxPageSize,
      };
      reply = route(ctx, api, parsed.route, record);
    } catch (err: unknown) {
      if (!(err instanceof GcsError)) {
        throw err;
      }
      reply = errorReply(err, api);
    }
    reply.headers.date = new Date(nowMs).toUTCString();
    if (reply.headers['transfer-encoding'] === undefined) {
      reply.headers['content-length'] ??= String(reply.body?.length ?? 0);
    }
    if (!req.socket.destroyed) {
      await writeReply(res, req.socket, reply, fault);
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

  const bucketFor = (name: string): Map<string, FakeGcsObject> => {
    const existing = buckets.get(name);
    if (existing !== undefined) {
      return existing;
    }
    const created = new Map<string, FakeGcsObject>();
    buckets.set(name, created);
    return created;
  };

  return {
    endpoint: `http://127.0.0.1:${port}`,
    requests,
    putObject(bucket, name, bytes, { contentType, contentEncoding } = {}) {
      // A copy: the caller may reuse its buffer.
      const body = typeof bytes === 'string' ? Buffer.from(bytes) : Buffer.from(bytes);
      const object = makeObject(body, generations.next(), now(), { contentType, contentEncoding });
      bucketFor(bucket).set(name, object);
      return object;
    },
    getObject(bucket, name) {
      const object = buckets.get(bucket)?.get(name);
      if (object === undefined) {
        throw new Error(`fake GCS has no object ${bucket}/${name}`);
      }
      return object;
    },
    deleteObject: (bucket, name) => buckets.get(bucket)?.delete(name) ?? false,
    names: (bucket) => [...(buckets.get(bucket)?.keys() ?? [])].sort(),
    inject: (fault) => faults.add(fault),
    pendingFaults: () => faults.pending(),
    pendingUploads: () =>
      [...uploads.values()].map(({ bucket, name, uploadId }) => ({ bucket, name, uploadId })),
    close: async () => {
      for (const socket of sockets) {
        socket.destroy();
      }
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
