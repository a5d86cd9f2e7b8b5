import { useMutation } from '@tanstack/react-query';
import { useState } from 'react';
import type { FormEvent } from 'react';

import type { PatchModelVersionRequest } from '@determined-ts/api';
import { patchModelVersion } from '@determined-ts/sdk/client';
import type { ModelData, ModelVersionData } from '@determined-ts/sdk/client';

import { useClient } from '../client-context';
import { useRefreshModels } from '../hooks/useRefreshModels';
import { buildRegistryPatch, formatMetadata } from '../lib/models';
import { EditFormEnd, LabelsField, MetadataField } from './EditFields';

/**
 * A version's name, comment, labels, notes and metadata; saves only the fields that changed.
 * The master takes these edits on archived models too.
 */
export function ModelVersionEditForm({
  model,
  version,
  onDone,
}: {
  model: ModelData;
  version: ModelVersionData;
  onDone: () => void;
}) {
  const client = useClient();
  const refresh = useRefreshModels();
  const [name, setName] = useState(version.name);
  const [comment, setComment] = useState(version.comment);
  const [labels, setLabels] = useState(version.labels.join(', '));
  const [notes, setNotes] = useState(version.notes);
  const [metadata, setMetadata] = useState(formatMetadata(version.metadata));
  const [problem, setProblem] = useState<string | undefined>(undefined);
  const save = useMutation({
    mutationFn: async (patch: PatchModelVersionRequest) => {
      if (Object.keys(patch).length > 0) {
        await patchModelVersion(client, model.id, version.version, patch);
      }
    },
    onSuccess: async () => {
      await refresh();
      onDone();
    },
  });
  const onSubmit = (e: FormEvent) => {
    e.preventDefault();
    const result = buildRegistryPatch(version, { name, comment, labels, notes, metadata });
    setProblem(result.problem);
    if (result.patch !== undefined) {
      save.mutate(result.patch);
    }
  };
  return (
    <form className="edit-form" aria-label={`Edit version ${version.version}`} onSubmit={onSubmit}>
      <label>
        Name
        <input value={name} onChange={(e) => setName(e.target.value)} autoComplete="off" />
      </label>
      <label>
        Comment
        <input value={comment} onChange={(e) => setComment(e.target.value)} />
      </label>
      <LabelsField value={labels} onChange={setLabels} />
      <label>
        Notes
        <textarea rows={4} value={notes} onChange={(e) => setNotes(e.target.value)} />
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
