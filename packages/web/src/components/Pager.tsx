import type { Pagination } from '@determined-ts/sdk/client';

import { formatRange } from '../lib/format';

/** Previous/Next and "1–20 of 10,000" for a server-paged table. */
export function Pager({
  page,
  pagination,
  rows,
  onPage,
}: {
  /** 1-based. */
  page: number;
  pagination: Pagination | undefined;
  /** Rows on this page. */
  rows: number;
  onPage: (page: number) => void;
}) {
  const offset = pagination?.offset ?? 0;
  const total = pagination?.total ?? 0;
  const hasNext = offset + rows < total && rows > 0;
  return (
    <nav className="pager" aria-label="Pages">
      <button type="button" disabled={page <= 1} onClick={() => onPage(page - 1)}>
        Previous
      </button>
      <span data-testid="pager-range">
        {pagination === undefined ? '…' : formatRange(offset, rows, total)}
      </span>
      <button type="button" disabled={!hasNext} onClick={() => onPage(page + 1)}>
        Next
      </button>
    </nav>
  );
}
