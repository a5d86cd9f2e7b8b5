import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { useState } from 'react';
import type { FormEvent } from 'react';

import { listCheckpoints, previewGc, setGcPolicy } from '@determined-ts/sdk/client';
import type {
  CheckpointData,
  ExperimentData,
  GcPolicy,
  GcPreview,
} from '@determined-ts/sdk/client';

import { useClient } from '../client-context';
import { formatBytes, formatCount, NO_VALUE } from '../lib/format';
import {
  formatPolicy,
  parsePolicy,
  POLICY_FIELDS,
  policyInput,
  policyOfConfig,
  storageUsed,
} from '../lib/gc';
import type { PolicyInput } from '../lib/gc';
import { CheckpointCells, CheckpointHeadCells } from './CheckpointCells';
import { QueryError } from './QueryError';

function plural(n: number, one: string, many: string): string {
  return `${formatCount(n)} ${n === 1 ? one : many}`;
}

/**
 * How much checkpoint storage the experiment uses, what its retention policy keeps, and a form to
 * preview and apply another policy (which deletes, for good, the checkpoints it does not keep).
 */
export function CheckpointStorage({ experiment }: { experiment: ExperimentData }) {
  const client = useClient();
  const queryClient = useQueryClient();
  const id = experiment.id;
  const current = policyOfConfig(experiment.config);
  const [input, setInput] = useState<PolicyInput>(() => policyInput(current));
  const [errors, setErrors] = useState<Partial<PolicyInput>>({});
  const [tried, setTried] = useState<GcPolicy | undefined>(undefined);
  const [confirming, setConfirming] = useState(false);

  const live = useQuery({
    queryKey: ['checkpoint-storage', id],
    queryFn: async ({ signal }) => {
      const all: CheckpointData[] = [];
      for await (const c of listCheckpoints(
        client,
        { experimentId: id },
        { states: ['COMPLETED', 'PARTIALLY_DELETED'], signal },
      )) {
        all.push(c);
      }
      return storageUsed(all);
    },
  });
  const currentPreview = useQuery({
    queryKey: ['gc-preview', id, current],
    queryFn: ({ signal }) => previewGc(client, id, current, { signal }),
  });
  const triedPreview = useQuery({
    queryKey: ['gc-preview', id, tried],
    queryFn: ({ signal }) => previewGc(client, id, tried as GcPolicy, { signal }),
    enabled: tried !== undefined,
  });
  const apply = useMutation({
    mutationFn: (policy: GcPolicy) => setGcPolicy(client, id, policy),
    onSettled: async () => {
      setConfirming(false);
      // The experiment, its checkpoints and every preview changed.
      await queryClient.invalidateQueries();
    },
  });

  const onPreview = (e: FormEvent) => {
    e.preventDefault();
    const parsed = parsePolicy(input);
    setConfirming(false);
    if (parsed.errors !== undefined) {
      setErrors(parsed.errors);
      setTried(undefined);
      return;
    }
    setErrors({});
    setTried(parsed.policy);
    apply.reset();
  };

  const preview = tried === undefined ? undefined : triedPreview.data;
  return (
    <section aria-labelledby="checkpoint-storage">
      <h2 id="checkpoint-storage">Checkpoint storage</h2>
      <dl className="facts">
        <dt>Used now</dt>
        <dd data-testid="storage-used">
          {live.isSuccess
            ? `${formatBytes(live.data.bytes)} in ${plural(live.data.count, 'checkpoint', 'checkpoints')}`
            : live.isError
              ? NO_VALUE
              : 'Loading…'}
        </dd>
        <dt>Policy</dt>
        <dd data-testid="current-policy">{formatPolicy(current)}</dd>
        <dt>It keeps</dt>
        <dd data-testid="current-keep">
          {currentPreview.isSuccess ? <Keeps preview={currentPreview.data} /> : NO_VALUE}
        </dd>
      </dl>
      {live.isError ? <QueryError error={live.error} what="the checkpoints" /> : null}
      {currentPreview.isError ? (
        <QueryError error={currentPreview.error} what="what the policy keeps" />
      ) : null}

      <form className="inline-form" aria-label="Retention policy" onSubmit={onPreview}>
        {POLICY_FIELDS.map((f) => (
          <label key={f.key} className="filter">
            {f.label}
            <input
              name={f.key}
              inputMode="numeric"
              size={4}
              value={input[f.key]}
              aria-invalid={errors[f.key] === undefined ? undefined : true}
              onChange={(e) => {
                setInput({ ...input, [f.key]: e.target.value });
                setTried(undefined);
                setConfirming(false);
              }}
            />
          </label>
        ))}
        <button type="submit">Preview</button>
      </form>
      {Object.values(errors).map((message) => (
        <p key={message} role="alert" className="error">
          {message}
        </p>
      ))}
      {tried !== undefined && triedPreview.isPending ? <p className="loading">Loading…</p> : null}
      {tried !== undefined && triedPreview.isError ? (
        <QueryError error={triedPreview.error} what="the preview" />
      ) : null}
      {tried !== undefined && preview !== undefined ? (
        <div data-testid="gc-preview">
          <p data-testid="gc-preview-summary">
            {formatPolicy(tried)}: would delete{' '}
            {plural(preview.summary.deleteCount, 'checkpoint', 'checkpoints')}, freeing{' '}
            {formatBytes(preview.summary.deleteBytes)}; <Keeps preview={preview} />
          </p>
          {preview.checkpoints.length === 0 ? null : <DeleteList preview={preview} />}
          {confirming ? (
            <div role="alertdialog" aria-label="Confirm" className="confirm">
              <p>
                Save this policy and delete{' '}
                {plural(preview.summary.deleteCount, 'checkpoint', 'checkpoints')} (
                {formatBytes(preview.summary.deleteBytes)}) for good?
              </p>
              <button type="button" disabled={apply.isPending} onClick={() => apply.mutate(tried)}>
                Delete and save
              </button>{' '}
              <button type="button" onClick={() => setConfirming(false)}>
                Cancel
              </button>
            </div>
          ) : (
            <button type="button" onClick={() => setConfirming(true)} disabled={apply.isPending}>
              Apply
            </button>
          )}
        </div>
      ) : null}
      {apply.isPending ? <p className="loading">Deleting…</p> : null}
      {apply.isError ? <QueryError error={apply.error} what="the policy" /> : null}
      {apply.isSuccess ? (
        <div data-testid="gc-result" role="status">
          {apply.data === undefined ? (
            <p>Policy saved; the master deletes the checkpoints in the background.</p>
          ) : (
            <>
              <p>
                Policy saved: deleted{' '}
                {plural(apply.data.deleted.length, 'checkpoint', 'checkpoints')}, freed{' '}
                {formatBytes(apply.data.freedBytes)}
                {apply.data.failed.length === 0
                  ? '.'
                  : `; ${plural(apply.data.failed.length, 'checkpoint', 'checkpoints')} could not be deleted:`}
              </p>
              {apply.data.failed.length === 0 ? null : (
                <ul className="error" data-testid="gc-failures">
                  {apply.data.failed.map((f) => (
                    <li key={f.uuid}>
                      <span className="uuid">{f.uuid}</span>: {f.error}
                    </li>
                  ))}
                </ul>
              )}
            </>
          )}
        </div>
      ) : null}
    </section>
  );
}

function Keeps({ preview }: { preview: GcPreview }) {
  const { keepCount, keepBytes, deleteCount, deleteBytes } = preview.summary;
  const kept =
    keepCount === undefined || keepBytes === undefined
      ? 'keeps the rest'
      : `keeps ${plural(keepCount, 'checkpoint', 'checkpoints')} (${formatBytes(keepBytes)})`;
  return (
    <>
      {kept}
      {deleteCount === 0
        ? ''
        : `; applying it now would free ${formatBytes(deleteBytes)} in ${plural(deleteCount, 'checkpoint', 'checkpoints')}`}
    </>
  );
}

function DeleteList({ preview }: { preview: GcPreview }) {
  return (
    <table data-testid="gc-delete-table">
      <caption>Would be deleted</caption>
      <thead>
        <tr>
          <CheckpointHeadCells
            metric={preview.metricName === '' ? 'Searcher metric' : preview.metricName}
          />
        </tr>
      </thead>
      <tbody>
        {preview.checkpoints.map((c) => (
          <tr key={c.uuid} data-uuid={c.uuid}>
            <CheckpointCells
              uuid={c.uuid}
              trialId={c.trialId}
              steps={c.stepsCompleted}
              metric={c.searcherMetric}
              bytes={c.sizeBytes}
            />
          </tr>
        ))}
      </tbody>
    </table>
  );
}
