import { getCheckpoint } from './api/checkpoints.js';
import { createModel, getModel, getModelLabels, listModels } from './api/models.js';
import type { CreateModelOptions, ListModelsOptions, ModelRef } from './api/models.js';
import { openSession } from './auth/session.js';
import type { SessionOptions } from './auth/session.js';
import { Checkpoint } from './checkpoint.js';
import type { Client } from './client.js';
import { Model } from './model.js';
import { TrialReference } from './trial-reference.js';

type Signal = { signal?: AbortSignal };

export interface DeterminedOptions extends Omit<SessionOptions, 'signal'> {
  /** An already signed-in client; when given, no login happens. */
  client?: Client;
}

/**
 * A master, signed in on first use: the entry point to the model registry, checkpoints and
 * trials. Mirrors `determined.experimental.Determined`.
 *
 * @example
 * const det = new Determined({ master: 'http://localhost:8080', user: 'alice' });
 * const model = await det.createModel('resnet', { labels: ['vision'] });
 * await model.registerVersion(checkpointUuid);
 * const latest = await (await det.getModel('resnet')).getVersion();
 * const dir = await latest?.checkpoint.download();
 */
export class Determined {
  readonly #options: DeterminedOptions;
  #session: Promise<Client> | undefined;

  constructor(options: DeterminedOptions = {}) {
    this.#options = options;
  }

  /** The signed-in client, opened on first use (see `openSession`); a failed login is retried. */
  session(): Promise<Client> {
    if (this.#session === undefined) {
      const opening =
        this.#options.client !== undefined
          ? Promise.resolve(this.#options.client)
          : openSession(this.#options);
      opening.catch(() => {
        if (this.#session === opening) {
          this.#session = undefined;
        }
      });
      this.#session = opening;
    }
    return this.#session;
  }

  /**
   * Creates a model in the registry. An `ApiError` 400 for an invalid name, 409 when the name
   * is taken (names are case-sensitive), 404 for an unknown workspace.
   */
  async createModel(name: string, options: Omit<CreateModelOptions, 'name'> = {}): Promise<Model> {
    const client = await this.session();
    return new Model(await createModel(client, { ...options, name }), client);
  }

  /** A model by name or numeric id; a missing one is an `ApiError` 404. */
  async getModel(nameOrId: ModelRef, options: Signal = {}): Promise<Model> {
    const client = await this.session();
    return new Model(await getModel(client, nameOrId, options), client);
  }

  /**
   * Every model matching the filters, archived ones included unless `archived` says otherwise.
   * Sorted by name unless `sortBy` says otherwise, as Determined's SDK.
   */
  async listModels(options: ListModelsOptions = {}): Promise<Model[]> {
    const client = await this.session();
    const models = await listModels(client, {
      ...options,
      sortBy: options.sortBy ?? 'SORT_BY_NAME',
      orderBy: options.orderBy ?? 'asc',
    });
    return models.map((m) => new Model(m, client));
  }

  /** Every label used by a model, the most used first. */
  async getModelLabels(options: Signal = {}): Promise<string[]> {
    return getModelLabels(await this.session(), options);
  }

  /** A checkpoint by uuid, ready for `download()`; a missing one is an `ApiError` 404. */
  async getCheckpoint(uuid: string, options: Signal = {}): Promise<Checkpoint> {
    const client = await this.session();
    return new Checkpoint(await getCheckpoint(client, uuid, options), client);
  }

  /** A trial on this master, to select its best or latest checkpoint (nothing is read yet). */
  async getTrial(trialId: number): Promise<TrialReference> {
    return new TrialReference(trialId, { client: await this.session() });
  }
}
