import type { JsonObject } from '@determined-ts/api';
import { StorageConfigError, parseStorageConfig } from '@determined-ts/storage';
import { parse as parseYaml } from 'yaml';

import { badRequest } from '../errors.js';
import { checkNesting, findNul } from '../http.js';

/** An experiment config after defaults, plus the searcher facts the master indexes. */
export interface ExperimentConfig {
  config: JsonObject;
  name: string;
  description: string;
  labels: string[];
  searcherName: string;
  searcherMetric: string;
  smallerIsBetter: boolean;
}

function isObject(value: unknown): value is JsonObject {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

/**
 * Checks a `checkpoint_storage` block as the storage package reads it (strictly: unknown keys of
 * cloud types are refused, since Determined's Python SDK would fail on them) and fills
 * Determined's defaults: the GC policy keys, which Determined's SDK strips before building a
 * storage manager, and shared_fs propagation. The raw snake_case block is what is kept. A bad
 * block is a 400 naming the key at fault, under `where` (`checkpoint_storage.bucket ...`).
 */
export function normalizeStorageConfig(value: unknown, where: string): JsonObject {
  let type: string;
  try {
    type = parseStorageConfig(value, { isStrict: true, where }).type;
  } catch (err: unknown) {
    if (err instanceof StorageConfigError) {
      throw badRequest(err.message, { key: `${where}.${err.key}` });
    }
    throw err;
  }
  const out: JsonObject = {
    save_experiment_best: 0,
    save_trial_best: 1,
    save_trial_latest: 1,
    ...(value as JsonObject),
  };
  if (type === 'shared_fs' && out.propagation === undefined) {
    out.propagation = 'rprivate';
  }
  return out;
}

/**
 * Parses an experiment config given as YAML (or JSON) text, as `POST /api/v1/experiments`
 * receives it, and applies the defaults the master owns: the searcher direction and the
 * cluster's default checkpoint storage.
 */
export function parseExperimentConfig(text: string, defaultStorage: JsonObject): ExperimentConfig {
  let parsed: unknown;
  try {
    parsed = parseYaml(text);
  } catch (err: unknown) {
    throw badRequest(
      `invalid experiment config: ${err instanceof Error ? err.message : String(err)}`,
    );
  }
  checkNesting(parsed, 'invalid experiment config');
  if (!isObject(parsed)) {
    throw badRequest('invalid experiment config: expected a YAML mapping');
  }
  // YAML escapes (`"\0"`) can produce NUL even when the request body had none.
  const nulAt = findNul(parsed);
  if (nulAt !== undefined) {
    throw badRequest(`invalid experiment config: ${nulAt}: NUL characters are not allowed`);
  }
  const config: JsonObject = { ...parsed };
  const searcher = config.searcher ?? {};
  if (!isObject(searcher)) {
    throw badRequest('invalid experiment config: searcher must be a mapping');
  }
  const metric = searcher.metric ?? 'unmanaged';
  if (typeof metric !== 'string' || metric === '') {
    throw badRequest('invalid experiment config: searcher.metric must be a non-empty string');
  }
  const smallerIsBetter = searcher.smaller_is_better ?? true;
  if (typeof smallerIsBetter !== 'boolean') {
    throw badRequest('invalid experiment config: searcher.smaller_is_better must be a boolean');
  }
  const searcherName = searcher.name ?? 'single';
  if (typeof searcherName !== 'string') {
    throw badRequest('invalid experiment config: searcher.name must be a string');
  }
  config.searcher = { ...searcher, name: searcherName, metric, smaller_is_better: smallerIsBetter };
  config.checkpoint_storage = normalizeStorageConfig(
    config.checkpoint_storage ?? defaultStorage,
    'checkpoint_storage',
  );
  const name = config.name ?? 'unnamed';
  if (typeof name !== 'string') {
    throw badRequest('invalid experiment config: name must be a string');
  }
  const description = config.description ?? '';
  const labels = config.labels ?? [];
  if (!Array.isArray(labels) || !labels.every((l) => typeof l === 'string')) {
    throw badRequest('invalid experiment config: labels must be a list of strings');
  }
  if (
    config.hyperparameters !== undefined &&
    config.hyperparameters !== null &&
    !isObject(config.hyperparameters)
  ) {
    throw badRequest('invalid experiment config: hyperparameters must be a mapping');
  }
  config.name = name;
  return {
    config,
    name,
    description: typeof description === 'string' ? description : JSON.stringify(description),
    labels,
    searcherName,
    searcherMetric: metric,
    smallerIsBetter,
  };
}

/** Returns the searcher metric's value in a metrics object when it is a finite number. */
export function finiteMetric(metrics: JsonObject | null | undefined, name: string): number | null {
  const value = metrics?.[name];
  return typeof value === 'number' && Number.isFinite(value) ? value : null;
}
