import { Link } from 'react-router';

import { experimentsPath } from '../lib/paths';

/** The page for a missing object, a malformed id or an unknown path. */
export function NotFound({
  message,
  back = { to: experimentsPath, label: 'Back to the experiments' },
}: {
  message: string;
  /** Where the page sends the user. @default the experiments */
  back?: { to: string; label: string };
}) {
  return (
    <main className="page">
      <h1>Not found</h1>
      <p>{message}</p>
      <p>
        <Link to={back.to}>{back.label}</Link>
      </p>
    </main>
  );
}
