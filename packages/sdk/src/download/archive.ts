import { mkdir, rm } from 'node:fs/promises';

import {
  ArchiveUnpacking,
  HashPool,
  IdleTimeout,
  TarFormatError,
  TarTruncatedError,
  isWorthAPool,
  openRawBody,
  parseContentRange,
  raceAbort,
  withRetry,
} from '@determined-ts/storage';
import type { Manifest, ProgressReporter } from '@determined-ts/storage';
import type { ResponseHeaders } from '@determined-ts/storage/common';

import { createApiError } from '../client.js';
import type { Client, RetryPolicy, StreamedResponse } from '../client.js';
import { ArgumentError, IntegrityError, NetworkError } from '../errors.js';

/** How long an archive request may go without a byte (the AWS CRT's throughput floor). */
export const DEFAULT_IDLE_TIMEOUT_MS = 30_000;

export interface ArchiveFetch {
  client: Client;
  uuid: string;
  manifest: Manifest;
  /** The temporary directory being filled; emptied whenever the archive starts over. */
  dir: string;
  progress: ProgressReporter;
  retry: RetryPolicy;
  signal: AbortSignal;
  /** @default DEFAULT_IDLE_TIMEOUT_MS */
  idleTimeoutMs?: number | undefined;
}

/** The master's archive URL for a checkpoint (Determined's `GET /checkpoints/{uuid}`). */
export function archiveUrl(client: Client, uuid: string): string {
  return `${client.baseUrl}/checkpoints/${encodeURIComponent(uuid)}`;
}

/** A failure worth another attempt; `error` is what the caller sees last. */
class Transient extends Error {
  readonly error: Error;

  constructor(error: Error) {
    super(error.message, { cause: error });
    this.error = error;
  }
}

/**
 * Downloads the checkpoint as a tar from the master and unpacks it into `dir`, checking every
 * entry: regular files and directories only (links and devices are refused), relative paths
 * that stay inside, sizes as `resources` lists them, sha256 where known, and no resource
 * missing at the end.
 *
 * A 5xx answer, a dropped connection, a body shorter than its Content-Length and a stall (no
 * byte for `idleTimeoutMs`, from the connection on) are retried with backoff. When the first
 * answer carried a strong ETag, a retry asks for the rest only (`Range: bytes=<offset>-` with
 * `If-Range: <etag>`) and goes on unpacking at that very byte; if the files changed meanwhile
 * the master sends the whole new archive (200) and unpacking starts over in an emptied `dir`,
 * as it does without an ETag. A corrupt archive, a failed check or a 206 for another range than
 * the one asked for is not retried.
 *
 * The body is read through the client's `openBody` (a socket of its own for the default transport).
 * When there is enough to hash, a written file's sha256 is checked by a worker that reads it
 * back while the archive goes on; otherwise it is hashed on its way to disk.
 */
export async function fetchArchive(job: ArchiveFetch): Promise<void> {
  const idleTimeoutMs = checkIdleTimeout(job.idleTimeoutMs ?? DEFAULT_IDLE_TIMEOUT_MS);
  // CRC32Cs are checked on the way to disk; the pool is for sha256s.
  const pool = isWorthAPool(job.manifest.files) ? new HashPool() : undefined;
  const download = new ArchiveDownload(job, pool, idleTimeoutMs);
  try {
    await withRetry(
      job.retry,
      job.signal,
      (err) => err instanceof Transient,
      () => download.attempt(),
    );
  } catch (err: unknown) {
    throw err instanceof Transient ? err.error : err;
  } finally {
    await download.close();
    await pool?.close();
  }
}

/** Checks an `idleTimeoutMs` option: a positive number of milliseconds (Infinity: no limit). */
export function checkIdleTimeout(ms: unknown): number {
  if (typeof ms !== 'number' || Number.isNaN(ms) || ms <= 0) {
    throw new ArgumentError(
      'idle-timeout',
      `idleTimeoutMs must be a positive number of milliseconds (Infinity: no limit), got ${String(ms)}`,
    );
  }
  return ms;
}

/** The version of the archive being unpacked, as its first response described it. */
interface ArchiveVersion {
  unpacking: ArchiveUnpacking;
  /** Its strong ETag, when a request for its rest can be made. */
  etag: string | undefined;
  length: number | undefined;
}

/** One archive download over its attempts: what has been unpacked so far, and from which version. */
class ArchiveDownload {
  readonly #job: ArchiveFetch;
  readonly #pool: HashPool | undefined;
  readonly #idleTimeoutMs: number;
  readonly #url: string;
  /** Set while `dir` holds part of a version; a request then asks for its rest. */
  #current: ArchiveVersion | undefined;

  constructor(job: ArchiveFetch, pool: HashPool | undefined, idleTimeoutMs: number) {
    this.#job = job;
    this.#pool = pool;
    this.#idleTimeoutMs = idleTimeoutMs;
    this.#url = archiveUrl(job.client, job.uuid);
  }

  async attempt(): Promise<void> {
    const current = this.#current;
    if (current?.unpacking.failure !== undefined) {
      throw current.unpacking.failure; // a check failed after the last response ended
    }
    if (current !== undefined && !canResume(current)) {
      await this.#startOver();
    }
    const idle = new IdleTimeout(this.#idleTimeoutMs);
    const signal = AbortSignal.any([this.#job.signal, idle.signal]);
    let res: StreamedResponse | undefined;
    try {
      res = await this.#open(idle, signal);
      if (this.#current !== undefined && (res.status === 412 || res.status === 416)) {
        // Not the archive we had part of (a server that checked If-Match, or one that shrank).
        res.cancel();
        await this.#startOver();
        res = await this.#open(idle, signal);
      }
      const version = await this.#accept(res, signal);
      await this.#read(res, version, idle, signal);
      idle.clear(); // checks may take a while after the last byte; nothing is read meanwhile
      await version.unpacking.finish();
      this.#current = undefined;
    } catch (err: unknown) {
      res?.cancel();
      this.#job.signal.throwIfAborted();
      // A failed check stopped the body: it is the cause, not what stopping it did.
      throw classify(this.#current?.unpacking.failure ?? err, this.#url);
    } finally {
      idle.clear();
    }
  }

  /** Abandons what was unpacked (after a final failure); the caller removes `dir`. */
  async close(): Promise<void> {
    const current = this.#current;
    this.#current = undefined;
    await current?.unpacking.abandon();
  }

  /** GETs the archive, or the rest of the current version of it. */
  async #open(idle: IdleTimeout, signal: AbortSignal): Promise<StreamedResponse> {
    const headers: Record<string, string> = { accept: 'application/x-tar' };
    if (this.#job.client.token !== undefined) {
      headers.authorization = `Bearer ${this.#job.client.token}`;
    }
    const current = this.#current;
    if (current?.etag !== undefined) {
      // If-Range rather than If-Match: a changed archive comes whole at once, not as a 412.
      headers.range = `bytes=${current.unpacking.offset}-`;
      headers['if-range'] = current.etag;
    }
    const openBody = this.#job.client.openBody ?? openRawBody;
    idle.restart();
    const opening = openBody(this.#url, { headers, signal });
    try {
      return await raceAbort(opening, signal);
    } catch (err: unknown) {
      // A head that comes after all is not read.
      opening.then(
        (late) => late.cancel(),
        () => undefined,
      );
      this.#job.signal.throwIfAborted();
      throw new Transient(new NetworkError(this.#url, { cause: err }));
    }
  }

  /** Checks the answer's status and returns the version its body continues or starts. */
  async #accept(res: StreamedResponse, signal: AbortSignal): Promise<ArchiveVersion> {
    const current = this.#current;
    if (res.status === 206 && current !== undefined) {
      this.#checkRest(res, current);
      return current;
    }
    if (res.status === 206) {
      throw new IntegrityError('', `GET ${this.#url}: 206 to a request for the whole archive`);
    }
    if (res.status >= 200 && res.status <= 299) {
      if (current !== undefined) {
        await this.#startOver(); // the files changed (or Range was ignored): all of it came
      }
      const version: ArchiveVersion = {
        unpacking: new ArchiveUnpacking(this.#job, this.#pool),
        ...describeVersion(res.headers),
      };
      this.#current = version;
      return version;
    }
    const error = await createApiError('GET', this.#url, await bufferResponse(res, signal));
    throw res.status >= 500 ? new Transient(error) : error;
  }

  /** Throws unless a 206 holds exactly the rest of `version` that was asked for. */
  #checkRest(res: StreamedResponse, version: ArchiveVersion): void {
    const from = version.unpacking.offset;
    const value = res.headers.get('content-range');
    const range = parseContentRange(value);
    const etag = res.headers.get('etag');
    const length = bodyLength(res.headers);
    const isRest =
      range?.length !== undefined &&
      range.first === from &&
      range.last === range.length - 1 &&
      (version.length === undefined || range.length === version.length) &&
      (length === undefined || length === range.last - range.first + 1) &&
      (etag === null || etag === version.etag) &&
      res.headers.get('content-encoding') === null;
    if (!isRest) {
      throw new IntegrityError(
        '',
        `GET ${this.#url}: asked for bytes ${from}- of ${version.etag ?? ''}, got 206 with ` +
          `Content-Range ${value ?? '(none)'} and ETag ${etag ?? '(none)'}`,
      );
    }
    version.length ??= range.length;
  }

  /** Unpacks the body: synchronous per chunk, as the transport's reused read buffer requires. */
  async #read(
    res: StreamedResponse,
    version: ArchiveVersion,
    idle: IdleTimeout,
    requestSignal: AbortSignal,
  ): Promise<void> {
    const { unpacking } = version;
    const signal = AbortSignal.any([requestSignal, unpacking.signal]);
    const expected = bodyLength(res.headers);
    let received = 0;
    const chunks = res.body[Symbol.asyncIterator]();
    for (;;) {
      idle.restart();
      let next: IteratorResult<Uint8Array>;
      try {
        next = await raceAbort(chunks.next(), signal);
      } catch (err: unknown) {
        throw new Transient(new NetworkError(this.#url, { cause: err }));
      }
      if (next.done === true) {
        break;
      }
      received += next.value.byteLength;
      if (expected !== undefined && received > expected) {
        throw new IntegrityError('', `GET ${this.#url}: archive longer than its Content-Length`);
      }
      unpacking.write(next.value);
    }
    if (expected !== undefined && received !== expected) {
      throw new Transient(
        new IntegrityError(
          '',
          `GET ${this.#url}: archive truncated: got ${received} of ${expected} bytes` +
            (received === unpacking.offset ? '' : ` (from byte ${unpacking.offset - received})`),
        ),
      );
    }
  }

  /** Drops what was unpacked and empties `dir`; the progress count goes back to 0. */
  async #startOver(): Promise<void> {
    const current = this.#current;
    this.#current = undefined;
    await current?.unpacking.abandon();
    await rm(this.#job.dir, { recursive: true, force: true });
    await mkdir(this.#job.dir);
    const { progress } = this.#job;
    if (progress.bytes !== 0) {
      progress.add(-progress.bytes);
    }
  }
}

/** Whether the next request may ask for the rest of `version` rather than all of it. */
function canResume(version: ArchiveVersion): boolean {
  const { offset } = version.unpacking;
  return (
    version.etag !== undefined &&
    offset > 0 &&
    (version.length === undefined || offset < version.length)
  );
}

/** The ETag and length of the archive a 200 starts, as far as they can guide a Range request. */
function describeVersion(headers: ResponseHeaders): {
  etag: string | undefined;
  length: number | undefined;
} {
  const etag = headers.get('etag');
  // Ranges of an encoded body count encoded bytes; a weak ETag may not guard a range (RFC 9110
  // §13.1.5).
  const isUsable =
    etag !== null && /^"[^"]*"$/.test(etag) && headers.get('content-encoding') === null;
  return { etag: isUsable ? etag : undefined, length: bodyLength(headers) };
}

/** The bytes a body will carry by its Content-Length, when that counts the bytes we read. */
function bodyLength(headers: ResponseHeaders): number | undefined {
  const value = headers.get('content-length');
  const declared = value === null ? Number.NaN : Number(value);
  // With a transport encoding, Content-Length counts encoded bytes, not the ones we read.
  return Number.isSafeInteger(declared) && headers.get('content-encoding') === null
    ? declared
    : undefined;
}

/** Reads a failed response's body (for the error message) into a Response. */
async function bufferResponse(res: StreamedResponse, signal: AbortSignal): Promise<Response> {
  const chunks: Buffer[] = [];
  const body = res.body[Symbol.asyncIterator]();
  try {
    for (;;) {
      const next = await raceAbort(body.next(), signal);
      if (next.done === true) {
        break;
      }
      chunks.push(Buffer.from(next.value)); // a copy: the chunk's buffer is reused
    }
  } catch {
    // A body cut short (or stalled) still names the status; the message is what arrived.
    res.cancel();
  }
  // An error's body is all `createApiError` reads, with the status (and the request id).
  const requestId = res.headers.get('x-request-id');
  return new Response(Buffer.concat(chunks), {
    status: res.status,
    statusText: res.statusText,
    headers: requestId === null ? {} : { 'x-request-id': requestId },
  });
}

/** Sorts a failure into retry-worthy or final, in the terms the caller should see. */
function classify(err: unknown, url: string): Error {
  if (err instanceof Transient || err instanceof IntegrityError) {
    return err;
  }
  if (err instanceof TarTruncatedError) {
    return new Transient(new IntegrityError('', `GET ${url}: archive truncated (${err.message})`));
  }
  if (err instanceof TarFormatError) {
    return new IntegrityError('', `GET ${url}: corrupt archive: ${err.message}`);
  }
  return err instanceof Error ? err : new Error(String(err));
}
