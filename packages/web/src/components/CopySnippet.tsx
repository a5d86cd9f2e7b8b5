import { useEffect, useState } from 'react';

const COPIED_MS = 2000;

/** A code snippet with a Copy button that says "Copied" once the clipboard has it. */
export function CopySnippet({
  title,
  text,
  testId,
}: {
  title: string;
  text: string;
  testId: string;
}) {
  const [status, setStatus] = useState<'idle' | 'copied' | 'failed'>('idle');
  useEffect(() => {
    if (status === 'idle') {
      return undefined;
    }
    const timer = setTimeout(() => setStatus('idle'), COPIED_MS);
    return () => clearTimeout(timer);
  }, [status]);

  const copy = async (): Promise<void> => {
    try {
      // Absent outside secure contexts; then the text is there to select by hand.
      if (navigator.clipboard === undefined) {
        throw new Error('no clipboard');
      }
      await navigator.clipboard.writeText(text);
      setStatus('copied');
    } catch {
      setStatus('failed');
    }
  };

  return (
    <figure className="snippet">
      <figcaption>
        <span>{title}</span>
        <button type="button" onClick={() => void copy()}>
          {status === 'copied' ? 'Copied' : 'Copy'}
        </button>
        {status === 'failed' ? (
          <span role="status" className="muted">
            Copying failed; select the text instead.
          </span>
        ) : null}
      </figcaption>
      <pre data-testid={testId}>
        <code>{text}</code>
      </pre>
    </figure>
  );
}
