import type { JsonObject, ModelVersionSortBy, PatchModelRequest } from '@determined-ts/api';

import {
  archiveModel,
  deleteModel,
  getLatestModelVersion,
  getModel,
  getModelAliasHistory,
  getModelVersion,
  hasModelAliases,
  listModelAliases,
  listModelVersions,
  patchModel,
  registerModelVersion,
  removeModelAlias,
  setModelAlias,
  unarchiveModel,
} from './api/models.js';
import type {
  ModelAlias,
  ModelAliasEvent,
  ModelAliasHistoryOptions,
  ModelData,
  RegisterModelVersionOptions,
} from './api/models.js';
import type { Client } from './client.js';
import { ModelVersion } from './model-version.js';

type Signal = { signal?: AbortSignal };

export interface ListVersionsOptions extends Signal {
  /** @default 'desc' (newest first, as Determined's SDK) */
  orderBy?: 'asc' | 'desc';
  /** @default 'SORT_BY_VERSION' */
  sortBy?: ModelVersionSortBy;
  /** Versions per request; every page is read. @default all in one */
  pageSize?: number;
}

/**
 * A model of the registry: the master's fields plus methods that change it. Mirrors
 * `determined.experimental.Model`: each setter changes the master first, then this object
 * (`reload()` re-reads everything). Methods address the model by id, so a rename is harmless.
 *
 * @example
 * const model = await det.getModel('resnet');
 * await model.registerVersion(checkpoint.uuid);
 * await model.setAlias('production', 3);
 * const prod = await model.getVersion('production');
 */
export class Model implements ModelData {
  id: number;
  name: string;
  description: string;
  /** Markdown readme of the model. */
  notes: string;
  metadata: JsonObject;
  labels: string[];
  creationTime: Date;
  lastUpdatedTime: Date;
  numVersions: number;
  /** The creator. */
  userId: number;
  username: string;
  workspaceId: number;
  archived: boolean;
  /** The session this model was read with; every method uses it. */
  readonly client: Client;

  constructor(data: ModelData, client: Client) {
    this.client = client;
    this.id = data.id;
    this.name = data.name;
    this.description = data.description;
    this.notes = data.notes;
    this.metadata = data.metadata;
    this.labels = data.labels;
    this.creationTime = data.creationTime;
    this.lastUpdatedTime = data.lastUpdatedTime;
    this.numVersions = data.numVersions;
    this.userId = data.userId;
    this.username = data.username;
    this.workspaceId = data.workspaceId;
    this.archived = data.archived;
  }

  #assign(data: ModelData): void {
    Object.assign(this, data);
  }

  /**
   * Registers a COMPLETED checkpoint as this model's next version. An `ApiError` 404 for an
   * unknown checkpoint, 400 when it is not COMPLETED or the model is archived.
   */
  async registerVersion(
    checkpointUuid: string,
    options: RegisterModelVersionOptions = {},
  ): Promise<ModelVersion> {
    const data = await registerModelVersion(this.client, this.id, checkpointUuid, options);
    return new ModelVersion(data, this.client);
  }

  /**
   * Without an argument: the version with the highest number, or `null` when there is none.
   * With one: that version number, or (Determined-TS masters) the version an alias points at,
   * or `latest`; a missing one is an `ApiError` 404, an alias on a master without aliases an
   * `UnsupportedFeatureError`.
   */
  getVersion(version?: undefined, options?: Signal): Promise<ModelVersion | null>;
  getVersion(version: number | string, options?: Signal): Promise<ModelVersion>;
  async getVersion(version?: number | string, options: Signal = {}): Promise<ModelVersion | null> {
    const data =
      version === undefined
        ? await getLatestModelVersion(this.client, this.id, options)
        : await getModelVersion(this.client, this.id, version, options);
    return data === null ? null : new ModelVersion(data, this.client);
  }

  /** Every version of this model, newest first unless `orderBy: 'asc'`. */
  async listVersions(options: ListVersionsOptions = {}): Promise<ModelVersion[]> {
    const versions = await listModelVersions(this.client, this.id, {
      orderBy: options.orderBy ?? 'desc',
      sortBy: options.sortBy,
      limit: options.pageSize,
      signal: options.signal,
    });
    return versions.map((v) => new ModelVersion(v, this.client));
  }

  /**
   * Merges `metadata` into the model's metadata. The merge starts from this object's copy, as
   * Determined's SDK does: `reload()` first if another client may have changed it.
   */
  addMetadata(metadata: JsonObject, options: Signal = {}): Promise<void> {
    return this.#patch({ metadata: { ...this.metadata, ...metadata } }, options);
  }

  /** Removes `keys` from the model's metadata (from this object's copy, as `addMetadata`). */
  removeMetadata(keys: readonly string[], options: Signal = {}): Promise<void> {
    for (const key of keys) {
      if (typeof key !== 'string') {
        throw new TypeError(`metadata keys must be strings, got ${String(key)}`);
      }
    }
    const metadata = Object.fromEntries(
      Object.entries(this.metadata).filter(([key]) => !keys.includes(key)),
    );
    return this.#patch({ metadata }, options);
  }

  /** Replaces the model's labels. */
  setLabels(labels: readonly string[], options: Signal = {}): Promise<void> {
    return this.#patch({ labels: [...labels] }, options);
  }

  setDescription(description: string, options: Signal = {}): Promise<void> {
    return this.#patch({ description }, options);
  }

  /** Sets the model's notes (its markdown readme). */
  setNotes(notes: string, options: Signal = {}): Promise<void> {
    return this.#patch({ notes }, options);
  }

  /** Renames the model; an `ApiError` 409 when the name is taken, 400 when it is invalid. */
  rename(name: string, options: Signal = {}): Promise<void> {
    return this.#patch({ name }, options);
  }

  /** Moves the model to another workspace; an `ApiError` 404 for an unknown one. */
  moveToWorkspace(workspaceName: string, options: Signal = {}): Promise<void> {
    return this.#patch({ workspaceName }, options);
  }

  /** Archives the model: it stays readable but takes no new versions or changes. */
  async archive(options: Signal = {}): Promise<void> {
    await archiveModel(this.client, this.id, options);
    this.archived = true;
  }

  async unarchive(options: Signal = {}): Promise<void> {
    await unarchiveModel(this.client, this.id, options);
    this.archived = false;
  }

  /**
   * Deletes the model with its versions and aliases (never the checkpoints). An `ApiError` 403
   * unless the caller is an admin or the model's creator.
   */
  async delete(options: Signal = {}): Promise<void> {
    await deleteModel(this.client, this.id, options);
  }

  /** Re-reads the model from the master. */
  async reload(options: Signal = {}): Promise<void> {
    this.#assign(await getModel(this.client, this.id, options));
  }

  /**
   * Points the alias `name` at a version (Determined-TS masters): creates or moves it. With
   * `expectedVersion`, only if it points there now (`0`: only if it does not exist yet).
   */
  setAlias(
    name: string,
    version: number | ModelVersion,
    options: Signal & { expectedVersion?: number } = {},
  ): Promise<ModelAlias> {
    const number = typeof version === 'number' ? version : version.version;
    return setModelAlias(this.client, this.id, name, number, options);
  }

  /** Removes the alias `name`; an `ApiError` 404 when there is none. */
  removeAlias(name: string, options: Signal = {}): Promise<void> {
    return removeModelAlias(this.client, this.id, name, options);
  }

  /** The model's aliases, sorted by name. */
  aliases(options: Signal = {}): Promise<ModelAlias[]> {
    return listModelAliases(this.client, this.id, options);
  }

  /** Every set, move and removal of the model's aliases, newest first. */
  aliasHistory(options: ModelAliasHistoryOptions = {}): Promise<ModelAliasEvent[]> {
    return getModelAliasHistory(this.client, this.id, options);
  }

  async #patch(patch: PatchModelRequest, options: Signal): Promise<void> {
    const updated = await patchModel(this.client, this.id, patch, options);
    if (await hasModelAliases(this.client, options)) {
      // Our master answers with the whole, fresh model.
      this.#assign(updated);
    } else if (patch.workspaceName != null) {
      // Determined's reply has zeros (workspaceId 0): only a read gives the new workspace.
      await this.reload(options);
    } else {
      // Determined's reply has zeros in id, userId, numVersions: keep what was asked, as its SDK.
      Object.assign(this, patch);
    }
  }
}
