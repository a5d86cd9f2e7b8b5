import { abortReason, backoffMs } from '../common.js';
import type { RetryPolicy } from '../common.js';
import { errnoCode } from '../errno.js';

/** Waits `ms`, or rejects with the signal's reason when it aborts first. */
export function sleep(ms: number, signal: AbortSignal | undefined): Promise<void> {
  signal?.throwIfAborted();
  if (ms <= 0) {
    return Promise.resolve();
  }
  return new Promise((resolve, reject) => {
    const onAbort = (): void => {
      clearTimeout(timer);
      reject(abortReason(signal));
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/**
 * Runs `attempt` until it succeeds, a failure is not transient, or the policy's attempts are
 * used up, backing off with full jitter in between. The last failure is thrown as it was.
 */
export async function withRetry<T>(
  policy: RetryPolicy,
  signal: AbortSignal | undefined,
  isTransient: (err: unknown) => boolean,
  attempt: (n: number) => Promise<T>,
): Promise<T> {
  for (let n = 1; ; n += 1) {
    try {
      return await attempt(n);
    } catch (err: unknown) {
      if (signal?.aborted === true) {
        throw abortReason(signal);
      }
      if (n >= policy.attempts || !isTransient(err)) {
        throw err;
      }
    }
    await sleep(backoffMs(policy, n), signal);
  }
}

/** Filesystem errors worth another try: I/O hiccups and network filesystems coming back. */
const TRANSIENT_FS_CODES = new Set([
  'EAGAIN',
  'EBUSY',
  'ECONNRESET',
  'EINTR',
  'EIO',
  'EMFILE',
  'ENFILE',
  'ESTALE',
  'ETIMEDOUT',
]);

export function isTransientFsError(err: unknown): boolean {
  const code = errnoCode(err);
  return typeof code === 'string' && TRANSIENT_FS_CODES.has(code);
}
