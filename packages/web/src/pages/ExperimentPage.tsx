import { useQuery } from '@tanstack/react-query';
import { Link, useParams } from 'react-router';

import { getExperiment } from '@determined-ts/sdk/client';

import { useClient } from '../client-context';
import { BestCheckpointsTable } from '../components/BestCheckpointsTable';
import { CheckpointStorage } from '../components/CheckpointStorage';
import { ExperimentConfig } from '../components/ExperimentConfig';
import { NotFound } from '../components/NotFound';
import { QueryError } from '../components/QueryError';
import { StateBadge } from '../components/StateBadge';
import { TrialsTable } from '../components/TrialsTable';
import { formatBytes, formatCount, formatDateTime } from '../lib/format';
import { isNotFound } from '../lib/errors';
import { experimentsPath, parseId } from '../lib/paths';

/** One experiment: its config, its trials and its best checkpoints. */
export function ExperimentPage() {
  const raw = useParams().experimentId;
  const id = parseId(raw);
  if (id === undefined) {
    return <NotFound message={`'${raw ?? ''}' is not an experiment id.`} />;
  }
  return <Experiment key={id} id={id} />;
}

function Experiment({ id }: { id: number }) {
  const client = useClient();
  const experiment = useQuery({
    queryKey: ['experiment', id],
    queryFn: ({ signal }) => getExperiment(client, id, { signal }),
  });
  if (experiment.isPending) {
    return <p className="loading">Loading…</p>;
  }
  if (experiment.isError) {
    return isNotFound(experiment.error) ? (
      <NotFound message={`Experiment ${id} does not exist.`} />
    ) : (
      <main className="page">
        <QueryError error={experiment.error} what={`experiment ${id}`} />
      </main>
    );
  }
  const e = experiment.data;
  return (
    <main className="page">
      <nav className="crumbs" aria-label="Breadcrumbs">
        <Link to={experimentsPath}>Experiments</Link> / Experiment {e.id}
      </nav>
      <h1>{e.name === '' ? `Experiment ${e.id}` : e.name}</h1>
      <p className="summary">
        <StateBadge state={e.state} /> Experiment {e.id}
        {e.username === '' ? '' : ` by ${e.username}`} · started {formatDateTime(e.startTime)} ·{' '}
        {formatCount(e.numTrials)} trials · {formatCount(e.checkpointCount)} checkpoints (
        {formatBytes(e.checkpointSize)})
      </p>
      {e.description === '' ? null : <p>{e.description}</p>}
      <ExperimentConfig experiment={e} />
      <TrialsTable experiment={e} />
      <BestCheckpointsTable experiment={e} />
      <CheckpointStorage experiment={e} />
    </main>
  );
}
