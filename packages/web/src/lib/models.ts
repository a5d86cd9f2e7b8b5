// Pure helpers for the model registry pages.
import { ALIAS_NAME_PATTERN, LATEST_VERSION_ALIAS } from '@determined-ts/api';
import type { JsonObject } from '@determined-ts/api';

/** The models list's archived filter: hide them (the default), show them too, or only them. */
export const ARCHIVED_FILTERS = ['hide', 'show', 'only'] as const;
export type ArchivedFilter = (typeof ARCHIVED_FILTERS)[number];

/** The URL's archived filter; anything else is the default, `hide`. */
export function readArchivedFilter(raw: string | undefined): ArchivedFilter {
  return (ARCHIVED_FILTERS as readonly string[]).includes(raw ?? '')
    ? (raw as ArchivedFilter)
    : 'hide';
}

/** The master's `archived` query value for a filter: `undefined` asks for both. */
export function archivedQuery(filter: ArchivedFilter): boolean | undefined {
  switch (filter) {
    case 'hide':
      return false;
    case 'only':
      return true;
    case 'show':
      return undefined;
    default: {
      const never: never = filter;
      return never;
    }
  }
}

/** Labels typed as `a, b, c`: trimmed, empty ones dropped, duplicates dropped keeping the first. */
export function parseLabels(text: string): string[] {
  const labels: string[] = [];
  for (const raw of text.split(',')) {
    const label = raw.trim();
    if (label !== '' && !labels.includes(label)) {
      labels.push(label);
    }
  }
  return labels;
}

/** Why the master would refuse `alias` as an alias name, or `undefined` when it is fine. */
export function aliasNameProblem(alias: string): string | undefined {
  if (alias === '') {
    return 'Enter an alias name.';
  }
  if (alias === LATEST_VERSION_ALIAS) {
    return `'${LATEST_VERSION_ALIAS}' is reserved: it always means the highest version.`;
  }
  if (!ALIAS_NAME_PATTERN.test(alias)) {
    return 'An alias is a lowercase letter, then up to 63 lowercase letters, digits, _ or -.';
  }
  return undefined;
}

/** A version number typed in a form: a positive int32, else `undefined`. */
export function parseVersionNumber(text: string): number | undefined {
  const trimmed = text.trim();
  if (!/^[1-9]\d{0,9}$/.test(trimmed)) {
    return undefined;
  }
  const n = Number(trimmed);
  return n <= 2_147_483_647 ? n : undefined;
}

/** One alias event in words: `set to v3`, `moved v2 → v3`, `removed from v3`. */
export function describeAliasChange(event: {
  fromVersion: number | null;
  toVersion: number | null;
}): string {
  const { fromVersion, toVersion } = event;
  if (fromVersion === null) {
    return toVersion === null ? 'unchanged' : `set to v${toVersion}`;
  }
  return toVersion === null
    ? `removed from v${fromVersion}`
    : `moved v${fromVersion} → v${toVersion}`;
}

/** A metadata object as the editors show it: indented JSON, `{}` when empty. */
export function formatMetadata(metadata: JsonObject): string {
  return Object.keys(metadata).length === 0 ? '{}' : JSON.stringify(metadata, null, 2);
}

/** Metadata typed as JSON: a blank box is `{}`; anything but an object is a problem to show. */
export function parseMetadata(
  text: string,
): { metadata: JsonObject; problem?: undefined } | { metadata?: undefined; problem: string } {
  if (text.trim() === '') {
    return { metadata: {} };
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err: unknown) {
    const reason = err instanceof Error ? err.message : String(err);
    return { problem: `Metadata is not valid JSON: ${reason}` };
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    return { problem: 'Metadata must be a JSON object, such as {"team": "vision"}.' };
  }
  return { metadata: value as JsonObject };
}

/** Whether two JSON values are equal, whatever the order of their objects' keys. */
export function isSameJson(a: unknown, b: unknown): boolean {
  if (Array.isArray(a) || Array.isArray(b)) {
    return (
      Array.isArray(a) &&
      Array.isArray(b) &&
      a.length === b.length &&
      a.every((item, i) => isSameJson(item, b[i]))
    );
  }
  if (typeof a === 'object' && a !== null && typeof b === 'object' && b !== null) {
    const aObject = a as JsonObject;
    const bObject = b as JsonObject;
    const keys = Object.keys(aObject);
    return (
      keys.length === Object.keys(bObject).length &&
      keys.every((key) => Object.hasOwn(bObject, key) && isSameJson(aObject[key], bObject[key]))
    );
  }
  return Object.is(a, b);
}

/** The text fields that a model or a version editor can change. */
const TEXT_FIELDS = ['name', 'description', 'comment', 'notes'] as const;
type TextField = (typeof TEXT_FIELDS)[number];

/** What a model or version editor holds: text as typed, parsed only on save. */
export type RegistryEdits = { [K in TextField]?: string } & {
  /** Comma-separated, as {@link parseLabels} reads them. */
  labels?: string;
  /** JSON text, as {@link parseMetadata} reads it. */
  metadata?: string;
};

/** The stored model or version the editor started from. */
export type RegistryStored = { [K in TextField]?: string } & {
  labels: readonly string[];
  metadata: JsonObject;
};

/** A PATCH body for a model (`PatchModelRequest`) or a version (`PatchModelVersionRequest`). */
export type RegistryPatch = { [K in TextField]?: string } & {
  labels?: string[];
  metadata?: JsonObject;
};

/**
 * The PATCH body of the edits that differ from `stored` (`{}` when nothing changed), or the
 * problem that keeps it from being sent: metadata that is not a JSON object.
 */
export function buildRegistryPatch(
  stored: RegistryStored,
  edits: RegistryEdits,
): { patch: RegistryPatch; problem?: undefined } | { patch?: undefined; problem: string } {
  const patch: RegistryPatch = {};
  for (const key of TEXT_FIELDS) {
    const value = edits[key];
    if (value !== undefined && value !== stored[key]) {
      patch[key] = value;
    }
  }
  if (edits.labels !== undefined) {
    const labels = parseLabels(edits.labels);
    if (!isSameJson(labels, stored.labels)) {
      patch.labels = labels;
    }
  }
  if (edits.metadata !== undefined) {
    const parsed = parseMetadata(edits.metadata);
    if (parsed.problem !== undefined) {
      return { problem: parsed.problem };
    }
    if (!isSameJson(parsed.metadata, stored.metadata)) {
      patch.metadata = parsed.metadata;
    }
  }
  return { patch };
}
