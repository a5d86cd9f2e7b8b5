import { QueryClient } from '@tanstack/react-query';

import { createClient } from '@determined-ts/sdk/client';
import type { Client } from '@determined-ts/sdk/client';

/**
 * The app's one SDK client: same origin, no token. The browser sends the master's httpOnly
 * `auth` cookie with every request; the UI never sees or stores the token.
 */
export function createBrowserClient(): Client {
  return createClient({ baseUrl: window.location.origin });
}

/**
 * The query cache. No retries here: the SDK already retries what is transient (502–504 and
 * dropped connections), and a 4xx will not change on a second try.
 */
export function createQueryClient(): QueryClient {
  return new QueryClient({
    defaultOptions: {
      queries: { retry: false, staleTime: 10_000, refetchOnWindowFocus: false },
      mutations: { retry: false },
    },
  });
}
