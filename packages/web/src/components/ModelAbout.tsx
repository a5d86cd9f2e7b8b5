import { useMutation, useQueryClient } from '@tanstack/react-query';
import { useState } from 'react';
import type { FormEvent } from 'react';
import { useNavigate } from 'react-router';

import type { PatchModelRequest } from '@determined-ts/api';
import { archiveModel, deleteModel, patchModel, unarchiveModel } from '@determined-ts/sdk/client';
import type { ModelData } from '@determined-ts/sdk/client';

import { useClient } from '../client-context';
import { useRefreshModels } from '../hooks/useRefreshModels';
import { NO_VALUE, formatCount, formatDateTime } from '../lib/format';
import { buildRegistryPatch, formatMetadata } from '../lib/models';
import { modelPath, modelsPath } from '../lib/paths';
import { EditFormEnd, LabelsField, MetadataField } from './EditFields';
import { Labels } from './Labels';
import { QueryError } from './QueryError';

/** Our master's one workspace; Determined's default workspace has the same id and name. */
const DEFAULT_WORKSPACE = { id: 1, name: 'Uncategorized' };

/** A model's description, labels, notes and metadata, with the actions on the model. */
export function ModelAbout({ model }: { model: ModelData }) {
  const [isEditing, setEditing] = useState(false);
  const hasMetadata = Object.keys(model.metadata).length > 0;
  return (
    <section aria-labelledby="about">
      <h2 id="about">About</h2>
      {isEditing ? (
        <ModelEditForm model={model} onDone={() => setEditing(false)} />
      ) : (
        <>
          <dl className="facts">
            <dt>Description</dt>
            <dd data-testid="model-description">
              {model.description === '' ? NO_VALUE : model.description}
            </dd>
            <dt>Labels</dt>
            <dd data-testid="model-labels">
              <Labels labels={model.labels} />
            </dd>
            <dt>Owner</dt>
            <dd>{model.username === '' ? NO_VALUE : model.username}</dd>
            <dt>Workspace</dt>
            <dd>
              {model.workspaceId === DEFAULT_WORKSPACE.id
                ? DEFAULT_WORKSPACE.name
                : `Workspace ${model.workspaceId}`}
            </dd>
            <dt>Created</dt>
            <dd>{formatDateTime(model.creationTime)}</dd>
            <dt>Last updated</dt>
            <dd>{formatDateTime(model.lastUpdatedTime)}</dd>
          </dl>
          <h3>Notes</h3>
          {model.notes === '' ? (
            <p className="muted">No notes.</p>
          ) : (
            <div className="notes" data-testid="model-notes">
              {model.notes}
            </div>
          )}
          <h3>Metadata</h3>
          {hasMetadata ? (
            <pre className="json" data-testid="model-metadata">
              {JSON.stringify(model.metadata, null, 2)}
            </pre>
          ) : (
            <p className="muted">No metadata.</p>
          )}
          <ModelActions model={model} onEdit={() => setEditing(true)} />
        </>
      )}
    </section>
  );
}

/** Edit, archive or unarchive, and delete (after a confirmation). */
function ModelActions({ model, onEdit }: { model: ModelData; onEdit: () => void }) {
  const client = useClient();
  const queryClient = useQueryClient();
  const refresh = useRefreshModels();
  const navigate = useNavigate();
  const [isConfirming, setConfirming] = useState(false);
  const archive = useMutation({
    mutationFn: () =>
      model.archived ? unarchiveModel(client, model.id) : archiveModel(client, model.id),
    onSuccess: refresh,
  });
  const remove = useMutation({
    mutationFn: () => deleteModel(client, model.id),
    onSuccess: async () => {
      queryClient.removeQueries({ queryKey: ['model'] });
      await queryClient.invalidateQueries({ queryKey: ['models'] });
      await navigate(modelsPath);
    },
  });
  const versions = `${formatCount(model.numVersions)} ${model.numVersions === 1 ? 'version' : 'versions'}`;
  return (
    <>
      <p className="actions">
        <button
          type="button"
          onClick={onEdit}
          disabled={model.archived}
          title={model.archived ? 'Unarchive the model to edit it' : undefined}
        >
          Edit
        </button>
        <button type="button" onClick={() => archive.mutate()} disabled={archive.isPending}>
          {model.archived ? 'Unarchive' : 'Archive'}
        </button>
        <button type="button" onClick={() => setConfirming(true)} disabled={isConfirming}>
          Delete
        </button>
      </p>
      {archive.isError ? <QueryError error={archive.error} /> : null}
      {isConfirming ? (
        <div className="confirm" role="group" aria-label="Confirm delete">
          <p>
            Delete model <strong>{model.name}</strong> and its {versions}? Their checkpoints stay.
          </p>
          <p className="actions">
            <button
              type="button"
              className="danger"
              onClick={() => remove.mutate()}
              disabled={remove.isPending}
            >
              Delete model
            </button>
            <button
              type="button"
              onClick={() => {
                setConfirming(false);
                remove.reset();
              }}
            >
              Cancel
            </button>
          </p>
          {remove.isError ? <QueryError error={remove.error} /> : null}
        </div>
      ) : null}
    </>
  );
}

/**
 * Name, description, labels, notes and metadata; saves only the fields that changed. A rename
 * moves the page to the model's new URL.
 */
function ModelEditForm({ model, onDone }: { model: ModelData; onDone: () => void }) {
  const client = useClient();
  const queryClient = useQueryClient();
  const refresh = useRefreshModels();
  const navigate = useNavigate();
  const [name, setName] = useState(model.name);
  const [description, setDescription] = useState(model.description);
  const [labels, setLabels] = useState(model.labels.join(', '));
  const [notes, setNotes] = useState(model.notes);
  const [metadata, setMetadata] = useState(formatMetadata(model.metadata));
  const [problem, setProblem] = useState<string | undefined>(undefined);
  const save = useMutation({
    mutationFn: async (patch: PatchModelRequest) =>
      Object.keys(patch).length > 0 ? await patchModel(client, model.id, patch) : model,
    onSuccess: async (saved) => {
      if (saved.name === model.name) {
        await refresh();
        onDone();
        return;
      }
      // The old URL names no model now: leave it (replacing it in the history), then refetch.
      await navigate(modelPath(saved.name, saved.id), { replace: true });
      queryClient.removeQueries({ queryKey: ['model', model.name], exact: true });
      await refresh();
    },
  });
  const onSubmit = (e: FormEvent) => {
    e.preventDefault();
    const result = buildRegistryPatch(model, { name, description, labels, notes, metadata });
    setProblem(result.problem);
    if (result.patch !== undefined) {
      save.mutate(result.patch);
    }
  };
  return (
    <form className="edit-form" aria-label="Edit model" onSubmit={onSubmit}>
      <label>
        Name
        <input
          value={name}
          onChange={(e) => setName(e.target.value)}
          autoComplete="off"
          spellCheck={false}
        />
      </label>
      <label>
        Description
        <input value={description} onChange={(e) => setDescription(e.target.value)} />
      </label>
      <LabelsField value={labels} onChange={setLabels} />
      <label>
        Notes
        <textarea rows={6} value={notes} onChange={(e) => setNotes(e.target.value)} />
      </label>
      <MetadataField value={metadata} onChange={setMetadata} />
      <EditFormEnd
        pending={save.isPending}
        onCancel={onDone}
        problem={problem}
        error={save.isError ? save.error : undefined}
      />
    </form>
  );
}
