import { isPostgresUrl } from './db/connect.js';
import { USAGE, loadConfig } from './config.js';
import { ConfigError } from './errors.js';
import { createConsoleLogger } from './logger.js';
import { startMaster } from './server.js';
import { storageLabel } from './storage-label.js';

// The AWS SDK warns, at its first S3 client, that its releases from 2027 on will need Node 22.
// The version we pin runs on Node 20, so the warning would only puzzle an operator.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';

/** How long closing the database may take after the drain, before the process exits anyway. */
const CLOSE_DB_GRACE_MS = 5000;

/** Runs `det-master`: the only module with side effects at import. */
async function main(): Promise<number> {
  let config;
  try {
    config = loadConfig(process.argv.slice(2), process.env);
  } catch (err: unknown) {
    if (err instanceof ConfigError) {
      process.stderr.write(`det-master: ${err.problems.join('; ')} (see det-master --help)\n`);
      return 2;
    }
    throw err;
  }
  if (config === 'help') {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  let master;
  try {
    master = await startMaster(config, createConsoleLogger());
  } catch (err: unknown) {
    const message =
      err instanceof ConfigError
        ? err.problems.join('; ')
        : err instanceof Error
          ? err.message
          : String(err);
    const cause =
      err instanceof Error && err.cause instanceof Error ? `: ${err.cause.message}` : '';
    process.stderr.write(`det-master: ${message}${cause}\n`);
    return 2;
  }
  const dbLabel = isPostgresUrl(config.db)
    ? config.db.replace(/\/\/[^@/]*@/, '//***@')
    : `sqlite ${config.db}`;
  process.stdout.write(
    `det-master listening on ${master.url}\n  database: ${dbLabel}\n  data dir: ${config.dataDir}\n` +
      `  checkpoint storage: ${storageLabel(config.checkpointStorage)}\n`,
  );
  const running = master;
  const { shutdownTimeoutMs } = config;
  // Once: a second signal takes Node's default action and ends the process at once.
  const stop = (signal: NodeJS.Signals): void => {
    process.off('SIGINT', stop);
    process.off('SIGTERM', stop);
    const closed = running.close();
    // The listener is closed by now: the line tells whoever waits that no new connection lands.
    process.stdout.write(
      `det-master stopping (${signal}): letting in-flight requests finish for up to ${shutdownTimeoutMs} ms\n`,
    );
    // The drain is bounded; this bounds the rest (closing the database) too.
    setTimeout(() => {
      process.stderr.write('det-master: the database did not close in time\n');
      process.exit(1);
    }, shutdownTimeoutMs + CLOSE_DB_GRACE_MS).unref();
    closed.then(
      () => process.exit(0),
      (err: unknown) => {
        process.stderr.write(
          `det-master: stopping failed: ${err instanceof Error ? err.message : String(err)}\n`,
        );
        process.exit(1);
      },
    );
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  return -1;
}

main().then(
  (code) => {
    if (code >= 0) {
      process.exitCode = code;
    }
  },
  (err: unknown) => {
    process.stderr.write(
      `det-master: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`,
    );
    process.exitCode = 1;
  },
);
