import { readFile } from 'node:fs/promises';
import { join } from 'node:path';

import { errnoCode } from '@determined-ts/storage';

import { AuthenticationError } from '../errors.js';

/** How to trust a master's TLS certificate, as given by the caller. */
export interface CertOptions {
  /** A PEM file trusted in addition to the default CAs. */
  certPath?: string;
  /** The name the certificate must carry, when it differs from the URL's host. */
  certName?: string;
  /** Skip verification entirely. */
  noverify?: boolean;
}

/** The resolved trust settings for one master (determined-ai/determined: certs.py `Cert`). */
export interface MasterCert {
  /** Extra PEM to trust, on top of the default CA bundle. */
  pem: string | undefined;
  noverify: boolean;
  /** Hostname to verify the certificate against instead of the URL's. */
  name: string | undefined;
}

/**
 * Resolves trust settings as Determined's `certs.default_load` does:
 * - any explicit option wins, and env and the cert store are then ignored entirely;
 * - else `DET_MASTER_CERT_FILE`: `noverify` (any case) disables verification, an existing path
 *   is read, a missing one is ignored (Determined only warns; this SDK never logs);
 * - else the cert store `<config dir>/certs.json` (`{"<canonical url>": "<PEM>"}`), or the legacy
 *   `<config dir>/master.crt` when there is no store (read, not migrated: we leave the file alone);
 * - `DET_MASTER_CERT_NAME` names the host to verify against (empty: none).
 *
 * A corrupt `certs.json` is an {@link AuthenticationError}; Determined also deletes it, which we
 * leave to its CLI (the file holds certificates the user chose to trust).
 */
export async function loadMasterCert(
  masterUrl: string,
  explicit: CertOptions,
  env: Record<string, string | undefined>,
  configDir: string,
): Promise<MasterCert> {
  const noverify = explicit.noverify === true;
  if (
    nonEmpty(explicit.certPath) !== undefined ||
    nonEmpty(explicit.certName) !== undefined ||
    noverify
  ) {
    const certPath = nonEmpty(explicit.certPath);
    if (certPath !== undefined && noverify) {
      throw new TypeError('certPath and noverify cannot be used together');
    }
    return {
      pem: certPath === undefined ? undefined : await readFile(certPath, 'utf8'),
      noverify,
      name: nonEmpty(explicit.certName),
    };
  }
  const name = nonEmpty(env.DET_MASTER_CERT_NAME);
  const envPath = nonEmpty(env.DET_MASTER_CERT_FILE);
  if (envPath !== undefined) {
    if (envPath.toLowerCase() === 'noverify') {
      return { pem: undefined, noverify: true, name };
    }
    return { pem: await readIfExists(envPath), noverify: false, name };
  }
  return { pem: await storedCert(masterUrl, configDir), noverify: false, name };
}

/** True when the settings change nothing about default verification. */
export function isDefaultCert(cert: MasterCert): boolean {
  return cert.pem === undefined && !cert.noverify && cert.name === undefined;
}

async function storedCert(masterUrl: string, configDir: string): Promise<string | undefined> {
  const storePath = join(configDir, 'certs.json');
  const text = await readIfExists(storePath);
  if (text === undefined) {
    return readIfExists(join(configDir, 'master.crt'));
  }
  let store: unknown;
  try {
    store = JSON.parse(text);
  } catch {
    throw new AuthenticationError(`the certificate store ${storePath} is corrupt: not JSON`);
  }
  if (
    typeof store !== 'object' ||
    store === null ||
    Array.isArray(store) ||
    Object.values(store).some((pem) => typeof pem !== 'string')
  ) {
    throw new AuthenticationError(
      `the certificate store ${storePath} is corrupt: not a map of PEM strings`,
    );
  }
  return (store as Record<string, string>)[masterUrl];
}

async function readIfExists(path: string): Promise<string | undefined> {
  try {
    return await readFile(path, 'utf8');
  } catch (err: unknown) {
    if (errnoCode(err) === 'ENOENT') {
      return undefined;
    }
    throw err;
  }
}

function nonEmpty(value: string | undefined): string | undefined {
  return value === undefined || value === '' ? undefined : value;
}
