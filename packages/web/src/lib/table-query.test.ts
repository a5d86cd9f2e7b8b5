import { describe, expect, it } from 'vitest';

import { filterParams, pageParams, readTableQuery, sortParams } from './table-query';
import type { TableSpec } from './table-query';

const SPEC: TableSpec<'id' | 'name' | 'size'> = {
  sortKeys: ['id', 'name', 'size'],
  defaultSort: 'id',
  defaultOrder: 'desc',
  firstOrder: (key) => (key === 'name' ? 'asc' : 'desc'),
  pageSize: 20,
  filters: ['name', 'state'],
};

const read = (query: string) => readTableQuery(new URLSearchParams(query), SPEC);

describe('readTableQuery', () => {
  it('uses the defaults for an empty query', () => {
    expect(read('')).toEqual({
      sort: 'id',
      order: 'desc',
      page: 1,
      offset: 0,
      limit: 20,
      filters: {},
    });
  });

  it('reads sort, order, page and filters, and turns the page into an offset', () => {
    expect(read('sort=name&order=asc&page=3&name=mnist&state=ACTIVE')).toEqual({
      sort: 'name',
      order: 'asc',
      page: 3,
      offset: 40,
      limit: 20,
      filters: { name: 'mnist', state: 'ACTIVE' },
    });
  });

  it('falls back to defaults for unknown or malformed values', () => {
    const q = read('sort=bogus&order=up&page=-2&name=');
    expect(q).toMatchObject({ sort: 'id', order: 'desc', page: 1, filters: {} });
    expect(read('page=abc').page).toBe(1);
    expect(read('page=0').page).toBe(1);
    expect(read('page=1e3').page).toBe(1);
  });

  it("takes a column's first direction when the URL names the column but no order", () => {
    expect(read('sort=name').order).toBe('asc');
    expect(read('sort=size').order).toBe('desc');
  });
});

describe('sortParams', () => {
  it('sorts a new column in its first direction and goes back to page 1', () => {
    const next = sortParams(new URLSearchParams('page=4&name=x'), SPEC, 'name');
    expect(next.toString()).toBe('name=x&sort=name&order=asc');
  });

  it('flips the direction of the column already sorted', () => {
    const once = sortParams(new URLSearchParams(''), SPEC, 'name');
    const twice = sortParams(once, SPEC, 'name');
    expect(twice.get('order')).toBe('desc');
    expect(sortParams(twice, SPEC, 'name').get('order')).toBe('asc');
  });

  it('flips the default sort on its first click', () => {
    expect(sortParams(new URLSearchParams(''), SPEC, 'id').get('order')).toBe('asc');
  });

  it('keeps parameters that are not the table’s', () => {
    expect(sortParams(new URLSearchParams('metric=loss'), SPEC, 'size').get('metric')).toBe('loss');
  });
});

describe('pageParams', () => {
  it('writes pages after the first and leaves page 1 out of the URL', () => {
    expect(pageParams(new URLSearchParams('sort=name'), 2).toString()).toBe('sort=name&page=2');
    expect(pageParams(new URLSearchParams('sort=name&page=2'), 1).toString()).toBe('sort=name');
  });
});

describe('filterParams', () => {
  it('sets a filter, clears an empty one, and goes back to page 1', () => {
    expect(filterParams(new URLSearchParams('page=3'), 'name', 'cifar').toString()).toBe(
      'name=cifar',
    );
    expect(filterParams(new URLSearchParams('name=cifar&page=2'), 'name', '').toString()).toBe('');
  });
});
