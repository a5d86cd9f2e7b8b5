import { join } from 'node:path';

import type { LayersModel } from '@tensorflow/tfjs';

import { MissingRuntimeError } from './errors.js';
import type { KerasH5Contents } from './keras-h5.js';
import { readKerasH5 } from './keras-h5.js';
import type { LoadContext } from './load-context.js';
import { importRuntime } from './runtime.js';
import type { ModuleImporter } from './runtime.js';
import type { Tensor } from './tensor.js';
import type { KerasH5Checkpoint } from './types.js';

type Built = { model: LayersModel; reason?: undefined } | { model: undefined; reason: string };

/** Values tfjs variables take: float weights as float32, integer ones as int32. */
function tfjsValues(tensor: Tensor): Float32Array | Int32Array | undefined {
  const values = tensor.toArray();
  if (values instanceof Float32Array || values instanceof Int32Array) {
    return values;
  }
  if (values instanceof Float64Array) {
    return Float32Array.from(values);
  }
  return values instanceof BigInt64Array || values instanceof BigUint64Array
    ? undefined
    : Int32Array.from(values);
}

/** Why the file's weights for a layer do not fit its tfjs variables, if they do not. */
function misfit(
  variables: readonly { name: string; shape: readonly (number | null)[] }[],
  weights: readonly { name: string; tensor: Tensor }[],
  layerName: string,
): string | undefined {
  if (variables.length !== weights.length) {
    return `layer ${layerName} has ${variables.length} weights in tfjs, ${weights.length} in the file`;
  }
  for (const [i, variable] of variables.entries()) {
    const tensor = weights[i]?.tensor;
    if (tensor === undefined || variable.shape.join() !== tensor.shape.join()) {
      return `${variable.name}: shape [${variable.shape.join(', ')}] in tfjs, [${tensor?.shape.join(', ') ?? ''}] in the file`;
    }
  }
  return undefined;
}

/**
 * Rebuilds the model from `model_config` with tfjs and sets each layer's weights, matched by
 * layer name and then by position within the layer (as Keras itself assigns them). Everything
 * that stops it (no tfjs, a layer tfjs lacks, weights that do not fit) is a reason, not an
 * error: the config and weights are still worth returning.
 */
async function buildModel(
  contents: KerasH5Contents,
  file: string,
  importModule: ModuleImporter,
): Promise<Built> {
  if (contents.config === undefined) {
    return { model: undefined, reason: 'a weights-only file (no model_config)' };
  }
  let tf;
  try {
    tf = await importRuntime('@tensorflow/tfjs', `Running the Keras model ${file}`, importModule);
  } catch (err: unknown) {
    if (err instanceof MissingRuntimeError) {
      return { model: undefined, reason: err.message };
    }
    throw err;
  }
  let model: LayersModel;
  try {
    // Parsed JSON, which is what tfjs's own (narrower) JSON type describes.
    const topology = { modelTopology: contents.config } as Parameters<
      typeof tf.models.modelFromJSON
    >[0];
    model = await tf.models.modelFromJSON(topology);
  } catch (err: unknown) {
    return { model: undefined, reason: `tfjs cannot build it: ${(err as Error).message}` };
  }
  const fail = (reason: string): Built => {
    model.dispose();
    return { model: undefined, reason };
  };
  const modelLayers = new Map(model.layers.map((layer) => [layer.name, layer]));
  for (const [layerName, weights] of contents.layers) {
    const layer = modelLayers.get(layerName);
    if (layer === undefined) {
      return fail(`the file has weights for layer ${layerName}, which the model lacks`);
    }
    const values = weights
      .map((w) => tfjsValues(w.tensor))
      .filter((v): v is Float32Array | Int32Array => v !== undefined);
    const reason =
      misfit(layer.weights, weights, layerName) ??
      (values.length < weights.length
        ? `layer ${layerName} has 64-bit integer weights`
        : undefined);
    if (reason !== undefined) {
      return fail(reason);
    }
    const tensors = values.map((v, i) => tf.tensor(v, [...(weights[i]?.tensor.shape ?? [])]));
    layer.setWeights(tensors);
    tf.dispose(tensors);
  }
  return { model };
}

/** Keras weight names are unique within a model; should two clash, the later gets its layer prefix. */
function weightMap(layers: KerasH5Contents['layers']): Map<string, Tensor> {
  const out = new Map<string, Tensor>();
  for (const [layer, weights] of layers) {
    for (const { name, tensor } of weights) {
      out.set(out.has(name) ? `${layer}/${name}` : name, tensor);
    }
  }
  return out;
}

/** Loads a Keras `.h5`; `file` is checkpoint-relative. */
export async function loadKerasH5(ctx: LoadContext, file: string): Promise<KerasH5Checkpoint> {
  const contents = await readKerasH5(join(ctx.path, file), file, ctx.importModule);
  ctx.signal?.throwIfAborted();
  const built = await buildModel(contents, file, ctx.importModule);
  return {
    kind: 'keras-h5',
    path: ctx.path,
    metadata: ctx.metadata,
    file,
    config: contents.config,
    kerasVersion: contents.kerasVersion,
    backend: contents.backend,
    weights: weightMap(contents.layers),
    model: built.model,
    ...(built.reason === undefined ? {} : { notRunnableReason: built.reason }),
  };
}
