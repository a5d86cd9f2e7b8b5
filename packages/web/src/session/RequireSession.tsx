import { hashKey, useQuery, useQueryClient } from '@tanstack/react-query';
import { useEffect, useRef } from 'react';
import type { ReactNode } from 'react';
import { Navigate, useLocation, useNavigate } from 'react-router';

import { getCurrentUser } from '@determined-ts/sdk/client';

import { useClient } from '../client-context';
import { QueryError } from '../components/QueryError';
import { isUnauthenticated } from '../lib/errors';
import { loginPath } from '../lib/paths';
import { markSignedIn, wasSignedIn } from './session-flag';
import { CURRENT_USER_KEY, UserContext } from './user-context';

/** What the login page reads from the navigation that sent it there. */
export interface LoginState {
  expired: boolean;
}

/**
 * Renders its children for a signed-in user; without a session it goes to the login page,
 * which returns here afterwards. Any later 401 from any query does the same.
 */
export function RequireSession({ children }: { children: ReactNode }) {
  const client = useClient();
  const location = useLocation();
  const here = location.pathname + location.search;
  const me = useQuery({
    queryKey: CURRENT_USER_KEY,
    queryFn: ({ signal }) => getCurrentUser(client, { signal }),
    staleTime: Infinity,
  });
  useRedirectOnUnauthenticated(here);
  useEffect(() => {
    if (me.data !== undefined) {
      markSignedIn();
    }
  }, [me.data]);

  if (me.isPending) {
    return <p className="loading">Loading…</p>;
  }
  if (me.isError) {
    if (isUnauthenticated(me.error)) {
      const state: LoginState = { expired: wasSignedIn() };
      return <Navigate to={loginPath(here)} replace state={state} />;
    }
    return (
      <main className="page">
        <QueryError error={me.error} />
      </main>
    );
  }
  return <UserContext value={me.data}>{children}</UserContext>;
}

/** Sends the user to the login page when any query (but the user's own) gets a 401. */
function useRedirectOnUnauthenticated(here: string): void {
  const queryClient = useQueryClient();
  const navigate = useNavigate();
  const hereRef = useRef(here);
  useEffect(() => {
    hereRef.current = here;
  }, [here]);
  useEffect(() => {
    let isRedirecting = false;
    return queryClient.getQueryCache().subscribe((event) => {
      if (
        isRedirecting ||
        event.type !== 'updated' ||
        event.action.type !== 'error' ||
        event.query.queryHash === hashKey(CURRENT_USER_KEY) ||
        !isUnauthenticated(event.action.error)
      ) {
        return;
      }
      isRedirecting = true;
      const state: LoginState = { expired: wasSignedIn() };
      void navigate(loginPath(hereRef.current), { replace: true, state });
    });
  }, [queryClient, navigate]);
}
