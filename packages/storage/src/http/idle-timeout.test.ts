import { describe, expect, it } from 'vitest';

import { IdleTimeout, StallError, raceAbort } from './idle-timeout.js';

/** Waits `ms` of real time: these tests are about timers. */
const wait = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

const timeouts = (): number =>
  process.getActiveResourcesInfo().filter((kind) => kind === 'Timeout').length;

describe('IdleTimeout', () => {
  it('aborts its signal with a StallError once nothing happened for its time', async () => {
    const idle = new IdleTimeout(50);
    await wait(120);
    expect(idle.hasFired).toBe(true);
    expect(idle.signal.reason).toBeInstanceOf(StallError);
    expect((idle.signal.reason as Error).message).toBe(
      'no data for 0.05 s (idleTimeoutMs): the connection stalled',
    );
  });

  it('starts its wait over on restart, and never fires once cleared', async () => {
    const idle = new IdleTimeout(100);
    for (let i = 0; i < 4; i += 1) {
      await wait(50);
      idle.restart();
    }
    expect(idle.hasFired).toBe(false);
    idle.clear();
    await wait(150);
    expect(idle.hasFired).toBe(false);
  });

  it('does not keep the process alive, and waits forever past the timer range', () => {
    const before = timeouts();
    const idle = new IdleTimeout(60_000);
    const endless = new IdleTimeout(Number.POSITIVE_INFINITY);
    expect(timeouts()).toBe(before);
    idle.clear();
    endless.restart();
    expect(endless.hasFired).toBe(false);
  });
});

describe('raceAbort', () => {
  it('settles as the promise does while the signal stays quiet', async () => {
    const signal = new AbortController().signal;
    await expect(raceAbort(Promise.resolve(7), signal)).resolves.toBe(7);
    await expect(raceAbort(Promise.reject(new Error('boom')), signal)).rejects.toThrow('boom');
  });

  it("rejects with the signal's reason when it aborts first, or had already", async () => {
    const controller = new AbortController();
    const never = new Promise<number>(() => undefined);
    const racing = raceAbort(never, controller.signal);
    controller.abort(new StallError(300));
    await expect(racing).rejects.toBeInstanceOf(StallError);
    await expect(raceAbort(Promise.reject(new Error('late')), controller.signal)).rejects.toThrow(
      /stalled/,
    );
  });
});
