import { createClient, openSession, resolveMasterUrl } from '@determined-ts/sdk';
import type { Client } from '@determined-ts/sdk';

import type { CliIo } from './io.js';

/** The options every `det` command accepts before its name (`det -m URL -u USER …`). */
export interface GlobalOptions {
  master?: string;
  user?: string;
  debug?: boolean;
}

/** What a command's action needs: the injected world and the global options. */
export interface CommandContext {
  io: CliIo;
  globals(): GlobalOptions;
}

/** The canonical master URL: `-m`, then `DET_MASTER`, `DET_MASTER_ADDR`, then localhost:8080. */
export function masterUrl(ctx: CommandContext): string {
  return resolveMasterUrl(ctx.globals().master, ctx.io.env);
}

/** A signed-in client, through Determined's token cache (as `det` does for every command). */
export function connect(ctx: CommandContext): Promise<Client> {
  const { master, user } = ctx.globals();
  return openSession({
    master: master ?? masterUrl(ctx),
    user,
    env: ctx.io.env,
    fetch: ctx.io.fetch,
    signal: ctx.io.signal,
  });
}

/** A client with no session, for the routes that need none (`/api/v1/master`, login). */
export function connectAnonymous(ctx: CommandContext): Client {
  return createClient({ baseUrl: masterUrl(ctx), fetch: ctx.io.fetch });
}
