import { useQuery } from '@tanstack/react-query';
import { Link, useParams } from 'react-router';

import { getModel } from '@determined-ts/sdk/client';

import { useClient } from '../client-context';
import { ArchivedBadge } from '../components/Labels';
import { ModelAbout } from '../components/ModelAbout';
import { ModelAliases } from '../components/ModelAliases';
import { ModelVersionsTable } from '../components/ModelVersionsTable';
import { NotFound } from '../components/NotFound';
import { QueryError } from '../components/QueryError';
import { isNotFound } from '../lib/errors';
import { formatCount, formatDateTime } from '../lib/format';
import { modelsPath } from '../lib/paths';

/** One model of the registry: what it is, its versions and its aliases. */
export function ModelPage() {
  // A name, or (all digits) an id: the master tells them apart the same way.
  const ref = useParams().name ?? '';
  return <Model key={ref} modelRef={ref} />;
}

function Model({ modelRef }: { modelRef: string }) {
  const client = useClient();
  const model = useQuery({
    queryKey: ['model', modelRef],
    queryFn: ({ signal }) => getModel(client, modelRef, { signal }),
  });
  if (model.isPending) {
    return <p className="loading">Loading…</p>;
  }
  if (model.isError) {
    return isNotFound(model.error) ? (
      <NotFound
        message={`Model '${modelRef}' does not exist.`}
        back={{ to: modelsPath, label: 'Back to the models' }}
      />
    ) : (
      <main className="page">
        <QueryError error={model.error} what={`model '${modelRef}'`} />
      </main>
    );
  }
  const m = model.data;
  return (
    <main className="page">
      <nav className="crumbs" aria-label="Breadcrumbs">
        <Link to={modelsPath}>Models</Link> / Model {m.id}
      </nav>
      <h1>
        {m.name}
        {m.archived ? <ArchivedBadge /> : null}
      </h1>
      <p className="summary">
        Model {m.id}
        {m.username === '' ? '' : ` by ${m.username}`} · {formatCount(m.numVersions)}{' '}
        {m.numVersions === 1 ? 'version' : 'versions'} · updated {formatDateTime(m.lastUpdatedTime)}
      </p>
      <ModelAbout model={m} />
      <ModelVersionsTable model={m} />
      <ModelAliases model={m} />
    </main>
  );
}
