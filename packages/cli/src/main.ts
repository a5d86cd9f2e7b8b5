import { Command, CommanderError, Option } from 'commander';

import { positiveInt } from './args.js';

import { runDemo } from './commands/demo.js';
import { registerCheckpoint } from './commands/checkpoint.js';
import { registerExperiment } from './commands/experiment.js';
import { registerMaster } from './commands/master.js';
import { registerModel } from './commands/model.js';
import { registerStorage } from './commands/storage.js';
import { registerToken } from './commands/token.js';
import { registerTrial } from './commands/trial.js';
import { registerUser } from './commands/user.js';
import { registerVersion } from './commands/version.js';
import type { CommandContext, GlobalOptions } from './context.js';
import { ExitError, UsageError } from './errors.js';
import type { CliIo } from './io.js';

export type { CliIo, CliStream } from './io.js';
export { ExitError, UsageError } from './errors.js';

/**
 * Runs `det` with `argv` (the arguments after the program name) and returns its exit code:
 * 0 ok, 1 failure, 2 usage. Nothing is read from or written to the process: `io` is the world.
 */
export async function main(argv: string[], io: CliIo): Promise<number> {
  const program = buildProgram(io);
  try {
    await program.parseAsync(argv, { from: 'user' });
    return 0;
  } catch (err: unknown) {
    return reportError(err, io, argv.includes('--debug'));
  }
}

function buildProgram(io: CliIo): Command {
  const program = new Command('det')
    .description(
      "Determined-TS: Determined's command line for experiments, trials, checkpoints and models",
    )
    .option('-m, --master <url>', 'master address (default: DET_MASTER, else localhost:8080)')
    .option('-u, --user <name>', 'user to run as (default: the logged-in user)')
    .option('--debug', 'print stack traces on errors')
    .enablePositionalOptions()
    .showSuggestionAfterError()
    .exitOverride()
    .configureOutput({
      writeOut: (text) => io.stdout.write(text),
      writeErr: (text) => io.stderr.write(text),
      // Commander's messages start with "error: "; ours start with "det: " and stay on one line.
      // A suggestion ("(Did you mean --name?)") joins the same line.
      outputError: (text, write) =>
        write(
          `det: ${text
            .replace(/^error: /, '')
            .trim()
            .replace(/\s*\n\s*/g, ' ')}\n`,
        ),
    });
  const ctx: CommandContext = { io, globals: () => program.opts<GlobalOptions>() };

  registerVersion(program, ctx);
  registerUser(program, ctx);
  registerToken(program, ctx);
  registerExperiment(program, ctx);
  registerTrial(program, ctx);
  registerCheckpoint(program, ctx);
  registerModel(program, ctx);
  registerMaster(program, ctx);
  registerStorage(program, ctx);
  registerDemo(program, ctx);
  return program;
}

function registerDemo(program: Command, ctx: CommandContext): void {
  program
    .command('demo')
    .description(
      'train a small model, checkpoint it every epoch, then pick, download and load the best',
    )
    .option('--no-serve', 'exit when done instead of keeping the master running')
    .addOption(new Option('--epochs <n>', 'training epochs').argParser(positiveInt))
    .option('--data-dir <dir>', "the embedded master's data directory")
    .addOption(new Option('--port <port>', "the embedded master's port").argParser(positiveInt))
    .action(
      async (options: { serve: boolean; epochs?: number; dataDir?: string; port?: number }) => {
        const code = await runDemo({ master: ctx.globals().master, ...options }, ctx.io);
        if (code !== 0) {
          throw new ExitError(code);
        }
      },
    );
}

function reportError(err: unknown, io: CliIo, debug: boolean): number {
  if (err instanceof CommanderError) {
    // Commander has printed its message (or the help) already.
    return err.code === 'commander.helpDisplayed' ||
      err.code === 'commander.help' ||
      err.code === 'commander.version'
      ? 0
      : 2;
  }
  if (err instanceof ExitError) {
    return err.code;
  }
  const message = err instanceof Error ? err.message : String(err);
  io.stderr.write(`det: ${oneLine(message)}\n`);
  if (debug && err instanceof Error && err.stack !== undefined) {
    io.stderr.write(`${err.stack}\n`);
  }
  return err instanceof UsageError ? 2 : 1;
}

function oneLine(text: string): string {
  return text.replace(/\s*\n\s*/g, ' ').trim();
}
