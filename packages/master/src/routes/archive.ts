import { Readable } from 'node:stream';

import { ROUTES } from '@determined-ts/api';
import { Hono } from 'hono';

import type { AppDeps, AppEnv } from '../context.js';
import { HttpError, badRequest } from '../errors.js';
import { pathUuid } from '../http.js';
import { createArchiveStream } from '../services/archive.js';
import type { ArchiveFormat } from '../services/archive.js';
import { storageConfigs } from '../services/checkpoint-dto.js';
import { getCheckpointRow } from '../services/checkpoints.js';
import { listRegularFiles, localCheckpointDir } from '../services/storage.js';

/** `Accept` values and the archive each selects; Determined treats no preference as tar. */
const FORMATS: Record<string, { format: ArchiveFormat; type: string }> = {
  '': { format: 'tar', type: 'application/x-tar' },
  '*/*': { format: 'tar', type: 'application/x-tar' },
  'application/*': { format: 'tar', type: 'application/x-tar' },
  'application/x-tar': { format: 'tar', type: 'application/x-tar' },
  'application/gzip': { format: 'tgz', type: 'application/gzip' },
  'application/zip': { format: 'zip', type: 'application/zip' },
};

const DOWNLOADABLE = new Set(['STATE_COMPLETED', 'STATE_PARTIALLY_DELETED']);

export function archiveRoutes(deps: AppDeps): Hono<AppEnv> {
  const app = new Hono<AppEnv>();

  // `GET /checkpoints/{uuid}`: the checkpoint's regular files as one archive, paths relative
  // to the checkpoint root (Determined's `master/internal/core_checkpoint.go`).
  app.get(ROUTES.checkpointArchive, async (c) => {
    const uuid = pathUuid(c);
    const accept = (c.req.header('accept') ?? '').split(';')[0]?.trim().toLowerCase() ?? '';
    const choice = FORMATS[accept];
    if (choice === undefined) {
      throw new HttpError(
        'unsupported_media_type',
        `unsupported Accept '${accept}': use application/x-tar, application/gzip or application/zip`,
      );
    }
    const row = await getCheckpointRow(deps, uuid);
    if (!DOWNLOADABLE.has(row.state)) {
      throw new HttpError(
        'failed_precondition',
        `checkpoint ${uuid} is ${row.state}; only COMPLETED or PARTIALLY_DELETED checkpoints can be downloaded`,
      );
    }
    const storage = (await storageConfigs(deps.db.kysely, [row])).get(uuid) ?? {};
    const root = localCheckpointDir(storage, uuid);
    if (root === undefined) {
      throw badRequest(
        `checkpoint download via master is not supported for ${String(storage.type)} storage`,
      );
    }
    let files;
    try {
      files = await listRegularFiles(root);
    } catch (err: unknown) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
        throw new HttpError(
          'not_found',
          `files of checkpoint '${uuid}' not found in ${String(storage.type)} storage`,
        );
      }
      throw err;
    }
    const { stream, contentLength } = createArchiveStream(files, choice.format);
    const headers: Record<string, string> = {
      'Content-Type': choice.type,
      'Content-Disposition': `attachment; filename="${uuid}.${choice.format === 'tgz' ? 'tar.gz' : choice.format}"`,
    };
    if (contentLength !== undefined) {
      headers['Content-Length'] = String(contentLength);
    }
    return new Response(Readable.toWeb(stream) as ReadableStream<Uint8Array>, {
      status: 200,
      headers,
    });
  });

  return app;
}
