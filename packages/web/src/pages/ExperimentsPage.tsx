import { keepPreviousData, useQuery } from '@tanstack/react-query';
import { useCallback } from 'react';
import { Link } from 'react-router';

import type { ExperimentState } from '@determined-ts/api';
import { listExperiments } from '@determined-ts/sdk/client';
import type { ExperimentSortKey } from '@determined-ts/sdk/client';

import { useClient } from '../client-context';
import { NameFilter } from '../components/NameFilter';
import { Pager } from '../components/Pager';
import { QueryError } from '../components/QueryError';
import { SortHeader } from '../components/SortHeader';
import { StateBadge } from '../components/StateBadge';
import { useTableQuery } from '../hooks/useTableQuery';
import { NO_VALUE, formatBytes, formatCount, formatDateTime, formatMetric } from '../lib/format';
import { experimentPath } from '../lib/paths';
import type { TableSpec } from '../lib/table-query';

type Unprefixed<S> = S extends `STATE_${infer R}` ? R : never;

/** The states worth filtering by, as the SDK spells them. */
const STATE_FILTERS = [
  'ACTIVE',
  'PAUSED',
  'COMPLETED',
  'CANCELED',
  'ERROR',
] as const satisfies readonly Unprefixed<ExperimentState>[];

const COLUMNS = [
  { label: 'ID', key: 'id', numeric: true },
  { label: 'Name', key: 'name', numeric: false },
  { label: 'State', key: 'state', numeric: false },
  { label: 'Trials', key: 'numTrials', numeric: true },
  // The master sorts by the best value only; both metric columns use it.
  { label: 'Searcher metric', key: 'searcherMetric', numeric: false },
  { label: 'Best', key: 'searcherMetric', numeric: true },
  { label: 'Checkpoints', key: 'checkpointCount', numeric: true },
  { label: 'Size', key: 'checkpointSize', numeric: true },
  { label: 'Started', key: 'startTime', numeric: false },
] as const satisfies readonly { label: string; key: ExperimentSortKey; numeric: boolean }[];

type ExperimentColumnKey = (typeof COLUMNS)[number]['key'];

export const EXPERIMENTS_TABLE: TableSpec<ExperimentColumnKey> = {
  sortKeys: COLUMNS.map((c) => c.key),
  defaultSort: 'id',
  defaultOrder: 'desc',
  // Text sorts A→Z first; numbers and times biggest/newest first.
  firstOrder: (key) => (key === 'name' || key === 'state' ? 'asc' : 'desc'),
  pageSize: 20,
  filters: ['name', 'state'],
};

/** Every experiment, paged, sorted and filtered by the master. */
export function ExperimentsPage() {
  const client = useClient();
  const { query, sortBy, goToPage, setFilter } = useTableQuery(EXPERIMENTS_TABLE);
  const name = query.filters.name ?? '';
  const state = query.filters.state ?? '';
  const experiments = useQuery({
    queryKey: ['experiments', query],
    queryFn: ({ signal }) =>
      listExperiments(client, {
        offset: query.offset,
        limit: query.limit,
        sortBy: query.sort,
        orderBy: query.order,
        name: name === '' ? undefined : name,
        states: state === '' ? undefined : [state],
        signal,
      }),
    placeholderData: keepPreviousData,
  });
  const onName = useCallback(
    (value: string) => setFilter('name', value, { replace: true }),
    [setFilter],
  );
  const rows = experiments.data?.experiments ?? [];

  return (
    <main className="page">
      <h1>Experiments</h1>
      <div className="toolbar">
        <NameFilter label="Filter by name" value={name} onChange={onName} />
        <label className="filter">
          State
          <select value={state} onChange={(e) => setFilter('state', e.target.value)}>
            <option value="">All states</option>
            {STATE_FILTERS.map((s) => (
              <option key={s} value={s}>
                {s}
              </option>
            ))}
          </select>
        </label>
      </div>
      {experiments.isError ? <QueryError error={experiments.error} what="the experiments" /> : null}
      <table data-testid="experiments-table" aria-busy={experiments.isFetching}>
        <thead>
          <tr>
            {COLUMNS.map((c) => (
              <SortHeader
                key={c.label}
                label={c.label}
                sortKey={c.key}
                sort={query.sort}
                order={query.order}
                onSort={sortBy}
                numeric={c.numeric}
              />
            ))}
          </tr>
        </thead>
        <tbody>
          {rows.map((e) => (
            <tr key={e.id}>
              <td className="num">{e.id}</td>
              <td>
                <Link to={experimentPath(e.id)}>
                  {e.name === '' ? `Experiment ${e.id}` : e.name}
                </Link>
              </td>
              <td>
                <StateBadge state={e.state} />
              </td>
              <td className="num">{formatCount(e.numTrials)}</td>
              <td>
                {e.searcherMetric === undefined ? (
                  NO_VALUE
                ) : (
                  <>
                    {e.searcherMetric}{' '}
                    <span className="muted">{e.smallerIsBetter ? '(min)' : '(max)'}</span>
                  </>
                )}
              </td>
              <td className="num">{formatMetric(e.bestTrialSearcherMetric)}</td>
              <td className="num">{formatCount(e.checkpointCount)}</td>
              <td className="num">{formatBytes(e.checkpointSize)}</td>
              <td>{formatDateTime(e.startTime)}</td>
            </tr>
          ))}
        </tbody>
      </table>
      {experiments.isPending ? <p className="loading">Loading…</p> : null}
      {experiments.isSuccess && rows.length === 0 ? (
        <p className="empty">
          {name === '' && state === '' ? 'No experiments yet.' : 'No experiments match.'}
        </p>
      ) : null}
      <Pager
        page={query.page}
        pagination={experiments.data?.pagination}
        rows={rows.length}
        onPage={goToPage}
      />
    </main>
  );
}
