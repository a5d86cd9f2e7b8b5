import { describe, expect, it } from 'vitest';

import { IntegrityError } from './errors.js';
import { checkRelativePath, parentDirs } from './paths.js';

describe('checkRelativePath', () => {
  it.each([
    ['a.bin', 'a.bin'],
    ['./a.bin', 'a.bin'],
    ['sub//deep/./x.pt', 'sub/deep/x.pt'],
    ['sub/', 'sub/'],
    ['..data', '..data'],
    ['a..b/c', 'a..b/c'],
  ])('accepts %s as %s', (name, normalised) => {
    expect(checkRelativePath(name)).toBe(normalised);
  });

  it.each([
    ['../evil', /'\.\.'/],
    ['a/../../evil', /'\.\.'/],
    ['a/..', /'\.\.'/],
    ['/etc/passwd', /absolute/],
    ['C:/Windows', /absolute/],
    ['a\\b', /backslash/],
    ['a\0b', /NUL/],
    ['', /names no file/],
    ['./', /names no file/],
  ])('refuses %j', (name, why) => {
    const err = (() => {
      try {
        return checkRelativePath(name);
      } catch (e: unknown) {
        return e;
      }
    })();
    expect(err).toBeInstanceOf(IntegrityError);
    expect((err as Error).message).toMatch(why);
  });
});

describe('parentDirs', () => {
  it('lists the parents outermost first, for files and directories', () => {
    expect(parentDirs('a/b/c.bin')).toEqual(['a', 'a/b']);
    expect(parentDirs('a/b/')).toEqual(['a']);
    expect(parentDirs('top.bin')).toEqual([]);
  });
});
