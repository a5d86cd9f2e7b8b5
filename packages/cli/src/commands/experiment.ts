import { getExperiment, listCheckpoints, listExperiments, listTrials } from '@determined-ts/sdk';
import type { CheckpointData, ExperimentSortKey, TrialData } from '@determined-ts/sdk';
import { Option } from 'commander';
import type { Command } from 'commander';

import { nonNegativeInt, positiveInt } from '../args.js';
import type { CommandContext } from '../context.js';
import { connect } from '../context.js';
import { printJson } from '../output.js';
import { registerSetGcPolicy } from './gc.js';
import { printCheckpoints, printExperiments, printTrials } from '../views.js';

const SORT_KEYS: ExperimentSortKey[] = [
  'id',
  'name',
  'state',
  'numTrials',
  'startTime',
  'endTime',
  'checkpointCount',
  'checkpointSize',
  'searcherMetric',
  'user',
  'progress',
];

/** `det experiment …` (alias `e`). */
export function registerExperiment(program: Command, ctx: CommandContext): void {
  const experiment = program
    .command('experiment')
    .alias('e')
    .description('inspect experiments and set their checkpoint GC policy');

  experiment
    .command('list')
    .alias('ls')
    .description('list experiments, a page at a time (sorted and filtered by the master)')
    .addOption(
      new Option('--limit <n>', 'at most N experiments').argParser(positiveInt).default(100),
    )
    .addOption(new Option('--offset <n>', 'skip the first N').argParser(nonNegativeInt).default(0))
    .addOption(new Option('--sort <key>', 'sort by').choices(SORT_KEYS).default('id'))
    .addOption(new Option('--order <order>', 'direction').choices(['asc', 'desc']).default('asc'))
    .option('--name <text>', 'only names containing this text (any case)')
    .option('--json', 'print JSON')
    .action(
      async (options: {
        limit: number;
        offset: number;
        sort: ExperimentSortKey;
        order: 'asc' | 'desc';
        name?: string;
        json?: boolean;
      }) => {
        const client = await connect(ctx);
        const { experiments, pagination } = await listExperiments(client, {
          limit: options.limit,
          offset: options.offset,
          sortBy: options.sort,
          orderBy: options.order,
          name: options.name,
          signal: ctx.io.signal,
        });
        printExperiments(ctx.io, experiments, options.json === true);
        if (
          options.json !== true &&
          pagination.endIndex - pagination.startIndex < pagination.total
        ) {
          ctx.io.stderr.write(
            `showing ${pagination.startIndex + 1}-${pagination.endIndex} of ${pagination.total}; see --limit and --offset\n`,
          );
        }
      },
    );

  experiment
    .command('describe')
    .argument('<experiment_id>', 'experiment ID', positiveInt)
    .description('show an experiment and its trials')
    .option('--json', 'print JSON')
    .action(async (id: number, options: { json?: boolean }) => {
      const client = await connect(ctx);
      const exp = await getExperiment(client, id, { signal: ctx.io.signal });
      const trials: TrialData[] = [];
      // Pages of 1000 so an experiment with many trials never asks for all of them at once.
      for (let offset = 0; ;) {
        const page = await listTrials(client, id, { offset, limit: 1000, signal: ctx.io.signal });
        trials.push(...page.trials);
        offset = page.pagination.endIndex;
        if (page.trials.length === 0 || offset >= page.pagination.total) {
          break;
        }
      }
      if (options.json === true) {
        printJson(ctx.io, { experiment: exp, trials });
        return;
      }
      printExperiments(ctx.io, [exp], false);
      printTrials(ctx.io, trials);
    });

  experiment
    .command('list-checkpoints')
    .argument('<experiment_id>', 'experiment ID', positiveInt)
    .description("list an experiment's checkpoints, best first with --best")
    .addOption(
      new Option('--best <n>', 'only the N best by the searcher metric').argParser(positiveInt),
    )
    .option('--json', 'print JSON')
    .action(async (id: number, options: { best?: number; json?: boolean }) => {
      const client = await connect(ctx);
      const checkpoints: CheckpointData[] = [];
      const listing =
        options.best === undefined
          ? listCheckpoints(
              client,
              { experimentId: id },
              { sortBy: { attr: 'batchNumber' }, orderBy: 'asc', signal: ctx.io.signal },
            )
          : listCheckpoints(
              client,
              { experimentId: id },
              { states: ['COMPLETED'], maxResults: options.best, signal: ctx.io.signal },
            );
      for await (const checkpoint of listing) {
        checkpoints.push(checkpoint);
      }
      printCheckpoints(ctx.io, checkpoints, options.json === true);
    });

  registerSetGcPolicy(
    experiment.command('set').description("change an experiment's settings"),
    ctx,
  );
}
