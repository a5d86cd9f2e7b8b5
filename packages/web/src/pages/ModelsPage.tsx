import { keepPreviousData, useQuery } from '@tanstack/react-query';
import { useCallback } from 'react';
import { Link } from 'react-router';

import type { ModelSortBy } from '@determined-ts/api';
import { getModelLabels, listModelsPage } from '@determined-ts/sdk/client';

import { useClient } from '../client-context';
import { ArchivedBadge, Labels } from '../components/Labels';
import { NameFilter } from '../components/NameFilter';
import { Pager } from '../components/Pager';
import { QueryError } from '../components/QueryError';
import { sortHeaders } from '../components/SortHeader';
import { useTableQuery } from '../hooks/useTableQuery';
import { useUsers } from '../hooks/useUsers';
import { NO_VALUE, formatCount, formatDateTime } from '../lib/format';
import { archivedQuery, readArchivedFilter } from '../lib/models';
import type { ArchivedFilter } from '../lib/models';
import { modelPath } from '../lib/paths';
import type { TableSpec } from '../lib/table-query';

/** The table's sort keys, as the URL spells them, and what the master calls them. */
const MODEL_SORT = {
  name: 'SORT_BY_NAME',
  description: 'SORT_BY_DESCRIPTION',
  numVersions: 'SORT_BY_NUM_VERSIONS',
  lastUpdatedTime: 'SORT_BY_LAST_UPDATED_TIME',
} as const satisfies Record<string, ModelSortBy>;

type ModelColumnKey = keyof typeof MODEL_SORT;

export const MODELS_TABLE: TableSpec<ModelColumnKey> = {
  sortKeys: Object.keys(MODEL_SORT) as ModelColumnKey[],
  // The models worked on last come first.
  defaultSort: 'lastUpdatedTime',
  defaultOrder: 'desc',
  firstOrder: (key) => (key === 'name' || key === 'description' ? 'asc' : 'desc'),
  pageSize: 20,
  filters: ['name', 'label', 'owner', 'archived'],
};

const ARCHIVED_LABELS = {
  hide: 'Hide archived',
  show: 'Show archived',
  only: 'Only archived',
} as const satisfies Record<ArchivedFilter, string>;

/** The model registry: every model, paged, sorted and filtered by the master. */
export function ModelsPage() {
  const client = useClient();
  const { query, sortBy, goToPage, setFilter } = useTableQuery(MODELS_TABLE);
  const name = query.filters.name ?? '';
  const label = query.filters.label ?? '';
  const owner = query.filters.owner ?? '';
  const archived = readArchivedFilter(query.filters.archived);
  const models = useQuery({
    queryKey: ['models', query],
    queryFn: ({ signal }) =>
      listModelsPage(client, {
        offset: query.offset,
        limit: query.limit,
        sortBy: MODEL_SORT[query.sort],
        orderBy: query.order,
        name: name === '' ? undefined : name,
        labels: label === '' ? undefined : [label],
        users: owner === '' ? undefined : [owner],
        archived: archivedQuery(archived),
        signal,
      }),
    placeholderData: keepPreviousData,
  });
  const labels = useQuery({
    queryKey: ['models', 'labels'],
    queryFn: ({ signal }) => getModelLabels(client, { signal }),
  });
  const users = useUsers();
  const onName = useCallback(
    (value: string) => setFilter('name', value, { replace: true }),
    [setFilter],
  );
  const rows = models.data?.models ?? [];
  const header = sortHeaders(query, sortBy);
  // A label or owner in the URL stays pickable while the lists load (or after it is gone).
  const labelOptions = withCurrent(labels.data ?? [], label);
  const ownerOptions = withCurrent((users.data ?? []).map((u) => u.username).sort(), owner);
  const isFiltered = name !== '' || label !== '' || owner !== '' || archived !== 'hide';

  return (
    <main className="page">
      <h1>Models</h1>
      <div className="toolbar">
        <NameFilter label="Filter by name" value={name} onChange={onName} />
        <label className="filter">
          Label
          <select value={label} onChange={(e) => setFilter('label', e.target.value)}>
            <option value="">All labels</option>
            {labelOptions.map((l) => (
              <option key={l} value={l}>
                {l}
              </option>
            ))}
          </select>
        </label>
        <label className="filter">
          Owner
          <select value={owner} onChange={(e) => setFilter('owner', e.target.value)}>
            <option value="">All owners</option>
            {ownerOptions.map((u) => (
              <option key={u} value={u}>
                {u}
              </option>
            ))}
          </select>
        </label>
        <label className="filter">
          Archived
          <select
            value={archived}
            // `hide` is the default and leaves the URL.
            onChange={(e) => setFilter('archived', e.target.value === 'hide' ? '' : e.target.value)}
          >
            {Object.entries(ARCHIVED_LABELS).map(([value, text]) => (
              <option key={value} value={value}>
                {text}
              </option>
            ))}
          </select>
        </label>
      </div>
      {models.isError ? <QueryError error={models.error} what="the models" /> : null}
      {labels.isError ? <QueryError error={labels.error} what="the labels" /> : null}
      <table data-testid="models-table" aria-busy={models.isFetching}>
        <thead>
          <tr>
            {header('Name', 'name')}
            {header('Description', 'description')}
            <th scope="col">Labels</th>
            {header('Versions', 'numVersions', true)}
            {header('Last updated', 'lastUpdatedTime')}
            <th scope="col">Owner</th>
          </tr>
        </thead>
        <tbody>
          {rows.map((m) => (
            <tr key={m.id} data-model={m.name}>
              <td>
                <Link to={modelPath(m.name, m.id)}>{m.name}</Link>
                {m.archived ? <ArchivedBadge /> : null}
              </td>
              <td className="description">{m.description === '' ? NO_VALUE : m.description}</td>
              <td>
                <Labels labels={m.labels} />
              </td>
              <td className="num">{formatCount(m.numVersions)}</td>
              <td>{formatDateTime(m.lastUpdatedTime)}</td>
              <td>{m.username === '' ? NO_VALUE : m.username}</td>
            </tr>
          ))}
        </tbody>
      </table>
      {models.isPending ? <p className="loading">Loading…</p> : null}
      {models.isSuccess && rows.length === 0 ? (
        <p className="empty">{isFiltered ? 'No models match.' : 'No models yet.'}</p>
      ) : null}
      <Pager
        page={query.page}
        pagination={models.data?.pagination}
        rows={rows.length}
        onPage={goToPage}
      />
    </main>
  );
}

/** `options`, with `current` added when it is set and missing. */
function withCurrent(options: readonly string[], current: string): string[] {
  return current === '' || options.includes(current) ? [...options] : [current, ...options];
}
