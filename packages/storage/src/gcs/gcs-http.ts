import { once } from 'node:events';
import { Agent as HttpAgent, request as httpRequest } from 'node:http';
import type { ClientRequest, IncomingHttpHeaders, IncomingMessage } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';
import type { Readable } from 'node:stream';

import { abortReason } from '../common.js';
import { StorageError, TransientStorageError } from '../errors.js';
import { isNetworkError } from './gcs-errors.js';

/** A request that goes this long without a byte either way is dropped as stalled. */
const IDLE_TIMEOUT_MS = 60_000;
/** Answers to uploads are small documents; a longer one is cut here. */
const MAX_ANSWER_BYTES = 1024 * 1024;

/** One answer, its body read whole. */
export interface HttpAnswer {
  status: number;
  headers: IncomingHttpHeaders;
  body: string;
}

export interface HttpRequestInit {
  method: string;
  headers: Record<string, string>;
  /** Sent in order; streams are read as they go, never held whole. */
  body?: readonly (Uint8Array | Readable)[];
  signal?: AbortSignal | undefined;
}

/** Keep-alive agents for the uploads of one client, by protocol. */
export class UploadAgents {
  readonly #http = new HttpAgent({ keepAlive: true });
  readonly #https = new HttpsAgent({ keepAlive: true });

  for(url: URL): HttpAgent {
    return url.protocol === 'https:' ? this.#https : this.#http;
  }

  destroy(): void {
    this.#http.destroy();
    this.#https.destroy();
  }
}

/**
 * Sends one request with a streamed body and reads its (small) answer: what uploads need and
 * @google-cloud/storage does not offer for XML multipart uploads to any endpoint but Google's
 * own, nor with an AbortSignal and an exact Content-Length. A request that got no answer fails
 * with a `TransientStorageError`; a body stream that fails, with a `StorageError`; an abort,
 * with the signal's reason.
 */
export async function sendRequest(
  url: URL,
  agents: UploadAgents,
  init: HttpRequestInit,
): Promise<HttpAnswer> {
  const { signal } = init;
  signal?.throwIfAborted();
  const send = url.protocol === 'https:' ? httpsRequest : httpRequest;
  const request = send(url, {
    method: init.method,
    headers: init.headers,
    agent: agents.for(url),
    signal,
  });
  request.setTimeout(IDLE_TIMEOUT_MS, () =>
    request.destroy(
      new TransientStorageError(`${init.method} ${url.origin}${url.pathname}: stalled`),
    ),
  );
  const answered = new Promise<HttpAnswer>((resolve, reject) => {
    request.once('response', (res: IncomingMessage) => {
      readAnswer(res).then(resolve, reject);
    });
    request.once('error', reject);
  });
  // Settled below; an early answer (a refusal before the body was sent) is the one to report.
  answered.catch(() => undefined);
  try {
    await writeBody(request, init.body ?? []);
  } catch (err: unknown) {
    request.destroy(err instanceof Error ? err : new Error(String(err)));
  }
  try {
    return await answered;
  } catch (err: unknown) {
    if (signal?.aborted === true) {
      throw abortReason(signal);
    }
    if (err instanceof StorageError) {
      throw err;
    }
    const what = `${init.method} ${url.origin}${url.pathname}`;
    if (isNetworkError(err)) {
      throw new TransientStorageError(`${what}: ${(err as Error).message}`, { cause: err });
    }
    throw new StorageError(`${what}: ${err instanceof Error ? err.message : String(err)}`, {
      cause: err,
    });
  }
}

async function writeBody(
  request: ClientRequest,
  pieces: readonly (Uint8Array | Readable)[],
): Promise<void> {
  // A request that closes (an abort, an early answer, a reset) fails the wait for 'drain'.
  const closed = new AbortController();
  request.once('close', () => closed.abort());
  const write = async (chunk: Uint8Array): Promise<void> => {
    closed.signal.throwIfAborted();
    if (!request.write(chunk)) {
      await once(request, 'drain', { signal: closed.signal });
    }
  };
  for (const piece of pieces) {
    if (piece instanceof Uint8Array) {
      await write(piece);
      continue;
    }
    try {
      for await (const chunk of piece) {
        await write(chunk as Uint8Array);
      }
    } catch (err: unknown) {
      if (request.destroyed) {
        throw err; // the request failed first; its own error is the one reported
      }
      throw new StorageError(`reading the body to upload: ${(err as Error).message}`, {
        cause: err,
      });
    }
  }
  request.end();
}

async function readAnswer(res: IncomingMessage): Promise<HttpAnswer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of res) {
    const buffer = chunk as Buffer;
    size += buffer.length;
    if (size > MAX_ANSWER_BYTES) {
      res.destroy();
      break;
    }
    chunks.push(buffer);
  }
  return {
    status: res.statusCode ?? 0,
    headers: res.headers,
    body: Buffer.concat(chunks).toString('utf8'),
  };
}
