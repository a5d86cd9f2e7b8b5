import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

import { loadConfig, silentLogger, startMaster } from '@determined-ts/master';
import { build } from 'vite';

const WEB_DIR = resolve(dirname(fileURLToPath(import.meta.url)), '../..');

/** Builds the UI with the web package's own Vite config into `outDir`, as `vite build` would. */
export async function buildUi(outDir: string): Promise<void> {
  // Vitest sets NODE_ENV=test, and Vite would then bundle React's development build.
  const nodeEnv = process.env.NODE_ENV;
  process.env.NODE_ENV = 'production';
  try {
    await build({
      root: WEB_DIR,
      configFile: join(WEB_DIR, 'vite.config.ts'),
      mode: 'production',
      logLevel: 'error',
      build: { outDir, emptyOutDir: true },
    });
  } finally {
    process.env.NODE_ENV = nodeEnv;
  }
}

/** The real master on 127.0.0.1 serving the built UI, with SQLite and checkpoints in a temp dir. */
export interface UiMaster {
  url: string;
  /** Directory checkpoint storage for the seeded experiments. */
  storageDir: string;
  close(): Promise<void>;
}

/** Builds the UI, then starts the master on a free loopback port with `--web-root` set to it. */
export async function startUiMaster(): Promise<UiMaster> {
  const dir = await mkdtemp(join(tmpdir(), 'det-web-e2e-'));
  try {
    const webRoot = join(dir, 'web');
    await buildUi(webRoot);
    const dataDir = join(dir, 'data');
    const config = loadConfig(
      ['--host', '127.0.0.1', '--port', '0', '--data-dir', dataDir, '--web-root', webRoot],
      {},
    );
    if (config === 'help') {
      throw new Error('unexpected help from loadConfig');
    }
    const master = await startMaster(config, silentLogger);
    return {
      url: master.url,
      storageDir: join(dir, 'checkpoints'),
      close: async () => {
        await master.close();
        await rm(dir, { recursive: true, force: true });
      },
    };
  } catch (err: unknown) {
    await rm(dir, { recursive: true, force: true });
    throw err;
  }
}
