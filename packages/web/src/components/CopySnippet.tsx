import { CopyButton } from './CopyButton';

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
  return (
    <figure className="snippet">
      <figcaption>
        <span>{title}</span>
        <CopyButton text={text} />
      </figcaption>
      <pre data-testid={testId}>
        <code>{text}</code>
      </pre>
    </figure>
  );
}
