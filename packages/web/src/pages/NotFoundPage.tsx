import { useLocation } from 'react-router';

import { NotFound } from '../components/NotFound';

/** Any path the app does not know. */
export function NotFoundPage() {
  const location = useLocation();
  return <NotFound message={`There is no page at ${location.pathname}.`} />;
}
