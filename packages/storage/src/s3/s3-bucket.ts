import type { Readable } from 'node:stream';

import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CreateMultipartUploadCommand,
  DeleteObjectsCommand,
  HeadObjectCommand,
  ListObjectsCommand,
  PutObjectCommand,
  S3Client,
  UploadPartCommand,
} from '@aws-sdk/client-s3';
import { SignatureV4 } from '@smithy/signature-v4';

import type { PresignedRead } from '../backend.js';
import { abortReason } from '../common.js';
import type { BodyOpener, StreamedResponse } from '../common.js';
import { TransientStorageError } from '../errors.js';
import { readErrorBody } from '../http/answers.js';
import { raceAbort } from '../http/idle-timeout.js';
import { openKeptAliveBody } from '../http/raw-body.js';
import { classifyS3Failure, fromSdkError, parseS3ErrorBody } from './s3-errors.js';
import { NodeSha256 } from './sha256.js';

/** Static AWS credentials (from `checkpoint_storage`, or injected). */
export interface S3Credentials {
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken?: string;
  /** When temporary credentials (a session token's) expire: presigned URLs never outlive them. */
  expiration?: Date;
}

export interface S3BucketOptions {
  bucket: string;
  /** An S3-compatible server, addressed path-style; `undefined` for AWS. */
  endpointUrl: string | undefined;
  region: string;
  /** `undefined` takes AWS's default chain: env, profile, SSO, instance or task role. */
  credentials: S3Credentials | undefined;
  /** How object bodies are read. @default the storage package's socket transport, kept alive */
  openBody?: BodyOpener;
}

/** One object of a listing. */
export interface S3ObjectInfo {
  key: string;
  size: number;
  etag: string;
  /** Its last modification, in ms since the epoch. */
  mtimeMs: number | undefined;
}

export interface S3GetOptions {
  /** Bytes `[start, end)`; the whole object when omitted. */
  range?: { start: number; end: number } | undefined;
  ifMatch?: string | undefined;
  /** Sends `x-amz-checksum-mode: ENABLED`, for `x-amz-checksum-crc32c` on whole-object reads. */
  withChecksum?: boolean;
  signal: AbortSignal;
}

const SILENT_LOGGER = {
  trace: (): void => undefined,
  debug: (): void => undefined,
  info: (): void => undefined,
  warn: (): void => undefined,
  error: (): void => undefined,
};

/** Credentials as the client's chain resolves them (keys, session token, expiry). */
type ResolvedCredentials = Awaited<ReturnType<S3Client['config']['credentials']>>;

/** Largest number of keys DeleteObjects takes at once. */
const DELETE_BATCH = 1000;
/** A clock this far off makes S3 refuse a signature (RequestTimeTooSkewed). */
const MAX_SKEW_MS = 5 * 60 * 1000;

/** RFC 3986 encoding (encodeURIComponent leaves !'()* alone): what SigV4 canonicalises to. */
function uriEscape(value: string): string {
  return encodeURIComponent(value).replace(
    /[!'()*]/g,
    (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`,
  );
}

/** RFC 3986 encoding of a key's path, `/` kept: what S3's canonical URI expects. */
export function encodeKey(key: string): string {
  return key.split('/').map(uriEscape).join('/');
}

/**
 * One bucket: the control plane (list, put, multipart, delete) through @aws-sdk/client-s3, and
 * the data plane (GETs of object bodies) as SigV4-signed requests on the storage package's own
 * socket transport, which reads into one reused buffer. The SDK's GetObject body path cost
 * about 0.5–1 CPU-s per GiB more than a plain socket here, and leaves body stalls unhandled
 * (aws-sdk-js-v3#8098); owning the GET also lets the engine pin ranges with If-Match.
 *
 * Custom endpoints get path-style addressing and checksums only `WHEN_REQUIRED`: since 3.729
 * the SDK sends CRC32 trailers with aws-chunked framing, which S3-compatible servers such as
 * s3rver store verbatim, corrupting the object.
 */
export class S3Bucket {
  readonly name: string;
  readonly client: S3Client;
  readonly #endpoint: URL | undefined;
  readonly #openBody: BodyOpener;
  #region: string;
  #signer: SignatureV4;
  /** Added to our clock when signing, once S3 said it was off. */
  #clockOffsetMs = 0;

  constructor(options: S3BucketOptions) {
    this.name = options.bucket;
    this.#endpoint = options.endpointUrl === undefined ? undefined : new URL(options.endpointUrl);
    this.#region = options.region;
    this.#openBody = options.openBody ?? openKeptAliveBody;
    this.client = new S3Client({
      region: options.region,
      ...(options.endpointUrl === undefined
        ? { followRegionRedirects: true }
        : { endpoint: options.endpointUrl, forcePathStyle: true }),
      ...(options.credentials === undefined ? {} : { credentials: options.credentials }),
      requestChecksumCalculation: 'WHEN_REQUIRED',
      responseChecksumValidation: 'WHEN_REQUIRED',
      // As many attempts as the data plane's requests get (the SDK's default is 3): a burst of
      // 503 SlowDown should slow a listing down, not fail the download.
      maxAttempts: 6,
      // A library does not log: without a logger of its own the SDK warns on the console.
      logger: SILENT_LOGGER,
    });
    this.#signer = this.#makeSigner();
  }

  /** `s3://bucket/key`, for messages. */
  uri(key: string): string {
    return `s3://${this.name}/${key}`;
  }

  /** The URL of an object's data-plane GET. */
  objectUrl(key: string): URL {
    const path = encodeKey(key);
    if (this.#endpoint !== undefined) {
      const base = this.#endpoint.pathname.replace(/\/+$/, '');
      return new URL(`${base}/${encodeURIComponent(this.name)}/${path}`, this.#endpoint);
    }
    // Bucket names with dots break the wildcard certificate of virtual-hosted addresses.
    return this.name.includes('.')
      ? new URL(`https://s3.${this.#region}.amazonaws.com/${this.name}/${path}`)
      : new URL(`https://${this.name}.s3.${this.#region}.amazonaws.com/${path}`);
  }

  /**
   * Every object under `prefix`, in key order. ListObjects v1 with markers, as Determined's
   * boto3 resource listing does: s3rver answers a truncated ListObjectsV2 with a 500.
   */
  async list(prefix: string, signal?: AbortSignal): Promise<S3ObjectInfo[]> {
    const out: S3ObjectInfo[] = [];
    let marker: string | undefined;
    for (;;) {
      let page;
      try {
        page = await this.client.send(
          new ListObjectsCommand({ Bucket: this.name, Prefix: prefix, Marker: marker }),
          { abortSignal: signal },
        );
      } catch (err: unknown) {
        throw fromSdkError(`listing ${this.uri(prefix)}`, err);
      }
      const contents = page.Contents ?? [];
      for (const o of contents) {
        if (o.Key !== undefined) {
          out.push({
            key: o.Key,
            size: Number(o.Size ?? 0),
            etag: o.ETag ?? '',
            mtimeMs: o.LastModified?.getTime(),
          });
        }
      }
      const last = contents.at(-1)?.Key;
      if (page.IsTruncated !== true || last === undefined) {
        return out;
      }
      // Without a delimiter S3 sends no NextMarker: the last key is the marker.
      marker = page.NextMarker ?? last;
    }
  }

  /**
   * An object's size, ETag and full-object CRC32C (base64, as S3 sends it), or `undefined` when
   * there is no such key.
   */
  async head(
    key: string,
    signal?: AbortSignal,
  ): Promise<
    | { size: number; etag: string; crc32c: string | undefined; checksumType: string | undefined }
    | undefined
  > {
    try {
      const res = await this.client.send(
        new HeadObjectCommand({ Bucket: this.name, Key: key, ChecksumMode: 'ENABLED' }),
        { abortSignal: signal },
      );
      return {
        size: Number(res.ContentLength ?? 0),
        etag: res.ETag ?? '',
        crc32c: res.ChecksumCRC32C,
        checksumType: res.ChecksumType,
      };
    } catch (err: unknown) {
      const status = (err as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode;
      if (status === 404) {
        return undefined;
      }
      throw fromSdkError(`HEAD ${this.uri(key)}`, err);
    }
  }

  /**
   * GETs an object (or a range of it) with a signed request and resolves with the head of a
   * 2xx answer. Other answers throw, classified (see `classifyS3Failure`): 412 is
   * `ObjectChangedError`, 403 and missing credentials `StorageUnreachableError`, 429/5xx
   * `TransientStorageError`. A clock S3 finds skewed, or a bucket in another region, is
   * corrected and the request sent once more.
   */
  async get(key: string, options: S3GetOptions): Promise<StreamedResponse> {
    for (let attempt = 1; ; attempt += 1) {
      const url = this.objectUrl(key);
      const headers: Record<string, string> = {
        host: url.host,
        'x-amz-content-sha256': 'UNSIGNED-PAYLOAD',
      };
      if (options.range !== undefined) {
        headers.range = `bytes=${options.range.start}-${options.range.end - 1}`;
      }
      if (options.ifMatch !== undefined) {
        headers['if-match'] = options.ifMatch;
      }
      if (options.withChecksum === true) {
        headers['x-amz-checksum-mode'] = 'ENABLED';
      }
      let signed;
      try {
        // Signed just before it is sent, so a long transfer never carries a stale signature.
        signed = await this.#signer.sign(
          {
            method: 'GET',
            protocol: url.protocol,
            hostname: url.hostname,
            port: url.port === '' ? undefined : Number(url.port),
            path: url.pathname,
            query: {},
            headers,
          },
          { signingDate: new Date(Date.now() + this.#clockOffsetMs) },
        );
      } catch (err: unknown) {
        throw fromSdkError(this.uri(key), err);
      }
      const send: Record<string, string> = {};
      for (const [name, value] of Object.entries(signed.headers)) {
        if (name.toLowerCase() !== 'host' && typeof value === 'string') {
          send[name] = value; // the transport writes Host itself, from the same URL
        }
      }
      let res: StreamedResponse;
      try {
        res = await this.#openBody(url.href, { headers: send, signal: options.signal });
      } catch (err: unknown) {
        if (options.signal.aborted) {
          throw abortReason(options.signal);
        }
        // No answer at all (refused, reset, unreachable): worth another attempt.
        throw new TransientStorageError(`GET ${this.uri(key)}: ${errorMessage(err)}`, {
          cause: err,
        });
      }
      if (res.status >= 200 && res.status <= 299) {
        return res;
      }
      const body = await readErrorBody(res);
      const { code, message } = parseS3ErrorBody(body);
      if (attempt === 1 && this.#correct(res, code)) {
        continue;
      }
      throw classifyS3Failure(`GET ${this.uri(key)}`, res.status, code, message);
    }
  }

  /**
   * A URL that GETs `key` with no credentials for `lifetimeS` seconds (SigV4 in the query, at
   * most 7 days), or until the credentials expire when they are temporary and expire sooner: S3
   * refuses a URL once the session that signed it has ended. Only the host is signed, so the
   * client may add `Range` and `If-Match`; no `x-amz-*` header may be added (S3 refuses unsigned
   * ones), which is why checksum mode is left out.
   */
  async presignGet(key: string, lifetimeS: number, signal?: AbortSignal): Promise<PresignedRead> {
    const what = `signing a URL for ${this.uri(key)}`;
    let credentials: ResolvedCredentials;
    try {
      const pending = this.client.config.credentials();
      credentials = signal === undefined ? await pending : await raceAbort(pending, signal);
    } catch (err: unknown) {
      if (signal?.aborted === true) {
        throw abortReason(signal);
      }
      throw fromSdkError(what, err);
    }
    const expiration = credentials.expiration?.getTime();
    const expiresS =
      expiration === undefined
        ? lifetimeS
        : Math.max(1, Math.min(lifetimeS, Math.floor((expiration - Date.now()) / 1000)));
    // X-Amz-Date has whole seconds of S3's clock; the expiry is reported on ours.
    const signedAtMs = Math.floor((Date.now() + this.#clockOffsetMs) / 1000) * 1000;
    const url = this.objectUrl(key);
    let query: Record<string, unknown>;
    try {
      // Signed with the credentials whose expiry was read, whatever the chain holds by now.
      const presigned = await this.#makeSigner(credentials).presign(
        {
          method: 'GET',
          protocol: url.protocol,
          hostname: url.hostname,
          port: url.port === '' ? undefined : Number(url.port),
          path: url.pathname,
          query: {},
          headers: { host: url.host, 'x-amz-content-sha256': 'UNSIGNED-PAYLOAD' },
        },
        { expiresIn: expiresS, signingDate: new Date(signedAtMs) },
      );
      query = presigned.query ?? {};
    } catch (err: unknown) {
      throw fromSdkError(what, err);
    }
    url.search = Object.entries(query)
      .map(([name, value]) => `${uriEscape(name)}=${uriEscape(String(value))}`)
      .join('&');
    return { url: url.href, expiresAtMs: signedAtMs - this.#clockOffsetMs + expiresS * 1000 };
  }

  /** Puts a whole object from memory or a stream of `size` bytes, with its CRC32C (base64). */
  async putObject(
    key: string,
    body: Uint8Array | Readable,
    size: number,
    crc32cBase64: string | undefined,
    signal?: AbortSignal,
  ): Promise<void> {
    try {
      await this.client.send(
        new PutObjectCommand({
          Bucket: this.name,
          Key: key,
          Body: body,
          ContentLength: size,
          ...(crc32cBase64 === undefined ? {} : { ChecksumCRC32C: crc32cBase64 }),
        }),
        { abortSignal: signal },
      );
    } catch (err: unknown) {
      throw fromSdkError(`PUT ${this.uri(key)}`, err);
    }
  }

  /** Starts a multipart upload whose whole object will carry a full-object CRC32C. */
  async createMultipart(key: string, signal?: AbortSignal): Promise<string> {
    try {
      const res = await this.client.send(
        new CreateMultipartUploadCommand({
          Bucket: this.name,
          Key: key,
          ChecksumAlgorithm: 'CRC32C',
          ChecksumType: 'FULL_OBJECT',
        }),
        { abortSignal: signal },
      );
      if (res.UploadId === undefined) {
        throw new Error('no UploadId in the answer');
      }
      return res.UploadId;
    } catch (err: unknown) {
      throw fromSdkError(`starting a multipart upload of ${this.uri(key)}`, err);
    }
  }

  async uploadPart(
    key: string,
    uploadId: string,
    partNumber: number,
    body: Uint8Array | Readable,
    size: number,
    crc32cBase64: string,
    signal?: AbortSignal,
  ): Promise<string> {
    try {
      const res = await this.client.send(
        new UploadPartCommand({
          Bucket: this.name,
          Key: key,
          UploadId: uploadId,
          PartNumber: partNumber,
          Body: body,
          ContentLength: size,
          ChecksumCRC32C: crc32cBase64,
        }),
        { abortSignal: signal },
      );
      return res.ETag ?? '';
    } catch (err: unknown) {
      throw fromSdkError(`uploading part ${partNumber} of ${this.uri(key)}`, err);
    }
  }

  async completeMultipart(
    key: string,
    uploadId: string,
    parts: readonly { partNumber: number; etag: string; crc32cBase64: string }[],
    crc32cBase64: string,
    signal?: AbortSignal,
  ): Promise<void> {
    try {
      await this.client.send(
        new CompleteMultipartUploadCommand({
          Bucket: this.name,
          Key: key,
          UploadId: uploadId,
          ChecksumCRC32C: crc32cBase64,
          ChecksumType: 'FULL_OBJECT',
          MultipartUpload: {
            Parts: parts.map((p) => ({
              PartNumber: p.partNumber,
              ETag: p.etag,
              ChecksumCRC32C: p.crc32cBase64,
            })),
          },
        }),
        { abortSignal: signal },
      );
    } catch (err: unknown) {
      throw fromSdkError(`completing the multipart upload of ${this.uri(key)}`, err);
    }
  }

  /** Aborts a multipart upload so its parts stop costing; never throws (a cleanup). */
  async abortMultipart(key: string, uploadId: string): Promise<void> {
    try {
      await this.client.send(
        new AbortMultipartUploadCommand({ Bucket: this.name, Key: key, UploadId: uploadId }),
      );
    } catch {
      // Best effort: a lifecycle rule is the backstop for uploads nobody could abort.
    }
  }

  /**
   * Deletes keys, 1,000 per request; returns those deleted (missing ones count as deleted). A
   * key S3 refused to delete is left out.
   */
  async deleteKeys(keys: readonly string[], signal?: AbortSignal): Promise<Set<string>> {
    const deleted = new Set<string>();
    for (let i = 0; i < keys.length; i += DELETE_BATCH) {
      const batch = keys.slice(i, i + DELETE_BATCH);
      let res;
      try {
        res = await this.client.send(
          new DeleteObjectsCommand({
            Bucket: this.name,
            Delete: { Objects: batch.map((Key) => ({ Key })), Quiet: false },
          }),
          { abortSignal: signal },
        );
      } catch (err: unknown) {
        throw fromSdkError(`deleting from ${this.uri('')}`, err);
      }
      const failed = new Set((res.Errors ?? []).map((e) => e.Key));
      for (const key of batch) {
        if (!failed.has(key)) {
          deleted.add(key);
        }
      }
    }
    return deleted;
  }

  /**
   * Adjusts to what an error answer says about us: a skewed clock (the answer's Date is the
   * server's time) or a bucket in another region. Returns whether a retry may now succeed.
   */
  #correct(res: StreamedResponse, code: string | undefined): boolean {
    if (code === 'RequestTimeTooSkewed') {
      const serverMs = Date.parse(res.headers.get('date') ?? '');
      if (Number.isFinite(serverMs) && Math.abs(serverMs - Date.now()) > MAX_SKEW_MS / 5) {
        this.#clockOffsetMs = serverMs - Date.now();
        return true;
      }
    }
    const region = res.headers.get('x-amz-bucket-region');
    if (region !== null && region !== this.#region && (res.status === 301 || res.status === 400)) {
      this.#region = region;
      this.#signer = this.#makeSigner();
      return true;
    }
    return false;
  }

  /** A signer with `credentials`, or with the client's (its chain's, cached) by default. */
  #makeSigner(credentials?: ResolvedCredentials): SignatureV4 {
    return new SignatureV4({
      service: 's3',
      region: this.#region,
      credentials: credentials ?? (() => this.client.config.credentials()),
      sha256: NodeSha256,
      // S3 takes the path as sent, encoded once; other services want it encoded twice.
      uriEscapePath: false,
      applyChecksum: false,
    });
  }
}

function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
