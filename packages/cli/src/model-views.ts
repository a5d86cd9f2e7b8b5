import type { ModelAlias, ModelAliasEvent, ModelData, ModelVersionData } from '@determined-ts/sdk';

import type { CliIo } from './io.js';
import { printFields, printTable } from './output.js';

/** One model's details, the rows of Determined's `render_model` plus what it leaves out. */
export function printModel(io: CliIo, m: ModelData): void {
  printFields(io, [
    ['ID', m.id],
    ['Name', m.name],
    ['Description', m.description],
    ['Workspace ID', m.workspaceId],
    ['Labels', m.labels.join(', ')],
    ['Versions', m.numVersions],
    ['Archived', m.archived],
    ['Created By', m.username],
    ['Creation Time', m.creationTime],
    ['Last Updated Time', m.lastUpdatedTime],
    ['Metadata', m.metadata],
  ]);
}

/** The model table of `det model list`: Determined's columns, plus the version count. */
export function printModels(io: CliIo, models: ModelData[]): void {
  printTable(
    io,
    ['ID', 'Name', 'Workspace ID', 'Versions', 'Creation Time', 'Last Updated Time', 'Metadata'],
    models.map((m) => [
      m.id,
      m.name,
      m.workspaceId,
      m.numVersions,
      m.creationTime,
      m.lastUpdatedTime,
      m.metadata,
    ]),
  );
}

/**
 * The version table of Determined's `det model describe / list-versions / register-version`
 * (its "Batch #" is the checkpoint's `steps_completed`), plus the aliases of each version.
 */
export function printModelVersions(io: CliIo, versions: ModelVersionData[]): void {
  printTable(
    io,
    [
      'Version #',
      'Trial ID',
      'Batch #',
      'Checkpoint UUID',
      'Validation Metrics',
      'Metadata',
      'Aliases',
    ],
    versions.map((v) => [
      v.version,
      v.checkpoint.training?.trialId,
      v.checkpoint.metadata.steps_completed,
      v.checkpoint.uuid,
      v.checkpoint.training?.validationMetrics,
      v.checkpoint.metadata,
      v.aliases.join(', '),
    ]),
  );
}

/** A model's details, then (after a blank line, as Determined prints it) its version table. */
export function printModelWithVersions(
  io: CliIo,
  model: ModelData,
  versions: ModelVersionData[],
): void {
  printModel(io, model);
  if (versions.length > 0) {
    io.stdout.write('\n');
    printModelVersions(io, versions);
  }
}

export function printAliases(io: CliIo, aliases: ModelAlias[]): void {
  printTable(
    io,
    ['Alias', 'Version', 'Updated Time', 'Updated By'],
    aliases.map((a) => [a.alias, a.version, a.updatedTime, a.username]),
  );
}

/** Newest first; an empty From is a creation and an empty To a removal. */
export function printAliasHistory(io: CliIo, events: ModelAliasEvent[]): void {
  printTable(
    io,
    ['Time', 'Alias', 'From', 'To', 'User'],
    events.map((e) => [e.time, e.alias, e.fromVersion ?? '-', e.toVersion ?? '-', e.username]),
  );
}
