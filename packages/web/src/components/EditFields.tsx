import { useId } from 'react';

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
export function FormProblem({ problem }: { problem: string | undefined }) {
  return problem === undefined ? null : (
    <p role="alert" className="error">
      {problem}
    </p>
  );
}
