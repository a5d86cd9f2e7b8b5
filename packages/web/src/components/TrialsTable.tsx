import { keepPreviousData, useQuery } from '@tanstack/react-query';
import { useMemo } from 'react';
import { Link } from 'react-router';

import { listTrials } from '@determined-ts/sdk/client';
import type { ExperimentData, TrialData, TrialSortKey } from '@determined-ts/sdk/client';

import { useClient } from '../client-context';
import { useTableQuery } from '../hooks/useTableQuery';
import {
  formatBytes,
  formatCount,
  formatDateTime,
  formatHparams,
  formatMetric,
} from '../lib/format';
import { trialPath } from '../lib/paths';
import type { TableSpec } from '../lib/table-query';
import { Pager } from './Pager';
import { QueryError } from './QueryError';
import { sortHeaders } from './SortHeader';
import { StateBadge } from './StateBadge';

/** The trial's best value of the searcher metric. */
export function bestValidationValue(trial: TrialData, metric: string | undefined): unknown {
  if (trial.searcherMetricValue !== undefined) {
    return trial.searcherMetricValue;
  }
  return metric === undefined ? undefined : trial.bestValidation?.metrics[metric];
}

function trialsSpec(experiment: ExperimentData): TableSpec<TrialSortKey> {
  return {
    sortKeys: ['id', 'state', 'batches', 'bestValidation', 'checkpointSize', 'startTime'],
    defaultSort: 'id',
    defaultOrder: 'asc',
    firstOrder: (key) =>
      key === 'id' || key === 'state'
        ? 'asc'
        : key === 'bestValidation'
          ? experiment.smallerIsBetter
            ? 'asc'
            : 'desc'
          : 'desc',
    pageSize: 20,
  };
}

/** An experiment's trials, paged and sorted by the master. */
export function TrialsTable({ experiment }: { experiment: ExperimentData }) {
  const client = useClient();
  const spec = useMemo(() => trialsSpec(experiment), [experiment]);
  const { query, sortBy, goToPage } = useTableQuery(spec);
  const trials = useQuery({
    queryKey: ['trials', experiment.id, query],
    queryFn: ({ signal }) =>
      listTrials(client, experiment.id, {
        offset: query.offset,
        limit: query.limit,
        sortBy: query.sort,
        orderBy: query.order,
        signal,
      }),
    placeholderData: keepPreviousData,
  });
  const rows = trials.data?.trials ?? [];
  const header = sortHeaders(query, sortBy);
  return (
    <section aria-labelledby="trials">
      <h2 id="trials">Trials</h2>
      {trials.isError ? <QueryError error={trials.error} what="the trials" /> : null}
      <table data-testid="trials-table" aria-busy={trials.isFetching}>
        <thead>
          <tr>
            {header('Trial', 'id')}
            {header('State', 'state')}
            {header('Steps', 'batches', true)}
            {header(`Best ${experiment.searcherMetric ?? 'validation'}`, 'bestValidation', true)}
            <th scope="col" className="num">
              Checkpoints
            </th>
            {header('Size', 'checkpointSize', true)}
            {header('Started', 'startTime')}
            <th scope="col">Hyperparameters</th>
          </tr>
        </thead>
        <tbody>
          {rows.map((t) => (
            <tr key={t.id}>
              <td>
                <Link to={trialPath(t.id)}>Trial {t.id}</Link>
              </td>
              <td>
                <StateBadge state={t.state} />
              </td>
              <td className="num">{formatCount(t.totalBatchesProcessed)}</td>
              <td className="num">
                {formatMetric(bestValidationValue(t, experiment.searcherMetric))}
              </td>
              <td className="num">{formatCount(t.checkpointCount)}</td>
              <td className="num">{formatBytes(t.totalCheckpointSize)}</td>
              <td>{formatDateTime(t.startTime)}</td>
              <td className="hparams">{formatHparams(t.hparams)}</td>
            </tr>
          ))}
        </tbody>
      </table>
      {trials.isPending ? <p className="loading">Loading…</p> : null}
      {trials.isSuccess && rows.length === 0 ? <p className="empty">No trials yet.</p> : null}
      <Pager
        page={query.page}
        pagination={trials.data?.pagination}
        rows={rows.length}
        onPage={goToPage}
      />
    </section>
  );
}
