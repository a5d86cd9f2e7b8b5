import { readFile } from 'node:fs/promises';
import { createServer, connect } from 'node:net';
import type { AddressInfo, Server, Socket } from 'node:net';
import { join } from 'node:path';

import { afterEach, beforeEach, describe, expect, it } from 'vitest';

import { partialDirs, startDownloadMaster } from '../../test/download-helpers.js';
import type { DownloadMaster } from '../../test/download-helpers.js';
import { Checkpoint } from '../checkpoint.js';
import { createClient } from '../client.js';
import { IntegrityError, NetworkError } from '../errors.js';

/**
 * A TCP proxy to the master that, on its first `cuts` connections, cuts the connection (RST)
 * once it has passed `cutAfter` bytes of the response, or flips the response body's byte at
 * `flipAt`; later connections pass untouched.
 */
async function tamperingProxy(
  target: string,
  options: { cutAfter?: number; flipAt?: number; cuts: number },
): Promise<{ url: string; connections: () => number; close: () => Promise<void> }> {
  const { hostname, port } = new URL(target);
  let connections = 0;
  const sockets = new Set<Socket>();
  const server: Server = createServer((client) => {
    connections += 1;
    const cut = connections <= options.cuts;
    const upstream = connect(Number(port), hostname);
    sockets.add(client).add(upstream);
    let passed = 0;
    let bodyStart: number | undefined;
    let seen = Buffer.alloc(0);
    client.pipe(upstream);
    upstream.on('data', (chunk: Buffer) => {
      const offset = passed;
      passed += chunk.length;
      if (cut && options.cutAfter !== undefined && passed > options.cutAfter) {
        client.resetAndDestroy();
        upstream.destroy();
        return;
      }
      if (cut && options.flipAt !== undefined) {
        if (bodyStart === undefined) {
          seen = Buffer.concat([seen, chunk]);
          const end = seen.indexOf('\r\n\r\n');
          bodyStart = end < 0 ? undefined : end + 4;
        }
        const at = bodyStart === undefined ? -1 : bodyStart + options.flipAt - offset;
        if (at >= 0 && at < chunk.length) {
          chunk.writeUInt8(chunk.readUInt8(at) ^ 0xff, at);
        }
      }
      client.write(chunk);
    });
    upstream.on('end', () => client.end());
    const drop = (): void => {
      client.destroy();
      upstream.destroy();
    };
    client.on('error', drop);
    upstream.on('error', drop);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port: proxyPort } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${proxyPort}`,
    connections: () => connections,
    close: async () => {
      for (const s of sockets) {
        s.destroy();
      }
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

let m: DownloadMaster;

beforeEach(async () => {
  m = await startDownloadMaster({ loopback: true });
});

afterEach(async () => {
  await m.close();
});

const BIG = Buffer.alloc(3 * 1024 * 1024, 7);

describe('download over loopback', () => {
  it('downloads the master archive over real HTTP', async () => {
    const c = await m.seed({ 'model.bin': BIG, 'sub/x.json': '{}' });
    const dir = await c.download(join(m.workDir, 'out'), { mode: 'master' });
    expect((await readFile(join(dir, 'model.bin'))).equals(BIG)).toBe(true);
    expect(await readFile(join(dir, 'sub/x.json'), 'utf8')).toBe('{}');
  });

  it('restarts after the connection is reset mid-archive', async () => {
    const c = await m.seed({ 'model.bin': BIG });
    const proxy = await tamperingProxy(m.baseUrl, { cutAfter: 1024 * 1024, cuts: 1 });
    try {
      const client = createClient({
        baseUrl: proxy.url,
        token: m.client.token,
        retry: { baseDelayMs: 0 },
      });
      const dir = await new Checkpoint(c, client).download(join(m.workDir, 'out'), {
        mode: 'master',
      });
      expect((await readFile(join(dir, 'model.bin'))).equals(BIG)).toBe(true);
      expect(proxy.connections()).toBe(2);
    } finally {
      await proxy.close();
    }
  });

  it('fails with IntegrityError, without retrying, when a byte is flipped in transit', async () => {
    const c = await m.seed({ 'model.bin': BIG });
    const proxy = await tamperingProxy(m.baseUrl, { flipAt: 2 * 1024 * 1024, cuts: 99 });
    try {
      const client = createClient({
        baseUrl: proxy.url,
        token: m.client.token,
        retry: { baseDelayMs: 0 },
      });
      const target = join(m.workDir, 'out');
      const err = await new Checkpoint(c, client)
        .download(target, { mode: 'master' })
        .catch((e: unknown) => e);
      expect(err).toBeInstanceOf(IntegrityError);
      expect((err as Error).message).toMatch(/model\.bin: sha256/);
      expect(proxy.connections()).toBe(1);
      expect(await partialDirs(m.workDir)).toEqual([]);
    } finally {
      await proxy.close();
    }
  });

  it('fails with NetworkError when every attempt is reset, leaving nothing', async () => {
    const c = await m.seed({ 'model.bin': BIG });
    const proxy = await tamperingProxy(m.baseUrl, { cutAfter: 1024 * 1024, cuts: 99 });
    try {
      const client = createClient({
        baseUrl: proxy.url,
        token: m.client.token,
        retry: { attempts: 3, baseDelayMs: 0 },
      });
      const target = join(m.workDir, 'out');
      const err = await new Checkpoint(c, client)
        .download(target, { mode: 'master' })
        .catch((e: unknown) => e);
      expect(err).toBeInstanceOf(NetworkError);
      expect(proxy.connections()).toBe(3);
      expect(await partialDirs(m.workDir)).toEqual([]);
    } finally {
      await proxy.close();
    }
  });
});
