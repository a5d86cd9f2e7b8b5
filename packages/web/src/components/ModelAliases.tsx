import { useMutation, useQuery } from '@tanstack/react-query';
import { useRef, useState } from 'react';
import type { FormEvent } from 'react';
import { Link } from 'react-router';

import {
  getModelAliasHistory,
  listModelAliases,
  removeModelAlias,
  setModelAlias,
} from '@determined-ts/sdk/client';
import type { ModelData } from '@determined-ts/sdk/client';

import { useClient } from '../client-context';
import { useRefreshModels } from '../hooks/useRefreshModels';
import { NO_VALUE, formatDateTime } from '../lib/format';
import { aliasNameProblem, describeAliasChange, parseVersionNumber } from '../lib/models';
import { modelVersionPath } from '../lib/paths';
import { QueryError } from './QueryError';

/** A model's aliases (name → version), a form to set or move one, and every change to them. */
export function ModelAliases({ model }: { model: ModelData }) {
  const client = useClient();
  const refresh = useRefreshModels();
  const versionInput = useRef<HTMLInputElement>(null);
  const [alias, setAlias] = useState('');
  const [version, setVersion] = useState('');
  const [problem, setProblem] = useState<string | undefined>(undefined);
  const aliases = useQuery({
    queryKey: ['model', model.id, 'aliases'],
    queryFn: ({ signal }) => listModelAliases(client, model.id, { signal }),
  });
  const set = useMutation({
    mutationFn: (change: { alias: string; version: number }) =>
      setModelAlias(client, model.id, change.alias, change.version),
    onSuccess: async () => {
      setAlias('');
      setVersion('');
      await refresh();
    },
  });
  const remove = useMutation({
    mutationFn: (name: string) => removeModelAlias(client, model.id, name),
    onSuccess: refresh,
  });
  const onSubmit = (e: FormEvent) => {
    e.preventDefault();
    const n = parseVersionNumber(version);
    const nameProblem = aliasNameProblem(alias);
    setProblem(nameProblem ?? (n === undefined ? 'Enter a version number.' : undefined));
    if (nameProblem === undefined && n !== undefined) {
      set.mutate({ alias, version: n });
    }
  };
  const rows = aliases.data ?? [];
  return (
    <section aria-labelledby="aliases">
      <h2 id="aliases">Aliases</h2>
      <p className="muted">
        An alias names a version: SDK and API calls take it wherever they take a version number.
      </p>
      {aliases.isError ? <QueryError error={aliases.error} what="the aliases" /> : null}
      <table data-testid="aliases-table" className="compact" aria-busy={aliases.isFetching}>
        <thead>
          <tr>
            <th scope="col">Alias</th>
            <th scope="col" className="num">
              Version
            </th>
            <th scope="col">Set by</th>
            <th scope="col">Updated</th>
            <th scope="col">
              <span className="visually-hidden">Actions</span>
            </th>
          </tr>
        </thead>
        <tbody>
          {rows.map((a) => (
            <tr key={a.alias} data-alias={a.alias}>
              <td>
                <span className="badge badge-alias">{a.alias}</span>
              </td>
              <td className="num">
                <Link to={modelVersionPath(model.name, a.version, model.id)}>v{a.version}</Link>
              </td>
              <td>{a.username === '' ? NO_VALUE : a.username}</td>
              <td>{formatDateTime(a.updatedTime)}</td>
              <td>
                <button
                  type="button"
                  aria-label={`Move ${a.alias}`}
                  disabled={model.archived}
                  onClick={() => {
                    setAlias(a.alias);
                    setVersion('');
                    versionInput.current?.focus();
                  }}
                >
                  Move
                </button>{' '}
                <button
                  type="button"
                  aria-label={`Remove ${a.alias}`}
                  onClick={() => remove.mutate(a.alias)}
                  disabled={remove.isPending}
                >
                  Remove
                </button>
              </td>
            </tr>
          ))}
        </tbody>
      </table>
      {aliases.isSuccess && rows.length === 0 ? <p className="empty">No aliases yet.</p> : null}
      {remove.isError ? <QueryError error={remove.error} /> : null}
      <form className="inline-form" aria-label="Set alias" onSubmit={onSubmit}>
        <label className="filter">
          Alias
          <input
            value={alias}
            onChange={(e) => setAlias(e.target.value)}
            placeholder="production"
            autoComplete="off"
            spellCheck={false}
          />
        </label>
        <label className="filter">
          Version
          <input
            ref={versionInput}
            value={version}
            onChange={(e) => setVersion(e.target.value)}
            inputMode="numeric"
            size={6}
            autoComplete="off"
          />
        </label>
        <button type="submit" disabled={set.isPending || model.archived}>
          Set alias
        </button>
        {model.archived ? (
          <span className="muted">Unarchive the model to set or move aliases.</span>
        ) : null}
      </form>
      {problem === undefined ? null : (
        <p role="alert" className="error">
          {problem}
        </p>
      )}
      {set.isError ? <QueryError error={set.error} /> : null}
      <AliasHistory model={model} />
    </section>
  );
}

/** Every set, move and removal of the model's aliases, newest first. */
function AliasHistory({ model }: { model: ModelData }) {
  const client = useClient();
  const history = useQuery({
    queryKey: ['model', model.id, 'alias-history'],
    queryFn: ({ signal }) => getModelAliasHistory(client, model.id, { signal }),
  });
  const events = history.data ?? [];
  return (
    <>
      <h3>History</h3>
      {history.isError ? <QueryError error={history.error} what="the alias history" /> : null}
      <table data-testid="alias-history-table" className="compact" aria-busy={history.isFetching}>
        <thead>
          <tr>
            <th scope="col">When</th>
            <th scope="col">Alias</th>
            <th scope="col">Change</th>
            <th scope="col">By</th>
          </tr>
        </thead>
        <tbody>
          {events.map((e) => (
            <tr key={e.id}>
              <td>{formatDateTime(e.time)}</td>
              <td>{e.alias}</td>
              <td>{describeAliasChange(e)}</td>
              <td>{e.username === '' ? NO_VALUE : e.username}</td>
            </tr>
          ))}
        </tbody>
      </table>
      {history.isSuccess && events.length === 0 ? (
        <p className="empty">No alias changes yet.</p>
      ) : null}
    </>
  );
}
