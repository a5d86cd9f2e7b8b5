import { useCallback, useMemo } from 'react';
import { useSearchParams } from 'react-router';

import type { TableQuery, TableSpec } from '../lib/table-query';
import { filterParams, pageParams, readTableQuery, sortParams } from '../lib/table-query';

export interface TableQueryControls<K extends string> {
  query: TableQuery<K>;
  sortBy: (key: K) => void;
  goToPage: (page: number) => void;
  /** Typing in a filter replaces the history entry; picking from a list pushes one. */
  setFilter: (name: string, value: string, options?: { replace?: boolean }) => void;
}

/** A table's sort, page and filters, read from and written to the URL query. */
export function useTableQuery<K extends string>(spec: TableSpec<K>): TableQueryControls<K> {
  const [params, setParams] = useSearchParams();
  const query = useMemo(() => readTableQuery(params, spec), [params, spec]);
  const sortBy = useCallback(
    (key: K) => setParams((current) => sortParams(current, spec, key)),
    [setParams, spec],
  );
  const goToPage = useCallback(
    (page: number) => setParams((current) => pageParams(current, page)),
    [setParams],
  );
  const setFilter = useCallback(
    (name: string, value: string, options: { replace?: boolean } = {}) =>
      setParams((current) => filterParams(current, name, value), { replace: options.replace }),
    [setParams],
  );
  return { query, sortBy, goToPage, setFilter };
}
