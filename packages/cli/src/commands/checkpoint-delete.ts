import { ROUTES } from '@determined-ts/api';
import { BULK_DELETE_STATES, bulkDeleteCheckpoints } from '@determined-ts/sdk';
import type {
  BulkDeleteRequest,
  BulkDeleteResult,
  BulkDeleteState,
  Client,
} from '@determined-ts/sdk';
import { InvalidArgumentError } from 'commander';
import type { Command } from 'commander';

import { positiveInt } from '../args.js';
import type { CommandContext } from '../context.js';
import { connect } from '../context.js';
import { ExitError, UsageError } from '../errors.js';
import type { CliIo } from '../io.js';
import { printJson, printTable } from '../output.js';
import { askYesNo } from '../prompt.js';
import { formatBytes } from '../views.js';

/** How many UUIDs a preview lists; the count and bytes always cover them all. */
const PREVIEW_ROWS = 20;
/** The master's limit on `checkpointUuids` in one bulk delete. */
const MAX_NAMED = 10_000;
const PROMPT =
  'Deleting checkpoints removes their files from checkpoint storage for good.\n' +
  'Do you wish to proceed? [y/n]: ';

interface DeleteFlags {
  experiment?: number[];
  trial?: number[];
  state?: BulkDeleteState[];
  dryRun?: boolean;
  yes?: boolean;
  json?: boolean;
}

/**
 * `det checkpoint delete [UUID...] [--experiment ID]... [--trial ID]... [--state S]... [--dry-run]`.
 * Named checkpoints alone, without those flags, go through Determined's own route, so this works
 * against Determined's master as it always did; anything else is our bulk delete.
 */
export function registerCheckpointDelete(checkpoint: Command, ctx: CommandContext): void {
  checkpoint
    .command('delete [uuids...]')
    .description(
      "delete checkpoints' files and mark them DELETED: those named (UUIDs, or one comma-separated list) and those of experiments or trials",
    )
    .option('--experiment <id>', "delete the experiment's checkpoints (repeatable)", collectId)
    .option('--trial <id>', "delete the trial's checkpoints (repeatable)", collectId)
    .option(
      '--state <state>',
      `only the experiments' and trials' checkpoints in STATE: ${BULK_DELETE_STATES.join(', ')} (repeatable)`,
      collectState,
    )
    .option('--dry-run', 'only show what would be deleted')
    .option('--yes', 'skip the preview and the confirmation')
    .option('--json', "print the master's answer as JSON")
    .action(async (args: string[], flags: DeleteFlags) => {
      // The lists have no default, so that the help prints no "(default: [])".
      const request = {
        checkpointUuids: args.flatMap((a) => a.split(',')).filter((u) => u !== ''),
        experimentIds: flags.experiment ?? [],
        trialIds: flags.trial ?? [],
        states: flags.state ?? [],
      } satisfies BulkDeleteRequest;
      const isScoped = request.experimentIds.length + request.trialIds.length > 0;
      if (request.checkpointUuids.length === 0 && !isScoped) {
        throw new UsageError('say what to delete: checkpoint UUIDs, --experiment ID or --trial ID');
      }
      if (request.states.length > 0 && !isScoped) {
        throw new UsageError(
          '--state narrows --experiment and --trial; named checkpoints are deleted in any state',
        );
      }
      if (!isScoped && flags.dryRun !== true && flags.json !== true) {
        await deleteNamed(ctx, request.checkpointUuids);
        return;
      }
      await bulkDelete(ctx, request, flags);
    });
}

/** Determined's `DELETE /api/v1/checkpoints`: no preview, no question, as `det` always did. */
async function deleteNamed(ctx: CommandContext, uuids: string[]): Promise<void> {
  const client = await connect(ctx);
  await client.request('DELETE', ROUTES.checkpoints, {
    body: { checkpointUuids: uuids },
    signal: ctx.io.signal,
  });
  ctx.io.stdout.write(`Deleted ${uuids.length} checkpoint(s).\n`);
}

async function bulkDelete(
  ctx: CommandContext,
  request: BulkDeleteRequest,
  options: DeleteFlags,
): Promise<void> {
  const { io } = ctx;
  const isJson = options.json === true;
  if (options.yes !== true && options.dryRun !== true && io.stdin?.isTTY !== true) {
    throw new UsageError(
      'pass --yes to delete checkpoints (stdin is not a terminal; see det checkpoint delete --dry-run)',
    );
  }
  const client = await connect(ctx);
  if (options.yes === true && options.dryRun !== true) {
    const result = await bulkDeleteCheckpoints(client, request, { signal: io.signal });
    if (isJson) {
      printJson(io, result);
    } else {
      printSkipped(io, result);
    }
    reportOutcome(io, result, isJson);
    return;
  }
  const preview = await bulkDeleteCheckpoints(
    client,
    { ...request, dryRun: true },
    { signal: io.signal },
  );
  if (options.dryRun === true) {
    if (isJson) {
      printJson(io, preview);
    } else {
      printPreview(io, preview);
      io.stdout.write('Dry run: nothing was deleted.\n');
    }
    return;
  }
  // With --json, stdout is for the answer alone: the preview is talk, as the prompt is.
  const talk: CliIo = isJson ? { ...io, stdout: io.stderr } : io;
  printPreview(talk, preview);
  if (preview.selected.count === 0) {
    return;
  }
  if (!(await askYesNo(io, PROMPT))) {
    talk.stdout.write('Aborting operations.\n');
    return;
  }
  const result = await deleteExactly(client, io, preview);
  if (isJson) {
    printJson(io, result);
  }
  reportOutcome(io, result, isJson);
}

/**
 * Deletes the checkpoints the person agreed to, by UUID, not by the selection again: a running
 * trial may report new checkpoints while the question waits, and they must not go unseen.
 */
async function deleteExactly(
  client: Client,
  io: CliIo,
  preview: BulkDeleteResult,
): Promise<BulkDeleteResult> {
  const total: BulkDeleteResult = {
    deleted: [],
    failed: [],
    freedBytes: 0,
    selected: { count: 0, bytes: 0, uuids: [] },
    skipped: preview.skipped,
    dryRun: false,
  };
  const uuids = preview.selected.uuids;
  for (let start = 0; start < uuids.length; start += MAX_NAMED) {
    const part = await bulkDeleteCheckpoints(
      client,
      { checkpointUuids: uuids.slice(start, start + MAX_NAMED) },
      { signal: io.signal },
    );
    total.deleted.push(...part.deleted);
    total.failed.push(...part.failed);
    total.freedBytes += part.freedBytes;
    total.selected.count += part.selected.count;
    total.selected.bytes += part.selected.bytes;
    total.selected.uuids.push(...part.selected.uuids);
  }
  return total;
}

/** What would go (the first UUIDs, the count and the bytes), then what is left alone. */
function printPreview(io: CliIo, preview: BulkDeleteResult): void {
  const { count, bytes, uuids } = preview.selected;
  if (count === 0) {
    io.stdout.write('No checkpoint to delete.\n');
  } else {
    io.stdout.write('The following checkpoints will be deleted:\n');
    printTable(
      io,
      ['UUID'],
      uuids.slice(0, PREVIEW_ROWS).map((u) => [u]),
    );
    if (uuids.length > PREVIEW_ROWS) {
      io.stdout.write(`… and ${uuids.length - PREVIEW_ROWS} more.\n`);
    }
    io.stdout.write(`This will delete ${count} checkpoint(s), ${formatBytes(bytes)}.\n`);
  }
  printSkipped(io, preview);
}

function printSkipped(io: CliIo, result: BulkDeleteResult): void {
  if (result.skipped.length === 0) {
    return;
  }
  io.stdout.write(`Keeping ${result.skipped.length} registered checkpoint(s):\n`);
  printTable(
    io,
    ['Skipped UUID', 'Reason'],
    result.skipped.map((s) => [s.uuid, s.reason]),
  );
}

/** The count and bytes deleted (on stdout unless --json), then each failure on stderr: exit 1. */
function reportOutcome(io: CliIo, result: BulkDeleteResult, isJson: boolean): void {
  if (!isJson) {
    io.stdout.write(
      `Deleted ${result.deleted.length} checkpoint(s), freeing ${formatBytes(result.freedBytes)}.\n`,
    );
  }
  for (const f of result.failed) {
    io.stderr.write(`det: could not delete checkpoint ${f.uuid}: ${f.error}\n`);
  }
  if (result.failed.length > 0) {
    throw new ExitError(1);
  }
}

function collectId(value: string, previous: number[] = []): number[] {
  return [...previous, positiveInt(value)];
}

/** `error`, `ERROR` and `STATE_ERROR` all name the ERROR state. */
function collectState(value: string, previous: BulkDeleteState[] = []): BulkDeleteState[] {
  const name = value.toUpperCase().replace(/^STATE_/, '');
  const state = BULK_DELETE_STATES.find((s) => s === name);
  if (state === undefined) {
    throw new InvalidArgumentError(
      `expected one of ${BULK_DELETE_STATES.join(', ')}, got '${value}'`,
    );
  }
  return [...previous, state];
}
