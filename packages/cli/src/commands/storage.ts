import { reconcileStorage } from '@determined-ts/sdk';
import type { ReconcileResult } from '@determined-ts/sdk';
import { Option } from 'commander';
import type { Command } from 'commander';

import { nonNegativeInt } from '../args.js';
import type { CommandContext } from '../context.js';
import { connect } from '../context.js';
import type { CliIo } from '../io.js';
import { printJson, printTable } from '../output.js';
import { formatBytes } from '../views.js';

/** `det storage …` (ours): checkpoint storage against the master's records. */
export function registerStorage(program: Command, ctx: CommandContext): void {
  const storage = program.command('storage').description('inspect checkpoint storage');
  storage
    .command('reconcile')
    .description(
      'find files with no live checkpoint (orphans) and checkpoints whose files are gone; a dry run unless --apply (admins only)',
    )
    .option('--apply', 'delete the orphans and record what is really stored as each checkpoint')
    .addOption(
      new Option('--grace-seconds <n>', 'never treat entries modified this recently as orphans')
        .argParser(nonNegativeInt)
        .default(3600),
    )
    .option('--json', 'print JSON')
    .action(async (options: { apply?: boolean; graceSeconds: number; json?: boolean }) => {
      const client = await connect(ctx);
      const result = await reconcileStorage(client, {
        apply: options.apply === true,
        graceSeconds: options.graceSeconds,
        signal: ctx.io.signal,
      });
      if (options.json === true) {
        printJson(ctx.io, result);
        return;
      }
      printResult(ctx.io, result);
    });
}

function printResult(
  io: CliIo,
  { orphans, missing, storageErrors, applied }: ReconcileResult,
): void {
  for (const e of storageErrors) {
    io.stderr.write(`det: ${e.storage}: ${e.error}\n`);
  }
  if (orphans.length === 0) {
    io.stdout.write('No orphaned checkpoint files.\n');
  } else {
    io.stdout.write(`Orphaned checkpoint files (no live checkpoint):\n`);
    printTable(
      io,
      ['Storage', 'UUID', 'Size', 'Modified'],
      orphans.map((o) => [o.storage, o.uuid, formatBytes(o.bytes), o.modifiedTime]),
    );
  }
  if (missing.length === 0) {
    io.stdout.write('No checkpoints with missing or changed files.\n');
  } else {
    io.stdout.write('Checkpoints whose files differ from their records:\n');
    printTable(
      io,
      ['UUID', 'State', 'Missing', 'Changed', 'Error'],
      missing.map((m) => [
        m.uuid,
        m.state.replace(/^STATE_/, ''),
        m.missingPaths.join('\n'),
        m.changedPaths.join('\n'),
        m.error ?? '',
      ]),
    );
  }
  if (applied === null) {
    io.stdout.write('Dry run: nothing changed (pass --apply to fix).\n');
    return;
  }
  io.stdout.write(
    `Deleted ${applied.orphansDeleted} orphan(s), freeing ${formatBytes(applied.bytesFreed)}; updated ${applied.checkpointsUpdated} checkpoint(s).\n`,
  );
}
