import { useQuery } from '@tanstack/react-query';
import { useState } from 'react';

import { getTrialLogs } from '@determined-ts/sdk/client';
import type { TrialLogLine } from '@determined-ts/sdk/client';

import { useClient } from '../client-context';
import { QueryError } from './QueryError';

/** Lines shown at first, and added by each "Load more". */
const PAGE = 200;

function formatLine(line: TrialLogLine): string {
  const rank = line.rankId === undefined ? '' : `[rank=${line.rankId}] `;
  return `${line.timestamp.toISOString()}  ${rank}${line.message.replace(/\n$/, '')}`;
}

/** The tail of a trial's logs; "Load more" reaches further back. */
export function TrialLogs({
  trialId,
  refetchInterval,
}: {
  trialId: number;
  refetchInterval: number | false;
}) {
  const client = useClient();
  const [limit, setLimit] = useState(PAGE);
  const logs = useQuery({
    queryKey: ['trial-logs', trialId, limit],
    queryFn: ({ signal }) => getTrialLogs(client, trialId, { limit, tail: true, signal }),
    // Keep the lines on screen while a longer tail loads.
    placeholderData: (previous) => previous,
    refetchInterval,
  });
  const lines = logs.data ?? [];
  // Fewer lines than asked for: this is the whole log.
  const hasOlder = lines.length >= limit;
  return (
    <section aria-labelledby="logs">
      <h2 id="logs">Logs</h2>
      {logs.isError ? <QueryError error={logs.error} what="the logs" /> : null}
      {hasOlder ? (
        <button type="button" onClick={() => setLimit(limit + PAGE)} disabled={logs.isFetching}>
          Load more
        </button>
      ) : null}
      <pre className="logs" data-testid="trial-logs">
        {logs.isPending
          ? 'Loading…'
          : lines.length === 0
            ? 'No log lines yet.'
            : lines.map(formatLine).join('\n')}
      </pre>
    </section>
  );
}
