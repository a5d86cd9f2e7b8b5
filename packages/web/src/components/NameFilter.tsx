import { useEffect, useState } from 'react';

const DEBOUNCE_MS = 300;

/**
 * A text filter that writes to the URL once typing pauses (or on Enter), and follows the URL when
 * it changes underneath (back/forward).
 */
export function NameFilter({
  label,
  value,
  onChange,
}: {
  label: string;
  /** The value in the URL. */
  value: string;
  onChange: (value: string) => void;
}) {
  const [text, setText] = useState(value);
  const [seen, setSeen] = useState(value);
  if (seen !== value) {
    // The URL moved (back/forward, or our own commit): show what it says.
    setSeen(value);
    setText(value);
  }
  useEffect(() => {
    if (text === value) {
      return undefined;
    }
    const timer = setTimeout(() => onChange(text), DEBOUNCE_MS);
    return () => clearTimeout(timer);
  }, [text, value, onChange]);

  return (
    <label className="filter">
      {label}
      <input
        type="search"
        value={text}
        onChange={(e) => setText(e.target.value)}
        onKeyDown={(e) => {
          if (e.key === 'Enter') {
            onChange(text);
          }
        }}
      />
    </label>
  );
}
