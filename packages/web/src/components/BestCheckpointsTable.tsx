import { useQuery } from '@tanstack/react-query';

import { listCheckpointsPage } from '@determined-ts/sdk/client';
import type { ExperimentData } from '@determined-ts/sdk/client';

import { useClient } from '../client-context';
import { formatDateTime, totalBytes } from '../lib/format';
import { CheckpointCells, CheckpointHeadCells } from './CheckpointCells';
import { QueryError } from './QueryError';

const TOP = 10;

/**
 * The experiment's best COMPLETED checkpoints across its trials. The master sorts by the searcher
 * metric in the searcher's direction (its default order) and puts those without a value last;
 * those are left out here.
 */
export function BestCheckpointsTable({ experiment }: { experiment: ExperimentData }) {
  const client = useClient();
  const best = useQuery({
    queryKey: ['best-checkpoints', experiment.id],
    queryFn: ({ signal }) =>
      listCheckpointsPage(
        client,
        { experimentId: experiment.id },
        { offset: 0, limit: TOP, states: ['COMPLETED'], signal },
      ),
  });
  const rows = (best.data?.checkpoints ?? []).filter((c) =>
    Number.isFinite(c.training?.searcherMetric),
  );
  const metric = experiment.searcherMetric ?? 'Searcher metric';
  return (
    <section aria-labelledby="best-checkpoints">
      <h2 id="best-checkpoints">Best checkpoints</h2>
      {best.isError ? <QueryError error={best.error} what="the best checkpoints" /> : null}
      <table data-testid="best-checkpoints-table">
        <thead>
          <tr>
            <CheckpointHeadCells metric={metric} />
            <th scope="col">Reported</th>
          </tr>
        </thead>
        <tbody>
          {rows.map((c) => {
            const trialId = c.training?.trialId ?? 0;
            return (
              <tr key={c.uuid} data-uuid={c.uuid}>
                <CheckpointCells
                  uuid={c.uuid}
                  trialId={trialId}
                  steps={c.batchNumber}
                  metric={c.training?.searcherMetric}
                  bytes={totalBytes(c.resources)}
                />
                <td>{formatDateTime(c.reportTime)}</td>
              </tr>
            );
          })}
        </tbody>
      </table>
      {best.isPending ? <p className="loading">Loading…</p> : null}
      {best.isSuccess && rows.length === 0 ? (
        <p className="empty">No validated checkpoints yet.</p>
      ) : null}
    </section>
  );
}
