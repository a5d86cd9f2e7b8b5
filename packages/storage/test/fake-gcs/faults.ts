// Injected faults: which ones a request meets, and writing a reply through one of them.
import type { ServerResponse } from 'node:http';
import type { Socket } from 'node:net';

import type { GcsApi, Reply } from './store.js';

/** A request as the fake saw it (logged, and passed to `match` and hooks). */
export interface FakeGcsRequest {
  readonly method: string;
  /** The raw (still percent-encoded) path, e.g. `/storage/v1/b/det-test/o/a%2Fb`. */
  readonly path: string;
  readonly query: URLSearchParams;
  /** Lower-case names, as sent. */
  readonly headers: Readonly<Record<string, string>>;
  /** `json` for `/storage/v1/…` and `/upload/storage/v1/…`, `xml` for path-style `/bucket/name`. */
  readonly api: GcsApi;
  /** Decoded bucket name, or '' when the path names none. */
  readonly bucket: string;
  /** Decoded object name, or '' for bucket operations (a listing). */
  readonly name: string;
}

/** The statuses a status fault may answer with. */
export type FaultStatus = 400 | 401 | 403 | 404 | 429 | 500 | 503;

/**
 * Something that goes wrong on the next `times` requests that `match` (default: all). Every
 * matching hook runs; besides hooks, a request meets at most one fault (the first injected that
 * matches). Byte counts are of the response body; when the response has none (a DELETE), the
 * reset, end or stall happens in place of the head, so the request took effect but the client
 * never hears of it.
 */
export type FakeGcsFault = {
  match?: (req: FakeGcsRequest) => boolean;
  times: number;
} & (
  | {
      /** Answer with this error (in the API's form) instead of doing the request. */
      kind: 'status';
      status: FaultStatus;
      /** @default the reason GCS gives for the status (see DEFAULT_REASONS) */
      reason?: string;
    }
  /** Send the head and this many body bytes, then reset the connection (RST). */
  | { kind: 'reset-after'; bytes: number }
  /** Send the head and this many body bytes, then close cleanly (FIN), short of Content-Length. */
  | { kind: 'end-after'; bytes: number }
  /** Send the head and this many body bytes, then nothing more; the socket stays open until close(). */
  | { kind: 'stall-after'; bytes: number }
  /**
   * Flip (xor 0xff) the body byte at this offset: of the response body as sent (for a ranged
   * GET, counted from the range's first byte) or, with `target: 'request'`, of the request body
   * before the fake acts on it (a corrupted upload). Offsets past the end change nothing.
   */
  | { kind: 'flip'; at: number; target?: 'response' | 'request' }
  /** Run a callback when the request arrives, before it is answered (e.g. to replace the object). */
  | { kind: 'hook'; run: (req: FakeGcsRequest) => void | Promise<void> }
  /** Reset the connection as soon as the request head arrives: nothing is read or done. */
  | { kind: 'drop-request' }
);

export type HookFault = Extract<FakeGcsFault, { kind: 'hook' }>;
export type ResponseFault = Exclude<FakeGcsFault, HookFault>;

/** The reason (JSON API) and message GCS answers each status with. */
export const DEFAULT_REASONS = {
  400: ['invalid', 'Invalid argument.'],
  401: ['required', 'Anonymous caller does not have storage.objects.get access.'],
  403: ['forbidden', 'Access denied.'],
  404: ['notFound', 'Not Found'],
  429: ['rateLimitExceeded', 'The rate of change requests to the object is too high.'],
  500: ['backendError', 'We encountered an internal error. Please try again.'],
  503: ['backendError', 'We encountered an internal error. Please try again.'],
} satisfies Record<FaultStatus, [string, string]>;

interface ActiveFault {
  readonly fault: FakeGcsFault;
  left: number;
}

/** The faults injected so far, each with its uses left. */
export class FaultQueue {
  readonly #active: ActiveFault[] = [];

  add(fault: FakeGcsFault): void {
    if (fault.times > 0) {
      this.#active.push({ fault, left: fault.times });
    }
  }

  /** Uses left over all faults. */
  pending(): number {
    return this.#active.reduce((sum, a) => sum + a.left, 0);
  }

  /** Takes one use of every matching hook and of the first other matching fault. */
  take(req: FakeGcsRequest): { hooks: HookFault[]; fault: ResponseFault | undefined } {
    const hooks: HookFault[] = [];
    let fault: ResponseFault | undefined;
    for (const active of this.#active) {
      const f = active.fault;
      if (
        active.left === 0 ||
        (f.kind !== 'hook' && fault !== undefined) ||
        !(f.match?.(req) ?? true)
      ) {
        continue;
      }
      active.left -= 1;
      if (f.kind === 'hook') {
        hooks.push(f);
      } else {
        fault = f;
      }
    }
    return { hooks, fault };
  }
}

/** Resolves once everything written to `socket` so far has been handed to the kernel. */
function flushed(socket: Socket): Promise<void> {
  return new Promise((resolve) => socket.write(Buffer.alloc(0), () => resolve()));
}

function flip(bytes: Buffer, at: number): Buffer {
  if (at < 0 || at >= bytes.length) {
    return bytes;
  }
  const copy = Buffer.from(bytes); // never the stored object's own bytes
  copy.writeUInt8(copy.readUInt8(at) ^ 0xff, at);
  return copy;
}

/** Applies a request-side flip, if that is the fault. */
export function faultRequestBody(body: Buffer, fault: ResponseFault | undefined): Buffer {
  return fault?.kind === 'flip' && fault.target === 'request' ? flip(body, fault.at) : body;
}

/** Writes `reply` to `res`, through `fault` if it is one that acts on the response. */
export async function writeReply(
  res: ServerResponse,
  socket: Socket,
  reply: Reply,
  fault: ResponseFault | undefined,
): Promise<void> {
  let body = reply.body ?? Buffer.alloc(0);
  if (fault?.kind === 'flip' && fault.target !== 'request') {
    body = flip(body, fault.at);
  }
  if (
    fault?.kind !== 'reset-after' &&
    fault?.kind !== 'end-after' &&
    fault?.kind !== 'stall-after'
  ) {
    res.writeHead(reply.status, reply.headers);
    res.end(body);
    return;
  }
  if (body.length > 0) {
    res.writeHead(reply.status, reply.headers);
    const sent = body.subarray(0, Math.max(0, Math.min(fault.bytes, body.length)));
    if (sent.length > 0) {
      res.write(sent);
    } else {
      res.flushHeaders();
    }
    await flushed(socket);
  }
  if (fault.kind === 'reset-after') {
    socket.resetAndDestroy();
  } else if (fault.kind === 'end-after') {
    socket.end();
  }
  // stall-after: leave the socket open and silent; close() destroys it.
}
