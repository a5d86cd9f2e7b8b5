import { abortReason } from '../common.js';

/** How long requests must go without throttling before the budget grows by one connection. */
const RECOVERY_MS = 30_000;

/**
 * The connections one transfer may have open at once, shared by all its files: small files
 * and the ranges of big ones draw from the same budget, so a checkpoint of one big weight file
 * and 500 small files keeps every connection busy. When the store throttles (503 SlowDown, 429)
 * the budget halves, down to one; after `RECOVERY_MS` without throttling it grows back by one
 * at a time (AIMD, as nextcloud/server#53419 retries S3 with halved concurrency).
 */
export class ConnectionBudget {
  readonly max: number;
  #limit: number;
  #inUse = 0;
  #lastThrottleMs = Number.NEGATIVE_INFINITY;
  #lastGrowthMs = Number.NEGATIVE_INFINITY;
  readonly #waiting: (() => void)[] = [];
  readonly #clock: () => number;

  constructor(max: number, clock: () => number = Date.now) {
    this.max = Math.max(1, Math.floor(max));
    this.#limit = this.max;
    this.#clock = clock;
  }

  /** Connections allowed right now. */
  get limit(): number {
    return this.#limit;
  }

  /** Waits for a connection; call the returned function once the request is over. */
  async acquire(signal: AbortSignal): Promise<() => void> {
    while (this.#inUse >= this.#limit) {
      signal.throwIfAborted();
      await new Promise<void>((resolve, reject) => {
        const onAbort = (): void => {
          const i = this.#waiting.indexOf(wake);
          if (i >= 0) {
            this.#waiting.splice(i, 1);
          }
          reject(abortReason(signal));
        };
        const wake = (): void => {
          signal.removeEventListener('abort', onAbort);
          resolve();
        };
        this.#waiting.push(wake);
        signal.addEventListener('abort', onAbort, { once: true });
      });
    }
    this.#inUse += 1;
    let isReleased = false;
    return () => {
      if (!isReleased) {
        isReleased = true;
        this.#inUse -= 1;
        this.#grow();
        this.#wakeAll();
      }
    };
  }

  /** The store asked us to slow down: halve the budget. */
  throttle(): void {
    const now = this.#clock();
    this.#lastThrottleMs = now;
    this.#lastGrowthMs = now;
    this.#limit = Math.max(1, Math.floor(this.#limit / 2));
  }

  #grow(): void {
    const now = this.#clock();
    if (
      this.#limit < this.max &&
      now - this.#lastThrottleMs >= RECOVERY_MS &&
      now - this.#lastGrowthMs >= RECOVERY_MS
    ) {
      this.#limit += 1;
      this.#lastGrowthMs = now;
    }
  }

  #wakeAll(): void {
    for (const wake of this.#waiting.splice(0)) {
      wake();
    }
  }
}
