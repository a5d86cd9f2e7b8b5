import { spawnSync } from 'node:child_process';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { rootCertificates } from 'node:tls';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { selfSignedCert, serveHttps, startAuthMaster, tempDir } from '../../test/auth-helpers.js';
import type { AuthMaster } from '../../test/auth-helpers.js';
import { createClient } from '../client.js';
import { ApiError, NetworkError } from '../errors.js';
import { loadMasterCert } from './certs.js';
import { openSession } from './session.js';
import type { SessionOptions } from './session.js';
import { createTlsTransport, tlsConnectOptions } from './tls-fetch.js';

const hasOpenssl = spawnSync('openssl', ['version'], { stdio: 'ignore' }).status === 0;
if (!hasOpenssl) {
  process.stderr.write('tls.test.ts: the HTTPS tests are skipped: no openssl on PATH\n');
}

/** Why the TLS handshake failed, from the NetworkError the SDK throws. */
async function handshakeFailure(session: Promise<unknown>): Promise<string> {
  const err = await session.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(NetworkError);
  // Global fetch says only "fetch failed"; the TLS error is further down the cause chain.
  const messages: string[] = [];
  for (let e: unknown = err; e instanceof Error; e = e.cause) {
    messages.push(e.message);
  }
  return messages.join(' <- ');
}

describe.skipIf(!hasOpenssl)('an HTTPS master with a self-signed certificate', () => {
  let master: AuthMaster;
  let dir: { path: string; cleanup: () => Promise<void> };
  let server: { port: number; close: () => Promise<void> };
  let certPath = '';
  let certPem = '';
  let url = '';

  beforeAll(async () => {
    master = await startAuthMaster();
    dir = await tempDir();
    // Issued to det.internal only: reached at 127.0.0.1, it verifies only against that name.
    const cert = await selfSignedCert(dir.path, 'det.internal');
    certPath = cert.certPath;
    certPem = cert.certPem;
    server = await serveHttps(master.appFetch, cert);
    url = `https://127.0.0.1:${server.port}`;
  });
  afterAll(async () => {
    await server.close();
    await master.close();
    await dir.cleanup();
  });

  let configs = 0;
  /** Session options with a fresh config dir (no cached token) and `env`. */
  const opts = (options: SessionOptions, env: Record<string, string> = {}): SessionOptions => ({
    master: url,
    retry: { attempts: 1, baseDelayMs: 0 },
    ...options,
    env: { DET_DEBUG_CONFIG_PATH: join(dir.path, `config-${(configs += 1)}`), ...env },
  });

  it('is refused by default: the certificate is not trusted', async () => {
    expect(await handshakeFailure(openSession(opts({})))).toMatch(/self-signed certificate/);
  });

  it.each(['noverify', 'NoVerify'])('is reached with DET_MASTER_CERT_FILE=%s', async (value) => {
    const client = await openSession(opts({}, { DET_MASTER_CERT_FILE: value }));
    const me = await client.request<{ user: { username: string } }>('GET', '/api/v1/me');
    expect(me.user.username).toBe('determined');
  });

  it('checks the certificate name even when its PEM is trusted', async () => {
    expect(
      await handshakeFailure(openSession(opts({}, { DET_MASTER_CERT_FILE: certPath }))),
    ).toMatch(/IP: 127.0.0.1 is not in the cert's list/);
  });

  it('is reached with the PEM and DET_MASTER_CERT_NAME naming the certificate', async () => {
    const client = await openSession(
      opts({}, { DET_MASTER_CERT_FILE: certPath, DET_MASTER_CERT_NAME: 'det.internal' }),
    );
    expect(client.baseUrl).toBe(url);
    await expect(client.request('GET', '/api/v1/me')).resolves.toBeDefined();
  });

  it('fails when DET_MASTER_CERT_NAME names another host', async () => {
    expect(
      await handshakeFailure(
        openSession(
          opts({}, { DET_MASTER_CERT_FILE: certPath, DET_MASTER_CERT_NAME: 'other.example' }),
        ),
      ),
    ).toMatch(/Host: other.example\.? is not in the cert's altnames: DNS:det.internal/);
  });

  it('ignores a DET_MASTER_CERT_FILE that does not exist, as Determined does', async () => {
    const missing = join(dir.path, 'missing.pem');
    expect(
      await handshakeFailure(
        openSession(
          opts({}, { DET_MASTER_CERT_FILE: missing, DET_MASTER_CERT_NAME: 'det.internal' }),
        ),
      ),
    ).toMatch(/self-signed certificate/);
  });

  it('lets explicit options override the environment entirely', async () => {
    const client = await openSession(
      opts(
        { certPath, certName: 'det.internal' },
        { DET_MASTER_CERT_FILE: join(dir.path, 'missing.pem'), DET_MASTER_CERT_NAME: 'x.example' },
      ),
    );
    await expect(client.request('GET', '/api/v1/me')).resolves.toBeDefined();
    // An explicit certName alone drops env's noverify: the default CAs refuse the certificate.
    expect(
      await handshakeFailure(
        openSession(opts({ certName: 'det.internal' }, { DET_MASTER_CERT_FILE: 'noverify' })),
      ),
    ).toMatch(/self-signed certificate/);
    await expect(openSession(opts({ noverify: true, certPath }))).rejects.toThrow(
      /certPath and noverify cannot be used together/,
    );
  });

  it("trusts the PEM Determined's certs.json holds for this master", async () => {
    const options = opts({}, { DET_MASTER_CERT_NAME: 'det.internal' });
    const config = options.env?.DET_DEBUG_CONFIG_PATH ?? '';
    await mkdir(config, { recursive: true });
    await writeFile(join(config, 'certs.json'), JSON.stringify({ [`${url}`]: certPem }));
    const client = await openSession(options);
    await expect(client.request('GET', '/api/v1/me')).resolves.toBeDefined();

    await writeFile(join(config, 'certs.json'), JSON.stringify({ 'https://other:443': certPem }));
    expect(await handshakeFailure(openSession(options))).toMatch(/self-signed certificate/);
  });

  it('streams answers, reports error statuses and honours an abort signal', async () => {
    const transport = createTlsTransport({ pem: certPem, noverify: false, name: 'det.internal' });
    const client = createClient({ baseUrl: url, ...transport, retry: { attempts: 1 } });
    const err = await client.request('GET', '/api/v1/me').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ApiError);
    expect((err as ApiError).status).toBe(401);
    const controller = new AbortController();
    controller.abort(new Error('stop'));
    await expect(
      client.request('GET', '/api/v1/master', { signal: controller.signal }),
    ).rejects.toThrow('stop');
    const info = await client.request<{ version: string }>('GET', '/api/v1/master');
    expect(info.version).toBe('test');
  });

  it('reads large bodies as Node streams over the same TLS settings', async () => {
    const { openBody } = createTlsTransport({
      pem: certPem,
      noverify: false,
      name: 'det.internal',
    });
    const res = await openBody(`${url}/api/v1/master`, {
      headers: {},
      signal: new AbortController().signal,
    });
    const chunks: Uint8Array[] = [];
    for await (const chunk of res.body) {
      chunks.push(chunk);
    }
    expect(res.status).toBe(200);
    expect(JSON.parse(Buffer.concat(chunks).toString())).toMatchObject({ version: 'test' });
    const strict = createTlsTransport({ pem: undefined, noverify: false, name: undefined });
    await expect(
      strict.openBody(`${url}/api/v1/master`, {
        headers: {},
        signal: new AbortController().signal,
      }),
    ).rejects.toThrow(/self-signed certificate/);
  });
});

describe('tlsConnectOptions', () => {
  it('adds the PEM to the default CA bundle rather than replacing it', () => {
    const options = tlsConnectOptions({ pem: 'PEM', noverify: false, name: undefined });
    expect(options.ca).toEqual([...rootCertificates, 'PEM']);
    expect(options.rejectUnauthorized).toBe(true);
    expect(options.checkServerIdentity).toBeUndefined();
  });
});

describe('loadMasterCert', () => {
  it('needs nothing when nothing is configured', async () => {
    const d = await tempDir();
    try {
      await expect(loadMasterCert('https://h:443', {}, {}, d.path)).resolves.toEqual({
        pem: undefined,
        noverify: false,
        name: undefined,
      });
    } finally {
      await d.cleanup();
    }
  });

  it('falls back to the legacy master.crt when there is no certs.json', async () => {
    const d = await tempDir();
    try {
      await writeFile(join(d.path, 'master.crt'), 'LEGACY');
      const cert = await loadMasterCert('https://h:443', {}, { DET_MASTER_CERT_NAME: '' }, d.path);
      expect(cert).toEqual({ pem: 'LEGACY', noverify: false, name: undefined });
      await writeFile(join(d.path, 'certs.json'), '{}');
      expect((await loadMasterCert('https://h:443', {}, {}, d.path)).pem).toBeUndefined();
      await writeFile(join(d.path, 'certs.json'), '["not a map"]');
      await expect(loadMasterCert('https://h:443', {}, {}, d.path)).rejects.toThrow(/corrupt/);
    } finally {
      await d.cleanup();
    }
  });
});
