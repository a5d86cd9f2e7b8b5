import type { Order, TableQuery } from '../lib/table-query';

/** A column header that sorts the table on the server when clicked. */
export function SortHeader<K extends string>({
  label,
  sortKey,
  sort,
  order,
  onSort,
  numeric = false,
}: {
  label: string;
  sortKey: K;
  sort: K;
  order: Order;
  onSort: (key: K) => void;
  numeric?: boolean;
}) {
  const isSorted = sort === sortKey;
  return (
    <th
      scope="col"
      className={numeric ? 'num' : undefined}
      aria-sort={isSorted ? (order === 'asc' ? 'ascending' : 'descending') : undefined}
    >
      <button type="button" className="sort" onClick={() => onSort(sortKey)}>
        {label}
        <span aria-hidden="true" className="sort-arrow">
          {isSorted ? (order === 'asc' ? ' ▲' : ' ▼') : ''}
        </span>
      </button>
    </th>
  );
}

/** Binds {@link SortHeader} to a table's query: `header(label, key, numeric?)` for each column. */
export function sortHeaders<K extends string>(
  query: Pick<TableQuery<K>, 'sort' | 'order'>,
  onSort: (key: K) => void,
): (label: string, key: K, numeric?: boolean) => React.JSX.Element {
  return (label, key, numeric = false) => (
    <SortHeader
      label={label}
      sortKey={key}
      sort={query.sort}
      order={query.order}
      onSort={onSort}
      numeric={numeric}
    />
  );
}
