// The master over a loopback port, as `startMaster` serves it: archives then go straight to the
// Node response, and a failed stream shows as a response cut short.
import { request } from 'node:http';
import type { ClientRequest, IncomingHttpHeaders, Server } from 'node:http';
import type { AddressInfo } from 'node:net';

import { serve } from '@hono/node-server';

import { createApp } from '../src/app.js';
import type { AppDeps } from '../src/context.js';
import type { Logger } from '../src/logger.js';

export interface Got {
  status: number;
  headers: IncomingHttpHeaders;
  body: Buffer;
  /** False when the connection ended before the whole response. */
  complete: boolean;
}

/** One request over its own connection; `onData` sees the bytes so far (and may hang up). */
export function fetchOver(
  url: string,
  headers: Record<string, string>,
  {
    method = 'GET',
    onData,
  }: { method?: string; onData?: (n: number, req: ClientRequest) => void } = {},
): Promise<Got> {
  return new Promise((resolve, reject) => {
    const req = request(url, { method, headers, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      let n = 0;
      res.on('data', (chunk: Buffer) => {
        chunks.push(chunk);
        n += chunk.length;
        onData?.(n, req);
      });
      res.on('error', () => {}); // a cut-off response: `complete` says so
      res.on('close', () =>
        resolve({
          status: res.statusCode ?? 0,
          headers: res.headers,
          body: Buffer.concat(chunks),
          complete: res.complete,
        }),
      );
    });
    req.on('error', (err) => (onData ? undefined : reject(err)));
    req.end();
  });
}

/** Serves a master app on a loopback port; `close` also drops open connections. */
export async function listen(deps: AppDeps): Promise<{ url: string; close(): Promise<void> }> {
  const app = createApp(deps);
  const server = await new Promise<Server>((resolve) => {
    const started = serve({ fetch: app.fetch, hostname: '127.0.0.1', port: 0 }, () =>
      resolve(started as Server),
    );
  });
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: () =>
      new Promise<void>((done) => {
        server.closeAllConnections();
        server.close(() => done());
      }),
  };
}

/** A logger that keeps the error lines (message and fields as JSON). */
export function capturingLogger(): Logger & { errors: string[] } {
  const errors: string[] = [];
  return {
    errors,
    info: () => {},
    error: (msg, fields) => errors.push(`${msg} ${JSON.stringify(fields)}`),
  };
}
