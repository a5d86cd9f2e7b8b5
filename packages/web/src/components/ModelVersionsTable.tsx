import { keepPreviousData, useQuery } from '@tanstack/react-query';
import { Fragment, useEffect, useState } from 'react';
import { Link, useLocation } from 'react-router';

import type { ModelVersionSortBy } from '@determined-ts/api';
import { listModelVersionsPage } from '@determined-ts/sdk/client';
import type { ModelData } from '@determined-ts/sdk/client';

import { useClient } from '../client-context';
import { useTableQuery } from '../hooks/useTableQuery';
import { NO_VALUE, formatDateTime } from '../lib/format';
import { checkpointDownloadPath, checkpointPath, trialPath, versionAnchor } from '../lib/paths';
import type { TableSpec } from '../lib/table-query';
import { Labels } from './Labels';
import { ModelVersionEditForm } from './ModelVersionEditForm';
import { Pager } from './Pager';
import { QueryError } from './QueryError';
import { sortHeaders } from './SortHeader';

const VERSION_SORT = {
  version: 'SORT_BY_VERSION',
  creationTime: 'SORT_BY_CREATION_TIME',
} as const satisfies Record<string, ModelVersionSortBy>;

type VersionColumnKey = keyof typeof VERSION_SORT;

/** Newest version first. */
export const MODEL_VERSIONS_TABLE: TableSpec<VersionColumnKey> = {
  sortKeys: ['version', 'creationTime'],
  defaultSort: 'version',
  defaultOrder: 'desc',
  firstOrder: () => 'desc',
  pageSize: 20,
};

/** How many columns the versions table has: an editor row spans them all. */
const VERSION_COLUMNS = 9;

/**
 * A model's versions, paged and sorted by the master, each linking to its checkpoint, with an
 * editor per row.
 */
export function ModelVersionsTable({ model }: { model: ModelData }) {
  const client = useClient();
  const { query, sortBy, goToPage } = useTableQuery(MODEL_VERSIONS_TABLE);
  const versions = useQuery({
    queryKey: ['model', model.id, 'versions', query],
    queryFn: ({ signal }) =>
      listModelVersionsPage(client, model.id, {
        offset: query.offset,
        limit: query.limit,
        sortBy: VERSION_SORT[query.sort],
        orderBy: query.order,
        signal,
      }),
    placeholderData: keepPreviousData,
  });
  const rows = versions.data?.modelVersions ?? [];
  const header = sortHeaders(query, sortBy);
  const target = useLocation().hash.slice(1);
  const isLoaded = versions.isSuccess;
  /** The version whose editor is open, if any. */
  const [editing, setEditing] = useState<number | undefined>(undefined);
  useEffect(() => {
    // `/models/m#version-3` (the link after registering) shows that row once it is there.
    const row = target === '' || !isLoaded ? null : document.getElementById(target);
    if (typeof row?.scrollIntoView === 'function') {
      row.scrollIntoView({ block: 'center' });
    }
  }, [target, isLoaded]);
  return (
    <section aria-labelledby="versions">
      <h2 id="versions">Versions</h2>
      {versions.isError ? <QueryError error={versions.error} what="the versions" /> : null}
      <table data-testid="versions-table" aria-busy={versions.isFetching}>
        <thead>
          <tr>
            {header('Version', 'version', true)}
            <th scope="col">Name</th>
            <th scope="col">Labels</th>
            <th scope="col">Aliases</th>
            <th scope="col">Checkpoint</th>
            <th scope="col">Trial</th>
            <th scope="col">Registered by</th>
            {header('Created', 'creationTime')}
            <th scope="col">
              <span className="visually-hidden">Actions</span>
            </th>
          </tr>
        </thead>
        <tbody>
          {rows.map((v) => {
            const anchor = versionAnchor(v.version);
            const trialId = v.checkpoint.training?.trialId;
            const uuid = v.checkpoint.uuid;
            const isEditing = editing === v.version;
            return (
              <Fragment key={v.id}>
                <tr
                  id={anchor}
                  data-version={v.version}
                  className={anchor === target ? 'target' : undefined}
                >
                  <td className="num">{v.version}</td>
                  <td className="version-name">
                    {v.name === '' ? NO_VALUE : v.name}
                    {v.comment === '' ? null : <div className="muted">{v.comment}</div>}
                  </td>
                  <td>
                    <Labels labels={v.labels} />
                  </td>
                  <td>
                    {v.aliases.length === 0 ? (
                      <span className="muted">{NO_VALUE}</span>
                    ) : (
                      v.aliases.map((a) => (
                        <span key={a} className="badge badge-alias">
                          {a}
                        </span>
                      ))
                    )}
                  </td>
                  <td>
                    {trialId === undefined ? (
                      <span className="uuid">{uuid}</span>
                    ) : (
                      <Link to={checkpointPath(trialId, uuid)} className="uuid">
                        {uuid}
                      </Link>
                    )}
                  </td>
                  <td>
                    {trialId === undefined ? (
                      NO_VALUE
                    ) : (
                      <Link to={trialPath(trialId)}>Trial {trialId}</Link>
                    )}
                  </td>
                  <td>{v.username === '' ? NO_VALUE : v.username}</td>
                  <td>{formatDateTime(v.creationTime ?? undefined)}</td>
                  <td>
                    <a
                      href={checkpointDownloadPath(uuid)}
                      download
                      aria-label={`Download version ${v.version}`}
                    >
                      Download
                    </a>{' '}
                    <button
                      type="button"
                      aria-label={`Edit version ${v.version}`}
                      aria-expanded={isEditing}
                      onClick={() => setEditing(isEditing ? undefined : v.version)}
                    >
                      Edit
                    </button>
                  </td>
                </tr>
                {isEditing ? (
                  <tr className="edit-row">
                    <td colSpan={VERSION_COLUMNS}>
                      <ModelVersionEditForm
                        model={model}
                        version={v}
                        onDone={() => setEditing(undefined)}
                      />
                    </td>
                  </tr>
                ) : null}
              </Fragment>
            );
          })}
        </tbody>
      </table>
      {versions.isPending ? <p className="loading">Loading…</p> : null}
      {versions.isSuccess && rows.length === 0 ? (
        <p className="empty">No versions yet. Register a checkpoint from its page.</p>
      ) : null}
      <Pager
        page={query.page}
        pagination={versions.data?.pagination}
        rows={rows.length}
        onPage={goToPage}
      />
    </section>
  );
}
