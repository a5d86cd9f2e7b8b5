import { describe, expect, it } from 'vitest';

import {
  aliasNameProblem,
  archivedQuery,
  buildRegistryPatch,
  describeAliasChange,
  formatMetadata,
  isSameJson,
  parseLabels,
  parseMetadata,
  parseVersionNumber,
  readArchivedFilter,
} from './models';

describe('readArchivedFilter', () => {
  it('reads the three filters and falls back to hiding archived models', () => {
    expect(readArchivedFilter('show')).toBe('show');
    expect(readArchivedFilter('only')).toBe('only');
    for (const raw of [undefined, '', 'hide', 'ONLY', 'true']) {
      expect(readArchivedFilter(raw), String(raw)).toBe('hide');
    }
  });
});

describe('archivedQuery', () => {
  it("maps each filter to the master's archived parameter", () => {
    expect(archivedQuery('hide')).toBe(false);
    expect(archivedQuery('only')).toBe(true);
    expect(archivedQuery('show')).toBeUndefined();
  });
});

describe('parseLabels', () => {
  it('splits on commas, trims, and drops empty and repeated labels', () => {
    expect(parseLabels(' prod, vision ,,prod,  , résumé net ')).toEqual([
      'prod',
      'vision',
      'résumé net',
    ]);
    expect(parseLabels('')).toEqual([]);
    expect(parseLabels(' , ')).toEqual([]);
  });
});

describe('aliasNameProblem', () => {
  it('accepts what the master accepts', () => {
    for (const alias of ['production', 'a', 'v2', 'stage_1-b', `a${'b'.repeat(63)}`]) {
      expect(aliasNameProblem(alias), alias).toBeUndefined();
    }
  });

  it('explains empty, reserved and malformed names', () => {
    expect(aliasNameProblem('')).toBe('Enter an alias name.');
    expect(aliasNameProblem('latest')).toMatch(/reserved/);
    for (const alias of ['Prod', '1st', '42', '-x', 'has space', 'a.b', `a${'b'.repeat(64)}`]) {
      expect(aliasNameProblem(alias), alias).toMatch(/lowercase letter/);
    }
  });
});

describe('parseVersionNumber', () => {
  it('takes positive int32 numbers in plain digits', () => {
    expect(parseVersionNumber('3')).toBe(3);
    expect(parseVersionNumber(' 12 ')).toBe(12);
    expect(parseVersionNumber('2147483647')).toBe(2_147_483_647);
    for (const text of ['', '0', '-1', '01', '1.5', '1e3', 'v3', '2147483648', '99999999999']) {
      expect(parseVersionNumber(text), text).toBeUndefined();
    }
  });
});

describe('describeAliasChange', () => {
  it('names a creation, a move and a removal', () => {
    expect(describeAliasChange({ fromVersion: null, toVersion: 3 })).toBe('set to v3');
    expect(describeAliasChange({ fromVersion: 2, toVersion: 3 })).toBe('moved v2 → v3');
    expect(describeAliasChange({ fromVersion: 3, toVersion: null })).toBe('removed from v3');
  });
});

describe('formatMetadata', () => {
  it('indents the object, and writes an empty one as {}', () => {
    expect(formatMetadata({})).toBe('{}');
    expect(formatMetadata({ team: 'vision', n: 2 })).toBe('{\n  "team": "vision",\n  "n": 2\n}');
  });
});

describe('parseMetadata', () => {
  it('reads a JSON object, and a blank box as {}', () => {
    expect(parseMetadata(' {"team": "vision", "layers": [1, 2]} ')).toEqual({
      metadata: { team: 'vision', layers: [1, 2] },
    });
    expect(parseMetadata('  \n')).toEqual({ metadata: {} });
  });

  it('explains text that is not JSON', () => {
    expect(parseMetadata('{team: vision}').problem).toMatch(/^Metadata is not valid JSON: /);
    expect(parseMetadata('{"a": 1,}').problem).toMatch(/^Metadata is not valid JSON: /);
  });

  it('explains JSON that is not an object', () => {
    for (const text of ['[1]', 'null', '"text"', '3', 'true']) {
      expect(parseMetadata(text).problem, text).toMatch(/must be a JSON object/);
    }
  });
});

describe('isSameJson', () => {
  it('ignores the order of object keys, not of arrays', () => {
    expect(isSameJson({ a: 1, b: { c: [1, 2] } }, { b: { c: [1, 2] }, a: 1 })).toBe(true);
    expect(isSameJson({ a: [1, 2] }, { a: [2, 1] })).toBe(false);
    expect(isSameJson({ a: 1 }, { a: 1, b: 2 })).toBe(false);
    expect(isSameJson({ a: 1, b: undefined }, { a: 1, c: undefined })).toBe(false);
    expect(isSameJson({ a: null }, { a: {} })).toBe(false);
    expect(isSameJson([], {})).toBe(false);
    expect(isSameJson('1', 1)).toBe(false);
  });
});

describe('buildRegistryPatch', () => {
  const stored = {
    name: 'resnet',
    description: 'classifier',
    notes: '',
    labels: ['prod', 'vision'],
    metadata: { team: 'vision', n: 2 },
  };

  it('is empty when nothing changed', () => {
    expect(
      buildRegistryPatch(stored, {
        name: 'resnet',
        description: 'classifier',
        notes: '',
        labels: ' prod,vision, prod',
        metadata: '{"n": 2, "team": "vision"}',
      }),
    ).toEqual({ patch: {} });
  });

  it('holds only the changed fields, empty values included', () => {
    expect(
      buildRegistryPatch(stored, {
        name: 'resnet v2',
        description: '',
        labels: 'vision, prod',
        metadata: '{}',
      }),
    ).toEqual({
      patch: { name: 'resnet v2', description: '', labels: ['vision', 'prod'], metadata: {} },
    });
    expect(buildRegistryPatch({ ...stored, comment: '' }, { comment: 'best' })).toEqual({
      patch: { comment: 'best' },
    });
  });

  it('sends nothing when the metadata is not a JSON object', () => {
    expect(buildRegistryPatch(stored, { name: 'other', metadata: '{oops' })).toEqual({
      problem: expect.stringMatching(/^Metadata is not valid JSON/) as unknown,
    });
  });
});
