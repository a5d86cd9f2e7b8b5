import { ROUTES } from '@determined-ts/api';
import type { ExperimentDto, TrialDto } from '@determined-ts/api';
import { decodeExperiment, decodeTrial, getExperiment, listCheckpoints } from '@determined-ts/sdk';
import type { CheckpointData } from '@determined-ts/sdk';
import { Option } from 'commander';
import type { Command } from 'commander';

import { positiveInt } from '../args.js';
import type { CommandContext } from '../context.js';
import { connect } from '../context.js';
import { printJson } from '../output.js';
import { printCheckpoints, printExperiments, printTrials } from '../views.js';

/** `det experiment …` (alias `e`). */
export function registerExperiment(program: Command, ctx: CommandContext): void {
  const experiment = program.command('experiment').alias('e').description('inspect experiments');

  experiment
    .command('list')
    .alias('ls')
    .description('list experiments')
    .option('--json', 'print JSON')
    .action(async (options: { json?: boolean }) => {
      const client = await connect(ctx);
      const res = await client.request<{ experiments: ExperimentDto[] }>(
        'GET',
        ROUTES.experiments,
        { signal: ctx.io.signal },
      );
      printExperiments(ctx.io, res.experiments.map(decodeExperiment), options.json === true);
    });

  experiment
    .command('describe')
    .argument('<experiment_id>', 'experiment ID', positiveInt)
    .description('show an experiment and its trials')
    .option('--json', 'print JSON')
    .action(async (id: number, options: { json?: boolean }) => {
      const client = await connect(ctx);
      const exp = await getExperiment(client, id, { signal: ctx.io.signal });
      const res = await client.request<{ trials: TrialDto[] }>(
        'GET',
        ROUTES.experimentTrials.replace(':experimentId', String(id)),
        { signal: ctx.io.signal },
      );
      const trials = res.trials.map(decodeTrial);
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
}
