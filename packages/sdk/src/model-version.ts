import type { JsonObject, PatchModelVersionRequest } from '@determined-ts/api';

import {
  deleteModelVersion,
  getModelVersion,
  getModelVersionMetrics,
  hasModelAliases,
  patchModelVersion,
} from './api/models.js';
import type { ModelData, ModelVersionData, SourceTrialMetrics } from './api/models.js';
import { Checkpoint } from './checkpoint.js';
import type { Client } from './client.js';

type Signal = { signal?: AbortSignal };

/**
 * A registered version of a model: the master's fields plus its checkpoint, ready for
 * `version.checkpoint.download()` and `load()`. Mirrors `determined.experimental.ModelVersion`;
 * the setters change the master first, then this object.
 *
 * @example
 * const version = await model.getVersion();
 * const loaded = await version?.checkpoint.load();
 */
export class ModelVersion implements ModelVersionData {
  /** Global id across every model; not the version number. */
  id: number;
  /** Per-model number, from 1. */
  version: number;
  /** The model as it was when this version was read. */
  model: ModelData;
  /** The registered checkpoint, carrying this version's session for downloads. */
  checkpoint: Checkpoint;
  creationTime: Date | null;
  lastUpdatedTime: Date | null;
  name: string;
  comment: string;
  notes: string;
  metadata: JsonObject;
  labels: string[];
  /** The user who registered it. */
  userId: number;
  username: string;
  /** Aliases pointing at this version (Determined-TS; `[]` on Determined). */
  aliases: string[];
  /** The session this version was read with; every method uses it. */
  readonly client: Client;

  constructor(data: ModelVersionData, client: Client) {
    this.client = client;
    this.id = data.id;
    this.version = data.version;
    this.model = data.model;
    this.checkpoint = new Checkpoint(data.checkpoint, client);
    this.creationTime = data.creationTime;
    this.lastUpdatedTime = data.lastUpdatedTime;
    this.name = data.name;
    this.comment = data.comment;
    this.notes = data.notes;
    this.metadata = data.metadata;
    this.labels = data.labels;
    this.userId = data.userId;
    this.username = data.username;
    this.aliases = data.aliases;
  }

  /** The model's id. */
  get modelId(): number {
    return this.model.id;
  }

  /** The model's name, as it was when this version was read. */
  get modelName(): string {
    return this.model.name;
  }

  #assign(data: ModelVersionData): void {
    Object.assign(this, data, { checkpoint: new Checkpoint(data.checkpoint, this.client) });
  }

  /** Sets the version's friendly name. */
  setName(name: string, options: Signal = {}): Promise<void> {
    return this.#patch({ name }, options);
  }

  /** Sets the version's comment. */
  setComment(comment: string, options: Signal = {}): Promise<void> {
    return this.#patch({ comment }, options);
  }

  /** Sets the version's notes (markdown). */
  setNotes(notes: string, options: Signal = {}): Promise<void> {
    return this.#patch({ notes }, options);
  }

  /** Replaces the version's labels. */
  setLabels(labels: string[], options: Signal = {}): Promise<void> {
    return this.#patch({ labels: [...labels] }, options);
  }

  /** Replaces the version's metadata. */
  setMetadata(metadata: JsonObject, options: Signal = {}): Promise<void> {
    return this.#patch({ metadata: { ...metadata } }, options);
  }

  /**
   * Deletes this version (never its checkpoint). An `ApiError` 403 unless the caller is an
   * admin, its registrant or the model's creator; 400 while an alias points at it.
   */
  async delete(options: Signal = {}): Promise<void> {
    await deleteModelVersion(this.client, this.model.id, this.version, options);
  }

  /**
   * What the tasks that used this version reported (`iterMetrics` in Determined's SDK), of one
   * metric group if given. A task links itself to the version with
   * `POST /api/v1/trial-source-info` (`report_task_using_model_version` in Python).
   */
  metrics(
    options: Signal & { group?: string; type?: 'inference' | 'fine-tuning' } = {},
  ): Promise<SourceTrialMetrics[]> {
    return getModelVersionMetrics(this.client, this.model.id, this.version, options);
  }

  /** Re-reads this version (and its checkpoint) from the master. */
  async reload(options: Signal = {}): Promise<void> {
    this.#assign(await getModelVersion(this.client, this.model.id, this.version, options));
  }

  async #patch(patch: PatchModelVersionRequest, options: Signal): Promise<void> {
    const updated = await patchModelVersion(
      this.client,
      this.model.id,
      this.version,
      patch,
      options,
    );
    if (await hasModelAliases(this.client, options)) {
      this.#assign(updated);
    } else {
      // Determined's reply leaves fields out (its model has no userId): keep what was asked.
      Object.assign(this, patch);
    }
  }
}
