// Whether this tab had a session, so that a later 401 can say "expired" rather than just asking
// to sign in. A flag in sessionStorage, not a token: the token stays in the httpOnly cookie.
const KEY = 'determined-ts:signed-in';

export function markSignedIn(): void {
  try {
    window.sessionStorage.setItem(KEY, '1');
  } catch {
    // Storage can be disabled; the only loss is the "expired" wording.
  }
}

export function clearSignedIn(): void {
  try {
    window.sessionStorage.removeItem(KEY);
  } catch {
    // As above.
  }
}

export function wasSignedIn(): boolean {
  try {
    return window.sessionStorage.getItem(KEY) === '1';
  } catch {
    return false;
  }
}
