/**
 * Runs `work` on each of `items` in order, at most `lanes` (at least one) at a time. The first failure stops
 * the run: no item starts after it, and the signal handed to `work` aborts with it, so items
 * under way can give up early. Once every lane has stopped, an abort of `signal` is thrown
 * before that failure (it is likely what caused it).
 */
export async function forEachInLanes<T>(
  items: readonly T[],
  lanes: number,
  signal: AbortSignal | undefined,
  work: (item: T, signal: AbortSignal) => Promise<void>,
): Promise<void> {
  const stop = new AbortController();
  const runSignal = signal === undefined ? stop.signal : AbortSignal.any([signal, stop.signal]);
  let next = 0;
  let failure: { error: unknown } | undefined;
  const lane = async (): Promise<void> => {
    while (!runSignal.aborted && next < items.length) {
      const item = items[next] as T;
      next += 1;
      try {
        await work(item, runSignal);
      } catch (error: unknown) {
        failure ??= { error };
        stop.abort(error);
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(Math.max(1, lanes), items.length) }, lane));
  signal?.throwIfAborted();
  if (failure !== undefined) {
    throw failure.error;
  }
}
