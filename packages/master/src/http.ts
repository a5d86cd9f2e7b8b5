import type { IncomingMessage } from 'node:http';

import type { Context } from 'hono';
import { z } from 'zod';

import { badRequest } from './errors.js';
import type { TrustedProxies } from './trusted-proxies.js';

/** Formats zod issues as `path: message` lines, the way every 400 names its bad fields. */
export function describeIssues(issues: readonly z.core.$ZodIssue[]): string {
  return issues
    .map((issue) => {
      const path = issue.path.map(String).join('.');
      return path === '' ? issue.message : `${path}: ${issue.message}`;
    })
    .join('; ');
}

function snakeToCamel(key: string): string {
  return key.replace(/_([a-z0-9])/g, (_m, ch: string) => ch.toUpperCase());
}

/**
 * Determined's gateway accepts the proto's snake_case field names as well as camelCase (the
 * Python SDK sends `is_raw` to the progress route). Top-level keys are renamed here; nested
 * free-form objects (configs, metrics, metadata) keep their keys.
 */
function camelizeTopLevel(value: unknown): unknown {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    return value;
  }
  const out: Record<string, unknown> = {};
  for (const [key, v] of Object.entries(value)) {
    const camel = snakeToCamel(key);
    if (camel === key || !(camel in value)) {
      out[camel] = v;
    }
  }
  return out;
}

/**
 * The path (`a.b.0`) of the first string or key holding a NUL character in a parsed value, or
 * `undefined`. PostgreSQL text cannot hold NUL, so such input is refused on both databases.
 */
export function findNul(value: unknown, path = ''): string | undefined {
  if (typeof value === 'string') {
    return value.includes('\0') ? path : undefined;
  }
  if (value === null || typeof value !== 'object') {
    return undefined;
  }
  for (const [key, v] of Object.entries(value)) {
    const at = path === '' ? key : `${path}.${key}`;
    const found = key.includes('\0') ? at : findNul(v, at);
    if (found !== undefined) {
      return found.replace(/\0/g, '\\u0000');
    }
  }
  return undefined;
}

/** The deepest nesting a request body or an experiment config may have; real ones stay under 20. */
export const MAX_NESTING = 256;

/**
 * Refuses a parsed value nested deeper than {@link MAX_NESTING} levels, or one that contains
 * itself (YAML aliases can make a cycle), with a 400 naming `what`. The walk keeps its own stack,
 * so no depth a client sends can overflow the one it runs on: the checks after it (NUL search,
 * schema validation, serialization) recurse.
 */
export function checkNesting(value: unknown, what: string): void {
  const onPath = new Set<object>();
  const stack: { node: object; children: Iterator<unknown> }[] = [];
  const enter = (child: unknown): void => {
    if (child === null || typeof child !== 'object') {
      return;
    }
    if (onPath.has(child)) {
      throw badRequest(`${what}: it contains itself (aliases that form a cycle)`);
    }
    if (stack.length >= MAX_NESTING) {
      throw badRequest(`${what}: nested deeper than ${MAX_NESTING} levels`);
    }
    onPath.add(child);
    stack.push({ node: child, children: Object.values(child)[Symbol.iterator]() });
  };
  enter(value);
  for (let top = stack.at(-1); top !== undefined; top = stack.at(-1)) {
    const next = top.children.next();
    if (next.done === true) {
      onPath.delete(top.node);
      stack.pop();
    } else {
      enter(next.value);
    }
  }
}

/** A `\u0000` escape in JSON text that is not itself an escaped backslash. */
const NUL_ESCAPE = /(?<!\\)((?:\\\\)*)\\u0000/g;

/**
 * Reads the request body as JSON whatever its Content-Type (Determined's Python SDK sends none)
 * and validates it. An empty body is treated as `{}`.
 *
 * A string or key containing NUL is a 400 (see {@link findNul}), or with `nul: 'replace'`
 * becomes U+FFFD.
 */
export async function readBody<T extends z.ZodType>(
  c: Context,
  schema: T,
  { nul = 'reject' }: { nul?: 'reject' | 'replace' } = {},
): Promise<z.output<T>> {
  let text = await c.req.text();
  if (nul === 'replace') {
    text = text.replace(NUL_ESCAPE, '$1\\ufffd');
  }
  let value: unknown = {};
  if (text.trim() !== '') {
    try {
      value = JSON.parse(text);
    } catch (err: unknown) {
      throw badRequest(`malformed JSON body: ${err instanceof Error ? err.message : String(err)}`);
    }
    checkNesting(value, 'invalid request body');
  }
  const nulAt = text.includes('\\u0000') ? findNul(value) : undefined;
  if (nulAt !== undefined) {
    const where = nulAt === '' ? '' : `${nulAt}: `;
    throw badRequest(`invalid request body: ${where}NUL (\\u0000) characters are not allowed`);
  }
  return parseWith(schema, camelizeTopLevel(value), 'request body');
}

/** Validates `value` against `schema`, throwing a 400 that names every bad field. */
export function parseWith<T extends z.ZodType>(
  schema: T,
  value: unknown,
  what: string,
): z.output<T> {
  const result = schema.safeParse(value);
  if (!result.success) {
    throw badRequest(`invalid ${what}: ${describeIssues(result.error.issues)}`, {
      fields: result.error.issues.map((issue) => ({
        path: issue.path.map(String).join('.'),
        message: issue.message,
      })),
    });
  }
  return result.data;
}

/**
 * The address of the client that sent the request: the socket's peer, so a client cannot
 * choose it, unless that peer is one of `proxies`, whose `X-Forwarded-For` then says who the
 * client is. `unknown` where there is no socket (a test that calls the app directly).
 */
export function clientAddress(c: Context, proxies: TrustedProxies | undefined): string {
  const env = c.env as { incoming?: IncomingMessage } | undefined;
  const peer = env?.incoming?.socket.remoteAddress ?? 'unknown';
  return proxies === undefined ? peer : proxies.clientOf(peer, c.req.header('x-forwarded-for'));
}

const ID_PATTERN = /^[1-9]\d{0,9}$/;

/** Parses a positive int32 id from a path parameter, or throws a 400 naming it. */
export function pathId(c: Context, name: string): number {
  const raw = c.req.param(name) ?? '';
  const n = Number(raw);
  if (!ID_PATTERN.test(raw) || n > 2 ** 31 - 1) {
    throw badRequest(`invalid ${name} '${raw}': expected a positive integer`);
  }
  return n;
}

const UUID_PATTERN = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** True for the textual form of a UUID. */
export function isUuid(value: string): boolean {
  return UUID_PATTERN.test(value);
}

/** Parses a checkpoint UUID from a path parameter (lowercased), or throws a 400. */
export function pathUuid(c: Context, name = 'checkpointUuid'): string {
  const raw = c.req.param(name) ?? '';
  if (!isUuid(raw)) {
    throw badRequest(`invalid checkpoint uuid '${raw}'`);
  }
  return raw.toLowerCase();
}

/** All values of a query parameter, under its camelCase or snake_case name. */
export function queryAll(c: Context, name: string): string[] {
  const snake = name.replace(/[A-Z]/g, (ch) => `_${ch.toLowerCase()}`);
  const values = c.req.queries(name) ?? [];
  return snake === name ? values : [...values, ...(c.req.queries(snake) ?? [])];
}

/** The single value of a query parameter, or `undefined`; repeating it is a 400. */
export function queryOne(c: Context, name: string): string | undefined {
  const values = queryAll(c, name);
  if (values.length > 1) {
    throw badRequest(`query parameter ${name} given ${values.length} times`);
  }
  return values[0];
}

/** An optional int32 query parameter. */
export function queryInt(c: Context, name: string, { min = -(2 ** 31) } = {}): number | undefined {
  const raw = queryOne(c, name);
  if (raw === undefined || raw === '') {
    return undefined;
  }
  const n = Number(raw);
  if (!/^-?\d+$/.test(raw) || n < min || n > 2 ** 31 - 1) {
    throw badRequest(`invalid ${name} '${raw}': expected an integer${min === 0 ? ' ≥ 0' : ''}`);
  }
  return n;
}

/** An optional proto bool query parameter: `true` or `false`, as the gateway reads it. */
export function queryBool(c: Context, name: string): boolean | undefined {
  const raw = queryOne(c, name);
  if (raw === undefined || raw === '') {
    return undefined;
  }
  if (raw !== 'true' && raw !== 'false') {
    throw badRequest(`invalid ${name} '${raw}': expected true or false`);
  }
  return raw === 'true';
}

/** A repeated query parameter of positive int32 ids. */
export function queryIds(c: Context, name: string): number[] {
  return queryAll(c, name).map((raw) => {
    if (!ID_PATTERN.test(raw) || Number(raw) > 2 ** 31 - 1) {
      throw badRequest(`invalid ${name} '${raw}': expected a positive integer`);
    }
    return Number(raw);
  });
}

/**
 * Parses a protobuf enum from its name or number, as the gateway accepts both. `values` is the
 * enum's names in number order.
 */
export function parseEnum<T extends string>(
  values: readonly T[],
  raw: string | number,
  name: string,
): T {
  if (typeof raw === 'number' || /^\d+$/.test(raw)) {
    const byNumber = values[Number(raw)];
    if (byNumber !== undefined) {
      return byNumber;
    }
  } else if ((values as readonly string[]).includes(raw)) {
    return raw as T;
  }
  throw badRequest(`invalid ${name} '${raw}': expected one of ${values.join(', ')}`);
}

/** An optional enum query parameter. */
export function queryEnum<T extends string>(
  c: Context,
  values: readonly T[],
  name: string,
): T | undefined {
  const raw = queryOne(c, name);
  return raw === undefined || raw === '' ? undefined : parseEnum(values, raw, name);
}

/** A zod schema for an int64 field: a JSON number or decimal string that fits a safe integer. */
export const int64 = z.union([z.number(), z.string()]).transform((value, ctx) => {
  const n = typeof value === 'number' ? value : /^-?\d+$/.test(value) ? Number(value) : NaN;
  if (!Number.isSafeInteger(n)) {
    ctx.addIssue({ code: 'custom', message: `expected an integer, got ${JSON.stringify(value)}` });
    return z.NEVER;
  }
  return n;
});

/** A zod schema for an int32 field (number or numeric string, as protobuf JSON allows). */
export const int32 = int64.refine((n) => n >= -(2 ** 31) && n <= 2 ** 31 - 1, {
  message: 'expected a 32-bit integer',
});

/** A free-form JSON object (a protobuf Struct). */
export const jsonObject = z.record(z.string(), z.unknown());

/** An RFC 3339 timestamp, returned as epoch milliseconds. Accepts offsets, as the harness sends `+00:00`. */
export const timestamp = z
  .string()
  .regex(
    /^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$/,
    'expected an RFC 3339 timestamp',
  )
  .transform((value, ctx) => {
    const ms = Date.parse(value.replace(' ', 'T'));
    if (Number.isNaN(ms)) {
      ctx.addIssue({ code: 'custom', message: `invalid timestamp ${value}` });
      return z.NEVER;
    }
    return ms;
  });
