// Helpers for tests of presigned URLs: a source that signs as the master does, a transport that
// records what clients asked for, and service account key files for GCS signing.
import { generateKeyPairSync } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';

import type { CheckpointStore } from '../src/backend.js';
import type { BodyOpener } from '../src/common.js';
import type { PresignedListing, PresignedSource } from '../src/presigned/presigned-store.js';

/** A source that lists and signs `signer`'s checkpoint on every call, as the master does. */
export interface TestSource {
  source: PresignedSource;
  /** Listings handed out so far. */
  readonly calls: number;
  /** Every listing handed out, in order. */
  readonly listings: PresignedListing[];
}

export interface TestSourceOptions {
  /** Asked of the signer; call `n` (1-based) asks for `lifetimeS + n - 1`, so URLs of two listings differ. @default 600 */
  lifetimeS?: number;
  /** The master's clock: listings expire `lifetimeS` after it. @default the URLs' own expiry */
  clock?: () => number;
  /** Runs before call `n` lists the store (e.g. to rewrite an object between listings). */
  beforeListing?: (n: number) => void | Promise<void>;
}

export function testSource(
  signer: CheckpointStore,
  { lifetimeS = 600, clock, beforeListing }: TestSourceOptions = {},
): TestSource {
  const listings: PresignedListing[] = [];
  const presign = signer.presignRead?.bind(signer);
  if (presign === undefined) {
    throw new Error(`${signer.type} stores cannot sign`);
  }
  const source: PresignedSource = async (signal) => {
    const n = listings.length + 1;
    await beforeListing?.(n);
    const lifetime = lifetimeS + n - 1;
    const objects = await signer.list(signal);
    const signed = await Promise.all(
      objects.map(async (o) => (o.path.endsWith('/') ? undefined : presign(o, lifetime, signal))),
    );
    const expiries = signed.flatMap((s) => (s === undefined ? [] : [s.expiresAtMs]));
    const listing: PresignedListing = {
      storageType: signer.type,
      location: signer.location,
      expiresAtMs: clock === undefined ? Math.min(...expiries) : clock() + lifetime * 1000,
      objects: objects.map((o, i) => ({ ...o, url: signed[i]?.url })),
    };
    listings.push(listing);
    return listing;
  };
  return {
    source,
    get calls() {
      return listings.length;
    },
    listings,
  };
}

/** One GET a client sent, as a recording transport saw it. */
export interface RecordedGet {
  url: string;
  range: string | undefined;
  ifMatch: string | undefined;
  status: number;
}

/** Wraps `open` to record every GET and its status. */
export function recordingOpener(open: BodyOpener): { openBody: BodyOpener; gets: RecordedGet[] } {
  const gets: RecordedGet[] = [];
  const openBody: BodyOpener = async (url, init) => {
    const res = await open(url, init);
    gets.push({
      url,
      range: init.headers.range,
      ifMatch: init.headers['if-match'],
      status: res.status,
    });
    return res;
  };
  return { openBody, gets };
}

/** A service account key file whose account the fake GCS knows by `publicKeyPem`. */
export interface ServiceAccountKey {
  path: string;
  clientEmail: string;
  publicKeyPem: string;
}

/**
 * Writes a service account key file into `dir`: a fresh RSA key pair, and a token endpoint that
 * nothing listens on (signing needs no token; anything that asked for one would fail).
 */
export async function writeServiceAccountKey(dir: string): Promise<ServiceAccountKey> {
  const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const clientEmail = 'checkpoints@det-test.iam.gserviceaccount.com';
  const path = join(dir, 'service-account.json');
  const key = {
    type: 'service_account',
    project_id: 'det-test',
    private_key_id: 'test-key-1',
    private_key: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
    client_email: clientEmail,
    client_id: '100000000000000000001',
    token_uri: 'http://127.0.0.1:9/token',
  };
  await writeFile(path, JSON.stringify(key));
  return {
    path,
    clientEmail,
    publicKeyPem: publicKey.export({ type: 'spki', format: 'pem' }).toString(),
  };
}
