import { join } from 'node:path';

import { LoaderError } from './errors.js';
import type { LoadContext } from './load-context.js';
import { importRuntime } from './runtime.js';
import type { OnnxCheckpoint } from './types.js';

/** Opens an ONNX model as an `onnxruntime-node` session; `file` is checkpoint-relative. */
export async function loadOnnx(ctx: LoadContext, file: string): Promise<OnnxCheckpoint> {
  const ort = await importRuntime(
    'onnxruntime-node',
    `Loading the ONNX model ${file}`,
    ctx.importModule,
  );
  ctx.signal?.throwIfAborted();
  let session;
  try {
    // From the path, not from bytes: onnxruntime then finds external data files (a tensor's
    // `location`) relative to the model file, as the ONNX spec says.
    session = await ort.InferenceSession.create(join(ctx.path, file));
  } catch (err: unknown) {
    throw new LoaderError(`${file}: onnxruntime could not load it: ${(err as Error).message}`, {
      cause: err,
    });
  }
  if (ctx.signal?.aborted === true) {
    await session.release();
    ctx.signal.throwIfAborted();
  }
  return {
    kind: 'onnx',
    path: ctx.path,
    metadata: ctx.metadata,
    file,
    session,
    inputNames: [...session.inputNames],
    outputNames: [...session.outputNames],
  };
}
