import { keepPreviousData, useMutation, useQuery } from '@tanstack/react-query';
import { useDeferredValue, useId, useState } from 'react';
import type { FormEvent } from 'react';
import { Link } from 'react-router';

import {
  createModel,
  getModel,
  listModelsPage,
  registerModelVersion,
} from '@determined-ts/sdk/client';
import type { CheckpointState, ModelData } from '@determined-ts/sdk/client';

import { useClient } from '../client-context';
import { useRefreshModels } from '../hooks/useRefreshModels';
import { isNotFound } from '../lib/errors';
import { modelVersionPath } from '../lib/paths';
import { QueryError } from './QueryError';

/** How many matching models the picker offers. */
const PICKER_SIZE = 20;

/**
 * "Register this checkpoint": pick a model, or type a new name to create one, and the checkpoint
 * becomes its next version.
 */
export function RegisterCheckpoint({ uuid, state }: { uuid: string; state: CheckpointState }) {
  const client = useClient();
  const refresh = useRefreshModels();
  const listId = useId();
  const [name, setName] = useState('');
  const [problem, setProblem] = useState<string | undefined>(undefined);
  const typed = useDeferredValue(name);
  const models = useQuery({
    queryKey: ['models', 'register-picker', typed],
    queryFn: ({ signal }) =>
      listModelsPage(client, {
        name: typed === '' ? undefined : typed,
        archived: false,
        sortBy: 'SORT_BY_NAME',
        orderBy: 'asc',
        limit: PICKER_SIZE,
        signal,
      }),
    placeholderData: keepPreviousData,
    enabled: state === 'COMPLETED',
  });
  const register = useMutation({
    mutationFn: async (modelName: string) => {
      let model: ModelData;
      let isNew = false;
      try {
        model = await getModel(client, modelName);
      } catch (err: unknown) {
        if (!isNotFound(err)) {
          throw err;
        }
        model = await createModel(client, { name: modelName });
        isNew = true;
      }
      const version = await registerModelVersion(client, model.id, uuid);
      return { version, isNew };
    },
    onSuccess: refresh,
  });
  if (state !== 'COMPLETED') {
    return <p className="muted">Only completed checkpoints can be registered as model versions.</p>;
  }
  const names = models.data?.models.map((m) => m.name) ?? [];
  // Said only once the list answers for what is typed now.
  const isKnown = models.isSuccess && !models.isPlaceholderData && typed === name;
  const onSubmit = (e: FormEvent) => {
    e.preventDefault();
    const next = /^\d+$/.test(name)
      ? 'A model name cannot be all digits.'
      : name.trim() === ''
        ? 'Enter a model name.'
        : undefined;
    setProblem(next);
    if (next === undefined) {
      register.mutate(name);
    }
  };
  const done = register.data;
  return (
    <>
      <form className="inline-form" aria-label="Register checkpoint" onSubmit={onSubmit}>
        <label className="filter">
          Model
          <input
            value={name}
            onChange={(e) => {
              setName(e.target.value);
              register.reset();
            }}
            list={listId}
            placeholder="Pick or type a new name"
            autoComplete="off"
          />
        </label>
        <datalist id={listId}>
          {names.map((n) => (
            <option key={n} value={n} />
          ))}
        </datalist>
        <button type="submit" disabled={register.isPending}>
          Register
        </button>
        {isKnown && name !== '' && !names.includes(name) && done === undefined ? (
          <span className="muted" data-testid="new-model-hint">
            No model is named “{name}” yet: registering creates it.
          </span>
        ) : null}
      </form>
      {problem === undefined ? null : (
        <p role="alert" className="error">
          {problem}
        </p>
      )}
      {register.isError ? <QueryError error={register.error} /> : null}
      {done === undefined ? null : (
        <p role="status" className="notice">
          Registered as{' '}
          <Link
            to={modelVersionPath(
              done.version.model.name,
              done.version.version,
              done.version.model.id,
            )}
          >
            version {done.version.version} of {done.version.model.name}
          </Link>
          {done.isNew ? ' (a new model)' : ''}.
        </p>
      )}
    </>
  );
}
