import { randomBytes } from 'node:crypto';
import type { Readable } from 'node:stream';

import { IntegrityError, StorageError } from '../errors.js';
import type { PartsUpload } from '../transfer/writer.js';
import type { GcsBucket } from './gcs-bucket.js';
import { classifyGcsFailure, parseGcsErrorBody } from './gcs-errors.js';
import { sendRequest } from './gcs-http.js';
import type { HttpAnswer, HttpRequestInit } from './gcs-http.js';

/*
 * Uploads, on plain HTTP requests of our own (see sendRequest): a whole object in one JSON API
 * multipart upload, whose metadata names its CRC32C for GCS to check (400 on a mismatch), and
 * large objects in an XML API multipart upload, as @google-cloud/storage's TransferManager
 * writes them (POST ?uploads, PUT ?partNumber&uploadId with `x-goog-hash: crc32c=…` that GCS
 * checks per part, POST ?uploadId with the part list, DELETE ?uploadId to abort). The library's
 * own XML multipart helper addresses `https://<bucket>.<endpoint host>/` only (no emulator, no
 * port), escapes no object name and buffers every part; its simple upload sends chunked bodies
 * and takes no AbortSignal. Bodies here stream from disk with an exact Content-Length.
 */

/** An object name as a URL path, `/` kept (the XML API addresses objects path-style). */
function encodeName(name: string): string {
  return name.split('/').map(encodeURIComponent).join('/');
}

function header(answer: HttpAnswer, name: string): string | undefined {
  const value = answer.headers[name];
  return Array.isArray(value) ? value[0] : value;
}

/**
 * One authenticated request; a non-2xx answer throws, classified. A stream in the body is
 * destroyed once the request is over, sent or not, so a failure never leaves a file open.
 */
async function send(
  bucket: GcsBucket,
  what: string,
  url: URL,
  init: HttpRequestInit,
): Promise<HttpAnswer> {
  try {
    const auth = await bucket.client.authHeaders(init.signal);
    const answer = await sendRequest(url, bucket.client.agents, {
      ...init,
      headers: { ...auth, ...init.headers },
    });
    if (answer.status >= 200 && answer.status <= 299) {
      return answer;
    }
    const { reason, message } = parseGcsErrorBody(answer.body);
    throw classifyGcsFailure(what, answer.status, reason, message);
  } finally {
    for (const piece of init.body ?? []) {
      if (!(piece instanceof Uint8Array)) {
        piece.destroy();
      }
    }
  }
}

/**
 * Writes a whole object of `size` bytes in one request, with its CRC32C (base64) for GCS to
 * check when given. A directory marker is a zero-byte object whose name ends in `/`, as
 * Determined's Python SDK writes it (`blob.upload_from_string(b"")`).
 */
export async function putWholeObject(
  bucket: GcsBucket,
  name: string,
  body: Uint8Array | Readable,
  size: number,
  crc32cBase64: string | undefined,
  signal?: AbortSignal,
): Promise<void> {
  const { client } = bucket;
  const boundary = `det-ts-${randomBytes(16).toString('hex')}`;
  const metadata = JSON.stringify({
    name,
    ...(crc32cBase64 === undefined ? {} : { crc32c: crc32cBase64 }),
  });
  const head = Buffer.from(
    `--${boundary}\r\ncontent-type: application/json; charset=UTF-8\r\n\r\n${metadata}\r\n` +
      `--${boundary}\r\ncontent-type: application/octet-stream\r\n\r\n`,
  );
  const tail = Buffer.from(`\r\n--${boundary}--\r\n`);
  const url = new URL(
    `${client.endpoint}/upload/storage/v1/b/${encodeURIComponent(bucket.name)}/o?uploadType=multipart`,
  );
  await send(bucket, `uploading ${bucket.uri(name)}`, url, {
    method: 'POST',
    headers: {
      'content-type': `multipart/related; boundary=${boundary}`,
      'content-length': String(head.length + size + tail.length),
    },
    body: [head, body, tail],
    signal,
  });
}

/** Starts an XML API multipart upload of `name`; its parts go in any order, in parallel. */
export async function startXmlMultipart(
  bucket: GcsBucket,
  name: string,
  signal?: AbortSignal,
): Promise<PartsUpload> {
  const base = `${bucket.client.endpoint}/${encodeURIComponent(bucket.name)}/${encodeName(name)}`;
  const xml = (what: string, query: string, init: HttpRequestInit): Promise<HttpAnswer> =>
    send(bucket, `${what} of ${bucket.uri(name)}`, new URL(`${base}?${query}`), init);

  const started = await xml('starting a multipart upload', 'uploads', {
    method: 'POST',
    headers: { 'content-length': '0', 'content-type': 'application/octet-stream' },
    signal,
  });
  const uploadId = /<UploadId>([^<]+)<\/UploadId>/.exec(started.body)?.[1];
  if (uploadId === undefined) {
    throw new StorageError(`starting a multipart upload of ${bucket.uri(name)}: no UploadId`);
  }
  const id = encodeURIComponent(uploadId);
  return {
    async uploadPart(partNumber, body, size, crc32cBase64, partSignal) {
      const answer = await xml(
        `uploading part ${partNumber}`,
        `partNumber=${partNumber}&uploadId=${id}`,
        {
          method: 'PUT',
          headers: { 'content-length': String(size), 'x-goog-hash': `crc32c=${crc32cBase64}` },
          body: [body],
          signal: partSignal,
        },
      );
      return header(answer, 'etag') ?? '';
    },
    async complete(parts, crc32cBase64, completeSignal) {
      const body = Buffer.from(
        '<CompleteMultipartUpload>' +
          [...parts]
            .sort((a, b) => a.partNumber - b.partNumber)
            .map(
              (p) => `<Part><PartNumber>${p.partNumber}</PartNumber><ETag>${p.etag}</ETag></Part>`,
            )
            .join('') +
          '</CompleteMultipartUpload>',
      );
      const answer = await xml('completing the multipart upload', `uploadId=${id}`, {
        method: 'POST',
        headers: { 'content-type': 'application/xml', 'content-length': String(body.length) },
        body: [body],
        signal: completeSignal,
      });
      await checkAssembled(bucket, name, header(answer, 'x-goog-generation'), crc32cBase64, {
        signal: completeSignal,
      });
    },
    async abort() {
      try {
        await xml('aborting the multipart upload', `uploadId=${id}`, {
          method: 'DELETE',
          headers: {},
        });
      } catch {
        // Best effort: GCS drops parts of uploads nobody completes after a while (lifecycle).
      }
    },
  };
}

/**
 * GCS checks each part's CRC32C but takes none for the whole object: compare the assembled
 * object's own CRC32C (from its metadata) with the one of the bytes sent, and delete that
 * generation when they differ, so no corrupt object stays under the name.
 */
async function checkAssembled(
  bucket: GcsBucket,
  name: string,
  generation: string | undefined,
  crc32cBase64: string,
  { signal }: { signal: AbortSignal | undefined },
): Promise<void> {
  const found = await bucket.head(name, signal, generation);
  if (found?.crc32c === crc32cBase64) {
    return;
  }
  if (found !== undefined) {
    await bucket.deleteObject(name, signal, found.generation);
  }
  throw new IntegrityError(
    name,
    `${bucket.uri(name)}: the assembled object's CRC32C is ${found?.crc32c ?? 'unknown'}, ` +
      `the parts sent add up to ${crc32cBase64}`,
  );
}
