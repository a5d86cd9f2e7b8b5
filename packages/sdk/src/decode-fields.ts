import type { JsonObject } from '@determined-ts/api';
import { decodeInt64 } from '@determined-ts/api';

/*
 * The field checks the decoders share. A malformed field throws a DecodeError (a TypeError, as
 * the decoders document) naming the field, what was expected and what came; `request()` turns
 * it into an UnexpectedResponseError that names the call as well.
 */

/** A wire field is missing or of the wrong type; `field` is its path (`checkpoints[0].uuid`). */
export class DecodeError extends TypeError {
  readonly field: string;

  constructor(field: string, expected: string, value: unknown) {
    super(
      value === undefined
        ? `field ${field}: missing (expected ${expected})`
        : `field ${field}: expected ${expected}, got ${describeValue(value)}`,
    );
    this.name = 'DecodeError';
    this.field = field;
  }
}

/** A short, readable account of a JSON value: `42`, `"abc"`, `null`, `an array`, `an object`. */
export function describeValue(value: unknown): string {
  if (Array.isArray(value)) {
    return value.length === 0 ? 'an empty array' : 'an array';
  }
  if (value !== null && typeof value === 'object') {
    return 'an object';
  }
  const text = JSON.stringify(value) ?? String(value);
  return text.length <= 60 ? text : `${text.slice(0, 59)}…`;
}

export function fail(field: string, expected: string, value: unknown): never {
  throw new DecodeError(field, expected, value);
}

export function isObject(value: unknown): value is JsonObject {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

export function object(value: unknown, field: string): JsonObject {
  return isObject(value) ? value : fail(field, 'an object', value);
}

export function array(value: unknown, field: string): unknown[] {
  return Array.isArray(value) ? (value as unknown[]) : fail(field, 'an array', value);
}

/** An array, or `[]` when the field is absent (proto3 omits nothing, but older masters did). */
export function optionalArray(value: unknown, field: string): unknown[] {
  return value === undefined || value === null ? [] : array(value, field);
}

export function string(value: unknown, field: string): string {
  return typeof value === 'string' ? value : fail(field, 'a string', value);
}

export function stripState<T extends string>(value: unknown, field: string): T {
  if (typeof value !== 'string' || !value.startsWith('STATE_')) {
    fail(field, 'a STATE_ value', value);
  }
  return value.slice('STATE_'.length) as T;
}

export function date(value: unknown, field: string): Date {
  const d = typeof value === 'string' ? new Date(value) : undefined;
  if (d === undefined || Number.isNaN(d.getTime())) {
    fail(field, 'an RFC 3339 timestamp', value);
  }
  return d;
}

export function optionalDate(value: unknown, field: string): Date | undefined {
  return value === undefined || value === null || value === '' ? undefined : date(value, field);
}

export function int(value: unknown, field: string): number {
  const n = decodeInt64(value);
  return n === undefined ? fail(field, 'an integer', value) : n;
}

/** An int64 that may be absent (`undefined`/`null` give `fallback`), but not of another type. */
export function optionalInt(value: unknown, field: string, fallback: number): number {
  return value === undefined || value === null ? fallback : int(value, field);
}

/** `field` plus a map key, quoted when it is not a plain identifier: `resources["a b"]`. */
export function keyOf(field: string, key: string): string {
  return /^[\w./-]+$/.test(key) ? `${field}[${key}]` : `${field}[${JSON.stringify(key)}]`;
}
