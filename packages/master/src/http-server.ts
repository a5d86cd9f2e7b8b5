import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import type { Duplex } from 'node:stream';

import { createAdaptorServer } from '@hono/node-server';

import { answerClientError, endWithError } from './client-error.js';

/** How the master's HTTP server bounds its connections (see `MasterConfig`). */
export interface ConnectionLimits {
  headersTimeoutMs: number;
  requestTimeoutMs: number;
  keepAliveTimeoutMs: number;
  idleTimeoutMs: number;
  maxConnectionsPerAddress: number;
}

/** What a drain did: requests in flight when it began, and those cut at its bound. */
export interface DrainResult {
  inFlight: number;
  cut: number;
}

/** The master's HTTP server, with its limits in force. */
export interface MasterServer {
  server: Server;
  listen(host: string, port: number): Promise<AddressInfo>;
  /**
   * Stops accepting connections and closes idle ones at once; in-flight requests get up to
   * `timeoutMs` to finish (their responses close their connections), then the rest are cut.
   * Resolves once every connection is closed.
   */
  drain(timeoutMs: number): Promise<DrainResult>;
}

type FetchCallback = Parameters<typeof createAdaptorServer>[0]['fetch'];

/**
 * How long a refused or answered-and-ended socket may stay half-open, reading what the client
 * still sends (closing with unread data would reset the connection and could lose the answer).
 */
const LINGER_MS = 1000;

/**
 * Creates (without listening) the HTTP server for `fetch`: Node's header, request and
 * keep-alive timeouts, an idle-socket timeout, and a cap on open connections per remote address.
 * A connection over the cap is answered `503 unavailable` at once and closed, before Node's HTTP
 * parser sees it, so none of its requests run.
 */
export function createMasterServer(fetch: FetchCallback, limits: ConnectionLimits): MasterServer {
  const server = createAdaptorServer({
    fetch,
    serverOptions: {
      headersTimeout: limits.headersTimeoutMs,
      requestTimeout: limits.requestTimeoutMs,
      keepAliveTimeout: limits.keepAliveTimeoutMs,
      // Node checks the header and request bounds on this interval (30 s by default), so a
      // bound is enforced within a quarter of itself, and at least every second.
      connectionsCheckingInterval: checkingIntervalMs(limits),
    },
  }) as Server;
  // Sockets with no I/O either way for this long are destroyed (Node's `server.timeout`).
  server.timeout = limits.idleTimeoutMs;
  server.on('clientError', (err: Error & { code?: string }, socket: Duplex) => {
    answerClientError(err, socket);
    lingerThenDestroy(socket);
  });

  const perAddress = new Map<string, number>();
  const refused = new Set<Socket>();
  // Node's HTTP server takes connections through its own 'connection' listener; ours runs
  // instead and hands it only the connections under the cap.
  const httpListeners = server.listeners('connection') as ((socket: Socket) => void)[];
  server.removeAllListeners('connection');
  server.on('connection', (socket: Socket) => {
    const address = socket.remoteAddress ?? '';
    const open = perAddress.get(address) ?? 0;
    if (limits.maxConnectionsPerAddress > 0 && open >= limits.maxConnectionsPerAddress) {
      refused.add(socket);
      socket.once('close', () => refused.delete(socket));
      refuse(
        socket,
        `too many open connections from ${address} (at most ${limits.maxConnectionsPerAddress})`,
      );
      return;
    }
    perAddress.set(address, open + 1);
    socket.once('close', () => {
      const left = (perAddress.get(address) ?? 1) - 1;
      if (left > 0) {
        perAddress.set(address, left);
      } else {
        perAddress.delete(address);
      }
    });
    for (const listener of httpListeners) {
      listener.call(server, socket);
    }
  });

  const active = new Set<ServerResponse>();
  let draining = false;
  // Prepended, so it runs before the app's listener can write the response's head.
  server.prependListener('request', (_req: IncomingMessage, res: ServerResponse) => {
    active.add(res);
    if (draining) {
      res.setHeader('connection', 'close');
    }
    res.once('close', () => {
      active.delete(res);
      if (draining) {
        // Its connection is idle once the response has detached from it.
        setImmediate(() => server.closeIdleConnections());
      }
    });
  });

  return {
    server,
    listen: (host, port) =>
      new Promise((resolve, reject) => {
        server.once('error', reject);
        server.listen(port, host, () => {
          server.off('error', reject);
          resolve(server.address() as AddressInfo);
        });
      }),
    drain: async (timeoutMs) => {
      draining = true;
      const inFlight = active.size;
      for (const res of active) {
        if (!res.headersSent) {
          res.setHeader('connection', 'close');
        }
      }
      // Stops listening and closes idle connections; resolves when the last connection closed.
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      for (const socket of refused) {
        socket.destroy();
      }
      let timer: NodeJS.Timeout | undefined;
      const outcome = await Promise.race([
        closed.then(() => 'drained' as const),
        new Promise<'bound'>((resolve) => (timer = setTimeout(() => resolve('bound'), timeoutMs))),
      ]);
      clearTimeout(timer);
      if (outcome === 'drained') {
        return { inFlight, cut: 0 };
      }
      const cut = active.size;
      server.closeAllConnections();
      await closed;
      return { inFlight, cut };
    },
  };
}

function checkingIntervalMs(limits: ConnectionLimits): number {
  const bounds = [limits.headersTimeoutMs, limits.requestTimeoutMs].filter((ms) => ms > 0);
  return Math.max(10, Math.min(1000, Math.floor(Math.min(...bounds) / 4)));
}

/** Answers `503 unavailable` on a socket no HTTP parser reads, and closes it. */
function refuse(socket: Socket, message: string): void {
  socket.on('error', () => socket.destroy()); // a reset by the client: nothing left to tell it
  socket.on('end', () => socket.destroy());
  socket.resume(); // drops whatever the client sends meanwhile
  endWithError(socket, 'unavailable', message);
  lingerThenDestroy(socket);
}

function lingerThenDestroy(socket: Duplex): void {
  if (socket.destroyed) {
    return;
  }
  const timer = setTimeout(() => socket.destroy(), LINGER_MS);
  socket.once('close', () => clearTimeout(timer));
}
