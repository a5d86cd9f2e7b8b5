import { useMutation, useQueryClient } from '@tanstack/react-query';
import { useEffect, useState } from 'react';
import type { FormEvent } from 'react';
import { useLocation, useNavigate, useSearchParams } from 'react-router';

import { login } from '@determined-ts/sdk/client';

import { useClient } from '../client-context';
import { isUnauthenticated, toUserMessage } from '../lib/errors';
import { safeNext } from '../lib/paths';
import { clearSignedIn } from '../session/session-flag';
import { CURRENT_USER_KEY } from '../session/user-context';

function isExpired(state: unknown): boolean {
  return (
    typeof state === 'object' && state !== null && 'expired' in state && state.expired === true
  );
}

/** Sign in with a username and password; the master sets its session cookie. */
export function LoginPage() {
  const client = useClient();
  const queryClient = useQueryClient();
  const navigate = useNavigate();
  const location = useLocation();
  const [params] = useSearchParams();
  const [username, setUsername] = useState('');
  const [password, setPassword] = useState('');

  // Whatever this tab knew under the previous session is stale now.
  useEffect(() => {
    clearSignedIn();
    queryClient.removeQueries();
  }, [queryClient]);

  const signIn = useMutation({
    mutationFn: () => login(client, username.trim(), password),
    onSuccess: ({ user }) => {
      queryClient.setQueryData(CURRENT_USER_KEY, user);
      void navigate(safeNext(params.get('next')), { replace: true });
    },
  });

  const onSubmit = (event: FormEvent<HTMLFormElement>): void => {
    event.preventDefault();
    signIn.mutate();
  };

  return (
    <main className="page login">
      <h1>Sign in to Determined-TS</h1>
      {isExpired(location.state) && signIn.isIdle ? (
        <p role="status" className="notice">
          Your session has expired. Sign in again.
        </p>
      ) : null}
      <form onSubmit={onSubmit} className="login-form">
        <label>
          Username
          <input
            name="username"
            autoComplete="username"
            value={username}
            onChange={(e) => setUsername(e.target.value)}
            required
            autoFocus
          />
        </label>
        <label>
          Password
          <input
            name="password"
            type="password"
            autoComplete="current-password"
            value={password}
            onChange={(e) => setPassword(e.target.value)}
          />
        </label>
        <button type="submit" disabled={signIn.isPending}>
          Sign in
        </button>
        {signIn.isError ? (
          <p role="alert" className="error">
            {isUnauthenticated(signIn.error)
              ? 'Invalid username or password.'
              : toUserMessage(signIn.error)}
          </p>
        ) : null}
      </form>
    </main>
  );
}
