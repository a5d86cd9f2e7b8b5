import { basename, join } from 'node:path';

import type { LoadContext } from './load-context.js';
import { readTorchFile, withTorchFile } from './torch/torch-file.js';
import { isTorchScriptArchive, readTorchScript } from './torch/torchscript.js';
import type { TorchCheckpoint, TorchScriptCheckpoint } from './types.js';

/** The seed era's file name; Determined's PyTorchTrial is recognized by its content instead. */
const SEED_FILE = 'model.pth';

function layoutOf(root: unknown, file: string): TorchCheckpoint['layout'] {
  if (root instanceof Map && root.has('models_state_dict')) {
    return 'determined';
  }
  return basename(file) === SEED_FILE ? 'seed' : 'plain';
}

/**
 * Loads a PyTorch file (`file` is checkpoint-relative): a TorchScript archive (`torch.jit.save`:
 * code or constants records) as its tensors and class names, anything else as a `torch.save`
 * tree with its layout recognized.
 */
export async function loadTorch(
  ctx: LoadContext,
  file: string,
): Promise<TorchCheckpoint | TorchScriptCheckpoint> {
  const abs = join(ctx.path, file);
  const options = { tensors: ctx.tensors, signal: ctx.signal };
  const base = { path: ctx.path, metadata: ctx.metadata, file };
  const isScript = await withTorchFile(abs, ctx.signal, ({ archive }) =>
    Promise.resolve(archive !== undefined && isTorchScriptArchive(archive)),
  );
  if (isScript) {
    const { tensors, classes } = await readTorchScript(abs, options);
    return { kind: 'torchscript', ...base, tensors, classes };
  }
  const { format, root, tensors } = await readTorchFile(abs, options);
  return { kind: 'torch', ...base, format, layout: layoutOf(root, file), root, tensors };
}
