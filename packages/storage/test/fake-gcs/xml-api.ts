// The XML API (path-style `/bucket/name`): object downloads (GET, what V4 signed URLs address,
// `generation` pinning and ranges as in the JSON API's media downloads) and multipart uploads:
// initiate (POST ?uploads), upload a part (PUT ?partNumber&uploadId, checking `x-goog-hash`),
// complete (POST ?uploadId with the part list) and abort (DELETE ?uploadId). The object they
// make has a CRC32C but no MD5.
import { randomBytes } from 'node:crypto';

import { el, xmlBlocks, xmlText } from '../fake-s3/xml.js';
import { findObject, media } from './json-api.js';
import { GcsError, crc32cBase64, makeObject, md5Base64, parseGoogHash, xmlReply } from './store.js';
import type { GcsContext, Reply, Upload } from './store.js';

const MAX_PART_NUMBER = 10_000;

function bare(etag: string): string {
  return etag.trim().replace(/^"(.*)"$/, '$1');
}

function findUpload(ctx: GcsContext): Upload {
  const upload = ctx.uploads.get(ctx.query.get('uploadId') ?? '');
  if (upload === undefined || upload.bucket !== ctx.bucketName || upload.name !== ctx.name) {
    throw new GcsError(404, 'NoSuchUpload', 'The requested upload was not found.');
  }
  return upload;
}

export function routeXml(ctx: GcsContext): Reply | undefined {
  const { method, query } = ctx;
  if (ctx.name === '') {
    return undefined;
  }
  const isDownload = [...query.keys()].every((k) => k === 'generation' || k.startsWith('X-Goog-'));
  if (method === 'GET' && isDownload) {
    return download(ctx);
  }
  if (method === 'POST' && query.has('uploads') && query.size === 1) {
    return initiate(ctx);
  }
  if (method === 'PUT' && query.has('partNumber') && query.has('uploadId') && query.size === 2) {
    return uploadPart(ctx);
  }
  if (method === 'POST' && query.has('uploadId') && query.size === 1) {
    return complete(ctx);
  }
  if (method === 'DELETE' && query.has('uploadId') && query.size === 1) {
    findUpload(ctx);
    ctx.uploads.delete(ctx.query.get('uploadId') ?? '');
    return { status: 204, headers: {} };
  }
  return undefined;
}

/** An object's bytes (of `generation`, when given), as the JSON API's media download serves them. */
function download(ctx: GcsContext): Reply {
  let object;
  try {
    object = findObject(ctx);
  } catch (err: unknown) {
    if (err instanceof GcsError && err.status === 404) {
      throw new GcsError(404, 'NoSuchKey', 'The specified key does not exist.');
    }
    throw err;
  }
  return media(ctx, object);
}

function initiate(ctx: GcsContext): Reply {
  const uploadId = randomBytes(24).toString('base64url');
  ctx.uploads.set(uploadId, {
    bucket: ctx.bucketName,
    name: ctx.name,
    uploadId,
    contentType: ctx.headers['content-type'],
    parts: new Map(),
  });
  return xmlReply(
    '<InitiateMultipartUploadResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">' +
      `${el('Bucket', ctx.bucketName)}${el('Key', ctx.name)}${el('UploadId', uploadId)}` +
      '</InitiateMultipartUploadResult>',
  );
}

function uploadPart(ctx: GcsContext): Reply {
  const upload = findUpload(ctx);
  const partNumber = Number(ctx.query.get('partNumber'));
  if (!Number.isInteger(partNumber) || partNumber < 1 || partNumber > MAX_PART_NUMBER) {
    throw new GcsError(
      400,
      'InvalidArgument',
      `Invalid part number: ${ctx.query.get('partNumber')}`,
    );
  }
  if (ctx.headers['content-length'] === undefined) {
    throw new GcsError(
      411,
      'MissingContentLength',
      'You must provide the Content-Length HTTP header.',
    );
  }
  const hashes = parseGoogHash(ctx.headers['x-goog-hash']);
  const crc = hashes.get('crc32c');
  if (crc !== undefined && crc !== crc32cBase64(ctx.body)) {
    throw new GcsError(
      400,
      'BadDigest',
      'The CRC32C you specified did not match what we computed.',
    );
  }
  const md5 = hashes.get('md5');
  if (md5 !== undefined && md5 !== md5Base64(ctx.body)) {
    throw new GcsError(400, 'BadDigest', 'The MD5 you specified did not match what we computed.');
  }
  const etag = `"${Buffer.from(md5Base64(ctx.body), 'base64').toString('hex')}"`;
  upload.parts.set(partNumber, { body: ctx.body, etag });
  return { status: 200, headers: { etag } };
}

function complete(ctx: GcsContext): Reply {
  const upload = findUpload(ctx);
  const listed = xmlBlocks(ctx.body.toString('utf8'), 'Part').map((block) => ({
    partNumber: Number(xmlText(block, 'PartNumber')),
    etag: xmlText(block, 'ETag') ?? '',
  }));
  if (listed.length === 0) {
    throw new GcsError(
      400,
      'MalformedCompleteMultipartUploadXml',
      'The XML you provided lists no parts.',
    );
  }
  const bodies: Buffer[] = [];
  listed.forEach((p, i) => {
    const previous = listed[i - 1];
    if (previous !== undefined && p.partNumber <= previous.partNumber) {
      throw new GcsError(400, 'InvalidPartOrder', 'The list of parts was not in ascending order.');
    }
    const part = upload.parts.get(p.partNumber);
    if (part === undefined || bare(part.etag) !== bare(p.etag)) {
      throw new GcsError(
        400,
        'InvalidPart',
        `Part ${p.partNumber} was not uploaded or its ETag differs.`,
      );
    }
    if (i < listed.length - 1 && part.body.length < ctx.minPartBytes) {
      throw new GcsError(
        400,
        'EntityTooSmall',
        `Part ${p.partNumber} is smaller than the minimum part size.`,
      );
    }
    bodies.push(part.body);
  });
  const object = makeObject(Buffer.concat(bodies), ctx.generations.next(), ctx.nowMs, {
    contentType: upload.contentType,
    hasMd5: false,
  });
  ctx.bucket.set(ctx.name, object);
  ctx.uploads.delete(upload.uploadId);
  const etag = `"${object.generation}-${listed.length}"`;
  return xmlReply(
    '<CompleteMultipartUploadResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">' +
      `${el('Location', `/${ctx.bucketName}/${ctx.name}`)}${el('Bucket', ctx.bucketName)}` +
      `${el('Key', ctx.name)}${el('ETag', etag)}</CompleteMultipartUploadResult>`,
    { 'x-goog-generation': object.generation, 'x-goog-hash': `crc32c=${object.crc32c}`, etag },
  );
}
