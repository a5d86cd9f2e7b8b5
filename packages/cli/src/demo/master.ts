import { loadConfig, startMaster } from '@determined-ts/master';
import type { Logger, RunningMaster } from '@determined-ts/master';

import type { CliStream } from '../io.js';

/**
 * Starts the embedded master on loopback: SQLite and `directory` checkpoint storage, both in
 * `dataDir`. Port 0 picks a free one. Its own environment is not read (`DET_PORT`, `DET_DB`…),
 * so the tour always runs on these defaults.
 */
export async function startEmbeddedMaster(
  dataDir: string,
  port: number,
  stderr: CliStream,
): Promise<RunningMaster> {
  const config = loadConfig(
    ['--host', '127.0.0.1', '--port', String(port), '--data-dir', dataDir],
    {},
  );
  if (config === 'help') {
    throw new Error('unreachable: no --help was passed');
  }
  // Requests are not logged (they would drown the tour); the master's errors are.
  const logger: Logger = {
    info: () => undefined,
    error: (message, fields) =>
      stderr.write(
        `master: ${message}${fields === undefined ? '' : ` ${JSON.stringify(fields)}`}\n`,
      ),
  };
  return startMaster(config, logger);
}
