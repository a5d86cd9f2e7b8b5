import {
  BlobSASPermissions,
  ContainerSASPermissions,
  SASProtocol,
  generateBlobSASQueryParameters,
} from '@azure/storage-blob';

import type { PresignedRead } from '../backend.js';
import type { AzureAuth } from './azure-auth.js';

/**
 * The Blob service version our own requests speak (`x-ms-version`) and our SASes are signed for
 * (`sv`): generally available on Azure, and one azurite 3.35 knows.
 */
export const AZURE_API_VERSION = '2025-01-05';

/** How long the data plane's container SAS is valid, and how much of that it keeps in reserve. */
const SAS_LIFETIME_MS = 60 * 60 * 1000;
const SAS_RENEW_BEFORE_MS = 5 * 60 * 1000;

/** A blob name as a URL path: each segment percent-encoded, the `/`s kept. */
export function encodeBlobName(blobName: string): string {
  return blobName.split('/').map(encodeURIComponent).join('/');
}

/**
 * Read URLs for the blobs of one container: what the data plane GETs, and (with an expiry)
 * what can be handed to someone else to GET.
 *
 * With an account key, each URL carries a read-only SAS we sign ourselves: a container SAS valid
 * for an hour, signed when first needed and signed anew once less than 5 minutes are left, so
 * a request never leaves with a SAS about to lapse. No start time is signed: a client clock
 * ahead of Azure's would make a fresh SAS not yet valid. With a SAS the user gave, the URL
 * carries that SAS (and expires with it); with anonymous access, nothing.
 */
export class BlobReadUrls {
  readonly #containerUrl: string;
  readonly #containerName: string;
  readonly #auth: AzureAuth;
  readonly #now: () => number;
  readonly #protocol: SASProtocol;
  #signed: { query: string; expiresAtMs: number } | undefined;

  /**
   * @param containerUrl The container's URL, without query or trailing `/`.
   * @param now The clock SAS lifetimes are measured by. @default Date.now
   */
  constructor(
    containerUrl: string,
    containerName: string,
    auth: AzureAuth,
    now: () => number = Date.now,
  ) {
    this.#containerUrl = containerUrl;
    this.#containerName = containerName;
    this.#auth = auth;
    this.#now = now;
    // A SAS for an https account is refused over plain http, where anyone on the way could read it.
    this.#protocol = containerUrl.startsWith('https:')
      ? SASProtocol.Https
      : SASProtocol.HttpsAndHttp;
  }

  /**
   * The URL to GET blob `blobName` with. Without `expiresOn`: valid for at least 5 minutes. With
   * `expiresOn` and an account key: a SAS for this blob alone, valid until then (a user's SAS
   * expires when it expires; anonymous URLs never do).
   */
  blobReadUrl(blobName: string, expiresOn?: Date): string {
    const url = `${this.#containerUrl}/${encodeBlobName(blobName)}`;
    const query = this.#query(blobName, expiresOn);
    return query === '' ? url : `${url}?${query}`;
  }

  /**
   * A URL that reads blob `blobName` with no other credentials for `lifetimeS` seconds, and
   * until when it works. With an account key: a read-only SAS for this blob alone, valid for the
   * lifetime. With a SAS the store was given: that SAS, until its own expiry (`se`), whatever
   * was asked. Anonymously: the plain URL, which never expires and reports the lifetime asked
   * for, as does a SAS whose expiry is in a stored access policy (`si`), unknown here: a client
   * learns of its end from a 403, and asks for fresh URLs then.
   */
  presignedRead(blobName: string, lifetimeS: number): PresignedRead {
    // SAS times have whole seconds: the asked-for expiry is signed as it is.
    const askedMs = Math.floor(this.#now() / 1000) * 1000 + lifetimeS * 1000;
    const url = this.blobReadUrl(blobName, new Date(askedMs));
    const auth = this.#auth;
    const sasExpiryMs =
      auth.kind === 'sas' ? Date.parse(new URLSearchParams(auth.sas).get('se') ?? '') : Number.NaN;
    return { url, expiresAtMs: Number.isNaN(sasExpiryMs) ? askedMs : sasExpiryMs };
  }

  #query(blobName: string, expiresOn: Date | undefined): string {
    const auth = this.#auth;
    switch (auth.kind) {
      case 'anonymous':
        return '';
      case 'sas':
        return auth.sas;
      case 'key': {
        if (expiresOn !== undefined) {
          return generateBlobSASQueryParameters(
            {
              containerName: this.#containerName,
              blobName,
              permissions: BlobSASPermissions.parse('r'),
              expiresOn,
              protocol: this.#protocol,
              version: AZURE_API_VERSION,
            },
            auth.credential,
          ).toString();
        }
        const now = this.#now();
        if (this.#signed === undefined || this.#signed.expiresAtMs - now < SAS_RENEW_BEFORE_MS) {
          const expiresAtMs = now + SAS_LIFETIME_MS;
          const query = generateBlobSASQueryParameters(
            {
              containerName: this.#containerName,
              permissions: ContainerSASPermissions.parse('r'),
              expiresOn: new Date(expiresAtMs),
              protocol: this.#protocol,
              version: AZURE_API_VERSION,
            },
            auth.credential,
          ).toString();
          this.#signed = { query, expiresAtMs };
        }
        return this.#signed.query;
      }
      default: {
        const unknown: never = auth;
        throw new TypeError(`unknown Azure auth ${String(unknown)}`);
      }
    }
  }
}
