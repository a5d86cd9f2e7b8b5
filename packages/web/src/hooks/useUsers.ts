import { useQuery } from '@tanstack/react-query';

import { ROUTES } from '@determined-ts/api';
import type { UserDto } from '@determined-ts/api';
import { decodeUser } from '@determined-ts/sdk/client';
import type { UserData } from '@determined-ts/sdk/client';

import { useClient } from '../client-context';

/** Users change rarely; one list serves every picker for a while. */
const USERS_STALE_MS = 5 * 60 * 1000;

/**
 * Every user of the master (any signed-in user may list them), for owner pickers.
 * The SDK has no `listUsers` yet, so this decodes `GET /api/v1/users` with its `decodeUser`.
 */
export function useUsers() {
  const client = useClient();
  return useQuery({
    queryKey: ['users'],
    queryFn: ({ signal }) =>
      client.request<UserData[]>('GET', ROUTES.users, {
        signal,
        decode: (body) =>
          (Array.isArray(body.users) ? (body.users as UserDto[]) : []).map((u, i) =>
            decodeUser(u, `users[${i}]`),
          ),
      }),
    staleTime: USERS_STALE_MS,
  });
}
