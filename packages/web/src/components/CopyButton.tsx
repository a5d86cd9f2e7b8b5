import { useEffect, useState } from 'react';

const COPIED_MS = 2000;

/**
 * A Copy button that says "Copied" once the clipboard has `text`, or that copying failed.
 * `what` names the text for assistive technology ("Copy location") where several buttons sit on
 * one page; without it the button's name is its visible text.
 */
export function CopyButton({ text, what }: { text: string; what?: string }) {
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

  const label = status === 'copied' ? 'Copied' : 'Copy';
  return (
    <>
      <button
        type="button"
        aria-label={what === undefined ? undefined : `${label} ${what}`}
        onClick={() => void copy()}
      >
        {label}
      </button>
      {status === 'failed' ? (
        <span role="status" className="muted">
          Copying failed; select the text instead.
        </span>
      ) : null}
    </>
  );
}
