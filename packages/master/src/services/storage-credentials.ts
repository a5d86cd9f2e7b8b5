import type { JsonObject } from '@determined-ts/api';

/** The keys of each cloud type that hold credentials, never where the data is. */
const CREDENTIAL_KEYS: Readonly<Record<string, readonly string[]>> = {
  s3: ['access_key', 'secret_key'],
  azure: ['connection_string', 'account_url', 'credential'],
};

/** Where a block's objects live; credentials are only lent between blocks of the same place. */
function placeOf(storage: JsonObject): string | undefined {
  switch (storage.type) {
    case 's3':
      return JSON.stringify([storage.bucket, storage.endpoint_url ?? null]);
    case 'azure':
      return JSON.stringify([storage.container]);
    default:
      return undefined;
  }
}

const isSet = (value: unknown): boolean => value !== undefined && value !== null && value !== '';

/**
 * An experiment's `checkpoint_storage` with the credentials of the master's own (`master.yaml`)
 * when it has none and names the same bucket or container, so the master reads and deletes
 * with the keys it was given rather than falling to the environment's chain. Without keys of
 * its own on either side the block is returned as it is, and the store takes the master's
 * environment (AWS's chain, `AZURE_STORAGE_CONNECTION_STRING`). GCS blocks carry no
 * credentials: the master's `GOOGLE_APPLICATION_CREDENTIALS` serves them.
 */
export function withMasterCredentials(storage: JsonObject, masters: JsonObject): JsonObject {
  const type = String(storage.type);
  const keys = Object.hasOwn(CREDENTIAL_KEYS, type) ? CREDENTIAL_KEYS[type] : undefined;
  const place = placeOf(storage);
  if (keys === undefined || place === undefined || masters.type !== storage.type) {
    return storage;
  }
  if (placeOf(masters) !== place || keys.some((key) => isSet(storage[key]))) {
    return storage;
  }
  const lent: JsonObject = { ...storage };
  for (const key of keys) {
    if (isSet(masters[key])) {
      lent[key] = masters[key];
    }
  }
  return lent;
}
