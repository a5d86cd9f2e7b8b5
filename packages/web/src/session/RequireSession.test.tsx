import { fireEvent, screen, waitFor } from '@testing-library/react';
import { describe, expect, it } from 'vitest';

import {
  apiError,
  currentParams,
  currentPath,
  experimentDto,
  fakeMaster,
  pagination,
  renderApp,
  userDto,
} from '../../test/helpers';

const EXPIRED = 'Your session has expired. Sign in again.';

/** A master with one session cookie's worth of state: signed in or not. */
function sessionMaster(initiallySignedIn: boolean) {
  const state = { signedIn: initiallySignedIn };
  const guard = <T,>(answer: () => T) =>
    state.signedIn ? answer() : apiError('unauthenticated', 'no session');
  const master = fakeMaster({
    'GET /api/v1/me': () => guard(() => ({ user: userDto({ username: 'admin' }) })),
    'POST /api/v1/auth/login': (_url, init) => {
      const body = JSON.parse(init?.body as string) as { username: string; password: string };
      if (body.username !== 'admin' || body.password !== '') {
        return apiError('unauthenticated', 'invalid credentials');
      }
      state.signedIn = true;
      return { token: 'not-for-the-ui', user: userDto({ username: 'admin' }) };
    },
    'POST /api/v1/auth/logout': () => {
      state.signedIn = false;
      return {};
    },
    'GET /api/v1/experiments': () =>
      guard(() => ({ experiments: [experimentDto({ id: 3 })], pagination: pagination(0, 1, 1) })),
    'GET /api/v1/experiments/3': () => guard(() => ({ experiment: experimentDto({ id: 3 }) })),
    'GET /api/v1/experiments/3/trials': () =>
      guard(() => ({ trials: [], pagination: pagination(0, 0, 0) })),
    'GET /api/v1/experiments/3/checkpoints': () =>
      guard(() => ({ checkpoints: [], pagination: pagination(0, 0, 0) })),
  });
  return { master, state };
}

async function signIn(username: string, password: string): Promise<void> {
  fireEvent.change(await screen.findByLabelText('Username'), { target: { value: username } });
  fireEvent.change(screen.getByLabelText('Password'), { target: { value: password } });
  fireEvent.click(screen.getByRole('button', { name: 'Sign in' }));
}

describe('RequireSession and the login page', () => {
  it('sends a visitor without a session to the login page, which returns afterwards', async () => {
    const { master } = sessionMaster(false);
    const result = renderApp('/experiments/3?page=2', master);
    await waitFor(() => expect(currentPath(result)).toBe('/login'));
    expect(currentParams(result).get('next')).toBe('/experiments/3?page=2');
    // Nobody was signed in here, so nothing "expired".
    expect(screen.queryByText(EXPIRED)).toBeNull();

    await signIn('admin', '');
    await waitFor(() => expect(currentPath(result)).toBe('/experiments/3'));
    expect(currentParams(result).get('page')).toBe('2');
    expect((await screen.findByTestId('current-user')).textContent).toBe('admin');
    // The password goes out salted and hashed, as Determined's clients send it.
    const login = master.requests.find((r) => r.url.pathname === '/api/v1/auth/login');
    expect(login?.body).toEqual({ username: 'admin', password: '', isHashed: true });
  });

  it('says a wrong password is wrong and stays on the login page', async () => {
    const { master } = sessionMaster(false);
    const result = renderApp('/login', master);
    await signIn('admin', 'nope');
    expect((await screen.findByRole('alert')).textContent).toContain(
      'Invalid username or password',
    );
    expect(currentPath(result)).toBe('/login');
  });

  it('goes to the experiments after signing in without a safe next page', async () => {
    const { master } = sessionMaster(false);
    const result = renderApp('/login?next=https%3A%2F%2Fevil.test%2F', master);
    await signIn('admin', '');
    await waitFor(() => expect(currentPath(result)).toBe('/experiments'));
  });

  it('returns to the login page saying the session expired when a request gets a 401', async () => {
    const { master, state } = sessionMaster(true);
    const result = renderApp('/experiments', master);
    const link = await screen.findByRole('link', { name: 'experiment-3' });
    state.signedIn = false;
    fireEvent.click(link);
    await waitFor(() => expect(currentPath(result)).toBe('/login'));
    expect(currentParams(result).get('next')).toBe('/experiments/3');
    expect((await screen.findByRole('status')).textContent).toBe(EXPIRED);

    await signIn('admin', '');
    await waitFor(() => expect(currentPath(result)).toBe('/experiments/3'));
    expect(await screen.findByRole('heading', { level: 1, name: 'experiment-3' })).toBeDefined();
  });

  it('signs out to the login page', async () => {
    const { master, state } = sessionMaster(true);
    const result = renderApp('/experiments', master);
    fireEvent.click(await screen.findByRole('button', { name: 'Sign out' }));
    await waitFor(() => expect(currentPath(result)).toBe('/login'));
    expect(state.signedIn).toBe(false);
    expect(screen.queryByText(EXPIRED)).toBeNull();
  });

  it('sends / to the experiments and an unknown path to "Not found"', async () => {
    const { master } = sessionMaster(true);
    const result = renderApp('/', master);
    await waitFor(() => expect(currentPath(result)).toBe('/experiments'));
    result.unmount();
    renderApp('/no/such/page', master);
    expect(await screen.findByRole('heading', { level: 1, name: 'Not found' })).toBeDefined();
  });
});
