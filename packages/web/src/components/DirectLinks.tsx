import { useQuery } from '@tanstack/react-query';
import { useState } from 'react';

import { getCheckpointDownloadUrls } from '@determined-ts/sdk/client';

import { useClient } from '../client-context';
import { formatDateTime } from '../lib/format';
import { QueryError } from './QueryError';

/** Storage types whose files the master can hand out signed URLs for. */
const OBJECT_STORES = new Set(['s3', 'gcs', 'azure']);

/** Refetched before the master's 15-minute URLs run out, should the page stay open. */
const STALE_MS = 10 * 60 * 1000;

/**
 * For checkpoints in an object store: a button that asks the master for signed URLs of the
 * files (read straight from the store, no credentials needed) and hands them to `children`,
 * path by path. Nothing for local storage, whose files only the master's archive serves.
 */
export function DirectLinks({
  uuid,
  storageType,
  children,
}: {
  uuid: string;
  storageType: string;
  children: (links: Readonly<Record<string, string>> | undefined) => React.ReactNode;
}) {
  const client = useClient();
  const [isAsked, setAsked] = useState(false);
  const urls = useQuery({
    queryKey: ['download-urls', uuid],
    queryFn: ({ signal }) => getCheckpointDownloadUrls(client, uuid, { signal }),
    enabled: isAsked,
    staleTime: STALE_MS,
    refetchInterval: isAsked ? STALE_MS : false,
  });
  if (!OBJECT_STORES.has(storageType)) {
    return <>{children(undefined)}</>;
  }
  const links = urls.data?.objects.reduce<Record<string, string>>((out, o) => {
    if (o.url !== undefined) {
      out[o.path] = o.url;
    }
    return out;
  }, {});
  return (
    <>
      <p>
        {urls.data === undefined ? (
          <button type="button" disabled={urls.isFetching} onClick={() => setAsked(true)}>
            Direct links
          </button>
        ) : null}{' '}
        <span className="muted">
          {urls.data === undefined
            ? `signed URLs that read each file straight from ${storageType}, without the master`
            : `Each path links to its file in ${storageType} until ${formatDateTime(new Date(urls.data.expiresAt))}.`}
        </span>
      </p>
      {urls.isError ? <QueryError error={urls.error} what="download links" /> : null}
      {children(links)}
    </>
  );
}
