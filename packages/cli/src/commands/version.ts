import { getMasterInfo } from '@determined-ts/sdk';
import type { Command } from 'commander';

import type { CommandContext } from '../context.js';
import { connectAnonymous, masterUrl } from '../context.js';
import { printJson } from '../output.js';

export const CLI_VERSION = '0.1.0';

/** `det version`: this CLI's version, and the master's when it answers. */
export function registerVersion(program: Command, ctx: CommandContext): void {
  program
    .command('version')
    .description("print the CLI's and the master's versions")
    .option('--json', 'print JSON')
    .action(async (options: { json?: boolean }) => {
      const master = masterUrl(ctx);
      const info = await getMasterInfo(connectAnonymous(ctx), { signal: ctx.io.signal }).catch(
        (err: unknown) => ({ error: err instanceof Error ? err.message : String(err) }),
      );
      if (options.json === true) {
        printJson(ctx.io, {
          client: { version: CLI_VERSION },
          master: { address: master, ...info },
        });
        return;
      }
      ctx.io.stdout.write(`client: ${CLI_VERSION}\nmaster: ${master}\n`);
      if ('error' in info) {
        ctx.io.stdout.write(`  unreachable: ${info.error}\n`);
      } else {
        ctx.io.stdout.write(`  version: ${info.version}\n  cluster: ${info.clusterName}\n`);
      }
    });
}
