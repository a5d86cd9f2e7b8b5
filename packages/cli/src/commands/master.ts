import {
  ConfigError,
  USAGE,
  isPostgresUrl,
  loadConfig,
  startMaster,
  storageLabel,
} from '@determined-ts/master';
import type { Logger } from '@determined-ts/master';
import type { Command } from 'commander';

import type { CommandContext } from '../context.js';
import { UsageError } from '../errors.js';
import type { CliIo } from '../io.js';

/**
 * `det master [det-master flags]`: runs the embedded master until the signal aborts (Ctrl-C).
 * The flags are det-master's own, parsed by the master's config reader.
 */
export function registerMaster(program: Command, ctx: CommandContext): void {
  program
    .command('master')
    .description('start the embedded master (flags as det-master; --help lists them)')
    .argument('[flags...]', 'det-master flags')
    .helpOption(false)
    .allowUnknownOption()
    .action(async (flags: string[]) => {
      let config;
      try {
        config = loadConfig(flags, ctx.io.env);
      } catch (err: unknown) {
        if (err instanceof ConfigError) {
          throw new UsageError(`master: ${err.problems.join('; ')}`);
        }
        throw err;
      }
      if (config === 'help') {
        ctx.io.stdout.write(`${USAGE.replace('det-master', 'det master')}\n`);
        return;
      }
      const master = await startMaster(config, streamLogger(ctx.io));
      const db = isPostgresUrl(config.db)
        ? config.db.replace(/\/\/[^@/]*@/, '//***@')
        : `sqlite ${config.db}`;
      ctx.io.stdout.write(
        `master listening on ${master.url}\n  database: ${db}\n  data dir: ${config.dataDir}\n` +
          `  checkpoint storage: ${storageLabel(config.checkpointStorage)}\n`,
      );
      try {
        await untilAborted(ctx.io.signal);
      } finally {
        await master.close();
      }
    });
}

function untilAborted(signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve) => {
    if (signal === undefined) {
      return; // Runs until the process ends.
    }
    if (signal.aborted) {
      resolve();
    }
    signal.addEventListener('abort', () => resolve(), { once: true });
  });
}

/** The master's JSON-lines diagnostics, on the CLI's stderr. */
function streamLogger(io: CliIo): Logger {
  const write = (level: string, message: string, fields?: Record<string, unknown>): void => {
    io.stderr.write(
      `${JSON.stringify({ time: new Date().toISOString(), level, message, ...fields })}\n`,
    );
  };
  return {
    info: (message, fields) => write('info', message, fields),
    error: (message, fields) => write('error', message, fields),
  };
}
