import { describe, expect, it } from 'vitest';

import { checkpointPath, loginPath, modelPath, modelVersionPath, parseId, safeNext } from './paths';

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

describe('modelPath', () => {
  it('puts the name in one encoded path segment', () => {
    expect(modelPath('resnet')).toBe('/models/resnet');
    expect(modelPath('resnet classifier', 7)).toBe('/models/resnet%20classifier');
    expect(modelPath('50% ü?#&')).toBe('/models/50%25%20%C3%BC%3F%23%26');
  });

  it('goes by id for names a browser would read as dot segments', () => {
    expect(modelPath('.', 3)).toBe('/models/3');
    expect(modelPath('..', 4)).toBe('/models/4');
    expect(modelPath('...', 5)).toBe('/models/...');
  });
});

describe('modelVersionPath', () => {
  it("points at the version's row of the model page", () => {
    expect(modelVersionPath('resnet classifier', 3)).toBe('/models/resnet%20classifier#version-3');
    expect(modelVersionPath('..', 2, 9)).toBe('/models/9#version-2');
  });
});
