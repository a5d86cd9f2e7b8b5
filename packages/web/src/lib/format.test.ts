import { describe, expect, it } from 'vitest';

import {
  formatBytes,
  formatCount,
  formatDateTime,
  formatDuration,
  formatHparams,
  formatMetric,
  formatRange,
  totalBytes,
} from './format';

describe('formatBytes', () => {
  it('keeps small sizes in bytes and moves up binary units from 1024', () => {
    expect(formatBytes(0)).toBe('0 B');
    expect(formatBytes(1023)).toBe('1023 B');
    expect(formatBytes(1024)).toBe('1.0 KiB');
    expect(formatBytes(1536)).toBe('1.5 KiB');
    expect(formatBytes(5 * 1024 ** 3)).toBe('5.0 GiB');
  });
});

describe('formatCount', () => {
  it('groups thousands', () => {
    expect(formatCount(10_000)).toBe('10,000');
    expect(formatCount(7)).toBe('7');
  });
});

describe('formatMetric', () => {
  it('shows five significant digits, and exponents for the very small and very large', () => {
    expect(formatMetric(0.123456789)).toBe('0.12346');
    expect(formatMetric(12.5)).toBe('12.5');
    expect(formatMetric(0)).toBe('0');
    expect(formatMetric(0.0000123)).toBe('1.230e-5');
    expect(formatMetric(3e12)).toBe('3.000e+12');
  });

  it('names the non-finite values and marks a missing one', () => {
    expect(formatMetric(Number.NaN)).toBe('NaN');
    expect(formatMetric(Number.POSITIVE_INFINITY)).toBe('∞');
    expect(formatMetric(undefined)).toBe('—');
    expect(formatMetric('text')).toBe('"text"');
  });
});

describe('formatRange', () => {
  it('reads "first–last of total" with separators', () => {
    expect(formatRange(0, 20, 10_000)).toBe('1–20 of 10,000');
    expect(formatRange(9_980, 20, 10_000)).toBe('9,981–10,000 of 10,000');
  });

  it('says "0 of N" for an empty page', () => {
    expect(formatRange(0, 0, 0)).toBe('0 of 0');
    expect(formatRange(400, 0, 12)).toBe('0 of 12');
  });
});

describe('formatDateTime', () => {
  it('writes local date and time, and a dash for none', () => {
    expect(formatDateTime(new Date(2025, 0, 31, 14, 5, 9))).toBe('2025-01-31 14:05:09');
    expect(formatDateTime(undefined)).toBe('—');
  });
});

describe('formatDuration', () => {
  it('uses the two largest units', () => {
    expect(formatDuration(12_000)).toBe('12s');
    expect(formatDuration(180_000)).toBe('3m 0s');
    expect(formatDuration(2 * 3_600_000 + 5 * 60_000)).toBe('2h 5m');
    expect(formatDuration(26 * 3_600_000)).toBe('1d 2h');
  });
});

describe('totalBytes', () => {
  it('adds up the files (directories count 0)', () => {
    expect(totalBytes({ 'a.bin': 10, 'dir/': 0, 'dir/b.bin': 5 })).toBe(15);
  });
});

describe('formatHparams', () => {
  it('writes name=value pairs, JSON for anything but strings', () => {
    expect(formatHparams({ lr: 0.01, opt: 'adam', layers: [2, 16] })).toBe(
      'lr=0.01, opt=adam, layers=[2,16]',
    );
    expect(formatHparams({})).toBe('');
  });
});
