/**
 * Sends reports one at a time, in the order they were queued, like the Python SDK's metrics
 * shipper thread (determined-ai/determined: harness/determined/core/_metrics.py). After a send
 * fails the queue stops for good: reports queued behind it are not sent, and every later `push`
 * throws the failure at once, which is how the Python SDK raises it on the next report.
 */
export class ReportQueue {
  #tail: Promise<void> = Promise.resolve();
  #failure: { error: unknown } | undefined;

  /**
   * Throws the failure that stopped the queue, if any. Otherwise queues `send` and returns a
   * promise that settles with it. The promise is marked handled, so a caller that does not await
   * it is not crashed by an unhandled rejection; the failure surfaces on the next push and on
   * `flush()`.
   */
  push(send: () => Promise<void>): Promise<void> {
    this.throwIfFailed();
    const result = this.#tail.then(() => {
      // A report queued before an earlier one failed is dropped with that failure.
      this.throwIfFailed();
      return send();
    });
    this.#tail = result.then(
      () => undefined,
      (error: unknown) => {
        this.#failure ??= { error };
      },
    );
    result.catch(() => {
      // Handled: see above. The caller still sees the rejection if it awaits `result`.
    });
    return result;
  }

  /** Waits for every queued report; rejects with the failure that stopped the queue, if any. */
  async flush(): Promise<void> {
    await this.#tail;
    this.throwIfFailed();
  }

  throwIfFailed(): void {
    if (this.#failure !== undefined) {
      throw this.#failure.error;
    }
  }
}
