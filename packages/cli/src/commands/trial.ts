import { ROUTES } from '@determined-ts/api';
import { TrialReference, getTrial, listCheckpoints } from '@determined-ts/sdk';
import type { CheckpointData, DownloadMode } from '@determined-ts/sdk';
import { Option } from 'commander';
import type { Command } from 'commander';

import { booleanArg, positiveInt } from '../args.js';
import type { CommandContext } from '../context.js';
import { connect } from '../context.js';
import { DOWNLOAD_MODES, downloadWithProgress, printDownload } from '../download.js';
import { UsageError } from '../errors.js';
import { printJson } from '../output.js';
import { printCheckpoints, printTrials } from '../views.js';

interface TrialDownloadOptions {
  best?: boolean;
  latest?: boolean;
  uuid?: string;
  sortBy?: string;
  smallerIsBetter?: boolean;
  output?: string;
  mode: DownloadMode;
  quiet?: boolean;
  json?: boolean;
}

interface TrialLog {
  message?: string;
  log?: string;
}

/** `det trial …` (alias `t`). */
export function registerTrial(program: Command, ctx: CommandContext): void {
  const trial = program
    .command('trial')
    .alias('t')
    .description('inspect trials and fetch their checkpoints');

  trial
    .command('describe')
    .argument('<trial_id>', 'trial ID', positiveInt)
    .description('show a trial and its checkpoints')
    .option('--json', 'print JSON')
    .action(async (id: number, options: { json?: boolean }) => {
      const client = await connect(ctx);
      const data = await getTrial(client, id, { signal: ctx.io.signal });
      const checkpoints: CheckpointData[] = [];
      const listing = listCheckpoints(
        client,
        { trialId: id },
        { sortBy: { attr: 'batchNumber' }, orderBy: 'asc', signal: ctx.io.signal },
      );
      for await (const checkpoint of listing) {
        checkpoints.push(checkpoint);
      }
      if (options.json === true) {
        printJson(ctx.io, { trial: data, checkpoints });
        return;
      }
      printTrials(ctx.io, [data]);
      printCheckpoints(ctx.io, checkpoints, false);
    });

  trial
    .command('logs')
    .argument('<trial_id>', 'trial ID', positiveInt)
    .description("print a trial's logs")
    .addOption(new Option('--head <n>', 'only the first N lines').argParser(positiveInt))
    .action(async (id: number, options: { head?: number }) => {
      const client = await connect(ctx);
      const path = ROUTES.trialLogs.replace(':trialId', String(id));
      const query = options.head === undefined ? {} : { limit: String(options.head) };
      for await (const entry of client.stream<TrialLog>(path, { query, signal: ctx.io.signal })) {
        const line = entry.log ?? entry.message ?? '';
        ctx.io.stdout.write(line.endsWith('\n') ? line : `${line}\n`);
      }
    });

  trial
    .command('download')
    .argument('<trial_id>', 'trial ID', positiveInt)
    .description("download one of a trial's checkpoints: --best, --latest or --uuid")
    .option('--best', 'the best checkpoint by the searcher metric (or --sort-by)')
    .option('--latest', 'the checkpoint with the most batches')
    .option('--uuid <uuid>', 'the checkpoint with this UUID')
    .option('--sort-by <metric>', 'with --best: the validation metric to rank by')
    .addOption(
      new Option(
        '--smaller-is-better <bool>',
        'with --sort-by: whether smaller is better',
      ).argParser(booleanArg),
    )
    .option('-o, --output-dir <dir>', 'target directory (default: checkpoints/<uuid>)')
    .addOption(new Option('--mode <mode>', 'how to fetch').choices(DOWNLOAD_MODES).default('auto'))
    .option('-q, --quiet', 'print only the path; no progress')
    .option('--json', 'print JSON')
    .action(async (id: number, options: TrialDownloadOptions & { outputDir?: string }) => {
      const chosen = selection(options, ctx.io.signal);
      const reference = new TrialReference(id, { client: await connect(ctx) });
      const checkpoint = await reference.selectCheckpoint(chosen);
      const result = await downloadWithProgress(ctx.io, checkpoint, {
        output: options.outputDir,
        mode: options.mode,
        quiet: options.quiet,
      });
      printDownload(ctx.io, result, options.json === true);
    });
}

/** Determined's rules for the selection flags, checked before any request. */
function selection(
  options: TrialDownloadOptions,
  signal: AbortSignal | undefined,
): Parameters<TrialReference['selectCheckpoint']>[0] {
  const chosen = [options.best, options.latest, options.uuid].filter((x) => x !== undefined);
  if (chosen.length !== 1) {
    throw new UsageError('give exactly one of --best, --latest or --uuid UUID');
  }
  const ranking = options.sortBy !== undefined || options.smallerIsBetter !== undefined;
  if (ranking && options.best !== true) {
    throw new UsageError('--sort-by and --smaller-is-better go with --best only');
  }
  if ((options.sortBy === undefined) !== (options.smallerIsBetter === undefined)) {
    throw new UsageError('give --sort-by and --smaller-is-better together');
  }
  if (options.uuid !== undefined) {
    return { uuid: options.uuid, signal };
  }
  if (options.latest === true) {
    return { latest: true, signal };
  }
  return { best: true, sortBy: options.sortBy, smallerIsBetter: options.smallerIsBetter, signal };
}
