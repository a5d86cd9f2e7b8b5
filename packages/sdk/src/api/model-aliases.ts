import { ROUTES } from '@determined-ts/api';
import type { PutModelAliasRequest } from '@determined-ts/api';

import type { Client } from '../client.js';
import { decodePagination } from '../decode.js';
import { array } from '../decode-fields.js';
import { decodeModelAlias, decodeModelAliasEvent } from '../decode-registry.js';
import type { ModelAlias, ModelAliasEvent } from '../decode-registry.js';
import { modelPath, readAllPages, requireAliases } from './registry-common.js';
import type { ModelRef, Signal } from './registry-common.js';

/*
 * Model aliases, a Determined-TS extension: each call throws UnsupportedFeatureError against a
 * master without them (Determined's).
 */

/**
 * Points `alias` at `version` of the model, creating or moving it. With `expectedVersion` it is
 * a compare-and-set: the alias must point at that version now (`0`: must not exist), else an
 * `ApiError` 400 and nothing changes. An `ApiError` 400 for a bad name (lowercase letters,
 * digits, `_` and `-`, starting with a letter; not `latest`), 404 for an unknown version.
 */
export async function setModelAlias(
  client: Client,
  nameOrId: ModelRef,
  alias: string,
  version: number,
  options: Signal & { expectedVersion?: number } = {},
): Promise<ModelAlias> {
  await requireAliases(client, `set the model alias '${alias}'`, options);
  const body: PutModelAliasRequest = {
    version,
    ...(options.expectedVersion === undefined ? {} : { expectedVersion: options.expectedVersion }),
  };
  return client.request('PUT', modelPath(ROUTES.modelAlias, nameOrId, { alias }), {
    body,
    signal: options.signal,
    decode: (res) => decodeModelAlias(res.alias),
  });
}

/** Fetches one alias; an unknown one is an `ApiError` 404. */
export async function getModelAlias(
  client: Client,
  nameOrId: ModelRef,
  alias: string,
  options: Signal = {},
): Promise<ModelAlias> {
  await requireAliases(client, `read the model alias '${alias}'`, options);
  return client.request('GET', modelPath(ROUTES.modelAlias, nameOrId, { alias }), {
    signal: options.signal,
    decode: (res) => decodeModelAlias(res.alias),
  });
}

/** Removes an alias; an unknown one is an `ApiError` 404. */
export async function removeModelAlias(
  client: Client,
  nameOrId: ModelRef,
  alias: string,
  options: Signal = {},
): Promise<void> {
  await requireAliases(client, `remove the model alias '${alias}'`, options);
  await client.request('DELETE', modelPath(ROUTES.modelAlias, nameOrId, { alias }), options);
}

/** The model's aliases, sorted by name. */
export async function listModelAliases(
  client: Client,
  nameOrId: ModelRef,
  options: Signal = {},
): Promise<ModelAlias[]> {
  await requireAliases(client, 'list model aliases', options);
  return client.request('GET', modelPath(ROUTES.modelAliases, nameOrId), {
    signal: options.signal,
    decode: (res) =>
      array(res.aliases, 'aliases').map((a, i) => decodeModelAlias(a, `aliases[${i}]`)),
  });
}

export interface ModelAliasHistoryOptions extends Signal {
  /** Only this alias's changes. @default every alias */
  alias?: string;
  /** @default 0 */
  offset?: number;
  /** Events per page; every page is read. @default the master's */
  limit?: number;
}

/** Every set, move and removal of the model's aliases, newest first, page by page. */
export async function getModelAliasHistory(
  client: Client,
  nameOrId: ModelRef,
  options: ModelAliasHistoryOptions = {},
): Promise<ModelAliasEvent[]> {
  await requireAliases(client, 'read model alias history', options);
  const path = modelPath(ROUTES.modelAliasHistory, nameOrId);
  return readAllPages(client, path, { alias: options.alias }, options, (query) =>
    client.request('GET', path, {
      query,
      signal: options.signal,
      decode: (res) => ({
        items: array(res.events, 'events').map((e, i) => decodeModelAliasEvent(e, `events[${i}]`)),
        pagination: decodePagination(res.pagination),
      }),
    }),
  );
}
