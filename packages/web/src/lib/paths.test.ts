import { describe, expect, it } from 'vitest';

import { checkpointPath, loginPath, parseId, safeNext } from './paths';

describe('safeNext', () => {
  it('returns to a path of this app', () => {
    expect(safeNext('/trials/7?metric=loss')).toBe('/trials/7?metric=loss');
  });

  it('never leaves the origin or returns to the login page', () => {
    for (const next of [
      null,
      '',
      'https://evil.test/',
      '//evil.test/x',
      '/\\evil.test',
      '/login',
      '/login?next=/x',
    ]) {
      expect(safeNext(next)).toBe('/experiments');
    }
  });
});

describe('loginPath', () => {
  it('carries the page to return to', () => {
    expect(loginPath('/experiments/3?page=2')).toBe('/login?next=%2Fexperiments%2F3%3Fpage%3D2');
    expect(loginPath('/')).toBe('/login');
  });
});

describe('parseId', () => {
  it('takes positive integers in plain digits only', () => {
    expect(parseId('42')).toBe(42);
    for (const raw of [
      undefined,
      '',
      'abc',
      '0',
      '-1',
      '1.5',
      '01',
      '1e3',
      ' 7',
      '99999999999999999',
    ]) {
      expect(parseId(raw), String(raw)).toBeUndefined();
    }
  });
});

describe('checkpointPath', () => {
  it('nests a checkpoint under its trial', () => {
    expect(checkpointPath(7, 'abc-123')).toBe('/trials/7/checkpoints/abc-123');
  });
});
