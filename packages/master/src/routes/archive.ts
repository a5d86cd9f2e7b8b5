import { ServerResponse } from 'node:http';
import { Readable } from 'node:stream';

import { ARCHIVE_MEDIA_TYPES, ROUTES } from '@determined-ts/api';
import type { ArchiveMediaType } from '@determined-ts/api';
import { StorageUnreachableError, errnoCode } from '@determined-ts/storage';
import { RESPONSE_ALREADY_SENT } from '@hono/node-server/utils/response';
import { Hono } from 'hono';
import type { Context } from 'hono';

import type { AppDeps, AppEnv } from '../context.js';
import { HttpError, badRequest } from '../errors.js';
import { pathUuid, queryOne } from '../http.js';
import { negotiate } from '../services/accept.js';
import type { ArchiveEntry } from '../services/archive-entry.js';
import { objectEntries } from '../services/archive-object.js';
import { createArchiveStream, tarEtag, tarStream, wholeOf, writeTar } from '../services/archive.js';
import type { ArchiveFormat } from '../services/archive.js';
import { checkIfMatch, selectRange } from '../services/byte-range.js';
import { storageConfigs } from '../services/checkpoint-dto.js';
import { getDownloadableRow } from '../services/checkpoints.js';
import { listRegularFiles, localRoot, openStore, storeFailure } from '../services/storage.js';
import { TarLayout } from '../services/tar.js';

/** The archives we serve, by media type, in our order of preference (tar first, as Determined). */
const BY_MEDIA_TYPE = {
  'application/x-tar': 'tar',
  'application/gzip': 'tgz',
  'application/zip': 'zip',
} as const satisfies Record<ArchiveMediaType, ArchiveFormat>;

/** `?format=` values, which win over `Accept` so a browser link can pick the archive. */
const BY_FORMAT: Record<string, ArchiveMediaType> = {
  tar: 'application/x-tar',
  'tar.gz': 'application/gzip',
  tgz: 'application/gzip',
  zip: 'application/zip',
};

/**
 * The archive a request asks for: `?format=` if given, else the best of our media types for its
 * `Accept` (q-values honoured, `q=0` excludes, `*\/*` and `application/*` mean tar).
 */
function chooseArchive(c: Context<AppEnv>): { format: ArchiveFormat; type: ArchiveMediaType } {
  const format = queryOne(c, 'format');
  if (format !== undefined) {
    const type = BY_FORMAT[format.toLowerCase()];
    if (type === undefined) {
      throw badRequest(`invalid format '${format}': expected tar, tar.gz, tgz or zip`);
    }
    return { format: BY_MEDIA_TYPE[type], type };
  }
  const accept = c.req.header('accept');
  const type = negotiate(accept, ARCHIVE_MEDIA_TYPES);
  if (type === undefined) {
    throw new HttpError(
      'unsupported_media_type',
      `unsupported Accept '${accept ?? ''}': use application/x-tar, application/gzip or application/zip (or ?format=tar|tar.gz|zip)`,
    );
  }
  return { format: BY_MEDIA_TYPE[type], type };
}

export function archiveRoutes(deps: AppDeps): Hono<AppEnv> {
  const app = new Hono<AppEnv>();

  // `GET /checkpoints/{uuid}`: the checkpoint's regular files as one archive, paths relative
  // to the checkpoint root (Determined's `master/internal/core_checkpoint.go`). The tar is
  // resumable: it has a strong ETag and honours a single byte Range, If-Range and If-Match.
  // Hono routes HEAD here too and drops the body; nothing is read for it.
  app.get(ROUTES.checkpointArchive, async (c) => {
    const uuid = pathUuid(c);
    const choice = chooseArchive(c);
    const files = await checkpointFiles(deps, uuid);
    const headers: Record<string, string> = {
      'Content-Type': choice.type,
      'Content-Disposition': `attachment; filename="${uuid}.${choice.format === 'tgz' ? 'tar.gz' : choice.format}"`,
      // The archive depends on Accept unless ?format= chose it.
      Vary: 'Accept',
    };
    if (choice.format === 'tar') {
      return sendTar(c, deps, uuid, files, headers);
    }
    checkIfMatch(c.req.header('if-match'), undefined); // no ETag: only `*` matches
    if (c.req.method === 'HEAD') {
      return c.body(null, 200, headers);
    }
    const { stream } = createArchiveStream(files, choice.format);
    return c.body(Readable.toWeb(stream) as ReadableStream<Uint8Array>, 200, headers);
  });

  return app;
}

/**
 * Answers with the tar, or the requested range of it (206), for GET and HEAD. Under
 * @hono/node-server it is written straight to the socket; in-process (app.fetch, tests) it goes
 * through the web Response.
 */
async function sendTar(
  c: Context<AppEnv>,
  deps: AppDeps,
  uuid: string,
  files: ArchiveEntry[],
  headers: Record<string, string>,
): Promise<Response> {
  const layout = new TarLayout(files);
  const etag = tarEtag(uuid, files);
  checkIfMatch(c.req.header('if-match'), etag);
  let range;
  try {
    range = selectRange(
      { range: c.req.header('range'), ifRange: c.req.header('if-range') },
      etag,
      layout.length,
    );
  } catch (err: unknown) {
    c.header('Content-Range', `bytes */${layout.length}`); // carried into the 416 body
    throw err;
  }
  headers.ETag = etag;
  headers['Accept-Ranges'] = 'bytes';
  const served = range ?? wholeOf(layout);
  headers['Content-Length'] = String(served.end - served.start);
  if (range !== undefined) {
    headers['Content-Range'] = `bytes ${range.start}-${range.end - 1}/${layout.length}`;
  }
  const status = range === undefined ? 200 : 206;
  if (c.req.method === 'HEAD') {
    return c.body(null, status, headers);
  }
  const out = nodeResponse(c);
  if (out === undefined) {
    const stream = tarStream(layout, served);
    return c.body(Readable.toWeb(stream) as ReadableStream<Uint8Array>, status, headers);
  }
  // The head goes through c.body so it carries what middleware set (the request id), as every
  // other response does.
  const head = c.body(null, status, headers);
  out.writeHead(status, Object.fromEntries(head.headers.entries()));
  try {
    await writeTar(out, layout, served);
  } catch (err: unknown) {
    deps.logger.error('checkpoint archive ended early', {
      requestId: c.get('requestId'),
      checkpoint: uuid,
      error: err instanceof Error ? err.message : String(err),
    });
  }
  return RESPONSE_ALREADY_SENT;
}

/** The Node response behind the request when served by @hono/node-server over HTTP/1. */
function nodeResponse(c: Context<AppEnv>): ServerResponse | undefined {
  const outgoing = (c.env as { outgoing?: unknown } | undefined)?.outgoing;
  return outgoing instanceof ServerResponse ? outgoing : undefined;
}

/**
 * The checkpoint's regular files, or the error saying why it cannot be downloaded via the
 * master: 400 for a state or storage it cannot serve, 404 when the files are not in storage, 502
 * when the store cannot be read (no credentials, access denied, unreachable).
 */
async function checkpointFiles(deps: AppDeps, uuid: string): Promise<ArchiveEntry[]> {
  const row = await getDownloadableRow(deps, uuid);
  const storage = (await storageConfigs(deps.db.kysely, [row])).get(uuid) ?? {};
  const store = await openStore(deps.settings, storage, uuid, (refusal) =>
    badRequest(
      refusal.problem === undefined
        ? `checkpoint download via master is not supported for ${refusal.type} storage`
        : `checkpoint download via master is not possible: ${refusal.problem}`,
    ),
  );
  const notFound = (): HttpError =>
    new HttpError(
      'not_found',
      `files of checkpoint '${uuid}' not found in ${store.type} storage at ${store.location}`,
    );
  const root = localRoot(store);
  try {
    if (root !== undefined) {
      // Local files keep their fast path: listed with their mtimes, read positionally.
      return await listRegularFiles(root);
    }
    const objects = await store.list();
    if (objects.length > 0) {
      return objectEntries(store, objects, row.report_time);
    }
  } catch (err: unknown) {
    const code = errnoCode(err);
    if (
      code === 'ENOENT' ||
      code === 'ENOTDIR' ||
      (err instanceof StorageUnreachableError && err.reason === 'not_found')
    ) {
      throw notFound();
    }
    throw storeFailure(err, store, 'read');
  }
  // An object store holds no directory: no object at all means no checkpoint.
  throw notFound();
}
