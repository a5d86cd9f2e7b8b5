import { ROUTES } from '@determined-ts/api';
import { Checkpoint, getCheckpoint } from '@determined-ts/sdk';
import type { Command } from 'commander';

import type { CommandContext } from '../context.js';
import { connect } from '../context.js';
import { downloadWithProgress, printDownload, withDownloadOptions } from '../download.js';
import type { DownloadCommandOptions } from '../download.js';
import { printLoaded, summarizeLoaded } from '../loaded.js';
import { UsageError } from '../errors.js';
import { registerCheckpointDelete } from './checkpoint-delete.js';
import { registerCheckpointGc } from './gc.js';
import { printCheckpoint } from '../views.js';

/** `det checkpoint …` (alias `c`). */
export function registerCheckpoint(program: Command, ctx: CommandContext): void {
  const checkpoint = program
    .command('checkpoint')
    .alias('c')
    .description('inspect, download, load and delete checkpoints');

  checkpoint
    .command('describe <uuid>')
    .description("show a checkpoint's details and files")
    .option('--json', 'print JSON')
    .action(async (uuid: string, options: { json?: boolean }) => {
      printCheckpoint(ctx.io, await fetchCheckpoint(ctx, uuid), options.json === true);
    });

  withDownloadOptions(checkpoint.command('download <uuid>'))
    .description("download a checkpoint's files")
    .option('--json', 'print JSON')
    .action(async (uuid: string, options: DownloadCommandOptions) => {
      const result = await downloadWithProgress(ctx.io, await fetchCheckpoint(ctx, uuid), {
        output: options.outputDir,
        mode: options.mode,
        quiet: options.quiet,
      });
      printDownload(ctx.io, result, options.json === true);
    });

  withDownloadOptions(checkpoint.command('load <uuid>'))
    .description('download a checkpoint if needed, load it and show what it holds')
    .option('--json', 'print JSON')
    .action(async (uuid: string, options: DownloadCommandOptions) => {
      const found = await fetchCheckpoint(ctx, uuid);
      const { path } = await downloadWithProgress(ctx.io, found, {
        output: options.outputDir,
        mode: options.mode,
        quiet: options.quiet,
      });
      // The copy is complete now, so load() reuses it instead of downloading again.
      const loaded = await found.load(path, { mode: options.mode, signal: ctx.io.signal });
      printLoaded(ctx.io, summarizeLoaded(loaded), options.json === true);
    });

  registerCheckpointDelete(checkpoint, ctx);

  checkpoint
    .command('rm <uuids...>')
    .description('remove the files matching --glob from checkpoints')
    .option('--glob <pattern>', 'files to remove (repeatable)', collect, [] as string[])
    .action(async (uuids: string[], options: { glob: string[] }) => {
      if (options.glob.length === 0) {
        throw new UsageError('name the files to remove with --glob PATTERN');
      }
      const client = await connect(ctx);
      await client.request('POST', ROUTES.checkpointsRm, {
        body: { checkpointUuids: uuids, checkpointGlobs: options.glob },
        signal: ctx.io.signal,
      });
      ctx.io.stdout.write(
        `Removed files matching ${options.glob.join(', ')} from ${uuids.length} checkpoint(s).\n`,
      );
    });

  registerCheckpointGc(checkpoint, ctx);
}

async function fetchCheckpoint(ctx: CommandContext, uuid: string): Promise<Checkpoint> {
  const client = await connect(ctx);
  return new Checkpoint(await getCheckpoint(client, uuid, { signal: ctx.io.signal }), client);
}

function collect(value: string, previous: string[]): string[] {
  return [...previous, value];
}
