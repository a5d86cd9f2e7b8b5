import { dirname, join } from 'node:path';

import { LoaderError } from './errors.js';
import type { LoadContext } from './load-context.js';
import { importRuntime } from './runtime.js';
import { readTfjsArtifacts, tfjsFormatOf } from './tfjs-io.js';
import type { TfjsCheckpoint } from './types.js';

/** Loads a TF.js model directory; `file` is its checkpoint-relative model.json. */
export async function loadTfjs(ctx: LoadContext, file: string): Promise<TfjsCheckpoint> {
  const tf = await importRuntime(
    '@tensorflow/tfjs',
    `Loading the TF.js model ${file}`,
    ctx.importModule,
  );
  const dir = join(ctx.path, dirname(file));
  const artifacts = await readTfjsArtifacts(dir, { name: file, signal: ctx.signal });
  const format = tfjsFormatOf(artifacts, file);
  const handler = { load: () => Promise.resolve(artifacts) };
  const base = { kind: 'tfjs', path: ctx.path, metadata: ctx.metadata, file } as const;
  try {
    return format === 'layers-model'
      ? { ...base, format, model: await tf.loadLayersModel(handler) }
      : { ...base, format, model: await tf.loadGraphModel(handler) };
  } catch (err: unknown) {
    throw new LoaderError(
      `${file}: tfjs could not build the ${format}: ${(err as Error).message}`,
      {
        cause: err,
      },
    );
  }
}
