import { CHECKPOINT_ORDERING_RULES } from '@determined-ts/api';

import { getCheckpoint, listCheckpoints, listCheckpointsPage } from './api/checkpoints.js';
import { getExperiment, getMasterInfo } from './api/trials.js';
import { openSession } from './auth/session.js';
import type { SessionOptions } from './auth/session.js';
import { Checkpoint } from './checkpoint.js';
import type { Client } from './client.js';
import { ApiError, ArgumentError, NoCheckpointError } from './errors.js';
import type { CheckpointData } from './models.js';
import { SELECTION_RULES, checkSelection, metricValue, pickBest, pickLatest } from './selection.js';
import type { CheckpointSelection, TopCheckpointOptions } from './selection.js';
import { getTrial } from './api/trials.js';

export interface TrialReferenceOptions extends Omit<SessionOptions, 'signal'> {
  /** An already signed-in client; when given, no login happens. */
  client?: Client;
}

const UUID_PATTERN = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** The searcher of the experiment a checkpoint belongs to, from the config it carries. */
function searcherOf(
  checkpoint: CheckpointData | undefined,
): { metric: string; smallerIsBetter: boolean } | undefined {
  const searcher = checkpoint?.training?.experimentConfig.searcher;
  if (searcher === null || typeof searcher !== 'object' || Array.isArray(searcher)) {
    return undefined;
  }
  const { metric, smaller_is_better: sib } = searcher as Record<string, unknown>;
  return typeof metric === 'string'
    ? { metric, smallerIsBetter: typeof sib === 'boolean' ? sib : true }
    : undefined;
}

/**
 * A trial on a master, to pick its best or latest checkpoint. Mirrors Determined's seed
 * `TrialReference(trial_id, user, master, attempt_auth)`; the rules are DESIGN.md's.
 *
 * @example
 * const trial = new TrialReference(42, { master: 'http://localhost:8080' });
 * const best = await trial.topCheckpoint();
 * const dir = await best.download();
 */
export class TrialReference {
  readonly id: number;
  readonly #options: TrialReferenceOptions;
  #session: Promise<Client> | undefined;
  #ordering: Promise<boolean> | undefined;

  constructor(trialId: number, options: TrialReferenceOptions = {}) {
    if (!Number.isSafeInteger(trialId) || trialId <= 0) {
      throw new TypeError(`trialId must be a positive integer, got ${String(trialId)}`);
    }
    this.id = trialId;
    this.#options = options;
  }

  /** The signed-in client, opened on first use. */
  session(): Promise<Client> {
    this.#session ??=
      this.#options.client !== undefined
        ? Promise.resolve(this.#options.client)
        : openSession(this.#options);
    // A failed login may be retried by a later call.
    this.#session.catch(() => {
      this.#session = undefined;
    });
    return this.#session;
  }

  /** The best checkpoint: same as `selectCheckpoint({ best: true, ... })`. */
  async topCheckpoint(options: TopCheckpointOptions = {}): Promise<Checkpoint> {
    // Spreading a JS caller's string or array would make an object of its characters.
    if (options === null || typeof options !== 'object' || Array.isArray(options)) {
      throw new ArgumentError(SELECTION_RULES.types, 'topCheckpoint takes an options object');
    }
    return this.selectCheckpoint({ best: true, ...options });
  }

  /**
   * Selects one checkpoint of this trial. Throws `ArgumentError` for a broken argument rule
   * (before any request), `NoCheckpointError` when nothing qualifies.
   */
  async selectCheckpoint(selection: CheckpointSelection): Promise<Checkpoint> {
    checkSelection(selection);
    const client = await this.session();
    const signal = selection.signal;
    if (selection.uuid != null) {
      return new Checkpoint(await this.#byUuid(client, selection.uuid, signal), client);
    }
    const serverRules = await this.#masterFollowsOurRules(client, signal);
    if (selection.latest === true) {
      const latest = serverRules
        ? await this.#firstRow(client, { sortBy: { attr: 'batchNumber' }, orderBy: 'desc' }, signal)
        : pickLatest(await this.#completed(client, signal));
      if (latest?.state !== 'COMPLETED' || latest.batchNumber === undefined) {
        throw new NoCheckpointError(
          this.id,
          'latest: no COMPLETED checkpoint with steps_completed',
        );
      }
      return new Checkpoint(latest, client);
    }
    let searcher =
      selection.sortBy == null
        ? undefined
        : { metric: selection.sortBy, smallerIsBetter: selection.smallerIsBetter ?? true };
    let best: CheckpointData | undefined;
    if (serverRules) {
      best = await this.#firstRow(
        client,
        searcher === undefined
          ? { sortBy: { attr: 'searcherMetric' } }
          : {
              sortBy: { metric: searcher.metric },
              orderBy: searcher.smallerIsBetter ? 'asc' : 'desc',
            },
        signal,
      );
      // The row carries its experiment's config, which names the searcher metric: best stays
      // one request. The experiment is only fetched below, to name the metric in an error.
      searcher ??= searcherOf(best);
    } else {
      searcher ??= await this.#searcher(client, selection, signal);
      best = pickBest(
        await this.#completed(client, signal),
        searcher.metric,
        searcher.smallerIsBetter,
      );
    }
    if (
      best === undefined ||
      best.state !== 'COMPLETED' ||
      searcher === undefined ||
      metricValue(best, searcher.metric) === undefined
    ) {
      searcher ??= await this.#searcher(client, selection, signal);
      throw new NoCheckpointError(
        this.id,
        `best: no COMPLETED checkpoint has a validation with a finite value for '${searcher.metric}'`,
      );
    }
    return new Checkpoint(best, client);
  }

  async #byUuid(
    client: Client,
    uuid: string,
    signal: AbortSignal | undefined,
  ): Promise<CheckpointData> {
    if (!UUID_PATTERN.test(uuid)) {
      // Checkpoint ids are UUIDs. Asking anyway would hit another route for '' and a 500 from
      // a real Determined master, which parses the id in its SQL.
      throw new NoCheckpointError(this.id, `uuid: '${uuid}' is not a checkpoint UUID`);
    }
    let checkpoint: CheckpointData;
    try {
      checkpoint = await getCheckpoint(client, uuid, { signal });
    } catch (err: unknown) {
      if (err instanceof ApiError && (err.status === 404 || err.status === 400)) {
        throw new NoCheckpointError(this.id, `uuid: checkpoint ${uuid} does not exist`);
      }
      throw err;
    }
    if (checkpoint.training?.trialId !== this.id) {
      throw new NoCheckpointError(this.id, `uuid: checkpoint ${uuid} belongs to another trial`);
    }
    if (checkpoint.state !== 'COMPLETED') {
      throw new NoCheckpointError(
        this.id,
        `uuid: checkpoint ${uuid} is ${checkpoint.state}, not COMPLETED`,
      );
    }
    return checkpoint;
  }

  /** True when the master advertises DESIGN.md's ordering, so one row of its answer suffices. */
  #masterFollowsOurRules(client: Client, signal: AbortSignal | undefined): Promise<boolean> {
    if (this.#ordering === undefined) {
      const ordering = getMasterInfo(client, { signal }).then(
        (info) => info.determinedTs?.checkpointOrdering === CHECKPOINT_ORDERING_RULES,
      );
      // A failed or aborted probe must not stick: the next call asks again.
      ordering.catch(() => {
        if (this.#ordering === ordering) {
          this.#ordering = undefined;
        }
      });
      this.#ordering = ordering;
    }
    return this.#ordering;
  }

  async #firstRow(
    client: Client,
    query: Pick<Parameters<typeof listCheckpointsPage>[2], 'sortBy' | 'orderBy'>,
    signal: AbortSignal | undefined,
  ): Promise<CheckpointData | undefined> {
    const { checkpoints } = await listCheckpointsPage(
      client,
      { trialId: this.id },
      { ...query, states: ['COMPLETED'], offset: 0, limit: 1, signal },
    );
    return checkpoints[0];
  }

  /** All COMPLETED checkpoints; against a master that does not promise our order. */
  async #completed(client: Client, signal: AbortSignal | undefined): Promise<CheckpointData[]> {
    const out: CheckpointData[] = [];
    for await (const c of listCheckpoints(
      client,
      { trialId: this.id },
      {
        sortBy: { attr: 'batchNumber' },
        orderBy: 'desc',
        states: ['COMPLETED'],
        signal,
      },
    )) {
      out.push(c);
    }
    return out;
  }

  /** The metric and direction for "best": the arguments, else the experiment's searcher. */
  async #searcher(
    client: Client,
    selection: { sortBy?: string; smallerIsBetter?: boolean },
    signal: AbortSignal | undefined,
  ): Promise<{ metric: string; smallerIsBetter: boolean }> {
    if (selection.sortBy != null) {
      return { metric: selection.sortBy, smallerIsBetter: selection.smallerIsBetter ?? true };
    }
    const trial = await getTrial(client, this.id, { signal });
    const experiment = await getExperiment(client, trial.experimentId, { signal });
    if (experiment.searcherMetric === undefined) {
      throw new NoCheckpointError(
        this.id,
        `best: experiment ${experiment.id} has no searcher.metric; pass sortBy`,
      );
    }
    return { metric: experiment.searcherMetric, smallerIsBetter: experiment.smallerIsBetter };
  }
}
