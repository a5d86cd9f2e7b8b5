import { useId } from 'react';

import { QueryError } from './QueryError';

/** A labels input for the registry editors: comma-separated, as `parseLabels` reads them. */
export function LabelsField({
  value,
  onChange,
}: {
  value: string;
  onChange: (value: string) => void;
}) {
  const hintId = useId();
  return (
    <label>
      Labels
      <input
        value={value}
        onChange={(e) => onChange(e.target.value)}
        aria-describedby={hintId}
        autoComplete="off"
      />
      <span id={hintId} className="muted">
        Separated by commas.
      </span>
    </label>
  );
}

/** A metadata box for the registry editors: a JSON object, which replaces the stored one. */
export function MetadataField({
  value,
  onChange,
}: {
  value: string;
  onChange: (value: string) => void;
}) {
  const hintId = useId();
  return (
    <label>
      Metadata
      <textarea
        className="json-input"
        rows={6}
        value={value}
        onChange={(e) => onChange(e.target.value)}
        aria-describedby={hintId}
        spellCheck={false}
      />
      <span id={hintId} className="muted">
        A JSON object; it replaces the stored metadata.
      </span>
    </label>
  );
}

/** A problem found in the form before anything was sent. */
function FormProblem({ problem }: { problem: string | undefined }) {
  return problem === undefined ? null : (
    <p role="alert" className="error">
      {problem}
    </p>
  );
}

/**
 * The end of a registry editor: Save and Cancel (both off while saving), then the problem found
 * before sending, or the master's refusal.
 */
export function EditFormEnd({
  pending,
  onCancel,
  problem,
  error,
}: {
  pending: boolean;
  onCancel: () => void;
  problem: string | undefined;
  /** What the master answered, when the save failed. */
  error: unknown;
}) {
  return (
    <>
      <p className="actions">
        <button type="submit" disabled={pending}>
          Save
        </button>
        <button type="button" onClick={onCancel} disabled={pending}>
          Cancel
        </button>
      </p>
      <FormProblem problem={problem} />
      {error === undefined ? null : <QueryError error={error} />}
    </>
  );
}
