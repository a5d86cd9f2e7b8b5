import { Agent, request as httpsRequest } from 'node:https';
import { Readable } from 'node:stream';
import { checkServerIdentity, rootCertificates } from 'node:tls';
import type { ConnectionOptions } from 'node:tls';

import { rawBodyOpener } from '@determined-ts/storage';

import type { BodyOpener, FetchLike } from '../client.js';
import type { MasterCert } from './certs.js';

/*
 * Global fetch takes no CA, no `rejectUnauthorized` and no name to verify against. The two ways
 * out are undici's own fetch with an Agent (a second copy of undici, ~1.5 MB, as a runtime
 * dependency of an SDK whose budget is zero) or this adapter: ~80 lines over node:https, where
 * those are plain `tls.connect` options. It carries only what the SDK sends a master: JSON
 * requests (bodies are buffered) and streamed responses (downloads). It does not follow
 * redirects nor ask for compression; a master does neither.
 */

/** The client transport for an `https://` master with its own certificate settings. */
export interface TlsTransport {
  fetch: FetchLike;
  /** Large bodies (archives), on sockets of their own with the same TLS settings. */
  openBody: BodyOpener;
}

/**
 * A transport for an `https://` master that trusts `cert.pem` on top of Node's bundled CAs (as
 * Determined appends its PEM to certifi's bundle), skips verification with `noverify`, and checks
 * the certificate against `cert.name` when given (the connection still goes to, and SNI still
 * names, the URL's host, as Determined's `assert_hostname` does). Other URLs go to global fetch,
 * and bodies of `http://` URLs to a plain socket.
 */
export function createTlsTransport(cert: MasterCert): TlsTransport {
  const tls = tlsConnectOptions(cert);
  return { fetch: tlsFetch(new Agent({ keepAlive: true, ...tls })), openBody: rawBodyOpener(tls) };
}

function tlsFetch(agent: Agent): FetchLike {
  return async (input, init) => {
    const request = new Request(input, init);
    const url = new URL(request.url);
    if (url.protocol !== 'https:') {
      return globalThis.fetch(input, init);
    }
    const signal = init?.signal ?? undefined;
    signal?.throwIfAborted();
    const body = request.body === null ? undefined : Buffer.from(await request.arrayBuffer());
    const headers: Record<string, string> = {};
    request.headers.forEach((value, key) => {
      headers[key] = value;
    });
    if (body !== undefined) {
      headers['content-length'] = String(body.byteLength);
    }
    return new Promise<Response>((resolve, reject) => {
      const req = httpsRequest(url, { method: request.method, headers, agent, signal }, (res) => {
        const status = res.statusCode ?? 500;
        const responseHeaders = new Headers();
        for (let i = 0; i + 1 < res.rawHeaders.length; i += 2) {
          responseHeaders.append(res.rawHeaders[i] ?? '', res.rawHeaders[i + 1] ?? '');
        }
        // fetch gives these no body, and Response refuses one.
        const hasNoBody =
          request.method === 'HEAD' || status === 204 || status === 205 || status === 304;
        if (hasNoBody) {
          res.resume();
        }
        resolve(
          new Response(hasNoBody ? null : Readable.toWeb(res), {
            status,
            statusText: res.statusMessage,
            headers: responseHeaders,
          }),
        );
      });
      req.once('error', reject);
      req.end(body);
    });
  };
}

/** The `tls.connect` options for `cert`: the PEM joins Node's bundled CAs, it does not replace them. */
export function tlsConnectOptions(cert: MasterCert): ConnectionOptions {
  // Keys are left out rather than set to undefined: tls.connect spreads these over its defaults.
  const options: ConnectionOptions = { rejectUnauthorized: !cert.noverify };
  if (cert.pem !== undefined) {
    options.ca = [...rootCertificates, cert.pem];
  }
  const name = cert.name;
  if (name !== undefined) {
    options.checkServerIdentity = (_host, peer) => checkServerIdentity(name, peer);
  }
  return options;
}
