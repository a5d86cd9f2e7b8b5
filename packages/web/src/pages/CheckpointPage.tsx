import { useQuery } from '@tanstack/react-query';
import { Link, useParams } from 'react-router';

import { getCheckpoint } from '@determined-ts/sdk/client';
import type { CheckpointData } from '@determined-ts/sdk/client';

import { useClient } from '../client-context';
import { CopySnippet } from '../components/CopySnippet';
import { CopyValue } from '../components/CopyValue';
import { DirectLinks } from '../components/DirectLinks';
import { FilesTable } from '../components/FilesTable';
import { MetricsTable } from '../components/MetricsTable';
import { NotFound } from '../components/NotFound';
import { QueryError } from '../components/QueryError';
import { RegisterCheckpoint } from '../components/RegisterCheckpoint';
import { StateBadge } from '../components/StateBadge';
import { isInvalidArgument, isNotFound } from '../lib/errors';
import { NO_VALUE, formatCount, formatDateTime, formatMetric } from '../lib/format';
import {
  checkpointDownloadPath,
  checkpointPath,
  experimentPath,
  parseId,
  trialPath,
} from '../lib/paths';
import { cliSnippet, sdkSnippet } from '../lib/snippets';
import { checkpointLocation } from '../lib/storage-location';

/** One checkpoint: what it is, its files, and how to get them. */
export function CheckpointPage() {
  const params = useParams();
  const trialId = parseId(params.trialId);
  const uuid = params.uuid ?? '';
  if (trialId === undefined) {
    return <NotFound message={`'${params.trialId ?? ''}' is not a trial id.`} />;
  }
  return <Checkpoint key={`${trialId}/${uuid}`} trialId={trialId} uuid={uuid} />;
}

function Checkpoint({ trialId, uuid }: { trialId: number; uuid: string }) {
  const client = useClient();
  const checkpoint = useQuery({
    queryKey: ['checkpoint', uuid],
    queryFn: ({ signal }) => getCheckpoint(client, uuid, { signal }),
  });
  if (checkpoint.isPending) {
    return <p className="loading">Loading…</p>;
  }
  if (checkpoint.isError) {
    if (isNotFound(checkpoint.error)) {
      return <NotFound message={`Checkpoint ${uuid} does not exist.`} />;
    }
    if (isInvalidArgument(checkpoint.error)) {
      return <NotFound message={`'${uuid}' is not a checkpoint uuid.`} />;
    }
    return (
      <main className="page">
        <QueryError error={checkpoint.error} what={`checkpoint ${uuid}`} />
      </main>
    );
  }
  const c = checkpoint.data;
  const owner = c.training?.trialId;
  if (owner !== trialId) {
    return (
      <main className="page">
        <h1>Not found</h1>
        <p>
          Checkpoint {uuid} does not exist in trial {trialId}.
          {owner === undefined ? null : (
            <>
              {' '}
              It belongs to <Link to={checkpointPath(owner, uuid)}>trial {owner}</Link>.
            </>
          )}
        </p>
      </main>
    );
  }
  return <CheckpointDetails checkpoint={c} trialId={trialId} />;
}

function CheckpointDetails({
  checkpoint: c,
  trialId,
}: {
  checkpoint: CheckpointData;
  trialId: number;
}) {
  const experimentId = c.training?.experimentId;
  const config = c.training?.experimentConfig ?? {};
  const searcher = config.searcher as { metric?: unknown } | undefined;
  const metricName = typeof searcher?.metric === 'string' ? searcher.metric : 'Searcher metric';
  const storageType = typeof c.storageConfig.type === 'string' ? c.storageConfig.type : NO_VALUE;
  // `storageConfig` is the experiment's `checkpoint_storage`; credentials in it are never shown.
  const location = checkpointLocation(c.storageConfig, c.uuid);
  const master = window.location.origin;
  return (
    <main className="page">
      <nav className="crumbs" aria-label="Breadcrumbs">
        {experimentId === undefined ? null : (
          <>
            <Link to={experimentPath(experimentId)}>Experiment {experimentId}</Link> /{' '}
          </>
        )}
        <Link to={trialPath(trialId)}>Trial {trialId}</Link> / Checkpoint
      </nav>
      <h1>
        Checkpoint <span className="uuid">{c.uuid}</span>
      </h1>
      <div className="columns">
        <section aria-labelledby="details">
          <h2 id="details">Details</h2>
          <dl className="facts">
            <dt>State</dt>
            <dd>
              <StateBadge state={c.state} />
            </dd>
            <dt>Steps</dt>
            <dd>{c.batchNumber === undefined ? NO_VALUE : formatCount(c.batchNumber)}</dd>
            <dt>Reported</dt>
            <dd>{formatDateTime(c.reportTime)}</dd>
            <dt>Trial</dt>
            <dd>
              <Link to={trialPath(trialId)}>Trial {trialId}</Link>
            </dd>
            <dt>Experiment</dt>
            <dd>
              {experimentId === undefined ? (
                NO_VALUE
              ) : (
                <Link to={experimentPath(experimentId)}>Experiment {experimentId}</Link>
              )}
            </dd>
            <dt>{metricName}</dt>
            <dd>{formatMetric(c.training?.searcherMetric)}</dd>
            <dt>Storage</dt>
            <dd>{storageType}</dd>
          </dl>
          <p>
            <a className="button" href={checkpointDownloadPath(c.uuid)} download>
              Download
            </a>{' '}
            <span className="muted">
              a tar archive of its files, from the master; or as{' '}
              <a href={checkpointDownloadPath(c.uuid, 'tar.gz')} download>
                tar.gz
              </a>{' '}
              or{' '}
              <a href={checkpointDownloadPath(c.uuid, 'zip')} download>
                zip
              </a>
            </span>
          </p>
        </section>
        <section aria-labelledby="validation">
          <h2 id="validation">Metrics</h2>
          {c.training?.validationMetrics == null ? (
            <p className="muted">No validation at this step.</p>
          ) : (
            <MetricsTable metrics={c.training.validationMetrics} caption="Validation" />
          )}
          {c.training?.trainingMetrics == null ? null : (
            <MetricsTable metrics={c.training.trainingMetrics} caption="Training" />
          )}
        </section>
      </div>
      <section aria-labelledby="files">
        <h2 id="files">Files</h2>
        <DirectLinks uuid={c.uuid} storageType={storageType}>
          {(links) => <FilesTable resources={c.resources} links={links} />}
        </DirectLinks>
      </section>
      <section aria-labelledby="use">
        <h2 id="use">Use it</h2>
        <CopySnippet
          title="TypeScript SDK"
          text={sdkSnippet(master, trialId, c.uuid)}
          testId="sdk-snippet"
        />
        <CopySnippet title="CLI" text={cliSnippet(master, c.uuid)} testId="cli-snippet" />
      </section>
      <section aria-labelledby="register">
        <h2 id="register">Register this checkpoint</h2>
        <p className="muted">
          Make it the next version of a model in the registry; a new name creates the model.
        </p>
        <RegisterCheckpoint uuid={c.uuid} state={c.state} />
      </section>
      <section aria-labelledby="metadata">
        <h2 id="metadata">Metadata</h2>
        {location === undefined ? null : (
          <CopyValue label="Location" value={location} testId="checkpoint-location" />
        )}
        <pre className="json">{JSON.stringify(c.metadata, null, 2)}</pre>
      </section>
    </main>
  );
}
