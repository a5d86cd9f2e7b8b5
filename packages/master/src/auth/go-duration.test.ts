import { describe, expect, it } from 'vitest';

import { parseGoDuration } from './go-duration.js';

describe('parseGoDuration', () => {
  it("reads what Go's time.ParseDuration reads", () => {
    const cases: [string, number][] = [
      ['0', 0],
      ['72h', 72 * 3_600_000],
      ['1h30m', 90 * 60_000],
      ['1.5s', 1500],
      ['.5s', 500],
      ['-2m', -120_000],
      ['+3ms', 3],
      ['1500us', 1.5],
      ['1500µs', 1.5],
      ['2000000ns', 2],
    ];
    for (const [text, ms] of cases) {
      expect(parseGoDuration(text), text).toBeCloseTo(ms, 9);
    }
  });

  it('refuses what Go refuses', () => {
    for (const text of ['', '3', '3d', '1 h', 'h', '-', '1h-2m', '2s.', '1e3s', '72H', 'forever']) {
      expect(parseGoDuration(text), text).toBeUndefined();
    }
  });
});
