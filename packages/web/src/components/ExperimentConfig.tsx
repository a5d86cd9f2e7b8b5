import { useQuery } from '@tanstack/react-query';

import { listTrials } from '@determined-ts/sdk/client';
import type { ExperimentData, TrialData } from '@determined-ts/sdk/client';

import { useClient } from '../client-context';
import { NO_VALUE } from '../lib/format';
import { maskSecrets } from '../lib/storage-location';

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Trials whose hyperparameters stand in for an experiment that declares none. */
const SAMPLE_TRIALS = 20;
const MAX_VALUES = 5;

function show(value: unknown): string {
  if (value === undefined || value === null) {
    return NO_VALUE;
  }
  return typeof value === 'string' ? value : JSON.stringify(value);
}

/**
 * A hyperparameter as Determined writes it: `{ type: 'const', val }` shows its value, a searched
 * one (`int`, `double`, `log`, `categorical`) its range; a plain value shows as itself.
 */
export function describeHyperparameter(hp: unknown): string {
  if (!isObject(hp) || typeof hp.type !== 'string') {
    return show(hp);
  }
  switch (hp.type) {
    case 'const':
      return show(hp.val);
    case 'int':
    case 'double':
      return `${hp.type} in [${show(hp.minval)}, ${show(hp.maxval)}]`;
    case 'log':
      return `log (base ${show(hp.base)}) in [${show(hp.minval)}, ${show(hp.maxval)}]`;
    case 'categorical':
      return `one of ${show(hp.vals)}`;
    default:
      return show(hp);
  }
}

/**
 * The values its trials used, per hyperparameter: experiments made through the Core API declare
 * none, and each trial carries its own.
 */
export function trialHyperparameters(trials: readonly TrialData[]): [string, string][] {
  const values = new Map<string, Set<string>>();
  for (const trial of trials) {
    for (const [name, value] of Object.entries(trial.hparams)) {
      const seen = values.get(name) ?? new Set<string>();
      seen.add(show(value));
      values.set(name, seen);
    }
  }
  return [...values.entries()]
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([name, seen]) => {
      const list = [...seen];
      const more = list.length > MAX_VALUES ? ', …' : '';
      return [name, list.slice(0, MAX_VALUES).join(', ') + more];
    });
}

/** The parts of an experiment's config that explain its checkpoints. */
export function ExperimentConfig({ experiment }: { experiment: ExperimentData }) {
  const client = useClient();
  // Credentials in it are masked, never shown.
  const storage = isObject(experiment.config.checkpoint_storage)
    ? maskSecrets(experiment.config.checkpoint_storage)
    : {};
  const declared = Object.entries(experiment.hyperparameters).map(
    ([name, hp]): [string, string] => [name, describeHyperparameter(hp)],
  );
  const fromTrials = useQuery({
    queryKey: ['trial-hyperparameters', experiment.id],
    queryFn: ({ signal }) =>
      listTrials(client, experiment.id, {
        offset: 0,
        limit: SAMPLE_TRIALS,
        sortBy: 'id',
        orderBy: 'asc',
        signal,
      }),
    enabled: declared.length === 0,
  });
  const hyperparameters =
    declared.length > 0 ? declared : trialHyperparameters(fromTrials.data?.trials ?? []);
  return (
    <section aria-labelledby="configuration">
      <h2 id="configuration">Configuration</h2>
      <div className="columns">
        <div>
          <h3>Searcher</h3>
          <dl className="facts">
            <dt>Name</dt>
            <dd>{experiment.searcherType === '' ? NO_VALUE : experiment.searcherType}</dd>
            <dt>Metric</dt>
            <dd>{experiment.searcherMetric ?? NO_VALUE}</dd>
            <dt>Direction</dt>
            <dd>{experiment.smallerIsBetter ? 'smaller is better' : 'larger is better'}</dd>
          </dl>
        </div>
        <div>
          <h3>Checkpoint storage</h3>
          <dl className="facts">
            {Object.entries(storage).map(([key, value]) => (
              <Fact key={key} name={key} value={show(value)} />
            ))}
          </dl>
          {Object.keys(storage).length === 0 ? <p className="muted">Not set.</p> : null}
        </div>
        <div>
          <h3>Hyperparameters</h3>
          {declared.length === 0 && hyperparameters.length > 0 ? (
            <p className="muted">As its trials report them:</p>
          ) : null}
          {hyperparameters.length === 0 ? (
            <p className="muted">{fromTrials.isFetching ? 'Loading…' : 'None.'}</p>
          ) : (
            <dl className="facts">
              {hyperparameters.map(([name, value]) => (
                <Fact key={name} name={name} value={value} />
              ))}
            </dl>
          )}
        </div>
      </div>
    </section>
  );
}

function Fact({ name, value }: { name: string; value: string }) {
  return (
    <>
      <dt>{name}</dt>
      <dd>{value}</dd>
    </>
  );
}
