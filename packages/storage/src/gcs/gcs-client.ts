import { Storage } from '@google-cloud/storage';

import { abortReason } from '../common.js';
import type { BodyOpener } from '../common.js';
import { StorageUnreachableError } from '../errors.js';
import { raceAbort } from '../http/idle-timeout.js';
import { openKeptAliveBody } from '../http/raw-body.js';
import { fromCredentialsError } from './gcs-errors.js';
import { UploadAgents } from './gcs-http.js';

/** Google's endpoint for both the JSON and the XML API. */
export const GCS_ENDPOINT = 'https://storage.googleapis.com';
/** A control-plane request (list, metadata, delete) that takes longer than this fails. */
const CONTROL_TIMEOUT_MS = 60_000;

export interface GcsClientOptions {
  /**
   * An emulator (`STORAGE_EMULATOR_HOST`): requests go there, with no credentials, as Google's
   * own clients do. `undefined` for Google Cloud Storage.
   */
  emulatorHost: string | undefined;
  /** A service account key file (`GOOGLE_APPLICATION_CREDENTIALS`); else Google's default chain. */
  keyFilename: string | undefined;
  /** How object bodies are read. @default the storage package's socket transport, kept alive */
  openBody?: BodyOpener | undefined;
}

/**
 * `STORAGE_EMULATOR_HOST` as a base URL. Google's clients expect a URL (its Python client uses
 * the value verbatim; its Node client prefixes a bare `host:port` with https); a bare
 * `host:port` is taken here as plain HTTP, what emulators on loopback serve.
 */
function emulatorEndpoint(host: string): string {
  const withScheme = /^https?:\/\//i.test(host) ? host : `http://${host}`;
  return withScheme.replace(/\/+$/, '');
}

/**
 * What every store of one endpoint and one set of credentials shares: the
 * @google-cloud/storage client of the control plane (listing, metadata, deletes) with its
 * access tokens, the transport of object bodies, and the agents of uploads.
 */
export class GcsClient {
  readonly storage: Storage;
  /** The base URL of the JSON API (`…/storage/v1/…`, `…/upload/storage/v1/…`) and the XML API. */
  readonly endpoint: string;
  readonly isEmulator: boolean;
  readonly openBody: BodyOpener;
  readonly agents = new UploadAgents();
  /**
   * Whether V4 signed URLs may be asked of the library: always against Google (a key file signs
   * locally, other credentials through IAM's signBlob), against an emulator only with a key
   * file, as there are no other credentials there and none may be looked for.
   */
  readonly canSignUrls: boolean;
  readonly #keyFilename: string | undefined;

  constructor(options: GcsClientOptions) {
    this.isEmulator = options.emulatorHost !== undefined;
    this.endpoint =
      options.emulatorHost === undefined ? GCS_ENDPOINT : emulatorEndpoint(options.emulatorHost);
    this.openBody = options.openBody ?? openKeptAliveBody;
    this.#keyFilename = options.keyFilename;
    this.canSignUrls = !this.isEmulator || options.keyFilename !== undefined;
    this.storage = new Storage({
      // Always explicit: the library would otherwise take STORAGE_EMULATOR_HOST from
      // process.env itself. With an endpoint of its own it sends no credentials unless told:
      // told so for Google's endpoint, never for an emulator.
      apiEndpoint: this.endpoint,
      useAuthWithCustomEndpoint: !this.isEmulator,
      ...(options.keyFilename === undefined ? {} : { keyFilename: options.keyFilename }),
      // One attempt per call: the store retries transient failures with its own backoff (the
      // library's starts at 1 s and doubles, and leaves deletes alone).
      retryOptions: { autoRetry: false },
      timeout: CONTROL_TIMEOUT_MS,
    });
    // The library sets its JSON API base to a process.env STORAGE_EMULATOR_HOST verbatim, without
    // the /storage/v1 every GCS emulator serves the API under.
    this.storage.baseUrl = `${this.endpoint}/storage/v1`;
  }

  /**
   * The headers that authenticate a request: none for an emulator, else a bearer token from the
   * library's auth client (which caches it and refreshes it before it expires). Throws a
   * `StorageUnreachableError` (`no_access`) when there are no usable credentials, at once, as
   * Determined's Python SDK does, rather than sending anonymous requests.
   */
  async authHeaders(signal?: AbortSignal): Promise<Record<string, string>> {
    if (this.isEmulator) {
      return {};
    }
    const pending = this.storage.authClient.getAccessToken();
    let token: string | null | undefined;
    try {
      token = signal === undefined ? await pending : await raceAbort(pending, signal);
    } catch (err: unknown) {
      if (signal?.aborted === true) {
        throw abortReason(signal);
      }
      throw fromCredentialsError(err, this.#keyFilename);
    }
    if (token === null || token === undefined || token === '') {
      throw new StorageUnreachableError(
        'gcs',
        'no_access',
        'Google Cloud credentials gave no access token',
      );
    }
    return { authorization: `Bearer ${token}` };
  }

  /** Closes the upload connections kept alive (the LRU of open-gcs.ts drops this client). */
  close(): void {
    this.agents.destroy();
  }
}
