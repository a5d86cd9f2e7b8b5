import { createContext, useContext } from 'react';

import type { UserData } from '@determined-ts/sdk/client';

export const UserContext = createContext<UserData | undefined>(undefined);

/** The signed-in user; only pages under `RequireSession` have one. */
export function useCurrentUser(): UserData {
  const user = useContext(UserContext);
  if (user === undefined) {
    throw new Error('useCurrentUser needs RequireSession above it');
  }
  return user;
}

/** The query key of the signed-in user (`GET /api/v1/me`). */
export const CURRENT_USER_KEY = ['current-user'] as const;
