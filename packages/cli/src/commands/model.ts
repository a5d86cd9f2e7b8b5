import { ALIAS_NAME_PATTERN, LATEST_VERSION_ALIAS } from '@determined-ts/api';
import type { ModelSortBy } from '@determined-ts/api';
import {
  Checkpoint,
  createModel,
  deleteModel,
  getLatestModelVersion,
  getModel,
  getModelVersion,
  listModelVersions,
  listModels,
  patchModel,
  registerModelVersion,
} from '@determined-ts/sdk';
import type { Client, ModelVersionData } from '@determined-ts/sdk';
import { InvalidArgumentError, Option } from 'commander';
import type { Command } from 'commander';

import type { CommandContext } from '../context.js';
import { connect } from '../context.js';
import { downloadWithProgress, printDownload, withDownloadOptions } from '../download.js';
import type { DownloadCommandOptions } from '../download.js';
import { ExitError, UsageError } from '../errors.js';
import {
  printModel,
  printModelVersions,
  printModelWithVersions,
  printModels,
} from '../model-views.js';
import { printJson } from '../output.js';
import { promptLine } from '../prompt.js';
import {
  checkAliasName,
  registerModelAlias,
  versionNumber,
  versionNumberArg,
} from './model-alias.js';

/** `det model --sort-by` values, as Determined's CLI spells them, and their wire names. */
const SORT_BY = {
  name: 'SORT_BY_NAME',
  description: 'SORT_BY_DESCRIPTION',
  creation_time: 'SORT_BY_CREATION_TIME',
  last_updated_time: 'SORT_BY_LAST_UPDATED_TIME',
} as const satisfies Record<string, ModelSortBy>;
type SortByFlag = keyof typeof SORT_BY;

/** Which version a command means: a number, an alias, or the highest number (`latest`). */
type VersionRef = number | string;

/** `det model …` (alias `m`): Determined's model registry, plus our aliases. */
export function registerModel(program: Command, ctx: CommandContext): void {
  const model = program
    .command('model')
    .alias('m')
    .description('manage models in the registry, their versions and aliases');
  const json = (options: { json?: boolean }): boolean => options.json === true;

  model
    .command('list', { isDefault: true })
    .alias('ls')
    .description('list the models in the registry')
    .option('-w, --workspace-names <names>', 'only models in these comma-separated workspaces')
    .addOption(
      new Option('--sort-by <field>', 'sort by this field')
        .choices(Object.keys(SORT_BY))
        .default('last_updated_time'),
    )
    .addOption(
      new Option('--order-by <order>', 'sort order').choices(['asc', 'desc']).default('asc'),
    )
    .option('--json', 'print JSON')
    .action(
      async (options: {
        workspaceNames?: string;
        sortBy: SortByFlag;
        orderBy: 'asc' | 'desc';
        json?: boolean;
      }) => {
        const workspaceNames = options.workspaceNames
          ?.split(',')
          .map((name) => name.trim())
          .filter((name) => name !== '');
        const models = await listModels(await connect(ctx), {
          sortBy: SORT_BY[options.sortBy],
          orderBy: options.orderBy,
          ...(workspaceNames === undefined ? {} : { workspaceNames }),
          signal: ctx.io.signal,
        });
        if (json(options)) {
          printJson(ctx.io, models);
        } else {
          printModels(ctx.io, models);
        }
      },
    );

  model
    .command('create <name>')
    .description('create a model')
    .option('-w, --workspace-name <name>', 'workspace to create it in (default: Uncategorized)')
    .option('--description <text>', 'what the model is')
    .option('--json', 'print JSON')
    .action(
      async (
        name: string,
        options: { workspaceName?: string; description?: string; json?: boolean },
      ) => {
        const created = await createModel(await connect(ctx), {
          name,
          ...(options.description === undefined ? {} : { description: options.description }),
          ...(options.workspaceName === undefined ? {} : { workspaceName: options.workspaceName }),
          signal: ctx.io.signal,
        });
        if (json(options)) {
          printJson(ctx.io, created);
        } else {
          printModel(ctx.io, created);
        }
      },
    );

  model
    .command('describe <name>')
    .description('show a model and one of its versions (default: the latest)')
    .addOption(
      new Option('--version <version>', 'version number or alias (default: latest)').argParser(
        versionRefOption,
      ),
    )
    .option('--json', 'print JSON')
    .action(async (name: string, options: { version?: VersionRef; json?: boolean }) => {
      const client = await connect(ctx);
      const found = await getModel(client, name, { signal: ctx.io.signal });
      const version = await findVersion(ctx, client, name, options.version ?? LATEST_VERSION_ALIAS);
      if (json(options)) {
        printJson(ctx.io, { model: found, version });
      } else {
        printModelWithVersions(ctx.io, found, version === null ? [] : [version]);
      }
    });

  model
    .command('register-version <name> <uuid>')
    .description('register a checkpoint as the next version of a model')
    .option('--name <name>', "the version's name")
    .option('--comment <text>', 'a comment on the version')
    .option('--json', 'print JSON')
    .action(
      async (
        name: string,
        uuid: string,
        options: { name?: string; comment?: string; json?: boolean },
      ) => {
        const version = await registerModelVersion(await connect(ctx), name, uuid, {
          ...(options.name === undefined ? {} : { name: options.name }),
          ...(options.comment === undefined ? {} : { comment: options.comment }),
          signal: ctx.io.signal,
        });
        if (json(options)) {
          printJson(ctx.io, version);
        } else {
          printModelWithVersions(ctx.io, version.model, [version]);
        }
      },
    );

  model
    .command('list-versions <name>')
    .description("list a model's versions, newest first")
    .option('--json', 'print JSON')
    .action(async (name: string, options: { json?: boolean }) => {
      const client = await connect(ctx);
      const found = await getModel(client, name, { signal: ctx.io.signal });
      const versions = await listModelVersions(client, found.id, {
        orderBy: 'desc',
        signal: ctx.io.signal,
      });
      if (json(options)) {
        printJson(ctx.io, versions);
      } else {
        printModel(ctx.io, found);
        ctx.io.stdout.write('\n');
        printModelVersions(ctx.io, versions);
      }
    });

  model
    .command('move <name>')
    .description('move a model to another workspace')
    .requiredOption('-w, --workspace-name <name>', 'the destination workspace')
    .action(async (name: string, options: { workspaceName: string }) => {
      await patchModel(
        await connect(ctx),
        name,
        { workspaceName: options.workspaceName },
        { signal: ctx.io.signal },
      );
      ctx.io.stdout.write(`Moved model '${name}' to workspace '${options.workspaceName}'.\n`);
    });

  model
    .command('delete <name>')
    .description('delete a model and all its versions (their checkpoints stay)')
    .option('-y, --yes', 'do not ask for confirmation')
    .action(async (name: string, options: { yes?: boolean }) => {
      const client = await connect(ctx);
      const found = await getModel(client, name, { signal: ctx.io.signal });
      if (options.yes !== true) {
        await confirmDelete(ctx, `model '${found.name}' and its ${found.numVersions} version(s)`);
      }
      await deleteModel(client, found.id, { signal: ctx.io.signal });
      ctx.io.stdout.write(`Deleted model '${found.name}'.\n`);
    });

  withDownloadOptions(model.command('download <ref>'))
    .description(
      "download a version's checkpoint: NAME (the latest version), NAME:VERSION or NAME@ALIAS",
    )
    .option('--json', 'print JSON')
    .action(async (ref: string, options: DownloadCommandOptions) => {
      const { name, version: wanted } = parseDownloadRef(ref);
      const client = await connect(ctx);
      const version = await findVersion(ctx, client, name, wanted);
      if (version === null) {
        throw new Error(`model '${name}' has no versions to download`);
      }
      const result = await downloadWithProgress(
        ctx.io,
        new Checkpoint(version.checkpoint, client),
        {
          output: options.outputDir,
          mode: options.mode,
          quiet: options.quiet,
        },
      );
      printDownload(ctx.io, result, options.json === true);
    });

  registerModelAlias(model, ctx);
}

/** The version `ref` names, or `null` when `latest` is asked of a model with no versions. */
async function findVersion(
  ctx: CommandContext,
  client: Client,
  model: string,
  ref: VersionRef,
): Promise<ModelVersionData | null> {
  // `latest` goes through the version list, which Determined's master answers too.
  return ref === LATEST_VERSION_ALIAS
    ? getLatestModelVersion(client, model, { signal: ctx.io.signal })
    : getModelVersion(client, model, ref, { signal: ctx.io.signal });
}

/** Splits `NAME`, `NAME:VERSION` or `NAME@ALIAS` at the last `:` or `@`. */
function parseDownloadRef(ref: string): { name: string; version: VersionRef } {
  const at = Math.max(ref.lastIndexOf(':'), ref.lastIndexOf('@'));
  if (at === -1) {
    return { name: ref, version: LATEST_VERSION_ALIAS };
  }
  const name = ref.slice(0, at);
  const suffix = ref.slice(at + 1);
  if (name === '') {
    throw new UsageError(`invalid model reference '${ref}': expected NAME[:VERSION|@ALIAS]`);
  }
  if (ref[at] === ':') {
    return { name, version: versionNumberArg(suffix) };
  }
  checkAliasName(suffix, true);
  return { name, version: suffix };
}

/** `--version`: a number, an alias, `latest`, or Determined's `-1` for the latest. */
function versionRefOption(value: string): VersionRef {
  if (value === '-1' || value === LATEST_VERSION_ALIAS) {
    return LATEST_VERSION_ALIAS;
  }
  if (/^\d+$/.test(value)) {
    return versionNumber(value);
  }
  if (!ALIAS_NAME_PATTERN.test(value)) {
    throw new InvalidArgumentError(`expected a version number or an alias, got '${value}'`);
  }
  return value;
}

/** Asks on the terminal; without one, `--yes` is the only way to say yes. */
async function confirmDelete(ctx: CommandContext, what: string): Promise<void> {
  if (ctx.io.stdin?.isTTY !== true) {
    throw new UsageError(`pass --yes to delete ${what} (stdin is not a terminal)`);
  }
  const answer = await promptLine(ctx.io, `Delete ${what}? [y/N] `);
  if (!/^y(es)?$/i.test(answer)) {
    ctx.io.stderr.write('Aborted.\n');
    throw new ExitError(1);
  }
}
