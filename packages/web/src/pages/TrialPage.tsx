import { useQuery } from '@tanstack/react-query';
import { Link, useParams } from 'react-router';

import { TERMINAL_TRIAL_STATES } from '@determined-ts/api';
import { getExperiment, getTrial } from '@determined-ts/sdk/client';
import type { TrialState } from '@determined-ts/sdk/client';

import { useClient } from '../client-context';
import { CheckpointTable } from '../components/CheckpointTable';
import { MetricsSection } from '../components/MetricsSection';
import { NotFound } from '../components/NotFound';
import { QueryError } from '../components/QueryError';
import { StateBadge } from '../components/StateBadge';
import { TrialLogs } from '../components/TrialLogs';
import { useBestAndLatest } from '../hooks/useBestAndLatest';
import { isNotFound } from '../lib/errors';
import {
  formatBytes,
  formatCount,
  formatDateTime,
  formatDuration,
  formatHparams,
} from '../lib/format';
import { experimentPath, experimentsPath, parseId } from '../lib/paths';
import type { TrialSectionProps } from '../components/trial-section';

/** How often a trial that is still running is looked at again. */
const LIVE_REFRESH_MS = 15_000;

function isTerminal(state: TrialState): boolean {
  return (TERMINAL_TRIAL_STATES as readonly string[]).includes(`STATE_${state}`);
}

/** One trial: its curves with checkpoint markers, its checkpoints and its logs. */
export function TrialPage() {
  const raw = useParams().trialId;
  const id = parseId(raw);
  if (id === undefined) {
    return <NotFound message={`'${raw ?? ''}' is not a trial id.`} />;
  }
  // Keyed: another trial starts fresh (its own log length, no previous trial's rows).
  return <Trial key={id} id={id} />;
}

function Trial({ id }: { id: number }) {
  const client = useClient();
  const trial = useQuery({
    queryKey: ['trial', id],
    queryFn: ({ signal }) => getTrial(client, id, { signal }),
    refetchInterval: (query) =>
      query.state.data === undefined || isTerminal(query.state.data.state)
        ? false
        : LIVE_REFRESH_MS,
  });
  const experimentId = trial.data?.experimentId;
  const experiment = useQuery({
    queryKey: ['experiment', experimentId],
    queryFn: ({ signal }) => getExperiment(client, experimentId ?? 0, { signal }),
    enabled: experimentId !== undefined,
  });
  const refetchInterval =
    trial.data === undefined || isTerminal(trial.data.state) ? false : LIVE_REFRESH_MS;
  const { bestUuid, latestUuid } = useBestAndLatest(id, refetchInterval);

  if (trial.isPending) {
    return <p className="loading">Loading…</p>;
  }
  if (trial.isError) {
    return isNotFound(trial.error) ? (
      <NotFound message={`Trial ${id} does not exist.`} />
    ) : (
      <main className="page">
        <QueryError error={trial.error} what={`trial ${id}`} />
      </main>
    );
  }
  const t = trial.data;
  const e = experiment.data;
  const section: TrialSectionProps = {
    trial: t,
    experiment: e,
    bestUuid,
    latestUuid,
    refetchInterval,
  };
  const experimentName = e === undefined || e.name === '' ? `Experiment ${t.experimentId}` : e.name;
  return (
    <main className="page">
      <nav className="crumbs" aria-label="Breadcrumbs">
        <Link to={experimentsPath}>Experiments</Link> /{' '}
        <Link to={experimentPath(t.experimentId)}>{experimentName}</Link> / Trial {t.id}
      </nav>
      <h1>Trial {t.id}</h1>
      <p className="summary">
        <StateBadge state={t.state} /> of{' '}
        <Link to={experimentPath(t.experimentId)}>{experimentName}</Link> ·{' '}
        {formatCount(t.totalBatchesProcessed)} batches · started {formatDateTime(t.startTime)}
        {t.endTime === undefined
          ? ''
          : ` · ran ${formatDuration(t.endTime.getTime() - t.startTime.getTime())}`}{' '}
        · {formatCount(t.checkpointCount)} checkpoints ({formatBytes(t.totalCheckpointSize)})
        {t.restarts > 0 ? ` · ${t.restarts} restarts` : ''}
      </p>
      {Object.keys(t.hparams).length === 0 ? null : (
        <p className="summary muted">Hyperparameters: {formatHparams(t.hparams)}</p>
      )}
      {experiment.isError ? <QueryError error={experiment.error} what="its experiment" /> : null}
      {experiment.isPending ? (
        // The searcher metric and its direction pick the chart's metric and the table's order.
        <p className="loading">Loading…</p>
      ) : (
        <>
          <MetricsSection {...section} />
          <CheckpointTable {...section} />
        </>
      )}
      <TrialLogs trialId={t.id} refetchInterval={refetchInterval} />
    </main>
  );
}
