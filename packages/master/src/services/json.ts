import type { JsonObject } from '@determined-ts/api';

/** Parses a JSON column written by this master; the stored text is always an object or array. */
export function parseJsonObject(text: string): JsonObject {
  return JSON.parse(text) as JsonObject;
}

/** Serialises a JSON value with object keys sorted, so equal configs compare equal as text. */
export function canonicalJson(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) =>
    v !== null && typeof v === 'object' && !Array.isArray(v)
      ? Object.fromEntries(Object.entries(v).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)))
      : v,
  );
}
