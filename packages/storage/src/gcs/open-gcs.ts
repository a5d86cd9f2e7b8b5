import type { BodyOpener } from '../common.js';
import { checkpointKeyPrefix } from '../config.js';
import type { GcsStorageConfig } from '../config.js';
import { GcsBucket } from './gcs-bucket.js';
import { GcsClient } from './gcs-client.js';
import { GcsStore } from './gcs-store.js';

export interface GcsOpenOptions {
  /**
   * Read for `STORAGE_EMULATOR_HOST` (an emulator's address, e.g. `http://127.0.0.1:4443`:
   * every request goes there, with no credentials, as Google's Python and Node clients do)
   * and `GOOGLE_APPLICATION_CREDENTIALS` (a service account key file). Without either, Google's
   * default chain finds the credentials (gcloud's application default credentials, the
   * metadata server on Google Cloud), as Determined's Python SDK does.
   * @default {} (no emulator, Google's default chain)
   */
  env?: Readonly<Record<string, string | undefined>>;
  /** The transport object bodies are read with (tests put a faulty one in between). */
  openBody?: BodyOpener;
}

/** Clients kept open: each holds access tokens and keep-alive sockets. */
const MAX_OPEN_CLIENTS = 16;
const openClients = new Map<string, GcsClient>();

/**
 * The client for an endpoint and a credentials file, shared by every store that uses the same
 * (the least recently used of more than 16 is closed), so a master serving many requests keeps
 * a few clients and their cached tokens, not one each.
 */
export function openGcsClient(options: GcsOpenOptions = {}): GcsClient {
  const env = options.env ?? {};
  const settings = {
    emulatorHost: env.STORAGE_EMULATOR_HOST === '' ? undefined : env.STORAGE_EMULATOR_HOST,
    keyFilename:
      env.GOOGLE_APPLICATION_CREDENTIALS === '' ? undefined : env.GOOGLE_APPLICATION_CREDENTIALS,
  };
  if (options.openBody !== undefined) {
    return new GcsClient({ ...settings, openBody: options.openBody });
  }
  const key = JSON.stringify([settings.emulatorHost ?? '', settings.keyFilename ?? '']);
  const cached = openClients.get(key);
  if (cached !== undefined) {
    openClients.delete(key); // re-inserted below: the map's order is the LRU order
    openClients.set(key, cached);
    return cached;
  }
  const client = new GcsClient(settings);
  openClients.set(key, client);
  for (const [oldKey, old] of openClients) {
    if (openClients.size <= MAX_OPEN_CLIENTS) {
      break;
    }
    openClients.delete(oldKey);
    old.close();
  }
  return client;
}

/** The store of checkpoint `uuid` under a `gcs` config (`gs://<bucket>/<prefix>/<uuid>/…`). */
export function openGcsStore(
  config: GcsStorageConfig,
  uuid: string,
  options: GcsOpenOptions = {},
): GcsStore {
  const bucket = new GcsBucket(openGcsClient(options), config.bucket);
  return new GcsStore(bucket, checkpointKeyPrefix(config.prefix, uuid));
}
