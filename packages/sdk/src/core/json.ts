import { encodeDouble } from '@determined-ts/api';

import { ArgumentError } from '../errors.js';

const MAX_DEPTH = 64;

/**
 * Returns a JSON-safe deep copy of `value` for a metrics or metadata report: NaN and ±Infinity
 * become Determined's strings (as the harness's `json_encode` does, since the master's JSON
 * cannot hold them), `Date`s become ISO strings and `undefined` object fields are dropped.
 * Copying at call time also means a report is not changed by later mutation of the caller's
 * object. Values JSON cannot carry throw an `ArgumentError` naming `rule`.
 */
export function toWireJson(value: unknown, rule: string, path = '', depth = 0): unknown {
  if (depth > MAX_DEPTH) {
    throw new ArgumentError(
      rule,
      `${rule}${path}: nested deeper than ${MAX_DEPTH} levels (a cycle?)`,
    );
  }
  switch (typeof value) {
    case 'number':
      return encodeDouble(value);
    case 'string':
    case 'boolean':
      return value;
    case 'object': {
      if (value === null) {
        return null;
      }
      if (value instanceof Date) {
        return value.toISOString();
      }
      if (Array.isArray(value)) {
        return value.map((v: unknown, i) =>
          toWireJson(v ?? null, rule, `${path}[${i}]`, depth + 1),
        );
      }
      const out: Record<string, unknown> = {};
      for (const [k, v] of Object.entries(value)) {
        if (v !== undefined) {
          out[k] = toWireJson(v, rule, `${path}.${k}`, depth + 1);
        }
      }
      return out;
    }
    case 'bigint':
    case 'function':
    case 'symbol':
    case 'undefined':
      throw new ArgumentError(rule, `${rule}${path}: a ${typeof value} cannot be sent as JSON`);
  }
}

/** Like {@link toWireJson} for a top-level object. */
export function toWireObject(value: unknown, rule: string): Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new ArgumentError(rule, `${rule} must be an object`);
  }
  return toWireJson(value, rule) as Record<string, unknown>;
}
