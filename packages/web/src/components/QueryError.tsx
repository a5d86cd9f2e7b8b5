import { toUserMessage } from '../lib/errors';

/** An inline error for a failed load; the rest of the page stays usable. */
export function QueryError({ error, what }: { error: unknown; what?: string }) {
  return (
    <p role="alert" className="error">
      {what === undefined ? '' : `Could not load ${what}: `}
      {toUserMessage(error)}
    </p>
  );
}
