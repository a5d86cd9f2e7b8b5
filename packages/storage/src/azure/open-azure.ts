import type { BodyOpener } from '../common.js';
import { checkpointKeyPrefix } from '../config.js';
import type { AzureStorageConfig } from '../config.js';
import { StorageConfigError } from '../errors.js';
import { resolveAzureAccess } from './azure-auth.js';
import type { AzureAccess } from './azure-auth.js';
import { AzureContainer } from './azure-container.js';
import { AzureStore } from './azure-store.js';

export interface AzureOpenOptions {
  /**
   * Read for `AZURE_STORAGE_CONNECTION_STRING` when the config carries no credentials; the
   * process environment is never read unless passed here.
   */
  env?: Readonly<Record<string, string | undefined>>;
  /** The transport blob bodies are read with (tests put a faulty one in between). */
  openBody?: BodyOpener;
}

/** Containers kept open: each holds two clients, and a signed SAS worth reusing. */
const MAX_OPEN_CONTAINERS = 32;
const openContainers = new Map<string, AzureContainer>();

/**
 * A config's `container` split as Determined's Python SDK uses it: the container is its first
 * segment, the rest a path inside it (`container: ckpts/team-a` puts checkpoint blobs at
 * `team-a/<uuid>/…` in container `ckpts`, as `posixpath.join(container, uuid, path)` does).
 */
export function splitContainer(container: string): { name: string; prefix: string } {
  const [name = '', ...rest] = container.split('/');
  const parts = rest.filter((part) => part !== '' && part !== '.');
  if (name === '' || parts.includes('..')) {
    throw new StorageConfigError(
      'container',
      `checkpoint_storage.container must be a container name, optionally followed by a path ` +
        `without '..', got ${JSON.stringify(container)}`,
    );
  }
  return { name, prefix: parts.join('/') };
}

/**
 * Where a container is, as locations show it, like the web UI's: `<account_url>/<container>`
 * when the config names the account (without its query: a SAS is a credential), else
 * `azure://<container>`.
 */
function rootOf(config: AzureStorageConfig, name: string): string {
  if (config.accountUrl !== undefined && config.accountUrl !== '') {
    try {
      const url = new URL(config.accountUrl);
      return `${url.origin}${url.pathname.replace(/\/+$/, '')}/${name}`;
    } catch {
      // Refused with its reason when the access is resolved; nothing to show meanwhile.
    }
  }
  return `azure://${name}`;
}

/**
 * The container an access and name lead to, shared by every store of the same account,
 * credentials and container (the least recently used of more than 32 is dropped).
 */
function openAzureContainer(access: AzureAccess, name: string): AzureContainer {
  // The secret is part of the key only as a hash: the map may show up in a heap snapshot.
  const key = JSON.stringify([access.serviceUrl, name, access.auth.kind, access.secretHash]);
  const cached = openContainers.get(key);
  if (cached !== undefined) {
    openContainers.delete(key); // re-inserted below: the map's order is the LRU order
    openContainers.set(key, cached);
    return cached;
  }
  const container = new AzureContainer({ access, name });
  openContainers.set(key, container);
  for (const oldKey of openContainers.keys()) {
    if (openContainers.size <= MAX_OPEN_CONTAINERS) {
      break;
    }
    openContainers.delete(oldKey);
  }
  return container;
}

/**
 * The store of checkpoint `uuid` under an `azure` config (`[<path>/]<uuid>/…` in the
 * container). Credentials, first match wins: the config's `connection_string`; its
 * `account_url` with `credential` (an account key, or a SAS token: see `isSasToken`);
 * `AZURE_STORAGE_CONNECTION_STRING` from `options.env`; `account_url` alone (anonymous, for a
 * public container). Nothing is contacted here.
 *
 * Throws a `StorageConfigError` for a malformed `container`, connection string or account URL,
 * and a `StorageUnreachableError` (`no_access`) saying credentials are missing when there are
 * none and no account either.
 */
export function openAzureStore(
  config: AzureStorageConfig,
  uuid: string,
  options: AzureOpenOptions = {},
): AzureStore {
  const { name, prefix } = splitContainer(config.container);
  const access = resolveAzureAccess(config, options.env ?? {});
  const container =
    options.openBody === undefined
      ? openAzureContainer(access, name)
      : new AzureContainer({ access, name, openBody: options.openBody });
  return new AzureStore(container, checkpointKeyPrefix(prefix, uuid), rootOf(config, name));
}
