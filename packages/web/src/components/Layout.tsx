import { useMutation } from '@tanstack/react-query';
import { Link, NavLink, Outlet, useLocation, useNavigate } from 'react-router';

import { logout } from '@determined-ts/sdk/client';

import { useClient } from '../client-context';
import { experimentsPath, modelsPath } from '../lib/paths';
import { useCurrentUser } from '../session/user-context';
import { ErrorBoundary } from './ErrorBoundary';

/** The frame of every signed-in page: the header, then the page. */
export function Layout() {
  const location = useLocation();
  return (
    <>
      <Header />
      {/* Keyed by path: an error on one page does not stick to the next. */}
      <ErrorBoundary key={location.pathname}>
        <Outlet />
      </ErrorBoundary>
    </>
  );
}

function Header() {
  const client = useClient();
  const user = useCurrentUser();
  const navigate = useNavigate();
  const signOut = useMutation({
    mutationFn: () => logout(client),
    // Signed out or not on the master's side, this tab is done with the session.
    onSettled: () => void navigate('/login', { replace: true }),
  });
  return (
    <header className="top">
      <Link to={experimentsPath} className="brand">
        Determined-TS
      </Link>
      <nav aria-label="Main">
        <NavLink to={experimentsPath}>Experiments</NavLink>
        <NavLink to={modelsPath}>Models</NavLink>
      </nav>
      <span className="spacer" />
      <span className="user" title={user.displayName === '' ? undefined : user.displayName}>
        <span data-testid="current-user">{user.username}</span>
      </span>
      <button type="button" onClick={() => signOut.mutate()} disabled={signOut.isPending}>
        Sign out
      </button>
    </header>
  );
}
