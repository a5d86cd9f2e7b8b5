/** Where the Core API sends the failures it does not throw (heartbeats). */
export interface CoreLogger {
  warn(message: string, error?: unknown): void;
}

/** A logger that drops everything: the SDK writes nothing to the console unless asked to. */
export const SILENT_LOGGER: CoreLogger = { warn: () => undefined };

export interface HeartbeatOptions {
  intervalMs: number;
  retryMs: number;
  logger: CoreLogger;
}

/**
 * Calls `beat` now and then every `intervalMs` (`retryMs` after a failure), as the Python SDK's
 * heartbeat thread does (60 s, 10 s: determined-ai/determined harness/determined/core/
 * _heartbeat.py). Failures are only logged. The timer is unref'd, so it never keeps the process
 * alive on its own.
 */
export class Heartbeat {
  readonly #beat: () => Promise<void>;
  readonly #options: HeartbeatOptions;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #inFlight: Promise<void> | undefined;
  #isStopped = false;

  constructor(beat: () => Promise<void>, options: HeartbeatOptions) {
    this.#beat = beat;
    this.#options = options;
  }

  start(): void {
    this.#run();
  }

  #run(): void {
    this.#timer = undefined;
    if (this.#isStopped) {
      return;
    }
    this.#inFlight = this.#beat().then(
      () => this.#schedule(this.#options.intervalMs),
      (err: unknown) => {
        const message = err instanceof Error ? err.message : String(err);
        this.#options.logger.warn(
          `heartbeat failed (retrying in ${this.#options.retryMs} ms): ${message}`,
          err,
        );
        this.#schedule(this.#options.retryMs);
      },
    );
  }

  #schedule(delayMs: number): void {
    this.#inFlight = undefined;
    if (this.#isStopped) {
      return;
    }
    this.#timer = setTimeout(() => this.#run(), delayMs);
    this.#timer.unref();
  }

  /** Stops the timer and waits for a beat in flight, so none lands after the final state. */
  async stop(): Promise<void> {
    this.#isStopped = true;
    if (this.#timer !== undefined) {
      clearTimeout(this.#timer);
      this.#timer = undefined;
    }
    await this.#inFlight;
  }
}
