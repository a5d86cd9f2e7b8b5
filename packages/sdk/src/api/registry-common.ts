import { buildUrl } from '../client.js';
import type { Client } from '../client.js';
import { UnexpectedResponseError, UnsupportedFeatureError } from '../errors.js';
import type { Pagination } from '../models.js';
import { getMasterInfo } from './trials.js';

/*
 * What the registry calls share: the `{model}` and `{modelVersionNum}` path segments (a model by
 * name or numeric id: the master reads an all-digits segment as an id, and a model name is never
 * all digits), paging, and whether the master has model aliases.
 */

/** A model by name or numeric id. */
export type ModelRef = string | number;

export function modelSegment(model: ModelRef): string {
  if (typeof model === 'number' && !(Number.isSafeInteger(model) && model > 0)) {
    throw new TypeError(`a model id must be a positive integer, got ${String(model)}`);
  }
  if (typeof model === 'string' && model === '') {
    throw new TypeError('a model name must not be empty');
  }
  return encodeURIComponent(String(model));
}

export function modelPath(
  route: string,
  model: ModelRef,
  params: Record<string, string> = {},
): string {
  let path = route.replace(':modelName', modelSegment(model));
  for (const [key, value] of Object.entries(params)) {
    path = path.replace(`:${key}`, encodeURIComponent(value));
  }
  return path;
}

export type Signal = { signal?: AbortSignal };

const aliasSupport = new WeakMap<Client, Promise<boolean>>();

/**
 * Whether the master has model aliases (`determinedTs.modelAliases`): Determined-TS masters do,
 * Determined's does not. Asked once per client; a failed probe is asked again next time.
 */
export function hasModelAliases(client: Client, options: Signal = {}): Promise<boolean> {
  let known = aliasSupport.get(client);
  if (known === undefined) {
    known = getMasterInfo(client, options).then((info) => info.determinedTs?.modelAliases === true);
    const probe = known;
    probe.catch(() => {
      if (aliasSupport.get(client) === probe) {
        aliasSupport.delete(client);
      }
    });
    aliasSupport.set(client, probe);
  }
  return known;
}

export async function requireAliases(client: Client, what: string, options: Signal): Promise<void> {
  if (!(await hasModelAliases(client, options))) {
    throw new UnsupportedFeatureError(
      'modelAliases',
      `${client.baseUrl} cannot ${what}: it has no model aliases (Determined's master has no model aliases)`,
    );
  }
}

/**
 * The `{modelVersionNum}` segment: a version number as is; any other string is an alias (or
 * `latest`), which only a master with model aliases understands.
 */
export async function versionSegment(
  client: Client,
  versionOrAlias: number | string,
  options: Signal,
): Promise<string> {
  if (typeof versionOrAlias === 'number') {
    if (!Number.isSafeInteger(versionOrAlias)) {
      throw new TypeError(`a model version must be an integer, got ${String(versionOrAlias)}`);
    }
    return String(versionOrAlias);
  }
  if (/^\d+$/.test(versionOrAlias)) {
    return versionOrAlias;
  }
  await requireAliases(client, `resolve the model version alias '${versionOrAlias}'`, options);
  return versionOrAlias;
}

export function orderQuery(orderBy: 'asc' | 'desc' | undefined): string | undefined {
  return orderBy === undefined ? undefined : orderBy === 'asc' ? 'ORDER_BY_ASC' : 'ORDER_BY_DESC';
}

export type Query = Record<string, string | number | readonly (string | number)[] | undefined>;

/**
 * Reads every page from `offset` on, `limit` rows a request (the master's default when
 * omitted), until `endIndex >= total`.
 */
export async function readAllPages<T>(
  client: Client,
  path: string,
  query: Query,
  start: { offset?: number; limit?: number },
  page: (query: Query) => Promise<{ items: T[]; pagination: Pagination }>,
): Promise<T[]> {
  const out: T[] = [];
  let offset = start.offset ?? 0;
  for (;;) {
    const pageQuery = { ...query, offset, limit: start.limit };
    const { items, pagination } = await page(pageQuery);
    out.push(...items);
    if (items.length === 0 || pagination.endIndex >= pagination.total) {
      return out;
    }
    if (pagination.endIndex <= offset) {
      // A page that does not advance would make this loop forever.
      throw new UnexpectedResponseError({
        method: 'GET',
        url: buildUrl(client.baseUrl, path, pageQuery),
        status: 200,
        problem: `field pagination.endIndex: ${pagination.endIndex} does not advance past offset ${offset}`,
        body: JSON.stringify({ pagination }),
      });
    }
    offset = pagination.endIndex;
  }
}
