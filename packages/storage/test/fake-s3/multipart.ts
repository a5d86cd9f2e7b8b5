// Multipart uploads: Create, UploadPart, Complete (with S3's `-N` ETag and its FULL_OBJECT or
// COMPOSITE CRC32C), Abort and ListParts.
import { randomBytes } from 'node:crypto';

import { requireContentLength } from './objects.js';
import {
  S3Error,
  bareEtag,
  compositeCrc32c,
  crc32cBase64,
  makeObject,
  md5,
  verifyContentMd5,
  verifyCrc32,
  verifyCrc32c,
  wholeSeconds,
  xmlReply,
} from './store.js';
import type { ChecksumType, FakeS3Part, Reply, S3Context, Upload } from './store.js';
import { el, xmlBlocks, xmlDocument, xmlText } from './xml.js';

const MAX_PART_NUMBER = 10_000;

function malformed(message: string): S3Error {
  return new S3Error(400, 'MalformedXML', message);
}

function findUpload(ctx: S3Context): Upload {
  const upload = ctx.uploads.get(ctx.query.get('uploadId') ?? '');
  if (upload === undefined || upload.bucket !== ctx.bucketName || upload.key !== ctx.key) {
    throw new S3Error(
      404,
      'NoSuchUpload',
      'The specified upload does not exist. The upload ID may be invalid, or the upload may have been aborted or completed.',
      { details: { UploadId: ctx.query.get('uploadId') ?? '' } },
    );
  }
  return upload;
}

function checksumHeaders(type: ChecksumType | undefined): Record<string, string> {
  return type === undefined
    ? {}
    : { 'x-amz-checksum-algorithm': 'CRC32C', 'x-amz-checksum-type': type };
}

export function createMultipartUpload(ctx: S3Context): Reply {
  const algorithm = ctx.headers['x-amz-checksum-algorithm']?.toUpperCase();
  const type = ctx.headers['x-amz-checksum-type']?.toUpperCase();
  if (algorithm !== undefined && algorithm !== 'CRC32C') {
    throw new S3Error(501, 'NotImplemented', `the fake supports only CRC32C, not ${algorithm}`);
  }
  if (type !== undefined && type !== 'FULL_OBJECT' && type !== 'COMPOSITE') {
    throw new S3Error(400, 'InvalidRequest', `Value for x-amz-checksum-type header is invalid.`);
  }
  if (type !== undefined && algorithm === undefined) {
    throw new S3Error(
      400,
      'InvalidRequest',
      'x-amz-checksum-type requires x-amz-checksum-algorithm',
    );
  }
  // Without a type, S3 makes CRC32C uploads COMPOSITE.
  const checksumType: ChecksumType | undefined =
    algorithm === undefined ? undefined : (type ?? 'COMPOSITE');
  const uploadId = randomBytes(16).toString('hex');
  ctx.uploads.set(uploadId, {
    bucket: ctx.bucketName,
    key: ctx.key,
    uploadId,
    checksumType,
    contentType: ctx.headers['content-type'],
    parts: new Map(),
  });
  return xmlReply(
    xmlDocument(
      'InitiateMultipartUploadResult',
      `${el('Bucket', ctx.bucketName)}${el('Key', ctx.key)}${el('UploadId', uploadId)}`,
    ),
    checksumHeaders(checksumType),
  );
}

export function uploadPart(ctx: S3Context): Reply {
  const upload = findUpload(ctx);
  const raw = ctx.query.get('partNumber') ?? '';
  const partNumber = Number(raw);
  if (!/^\d+$/.test(raw) || partNumber < 1 || partNumber > MAX_PART_NUMBER) {
    throw new S3Error(
      400,
      'InvalidArgument',
      'Part number must be an integer between 1 and 10000, inclusive',
    );
  }
  requireContentLength(ctx);
  verifyContentMd5(ctx.headers['content-md5'], ctx.body);
  verifyCrc32(ctx.headers['x-amz-checksum-crc32'], ctx.body);
  const crc =
    verifyCrc32c(ctx.headers['x-amz-checksum-crc32c'], ctx.body) ?? crc32cBase64(ctx.body);
  const etag = `"${md5(ctx.body).toString('hex')}"`;
  // Uploading a part number again replaces that part, as in S3.
  upload.parts.set(partNumber, {
    body: ctx.body,
    etag,
    crc32c: crc,
    lastModified: wholeSeconds(ctx.nowMs),
  });
  const headers: Record<string, string> = { etag };
  if (upload.checksumType !== undefined || ctx.headers['x-amz-checksum-crc32c'] !== undefined) {
    headers['x-amz-checksum-crc32c'] = crc;
  }
  return { status: 200, headers };
}

interface RequestedPart {
  partNumber: number;
  etag: string;
  crc32c: string | undefined;
}

function parseCompleteRequest(xml: string): RequestedPart[] {
  if (!/<CompleteMultipartUpload[\s>]/.test(xml)) {
    throw malformed(
      'The XML you provided was not well-formed or did not validate against our published schema',
    );
  }
  const parts = xmlBlocks(xml, 'Part').map((block) => {
    const partNumber = Number(xmlText(block, 'PartNumber'));
    const etag = xmlText(block, 'ETag');
    if (!Number.isInteger(partNumber) || etag === undefined) {
      throw malformed('Every Part needs a PartNumber and an ETag');
    }
    return { partNumber, etag, crc32c: xmlText(block, 'ChecksumCRC32C') };
  });
  if (parts.length === 0) {
    throw malformed(
      'The XML you provided was not well-formed or did not validate against our published schema',
    );
  }
  return parts;
}

export function completeMultipartUpload(ctx: S3Context): Reply {
  const upload = findUpload(ctx);
  const requested = parseCompleteRequest(ctx.body.toString('utf8'));
  const type = ctx.headers['x-amz-checksum-type']?.toUpperCase();
  if (type !== undefined && type !== upload.checksumType) {
    throw new S3Error(
      400,
      'InvalidRequest',
      `The upload was created with checksum type ${upload.checksumType ?? 'none'}, not ${type}`,
    );
  }
  const chosen = requested.map((p, i) => {
    const previous = requested[i - 1];
    if (previous !== undefined && p.partNumber <= previous.partNumber) {
      throw new S3Error(
        400,
        'InvalidPartOrder',
        'The list of parts was not in ascending order. The parts list must be specified in order by part number.',
      );
    }
    const stored = upload.parts.get(p.partNumber);
    if (stored === undefined || bareEtag(stored.etag) !== bareEtag(p.etag)) {
      throw new S3Error(
        400,
        'InvalidPart',
        "One or more of the specified parts could not be found. The part may not have been uploaded, or the specified entity tag may not match the part's entity tag.",
        { details: { PartNumber: String(p.partNumber), ETag: p.etag } },
      );
    }
    if (p.crc32c !== undefined && p.crc32c !== stored.crc32c) {
      throw new S3Error(
        400,
        'InvalidPart',
        `The checksum of part ${p.partNumber} does not match the uploaded part`,
      );
    }
    if (upload.checksumType === 'COMPOSITE' && p.crc32c === undefined) {
      throw new S3Error(
        400,
        'InvalidRequest',
        `The upload was created using a crc32c checksum. The complete request must include the checksum for each part. It was missing for part ${p.partNumber} in the request.`,
      );
    }
    const isLast = i === requested.length - 1;
    if (!isLast && stored.body.length < ctx.minPartBytes) {
      throw new S3Error(
        400,
        'EntityTooSmall',
        'Your proposed upload is smaller than the minimum allowed size',
        {
          details: {
            ProposedSize: String(stored.body.length),
            MinSizeAllowed: String(ctx.minPartBytes),
            PartNumber: String(p.partNumber),
            ETag: stored.etag,
          },
        },
      );
    }
    return stored;
  });

  const body = Buffer.concat(chosen.map((p) => p.body));
  // S3's multipart ETag: the MD5 of the parts' binary MD5s, then `-<parts>`.
  const digest = md5(Buffer.concat(chosen.map((p) => Buffer.from(bareEtag(p.etag), 'hex'))));
  const etag = `"${digest.toString('hex')}-${chosen.length}"`;
  const crc =
    upload.checksumType === 'COMPOSITE'
      ? compositeCrc32c(chosen.map((p) => p.crc32c))
      : crc32cBase64(body);
  const claimed = ctx.headers['x-amz-checksum-crc32c'];
  if (claimed !== undefined && claimed !== crc) {
    throw new S3Error(
      400,
      'BadDigest',
      'The CRC32C you specified did not match the calculated checksum.',
    );
  }
  let start = 0;
  const parts: FakeS3Part[] = chosen.map((p) => {
    const part = { start, sizeBytes: p.body.length, crc32c: p.crc32c };
    start += p.body.length;
    return part;
  });
  const checksum =
    upload.checksumType === undefined ? undefined : { crc32c: crc, type: upload.checksumType };
  ctx.bucket.set(
    ctx.key,
    makeObject(body, ctx.nowMs, { etag, contentType: upload.contentType, checksum, parts }),
  );
  ctx.uploads.delete(upload.uploadId);
  const location = `http://${ctx.headers.host ?? 'localhost'}/${ctx.bucketName}/${ctx.key}`;
  return xmlReply(
    xmlDocument(
      'CompleteMultipartUploadResult',
      `${el('Location', location)}${el('Bucket', ctx.bucketName)}${el('Key', ctx.key)}${el('ETag', etag)}` +
        (checksum === undefined
          ? ''
          : `${el('ChecksumCRC32C', checksum.crc32c)}${el('ChecksumType', checksum.type)}`),
    ),
  );
}

export function abortMultipartUpload(ctx: S3Context): Reply {
  ctx.uploads.delete(findUpload(ctx).uploadId);
  return { status: 204, headers: {} };
}

export function listParts(ctx: S3Context): Reply {
  const upload = findUpload(ctx);
  const marker = Number(ctx.query.get('part-number-marker') ?? '0');
  const maxParts = Math.min(Number(ctx.query.get('max-parts') ?? '1000'), 1000);
  if (!Number.isInteger(marker) || !Number.isInteger(maxParts) || maxParts < 0) {
    throw new S3Error(400, 'InvalidArgument', 'part-number-marker and max-parts must be integers');
  }
  const numbers = [...upload.parts.keys()].filter((n) => n > marker).sort((a, b) => a - b);
  const page = numbers.slice(0, maxParts);
  const isTruncated = numbers.length > page.length;
  const partsXml = page
    .map((n) => {
      const p = upload.parts.get(n);
      return p === undefined
        ? ''
        : `<Part>${el('PartNumber', n)}${el('LastModified', p.lastModified.toISOString())}` +
            `${el('ETag', p.etag)}${el('Size', p.body.length)}` +
            `${upload.checksumType === undefined ? '' : el('ChecksumCRC32C', p.crc32c)}</Part>`;
    })
    .join('');
  return xmlReply(
    xmlDocument(
      'ListPartsResult',
      `${el('Bucket', ctx.bucketName)}${el('Key', ctx.key)}${el('UploadId', upload.uploadId)}` +
        `${el('PartNumberMarker', marker)}${el('NextPartNumberMarker', page.at(-1) ?? marker)}` +
        `${el('MaxParts', maxParts)}${el('IsTruncated', isTruncated)}${partsXml}` +
        `${el('StorageClass', 'STANDARD')}` +
        (upload.checksumType === undefined
          ? ''
          : `${el('ChecksumAlgorithm', 'CRC32C')}${el('ChecksumType', upload.checksumType)}`),
    ),
  );
}
