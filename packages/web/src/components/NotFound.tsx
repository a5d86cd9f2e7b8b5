import { Link } from 'react-router';

import { experimentsPath } from '../lib/paths';

/** The page for a missing object, a malformed id or an unknown path. */
export function NotFound({ message }: { message: string }) {
  return (
    <main className="page">
      <h1>Not found</h1>
      <p>{message}</p>
      <p>
        <Link to={experimentsPath}>Back to the experiments</Link>
      </p>
    </main>
  );
}
