import { describe, expect, it } from 'vitest';

import { rootEntries, rootPrefixOf } from './checkpoint-listing.js';

describe('rootPrefixOf', () => {
  it('is the prefix a checkpoint base lives under, or nothing at the bucket root', () => {
    expect(rootPrefixOf('runs/team/0b7e0e61-1b4f-4d4e-9c3e-3f1f6a3e2a11')).toBe('runs/team/');
    expect(rootPrefixOf('0b7e0e61-1b4f-4d4e-9c3e-3f1f6a3e2a11')).toBe('');
  });
});

describe('rootEntries', () => {
  const object = (name: string, size: number, mtimeMs?: number) => ({
    name,
    size,
    version: undefined,
    mtimeMs,
  });

  it('groups objects by their first segment, summing bytes and keeping the newest time', () => {
    expect(
      rootEntries('p/', [
        object('p/b/x.bin', 5, 100),
        object('p/a/', 0, 50),
        object('p/a/one.bin', 10, 300),
        object('p/a/sub/two.bin', 20, 200),
        object('p/stray.txt', 7, 10), // right at the root: no entry
      ]),
    ).toEqual([
      { name: 'a', bytes: 30, objects: 3, newestMtimeMs: 300 },
      { name: 'b', bytes: 5, objects: 1, newestMtimeMs: 100 },
    ]);
  });

  it('leaves the age unknown when any object of an entry has no time', () => {
    expect(
      rootEntries('', [object('a/one.bin', 1, 100), object('a/two.bin', 2, undefined)]),
    ).toEqual([{ name: 'a', bytes: 3, objects: 2, newestMtimeMs: undefined }]);
  });
});
