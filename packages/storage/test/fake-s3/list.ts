// Bucket operations: ListObjects (v1 and v2, with delimiters), DeleteObjects and HeadBucket.
import { S3Error, verifyContentMd5, verifyCrc32, verifyCrc32c, xmlReply } from './store.js';
import type { FakeS3Object, Reply, S3Context } from './store.js';
import { el, xmlBlocks, xmlDocument, xmlText } from './xml.js';

/** The most keys one page or one DeleteObjects request may hold. */
export const MAX_KEYS = 1000;

/** S3 orders keys by their UTF-8 bytes, which differs from JS string order above U+FFFF. */
function compareUtf8(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a), Buffer.from(b));
}

interface Page {
  contents: [string, FakeS3Object][];
  prefixes: string[];
  isTruncated: boolean;
  /** The last key or common prefix on the page: where the next one starts after. */
  last: string | undefined;
}

function listPage(
  bucket: Map<string, FakeS3Object>,
  prefix: string,
  delimiter: string,
  after: string | undefined,
  maxKeys: number,
): Page {
  const page: Page = { contents: [], prefixes: [], isTruncated: false, last: undefined };
  if (maxKeys === 0) {
    return page; // not truncated: a client paging on IsTruncated could never progress
  }
  const keys = [...bucket.keys()].filter((k) => k.startsWith(prefix)).sort(compareUtf8);
  for (const key of keys) {
    // With a delimiter, every key below a common prefix rolls up into it; the prefix is
    // what the page and the marker see, so keys under an already listed prefix are skipped.
    const at = delimiter === '' ? -1 : key.indexOf(delimiter, prefix.length);
    const entry = at < 0 ? key : key.slice(0, at + delimiter.length);
    if ((after !== undefined && compareUtf8(entry, after) <= 0) || entry === page.last) {
      continue;
    }
    if (page.contents.length + page.prefixes.length === maxKeys) {
      page.isTruncated = true;
      break;
    }
    const object = bucket.get(key);
    if (at >= 0) {
      page.prefixes.push(entry);
    } else if (object !== undefined) {
      page.contents.push([key, object]);
    }
    page.last = entry;
  }
  return page;
}

function parseMaxKeys(query: URLSearchParams): number {
  const raw = query.get('max-keys');
  if (raw === null) {
    return MAX_KEYS;
  }
  const n = Number(raw);
  if (!/^\d+$/.test(raw) || !Number.isSafeInteger(n)) {
    throw new S3Error(
      400,
      'InvalidArgument',
      'Provided max-keys not an integer or within integer range',
    );
  }
  return Math.min(n, MAX_KEYS);
}

function pageXml(page: Page): string {
  const contents = page.contents
    .map(
      ([key, o]) =>
        `<Contents>${el('Key', key)}${el('LastModified', o.lastModified.toISOString())}` +
        `${el('ETag', o.etag)}${el('Size', o.body.length)}` +
        (o.checksum === undefined
          ? ''
          : `${el('ChecksumAlgorithm', 'CRC32C')}${el('ChecksumType', o.checksum.type)}`) +
        `${el('StorageClass', 'STANDARD')}</Contents>`,
    )
    .join('');
  const prefixes = page.prefixes.map((p) => `<CommonPrefixes>${el('Prefix', p)}</CommonPrefixes>`);
  return contents + prefixes.join('');
}

const TOKEN_TAG = 'fake-s3:';

/** ListObjects (v1) and ListObjectsV2 (`list-type=2`). */
export function listObjects(ctx: S3Context): Reply {
  const { query } = ctx;
  const encoding = query.get('encoding-type');
  if (encoding !== null) {
    // Keys would come back URL-encoded, which this fake does not do; fail loudly instead.
    throw new S3Error(
      501,
      'NotImplemented',
      `encoding-type=${encoding} is not implemented by the fake`,
    );
  }
  const prefix = query.get('prefix') ?? '';
  const delimiter = query.get('delimiter') ?? '';
  const maxKeys = parseMaxKeys(query);
  const head = `${el('Name', ctx.bucketName)}${el('Prefix', prefix)}`;
  const delimiterXml = delimiter === '' ? '' : el('Delimiter', delimiter);

  if (query.get('list-type') === '2') {
    const token = query.get('continuation-token');
    const startAfter = query.get('start-after') ?? undefined;
    let after = startAfter;
    if (token !== null) {
      const decoded = Buffer.from(token, 'base64url').toString();
      if (!decoded.startsWith(TOKEN_TAG)) {
        throw new S3Error(400, 'InvalidArgument', 'The continuation token provided is incorrect');
      }
      after = decoded.slice(TOKEN_TAG.length);
    }
    const page = listPage(ctx.bucket, prefix, delimiter, after, maxKeys);
    const next =
      page.isTruncated && page.last !== undefined
        ? Buffer.from(TOKEN_TAG + page.last).toString('base64url')
        : undefined;
    return xmlReply(
      xmlDocument(
        'ListBucketResult',
        `${head}${el('ContinuationToken', token ?? undefined)}${el('StartAfter', startAfter)}` +
          `${el('KeyCount', page.contents.length + page.prefixes.length)}${el('MaxKeys', maxKeys)}` +
          `${delimiterXml}${el('IsTruncated', page.isTruncated)}${el('NextContinuationToken', next)}` +
          pageXml(page),
      ),
    );
  }
  if (query.get('list-type') !== null) {
    throw new S3Error(400, 'InvalidArgument', 'Invalid List Type specified');
  }
  const marker = query.get('marker') ?? '';
  const page = listPage(ctx.bucket, prefix, delimiter, marker === '' ? undefined : marker, maxKeys);
  // S3 sends NextMarker only with a delimiter; without one, clients continue from the last key.
  const nextMarker = page.isTruncated && delimiter !== '' ? page.last : undefined;
  return xmlReply(
    xmlDocument(
      'ListBucketResult',
      `${head}${el('Marker', marker)}${el('MaxKeys', maxKeys)}${delimiterXml}` +
        `${el('IsTruncated', page.isTruncated)}${el('NextMarker', nextMarker)}${pageXml(page)}`,
    ),
  );
}

/** DeleteObjects: up to 1,000 keys; a missing key counts as deleted, as S3 says. */
export function deleteObjects(ctx: S3Context): Reply {
  const { headers, body } = ctx;
  const checksumHeaders = Object.keys(headers).filter((h) => h.startsWith('x-amz-checksum-'));
  if (headers['content-md5'] === undefined && checksumHeaders.length === 0) {
    throw new S3Error(
      400,
      'InvalidRequest',
      'Missing required header for this request: Content-MD5',
    );
  }
  verifyContentMd5(headers['content-md5'], body);
  verifyCrc32(headers['x-amz-checksum-crc32'], body);
  verifyCrc32c(headers['x-amz-checksum-crc32c'], body);
  const xml = body.toString('utf8');
  const objects = xmlBlocks(xml, 'Object');
  if (!/<Delete[\s>]/.test(xml) || objects.length === 0 || objects.length > MAX_KEYS) {
    throw new S3Error(
      400,
      'MalformedXML',
      'The XML you provided was not well-formed or did not validate against our published schema',
    );
  }
  const keys = objects.map((block) => {
    const key = xmlText(block, 'Key');
    if (key === undefined) {
      throw new S3Error(400, 'MalformedXML', 'Every Object needs a Key');
    }
    return key;
  });
  const isQuiet = xmlText(xml, 'Quiet') === 'true';
  for (const key of keys) {
    ctx.bucket.delete(key);
  }
  const deleted = isQuiet ? '' : keys.map((k) => `<Deleted>${el('Key', k)}</Deleted>`).join('');
  return xmlReply(xmlDocument('DeleteResult', deleted));
}

export function headBucket(): Reply {
  return { status: 200, headers: { 'x-amz-bucket-region': 'us-east-1' } };
}
