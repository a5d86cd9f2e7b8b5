import { describe, expect, it } from 'vitest';

import { forEachInLanes } from './lanes.js';

/** A promise with its resolve handle, to hold items open while the test looks. */
function gate(): { promise: Promise<void>; open: () => void } {
  let open = (): void => undefined;
  const promise = new Promise<void>((resolve) => {
    open = resolve;
  });
  return { promise, open };
}

describe('forEachInLanes', () => {
  it('runs every item, never more than the lanes at once', async () => {
    let running = 0;
    let most = 0;
    const seen: number[] = [];
    await forEachInLanes([1, 2, 3, 4, 5, 6, 7], 3, undefined, async (item) => {
      running += 1;
      most = Math.max(most, running);
      await new Promise((resolve) => setImmediate(resolve));
      seen.push(item);
      running -= 1;
    });
    expect(seen.sort()).toEqual([1, 2, 3, 4, 5, 6, 7]);
    expect(most).toBe(3);
  });

  it('starts nothing after the first failure, aborts the items under way and throws it', async () => {
    const held = gate();
    const started: number[] = [];
    let heldSignal: AbortSignal | undefined;
    const boom = new Error('item 2 failed');
    const run = forEachInLanes([1, 2, 3, 4], 2, undefined, async (item, signal) => {
      started.push(item);
      if (item === 1) {
        heldSignal = signal;
        await held.promise;
      } else {
        throw boom;
      }
    });
    await expect.poll(() => heldSignal?.aborted).toBe(true);
    held.open();
    await expect(run).rejects.toBe(boom);
    expect(started).toEqual([1, 2]);
  });

  it("throws the caller's abort rather than the failures it caused", async () => {
    const controller = new AbortController();
    const reason = new Error('stopped by the caller');
    const run = forEachInLanes([1, 2, 3], 1, controller.signal, () => {
      controller.abort(reason);
      return Promise.reject(new Error('a failure the abort caused'));
    });
    await expect(run).rejects.toBe(reason);
  });

  it('keeps one lane when asked for none', async () => {
    const seen: number[] = [];
    await forEachInLanes([1, 2], 0, undefined, (item) => {
      seen.push(item);
      return Promise.resolve();
    });
    expect(seen).toEqual([1, 2]);
  });
});
