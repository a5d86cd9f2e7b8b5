import { mkdir, rm } from 'node:fs/promises';
import { join } from 'node:path';

import { extract as tarExtract } from 'tar-stream';
import type { Extract, Header } from 'tar-stream';

import { createApiError } from '../client.js';
import type { Client, RetryPolicy } from '../client.js';
import { IntegrityError, NetworkError } from '../errors.js';
import { checkRelativePath, parentDirs } from '../storage/paths.js';
import { checkDigest, checkSize } from './direct.js';
import type { Manifest } from './manifest.js';
import type { ProgressReporter } from './progress.js';
import { withRetry } from './retry.js';
import { FileSink } from './sink.js';

export interface ArchiveFetch {
  client: Client;
  uuid: string;
  manifest: Manifest;
  /** The temporary directory being filled; emptied before every attempt. */
  dir: string;
  progress: ProgressReporter;
  retry: RetryPolicy;
  signal: AbortSignal;
}

/** The master's archive URL for a checkpoint (Determined's `GET /checkpoints/{uuid}`). */
export function archiveUrl(client: Client, uuid: string): string {
  return `${client.baseUrl}/checkpoints/${encodeURIComponent(uuid)}`;
}

/** A failure worth another attempt at the whole archive; `error` is what the caller sees last. */
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
 * missing at the end. A 5xx answer, a dropped connection or a body shorter than its
 * Content-Length restarts the archive from scratch, with backoff; a corrupt archive does not.
 */
export async function fetchArchive(job: ArchiveFetch): Promise<void> {
  try {
    await withRetry(
      job.retry,
      job.signal,
      (err) => err instanceof Transient,
      async (attempt) => {
        if (attempt > 1) {
          job.progress.add(-job.progress.bytes);
          await rm(job.dir, { recursive: true, force: true });
          await mkdir(job.dir);
        }
        await fetchOnce(job);
      },
    );
  } catch (err: unknown) {
    throw err instanceof Transient ? err.error : err;
  }
}

async function fetchOnce(job: ArchiveFetch): Promise<void> {
  const url = archiveUrl(job.client, job.uuid);
  const headers: Record<string, string> = { accept: 'application/x-tar' };
  if (job.client.token !== undefined) {
    headers.authorization = `Bearer ${job.client.token}`;
  }
  // Aborted when unpacking fails, so the body stops flowing.
  const stop = new AbortController();
  const signal = AbortSignal.any([job.signal, stop.signal]);
  let res: Response;
  try {
    res = await job.client.fetch(url, { method: 'GET', headers, signal });
  } catch (err: unknown) {
    job.signal.throwIfAborted();
    throw new Transient(new NetworkError(url, { cause: err }));
  }
  if (!res.ok) {
    const error = await createApiError('GET', url, res);
    throw res.status >= 500 ? new Transient(error) : error;
  }
  if (res.body === null) {
    throw new Transient(new IntegrityError('', `GET ${url}: the archive has no body`));
  }
  const lengthHeader = res.headers.get('content-length');
  // With a transport encoding, Content-Length counts encoded bytes, not the ones we read.
  const declared = lengthHeader === null ? Number.NaN : Number(lengthHeader);
  const expectedLength =
    Number.isSafeInteger(declared) && res.headers.get('content-encoding') === null
      ? declared
      : undefined;

  const extract = tarExtract();
  // The iterator must listen before the first chunk goes in: an entry emitted with nobody
  // listening is lost, and the parser then waits for it forever.
  const entries = extract[Symbol.asyncIterator]();
  const reader = res.body.getReader();
  let feedError: Error | undefined;
  const feeding = feed(reader, extract, url, expectedLength).catch((err: unknown) => {
    feedError = err instanceof Error ? err : new Error(String(err));
    extract.destroy(feedError);
  });
  try {
    await unpack(job, entries);
    await feeding;
    if (feedError !== undefined) {
      throw feedError;
    }
  } catch (err: unknown) {
    // Whichever side failed first is the cause; stopping the body below fails the other too.
    const cause = feedError ?? err;
    stop.abort();
    extract.destroy();
    await reader.cancel().catch(() => undefined);
    await feeding;
    job.signal.throwIfAborted();
    throw classify(cause, url);
  }
}

/** Moves the HTTP body into the tar parser with back-pressure, counting bytes. */
async function feed(
  reader: ReadableStreamDefaultReader<Uint8Array>,
  extract: Extract,
  url: string,
  expectedLength: number | undefined,
): Promise<void> {
  let received = 0;
  for (;;) {
    let chunk: Awaited<ReturnType<typeof reader.read>>;
    try {
      chunk = await reader.read();
    } catch (err: unknown) {
      throw new Transient(new NetworkError(url, { cause: err }));
    }
    if (chunk.done) {
      break;
    }
    received += chunk.value.byteLength;
    if (expectedLength !== undefined && received > expectedLength) {
      throw new IntegrityError('', `GET ${url}: archive longer than its Content-Length`);
    }
    if (extract.destroyed || extract.destroying) {
      return; // the unpacking side failed and reports why
    }
    if (!extract.write(chunk.value)) {
      await drained(extract);
    }
  }
  if (expectedLength !== undefined && received !== expectedLength) {
    throw new Transient(
      new IntegrityError(
        '',
        `GET ${url}: archive truncated: got ${received} of ${expectedLength} bytes`,
      ),
    );
  }
  extract.end(null);
}

/** Resolves once the parser wants more, or is gone (then the unpacking side reports why). */
function drained(extract: Extract): Promise<void> {
  return new Promise((resolve) => {
    if (extract.destroyed || extract.destroying) {
      resolve(); // 'close' may have fired already
      return;
    }
    const done = (): void => {
      extract.off('drain', done);
      extract.off('close', done);
      resolve();
    };
    extract.on('drain', done);
    extract.on('close', done);
  });
}

/** The entries of an archive, in order; each must be read to its end before the next. */
type EntryIterator = ReturnType<Extract[typeof Symbol.asyncIterator]>;

/** tar-stream's complaints about malformed input, as opposed to input that just stopped. */
const CORRUPT_TAR = /invalid tar header|invalid header|header exceeds max size|unsupported/i;

/** Sorts a failure into retry-worthy or final, in the terms the caller should see. */
function classify(err: unknown, url: string): Error {
  if (err instanceof Transient || err instanceof IntegrityError) {
    return err;
  }
  if (err instanceof Error && /unexpected end of data/i.test(err.message)) {
    return new Transient(new IntegrityError('', `GET ${url}: archive truncated (${err.message})`));
  }
  if (err instanceof Error && CORRUPT_TAR.test(err.message)) {
    return new IntegrityError('', `GET ${url}: corrupt archive: ${err.message}`);
  }
  return err instanceof Error ? err : new Error(String(err));
}

async function unpack(job: ArchiveFetch, entries: EntryIterator): Promise<void> {
  const made = new Set<string>();
  const ensureDir = async (dir: string): Promise<void> => {
    if (!made.has(dir)) {
      await mkdir(join(job.dir, dir), { recursive: true });
      made.add(dir);
    }
  };
  for (const d of job.manifest.dirs) {
    await ensureDir(d);
  }
  const seen = new Set<string>();
  const files = new Set<string>();
  for (;;) {
    const next = await entries.next();
    if (next.done === true) {
      break;
    }
    const entry = next.value;
    const header = entry.header;
    const kind = entryKind(header);
    const name = checkRelativePath(header.name);
    const key = name.replace(/\/$/, '');
    if (seen.has(key)) {
      throw new IntegrityError(name, `archive holds ${name} twice`);
    }
    seen.add(key);
    for (const parent of parentDirs(name)) {
      await ensureDir(parent);
    }
    if (kind === 'directory') {
      await ensureDir(key);
      entry.resume();
      continue;
    }
    if (name.endsWith('/')) {
      throw new IntegrityError(name, `archive file entry ${name} is named like a directory`);
    }
    const file = job.manifest.byPath.get(name) ?? {
      path: name,
      size: header.size,
      sha256: undefined,
    };
    checkSize(file, header.size);
    const sink = await FileSink.create(join(job.dir, name), { hash: file.sha256 !== undefined });
    try {
      for await (const data of entry) {
        // An injected fetch (an in-process app) may not stop its body on abort: check here.
        job.signal.throwIfAborted();
        const chunk = data as Uint8Array;
        await sink.write(chunk);
        job.progress.add(chunk.byteLength, name);
      }
      const { bytes, sha256 } = await sink.finish();
      checkSize(file, bytes);
      checkDigest(file, sha256);
    } catch (err: unknown) {
      await sink.discard();
      throw err;
    }
    files.add(name);
    job.progress.file(name, file.size);
  }
  for (const file of job.manifest.files) {
    if (!files.has(file.path)) {
      throw new IntegrityError(file.path, `the master's archive lacks ${file.path}`);
    }
  }
}

/** Regular files and directories pass; links and special files are refused by name. */
function entryKind(header: Header): 'file' | 'directory' {
  // tar-stream's types omit the null it returns for unknown type flags.
  const type = header.type as Header['type'] | null;
  switch (type) {
    case 'file':
    case 'contiguous-file':
      return 'file';
    case 'directory':
      return 'directory';
    case 'link':
    case 'symlink':
    case 'character-device':
    case 'block-device':
    case 'fifo':
      throw new IntegrityError(
        header.name,
        `refusing archive entry ${JSON.stringify(header.name)}: it is a ${type}` +
          (header.linkname ? ` to ${JSON.stringify(header.linkname)}` : ''),
      );
    case null:
      throw new IntegrityError(
        header.name,
        `refusing archive entry ${JSON.stringify(header.name)} of an unknown type`,
      );
    default: {
      const unknown: never = type;
      throw new IntegrityError(header.name, `refusing archive entry of type ${String(unknown)}`);
    }
  }
}
