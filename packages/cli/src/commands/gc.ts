import { previewGc, setGcPolicy } from '@determined-ts/sdk';
import type { GcPolicy, GcPreview } from '@determined-ts/sdk';
import { Option } from 'commander';
import type { Command } from 'commander';

import { nonNegativeInt, positiveInt } from '../args.js';
import type { CommandContext } from '../context.js';
import { connect } from '../context.js';
import { ExitError, UsageError } from '../errors.js';
import type { CliIo } from '../io.js';
import { printJson, printTable } from '../output.js';
import { askYesNo } from '../prompt.js';
import { formatBytes } from '../views.js';

/** When collection happens, for both commands' help (reference §9.11). */
const WHEN_HELP =
  '\nExperiments are not collected when they end (they are unmanaged, as in Determined: a run\n' +
  'with the same external id may reopen one). `det experiment set gc-policy` collects now.\n' +
  'The latest checkpoint of a trial that has not ended is kept whatever the policy.\n';

/** Determined's confirmation, word for word (`det experiment set gc-policy`). */
const GC_PROMPT =
  'Changing the checkpoint garbage collection policy of an experiment may result\n' +
  'in the unrecoverable deletion of checkpoints.  Do you wish to proceed? [y/n]: ';

interface PolicyOptions {
  saveExperimentBest: number;
  saveTrialBest: number;
  saveTrialLatest: number;
}

/** The three `--save-*` flags, all required as in Determined's CLI. */
function withPolicyOptions(command: Command): Command {
  return command
    .addOption(
      new Option('--save-experiment-best <n>', 'number of best checkpoints per experiment to save')
        .argParser(nonNegativeInt)
        .makeOptionMandatory(),
    )
    .addOption(
      new Option('--save-trial-best <n>', 'number of best checkpoints per trial to save')
        .argParser(nonNegativeInt)
        .makeOptionMandatory(),
    )
    .addOption(
      new Option('--save-trial-latest <n>', 'number of latest checkpoints per trial to save')
        .argParser(nonNegativeInt)
        .makeOptionMandatory(),
    );
}

function policyOf(options: PolicyOptions): GcPolicy {
  return {
    saveExperimentBest: options.saveExperimentBest,
    saveTrialBest: options.saveTrialBest,
    saveTrialLatest: options.saveTrialLatest,
  };
}

/** `det experiment set gc-policy EXP --save-… [--yes]`. */
export function registerSetGcPolicy(set: Command, ctx: CommandContext): void {
  withPolicyOptions(set.command('gc-policy'))
    .argument('<experiment_id>', 'experiment ID to modify', positiveInt)
    .description('set experiment GC policy and run GC: deletes the checkpoints it does not keep')
    .addHelpText('after', WHEN_HELP)
    .option('--yes', 'skip the preview and the confirmation')
    .action(async (id: number, options: PolicyOptions & { yes?: boolean }) => {
      const isConfirmed = options.yes === true;
      if (!isConfirmed && ctx.io.stdin?.isTTY !== true) {
        throw new UsageError(
          `pass --yes to set the GC policy of experiment ${id} (stdin is not a terminal; see det checkpoint gc --dry-run)`,
        );
      }
      const client = await connect(ctx);
      const policy = policyOf(options);
      if (!isConfirmed) {
        printPreview(ctx.io, await previewGc(client, id, policy, { signal: ctx.io.signal }));
        if (!(await askYesNo(ctx.io, GC_PROMPT))) {
          ctx.io.stdout.write('Aborting operations.\n');
          return;
        }
      }
      const result = await setGcPolicy(client, id, policy, { signal: ctx.io.signal });
      ctx.io.stdout.write(
        `Set GC policy of experiment ${id} to\n{'save_experiment_best': ${policy.saveExperimentBest}, 'save_trial_best': ${policy.saveTrialBest}, 'save_trial_latest': ${policy.saveTrialLatest}}\n`,
      );
      if (result === undefined) {
        ctx.io.stdout.write('The master collects garbage in the background.\n');
        return;
      }
      if (result.deleted.length > 0) {
        printTable(
          ctx.io,
          ['Deleted UUID', 'Size'],
          result.deleted.map((d) => [d.uuid, formatBytes(d.bytes)]),
        );
      }
      ctx.io.stdout.write(
        `Deleted ${result.deleted.length} checkpoint(s), freeing ${describeBytes(result.freedBytes)}.\n`,
      );
      for (const f of result.failed) {
        ctx.io.stderr.write(`det: could not delete checkpoint ${f.uuid}: ${f.error}\n`);
      }
      if (result.failed.length > 0) {
        throw new ExitError(1);
      }
    });
}

/** `det checkpoint gc EXP --dry-run --save-…`. */
export function registerCheckpointGc(checkpoint: Command, ctx: CommandContext): void {
  withPolicyOptions(checkpoint.command('gc'))
    .argument('<experiment_id>', 'experiment ID', positiveInt)
    .description('show which checkpoints of an experiment a GC policy would delete')
    .addHelpText('after', WHEN_HELP)
    .option(
      '--dry-run',
      'only show what would be deleted (required: det experiment set gc-policy deletes)',
    )
    .option('--json', 'print JSON')
    .action(async (id: number, options: PolicyOptions & { dryRun?: boolean; json?: boolean }) => {
      if (options.dryRun !== true) {
        throw new UsageError(
          'det checkpoint gc only previews: pass --dry-run (det experiment set gc-policy sets the policy and deletes)',
        );
      }
      const client = await connect(ctx);
      const preview = await previewGc(client, id, policyOf(options), { signal: ctx.io.signal });
      if (options.json === true) {
        printJson(ctx.io, preview);
        return;
      }
      printPreview(ctx.io, preview);
    });
}

function describeBytes(bytes: number): string {
  return bytes < 1024 ? formatBytes(bytes) : `${formatBytes(bytes)} (${bytes} bytes)`;
}

/** The checkpoints a policy would delete, then what it deletes and keeps in bytes. */
function printPreview(io: CliIo, preview: GcPreview): void {
  const { checkpoints, summary } = preview;
  if (checkpoints.length > 0) {
    io.stdout.write('The following checkpoints will be deleted by applying this GC policy:\n');
    printTable(
      io,
      ['Trial ID', 'Steps', 'State', `Validation Metric (${preview.metricName})`, 'UUID', 'Size'],
      checkpoints.map((c) => [
        c.trialId,
        c.stepsCompleted,
        c.state,
        c.searcherMetric,
        c.uuid,
        formatBytes(c.sizeBytes),
      ]),
    );
  }
  const deletes =
    summary.deleteCount === 0
      ? 'no checkpoints'
      : `${summary.deleteCount} checkpoint(s), ${describeBytes(summary.deleteBytes)}`;
  const keeps =
    summary.keepCount === undefined || summary.keepBytes === undefined
      ? ''
      : ` and keep ${summary.keepCount} checkpoint(s), ${describeBytes(summary.keepBytes)}`;
  io.stdout.write(`This policy will delete ${deletes}${keeps}.\n`);
}
