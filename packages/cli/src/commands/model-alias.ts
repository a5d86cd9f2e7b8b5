import { ALIAS_NAME_PATTERN, LATEST_VERSION_ALIAS } from '@determined-ts/api';
import {
  getModelAliasHistory,
  listModelAliases,
  removeModelAlias,
  setModelAlias,
} from '@determined-ts/sdk';
import { InvalidArgumentError, Option } from 'commander';
import type { Command } from 'commander';

import type { CommandContext } from '../context.js';
import { connect } from '../context.js';
import { UsageError } from '../errors.js';
import { printAliasHistory, printAliases } from '../model-views.js';
import { printJson } from '../output.js';

const INT32_MAX = 2 ** 31 - 1;

/** `det model alias …`: named pointers to versions (a Determined-TS extension). */
export function registerModelAlias(model: Command, ctx: CommandContext): void {
  const alias = model
    .command('alias')
    .description("manage a model's aliases: names such as 'production' that point at a version");

  alias
    .command('set <name> <alias> <version>')
    .description('point ALIAS at VERSION, creating the alias or moving it')
    .addOption(
      new Option(
        '--expected-version <n>',
        'only if the alias now points at version N (0: only if it does not exist yet)',
      ).argParser(expectedVersion),
    )
    .option('--json', 'print JSON')
    .action(
      async (
        name: string,
        aliasName: string,
        version: string,
        options: { expectedVersion?: number; json?: boolean },
      ) => {
        checkAliasName(aliasName);
        const set = await setModelAlias(
          await connect(ctx),
          name,
          aliasName,
          versionNumberArg(version),
          {
            ...(options.expectedVersion === undefined
              ? {}
              : { expectedVersion: options.expectedVersion }),
            signal: ctx.io.signal,
          },
        );
        if (options.json === true) {
          printJson(ctx.io, set);
        } else {
          ctx.io.stdout.write(
            `Alias '${set.alias}' of model '${name}' points at version ${set.version}.\n`,
          );
        }
      },
    );

  alias
    .command('rm <name> <alias>')
    .alias('remove')
    .description('remove an alias (the version stays)')
    .action(async (name: string, aliasName: string) => {
      checkAliasName(aliasName);
      await removeModelAlias(await connect(ctx), name, aliasName, { signal: ctx.io.signal });
      ctx.io.stdout.write(`Removed alias '${aliasName}' of model '${name}'.\n`);
    });

  alias
    .command('list <name>')
    .alias('ls')
    .description("list a model's aliases")
    .option('--json', 'print JSON')
    .action(async (name: string, options: { json?: boolean }) => {
      const aliases = await listModelAliases(await connect(ctx), name, { signal: ctx.io.signal });
      if (options.json === true) {
        printJson(ctx.io, aliases);
      } else {
        printAliases(ctx.io, aliases);
      }
    });

  alias
    .command('history <name>')
    .description("show who set, moved and removed a model's aliases, newest first")
    .option('--alias <alias>', 'only this alias')
    .option('--json', 'print JSON')
    .action(async (name: string, options: { alias?: string; json?: boolean }) => {
      if (options.alias !== undefined) {
        checkAliasName(options.alias);
      }
      const events = await getModelAliasHistory(await connect(ctx), name, {
        ...(options.alias === undefined ? {} : { alias: options.alias }),
        signal: ctx.io.signal,
      });
      if (options.json === true) {
        printJson(ctx.io, events);
      } else {
        printAliasHistory(ctx.io, events);
      }
    });
}

/** A positional VERSION: a version number (an int32 above 0), else a usage error. */
export function versionNumberArg(value: string): number {
  try {
    return versionNumber(value);
  } catch (err: unknown) {
    throw new UsageError(err instanceof Error ? err.message : String(err));
  }
}

/** An option's version number, for commander's argParser. */
export function versionNumber(value: string): number {
  const n = Number(value);
  if (!/^\d+$/.test(value) || n < 1 || n > INT32_MAX) {
    throw new InvalidArgumentError(`expected a version number, got '${value}'`);
  }
  return n;
}

function expectedVersion(value: string): number {
  return value === '0' ? 0 : versionNumber(value);
}

/** Alias names are lowercase, start with a letter; `latest` is reserved except where read. */
export function checkAliasName(value: string, allowLatest = false): void {
  if (!ALIAS_NAME_PATTERN.test(value)) {
    throw new UsageError(
      `invalid alias '${value}': expected a lowercase letter, then up to 63 of a-z, 0-9, _ and -`,
    );
  }
  if (value === LATEST_VERSION_ALIAS && !allowLatest) {
    throw new UsageError(
      `'${LATEST_VERSION_ALIAS}' is reserved: it always means the highest version`,
    );
  }
}
