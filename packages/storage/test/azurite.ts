// azurite 3.35 (Azure Blob's emulator) in a child process, for tests against a real protocol
// peer: SharedKey and SAS signatures, If-Match, x-ms-range, List Blobs paging, Put Block List.
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { connect, createServer } from 'node:net';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';

import { BlobServiceClient } from '@azure/storage-blob';
import type { ContainerClient } from '@azure/storage-blob';

/** The emulator's one account and its well-known key (Microsoft's documented development key). */
export const AZURITE_ACCOUNT_NAME = 'devstoreaccount1';
export const AZURITE_ACCOUNT_KEY =
  'Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==';

const START_TIMEOUT_MS = 20_000;
const POLL_MS = 25;

export interface AzuriteHandle {
  /** An account-key connection string for the emulator. */
  connectionString: string;
  /** `http://127.0.0.1:<port>/devstoreaccount1`: what `account_url` is set to. */
  accountUrl: string;
  accountName: string;
  accountKey: string;
  /** `http://127.0.0.1:<port>`: the host the account URL's path is under. */
  blobEndpoint: string;
  /** A client of the account with its key. */
  service: BlobServiceClient;
  /** The emulator's process id (and process group id). */
  pid: number;
  /** Kills the emulator (its whole process group) and waits for it to exit. */
  close(): Promise<void>;
}

/** azurite-blob's entry point, from the azurite package this repository installed. */
function azuriteBlobMain(): string {
  const require = createRequire(import.meta.url);
  const manifest = require.resolve('azurite/package.json');
  const { bin } = JSON.parse(readFileSync(manifest, 'utf8')) as { bin: Record<string, string> };
  const main = bin['azurite-blob'];
  if (main === undefined) {
    throw new Error(`${manifest} has no azurite-blob bin`);
  }
  return join(dirname(manifest), main);
}

/** A port that was free a moment ago (azurite binds it itself: a race is retried). */
async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

function canConnect(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

/** Resolves once `port` accepts connections; rejects if the child exits or time runs out. */
async function untilListening(child: ChildProcess, port: number, output: () => string) {
  const deadline = Date.now() + START_TIMEOUT_MS;
  while (!(await canConnect(port))) {
    if (child.exitCode !== null || child.signalCode !== null) {
      throw new Error(`azurite-blob exited (${child.exitCode ?? child.signalCode}): ${output()}`);
    }
    if (Date.now() > deadline) {
      throw new Error(`azurite-blob did not listen on ${port} within ${START_TIMEOUT_MS} ms`);
    }
    await new Promise((resolve) => setTimeout(resolve, POLL_MS));
  }
}

function killGroup(child: ChildProcess, signal: NodeJS.Signals): void {
  if (child.pid !== undefined && child.exitCode === null && child.signalCode === null) {
    try {
      process.kill(-child.pid, signal); // the group: azurite and anything it started
    } catch {
      // Already gone between the check and the kill.
    }
  }
}

async function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) {
    return;
  }
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  killGroup(child, 'SIGTERM');
  const timer = setTimeout(() => killGroup(child, 'SIGKILL'), 5000);
  await exited;
  clearTimeout(timer);
}

async function launch(location: string): Promise<{ child: ChildProcess; port: number }> {
  const port = await freePort();
  // prettier-ignore
  const args = [
    azuriteBlobMain(),
    '--blobHost', '127.0.0.1',
    '--blobPort', String(port),
    '--inMemoryPersistence',
    '--loose',
    // @azure/storage-blob 12.32 speaks 2026-04-06, newer than azurite 3.35 knows.
    '--skipApiVersionCheck',
    '--disableTelemetry',
    '--silent',
  ];
  const child = spawn(process.execPath, args, {
    cwd: location, // azurite's workspace; in memory, nothing is written there
    detached: true, // its own process group, killed whole by close()
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  const keep = (chunk: Buffer): void => {
    output = (output + chunk.toString()).slice(-4000);
  };
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  child.on('error', (err) => keep(Buffer.from(String(err))));
  try {
    await untilListening(child, port, () => output);
  } catch (err: unknown) {
    await stop(child);
    throw err;
  }
  return { child, port };
}

/**
 * Starts azurite-blob on a free port of 127.0.0.1, in memory, and waits until it accepts
 * connections. Each call gets its own emulator, so test files running in parallel share nothing.
 */
export async function startAzurite(): Promise<AzuriteHandle> {
  const location = await mkdtemp(join(tmpdir(), 'det-azurite-'));
  let started: { child: ChildProcess; port: number } | undefined;
  for (let attempt = 1; started === undefined; attempt += 1) {
    try {
      started = await launch(location);
    } catch (err: unknown) {
      // Another process may have taken the port between freePort() and azurite's bind.
      const isPortTaken = err instanceof Error && err.message.includes('EADDRINUSE');
      if (!isPortTaken || attempt >= 3) {
        await rm(location, { recursive: true, force: true });
        throw err;
      }
    }
  }
  const { child, port } = started;
  if (child.pid === undefined) {
    throw new Error('azurite-blob started without a pid');
  }
  const onExit = (): void => killGroup(child, 'SIGKILL');
  process.once('exit', onExit);
  const blobEndpoint = `http://127.0.0.1:${port}`;
  const accountUrl = `${blobEndpoint}/${AZURITE_ACCOUNT_NAME}`;
  const connectionString =
    `DefaultEndpointsProtocol=http;AccountName=${AZURITE_ACCOUNT_NAME};` +
    `AccountKey=${AZURITE_ACCOUNT_KEY};BlobEndpoint=${accountUrl};`;
  return {
    connectionString,
    accountUrl,
    accountName: AZURITE_ACCOUNT_NAME,
    accountKey: AZURITE_ACCOUNT_KEY,
    blobEndpoint,
    service: BlobServiceClient.fromConnectionString(connectionString),
    pid: child.pid,
    close: async () => {
      process.off('exit', onExit);
      await stop(child);
      await rm(location, { recursive: true, force: true });
    },
  };
}

/** Creates a container with a fresh name (or `name`) in the emulator. */
export async function createContainer(
  azurite: AzuriteHandle,
  {
    name = `det-${randomUUID().slice(0, 13)}`,
    isPublic = false,
  }: { name?: string; isPublic?: boolean } = {},
): Promise<ContainerClient> {
  const container = azurite.service.getContainerClient(name);
  await container.create(isPublic ? { access: 'container' } : {});
  return container;
}
