import { useId } from 'react';

import { CopyButton } from './CopyButton';

/**
 * A one-line value worth pasting elsewhere (a path, a URL): a read-only text field named by its
 * label, which selects all of it on focus, and a Copy button. A field, rather than text in a
 * `<dd>`, because only a widget can carry the label as its accessible name (ARIA 1.3 prohibits
 * naming `definition` and generic elements).
 */
export function CopyValue({
  label,
  value,
  testId,
}: {
  label: string;
  value: string;
  testId: string;
}) {
  const id = useId();
  return (
    <div className="copy-value">
      <label htmlFor={id}>{label}</label>
      <input
        id={id}
        className="path"
        type="text"
        readOnly
        value={value}
        title={value}
        spellCheck={false}
        data-testid={testId}
        onFocus={(event) => event.currentTarget.select()}
      />
      <CopyButton text={value} what={label.toLowerCase()} />
    </div>
  );
}
