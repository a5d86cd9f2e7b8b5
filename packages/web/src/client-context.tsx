import { createContext, useContext } from 'react';
import type { ReactNode } from 'react';

import type { Client } from '@determined-ts/sdk/client';

const ClientContext = createContext<Client | undefined>(undefined);

/** Gives the pages the SDK client: the browser's in the app, one over a fake master in tests. */
export function ClientProvider({ client, children }: { client: Client; children: ReactNode }) {
  return <ClientContext value={client}>{children}</ClientContext>;
}

export function useClient(): Client {
  const client = useContext(ClientContext);
  if (client === undefined) {
    throw new Error('useClient needs a ClientProvider above it');
  }
  return client;
}
