import { keepPreviousData, useQuery } from '@tanstack/react-query';
import { useMemo } from 'react';
import { Link } from 'react-router';

import { listCheckpointsPage } from '@determined-ts/sdk/client';
import type { CheckpointSortAttr } from '@determined-ts/sdk/client';

import { useClient } from '../client-context';
import { useTableQuery } from '../hooks/useTableQuery';
import { formatBytes, formatCount, formatDateTime, formatMetric, totalBytes } from '../lib/format';
import { checkpointPath } from '../lib/paths';
import type { TableSpec } from '../lib/table-query';
import { Pager } from './Pager';
import { QueryError } from './QueryError';
import { sortHeaders } from './SortHeader';
import { StateBadge } from './StateBadge';
import type { TrialSectionProps } from './trial-section';

type CheckpointColumn = Exclude<CheckpointSortAttr, 'trialId'>;

/** Best first by default, so the best checkpoint is always on the first page. */
export function checkpointTableSpec(smallerIsBetter: boolean): TableSpec<CheckpointColumn> {
  const bestFirst = smallerIsBetter ? 'asc' : 'desc';
  return {
    sortKeys: ['uuid', 'batchNumber', 'state', 'size', 'searcherMetric', 'endTime'],
    defaultSort: 'searcherMetric',
    defaultOrder: bestFirst,
    firstOrder: (key) =>
      key === 'uuid' || key === 'state' ? 'asc' : key === 'searcherMetric' ? bestFirst : 'desc',
    pageSize: 20,
  };
}

/** A trial's checkpoints, paged and sorted by the master, the best and the latest marked. */
export function CheckpointTable({
  trial,
  experiment,
  bestUuid,
  latestUuid,
  refetchInterval,
}: TrialSectionProps) {
  const client = useClient();
  const smallerIsBetter = experiment?.smallerIsBetter ?? true;
  const spec = useMemo(() => checkpointTableSpec(smallerIsBetter), [smallerIsBetter]);
  const { query, sortBy, goToPage } = useTableQuery(spec);
  const checkpoints = useQuery({
    queryKey: ['checkpoints', trial.id, query],
    queryFn: ({ signal }) =>
      listCheckpointsPage(
        client,
        { trialId: trial.id },
        {
          offset: query.offset,
          limit: query.limit,
          sortBy: { attr: query.sort },
          orderBy: query.order,
          signal,
        },
      ),
    placeholderData: keepPreviousData,
    refetchInterval,
  });
  const rows = checkpoints.data?.checkpoints ?? [];
  const header = sortHeaders(query, sortBy);
  return (
    <section aria-labelledby="checkpoints">
      <h2 id="checkpoints">Checkpoints</h2>
      {checkpoints.isError ? <QueryError error={checkpoints.error} what="the checkpoints" /> : null}
      <table data-testid="checkpoint-table" aria-busy={checkpoints.isFetching}>
        <thead>
          <tr>
            {header('UUID', 'uuid')}
            {header('Steps', 'batchNumber', true)}
            {header('State', 'state')}
            {header('Size', 'size', true)}
            {header(experiment?.searcherMetric ?? 'Searcher metric', 'searcherMetric', true)}
            {header('Reported', 'endTime')}
          </tr>
        </thead>
        <tbody>
          {rows.map((c) => (
            <tr key={c.uuid} data-uuid={c.uuid}>
              <td>
                <Link to={checkpointPath(trial.id, c.uuid)} className="uuid">
                  {c.uuid}
                </Link>
                {c.uuid === bestUuid ? <span className="badge badge-best">best</span> : null}
                {c.uuid === latestUuid ? <span className="badge badge-latest">latest</span> : null}
              </td>
              <td className="num">
                {c.batchNumber === undefined ? '' : formatCount(c.batchNumber)}
              </td>
              <td>
                <StateBadge state={c.state} />
              </td>
              <td className="num">{formatBytes(totalBytes(c.resources))}</td>
              <td className="num">{formatMetric(c.training?.searcherMetric)}</td>
              <td>{formatDateTime(c.reportTime)}</td>
            </tr>
          ))}
        </tbody>
      </table>
      {checkpoints.isPending ? <p className="loading">Loading…</p> : null}
      {checkpoints.isSuccess && rows.length === 0 ? (
        <p className="empty">No checkpoints yet.</p>
      ) : null}
      <Pager
        page={query.page}
        pagination={checkpoints.data?.pagination}
        rows={rows.length}
        onPage={goToPage}
      />
    </section>
  );
}
