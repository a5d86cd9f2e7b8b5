import { abortReason } from '../common.js';

/** setTimeout takes at most this many ms (it fires at once past it); longer means never. */
const MAX_TIMER_MS = 2_147_483_647;

/** No byte arrived for the idle timeout: the connection stalled. */
export class StallError extends Error {
  readonly code = 'ETIMEDOUT';

  constructor(ms: number) {
    super(`no data for ${ms / 1000} s (idleTimeoutMs): the connection stalled`);
    this.name = 'StallError';
  }
}

/**
 * Aborts `signal` with a {@link StallError} once `ms` pass without a call to `restart`: a
 * request's watchdog, from the connection to the body's last byte (SDK timeouts that cover only
 * the head are why stalled bodies hang forever, aws-sdk-js-v3#8098). The timer never keeps the
 * process alive, and `clear` must end every request's watch.
 */
export class IdleTimeout {
  readonly signal: AbortSignal;
  readonly ms: number;
  readonly #controller = new AbortController();
  readonly #timer: NodeJS.Timeout | undefined;

  constructor(ms: number) {
    this.ms = ms;
    this.signal = this.#controller.signal;
    if (ms <= MAX_TIMER_MS) {
      this.#timer = setTimeout(() => this.#controller.abort(new StallError(ms)), ms).unref();
    }
  }

  /** Whether the timeout has fired. */
  get hasFired(): boolean {
    return this.signal.aborted;
  }

  /** Starts the wait over (something arrived); refresh() costs no allocation per chunk. */
  restart(): void {
    if (!this.hasFired) {
      this.#timer?.refresh();
    }
  }

  clear(): void {
    clearTimeout(this.#timer);
  }
}

/**
 * Settles as `promise` does, or rejects with `signal`'s reason once it aborts: a body from an
 * injected fetch (an in-process app) may ignore the abort and never settle. What `promise`
 * brings after losing the race is left to the caller (cancel the body it belongs to).
 */
export function raceAbort<T>(promise: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) {
    promise.catch(() => undefined); // lost already; its failure is of no interest
    return Promise.reject(abortReason(signal));
  }
  return new Promise<T>((resolve, reject) => {
    const onAbort = (): void => reject(abortReason(signal));
    signal.addEventListener('abort', onAbort, { once: true });
    promise.finally(() => signal.removeEventListener('abort', onAbort)).then(resolve, reject);
  });
}
