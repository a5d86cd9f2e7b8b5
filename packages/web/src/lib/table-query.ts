// A server-paged, server-sorted table keeps its state in the URL query, so reload and
// back/forward restore it: `?sort=name&order=asc&page=3` plus the table's filters.

export type Order = 'asc' | 'desc';

export interface TableSpec<K extends string> {
  /** The sort keys the table offers; the URL spells them the same. */
  sortKeys: readonly K[];
  defaultSort: K;
  defaultOrder: Order;
  /** The direction a column sorts in on its first click. @default 'asc' */
  firstOrder?: (key: K) => Order;
  pageSize: number;
  /** The names of the filters the URL may carry (`name`, `state`). */
  filters?: readonly string[];
}

export interface TableQuery<K extends string> {
  sort: K;
  order: Order;
  /** 1-based. */
  page: number;
  offset: number;
  limit: number;
  /** Filter name → value; absent when not set. */
  filters: Record<string, string>;
}

function isKey<K extends string>(spec: TableSpec<K>, value: string | null): value is K {
  return value !== null && (spec.sortKeys as readonly string[]).includes(value);
}

/** Reads the table's state from the URL; anything missing or malformed falls back to defaults. */
export function readTableQuery<K extends string>(
  params: URLSearchParams,
  spec: TableSpec<K>,
): TableQuery<K> {
  const rawSort = params.get('sort');
  const sort = isKey(spec, rawSort) ? rawSort : spec.defaultSort;
  const rawOrder = params.get('order');
  const order: Order =
    rawOrder === 'asc' || rawOrder === 'desc'
      ? rawOrder
      : isKey(spec, rawSort)
        ? (spec.firstOrder?.(sort) ?? 'asc')
        : spec.defaultOrder;
  const rawPage = params.get('page') ?? '';
  const page = /^[1-9]\d{0,8}$/.test(rawPage) ? Number(rawPage) : 1;
  const filters: Record<string, string> = {};
  for (const name of spec.filters ?? []) {
    const value = params.get(name);
    if (value !== null && value !== '') {
      filters[name] = value;
    }
  }
  return {
    sort,
    order,
    page,
    offset: (page - 1) * spec.pageSize,
    limit: spec.pageSize,
    filters,
  };
}

/**
 * The URL after a click on a column header: the same column flips its direction, another one
 * sorts in its first direction. Either way the table goes back to page 1.
 */
export function sortParams<K extends string>(
  params: URLSearchParams,
  spec: TableSpec<K>,
  key: K,
): URLSearchParams {
  const current = readTableQuery(params, spec);
  const order: Order =
    current.sort === key
      ? current.order === 'asc'
        ? 'desc'
        : 'asc'
      : (spec.firstOrder?.(key) ?? 'asc');
  const next = new URLSearchParams(params);
  next.set('sort', key);
  next.set('order', order);
  next.delete('page');
  return next;
}

/** The URL of another page; page 1 is the default and leaves the URL. */
export function pageParams(params: URLSearchParams, page: number): URLSearchParams {
  const next = new URLSearchParams(params);
  if (page <= 1) {
    next.delete('page');
  } else {
    next.set('page', String(page));
  }
  return next;
}

/** The URL with a filter set (or cleared, for ''), back on page 1. */
export function filterParams(
  params: URLSearchParams,
  name: string,
  value: string,
): URLSearchParams {
  const next = new URLSearchParams(params);
  if (value === '') {
    next.delete(name);
  } else {
    next.set(name, value);
  }
  next.delete('page');
  return next;
}
