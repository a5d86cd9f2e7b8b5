import { useQuery } from '@tanstack/react-query';

import { listCheckpointsPage } from '@determined-ts/sdk/client';

import { useClient } from '../client-context';

/**
 * The uuids of a trial's best and latest checkpoints, by the SDK's rules (so the UI agrees with
 * `TrialReference`): the first COMPLETED checkpoint in the master's default order (best first by
 * the searcher metric) when it has a value for that metric, and the COMPLETED one with the most
 * steps. Each is one row from the master, however many checkpoints there are.
 */
export function useBestAndLatest(
  trialId: number,
  refetchInterval: number | false,
): { bestUuid: string | undefined; latestUuid: string | undefined } {
  const client = useClient();
  const best = useQuery({
    queryKey: ['trial-best-checkpoint', trialId],
    queryFn: async ({ signal }) => {
      const { checkpoints } = await listCheckpointsPage(
        client,
        { trialId },
        { offset: 0, limit: 1, states: ['COMPLETED'], signal },
      );
      const top = checkpoints[0];
      return top !== undefined && Number.isFinite(top.training?.searcherMetric) ? top.uuid : null;
    },
    refetchInterval,
  });
  const latest = useQuery({
    queryKey: ['trial-latest-checkpoint', trialId],
    queryFn: async ({ signal }) => {
      const { checkpoints } = await listCheckpointsPage(
        client,
        { trialId },
        {
          offset: 0,
          limit: 1,
          states: ['COMPLETED'],
          sortBy: { attr: 'batchNumber' },
          orderBy: 'desc',
          signal,
        },
      );
      return checkpoints[0]?.uuid ?? null;
    },
    refetchInterval,
  });
  return { bestUuid: best.data ?? undefined, latestUuid: latest.data ?? undefined };
}
