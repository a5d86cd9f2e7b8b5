import { open } from 'node:fs/promises';

import type { JsonObject } from '@determined-ts/api';
import type { Attribute, Dataset, Group } from 'h5wasm';

import { LoaderError } from './errors.js';
import type { ModuleImporter } from './runtime.js';
import { importRuntime } from './runtime.js';
import type { DType } from './tensor.js';
import { Tensor, storageOf } from './tensor.js';

const HDF5_SIGNATURE = Buffer.from([0x89, 0x48, 0x44, 0x46, 0x0d, 0x0a, 0x1a, 0x0a]);

/** Whether the file starts with HDF5's signature, at 0 or after a user block (512, 1024, …). */
export async function isHdf5File(absPath: string): Promise<boolean> {
  const handle = await open(absPath, 'r');
  try {
    const { size } = await handle.stat();
    const head = Buffer.alloc(HDF5_SIGNATURE.length);
    for (let at = 0; at + head.length <= size; at = at === 0 ? 512 : at * 2) {
      const { bytesRead } = await handle.read(head, 0, head.length, at);
      if (bytesRead === head.length && head.equals(HDF5_SIGNATURE)) {
        return true;
      }
    }
    return false;
  } finally {
    await handle.close();
  }
}

/** What a Keras 2 `.h5` holds, read without building a model. */
export interface KerasH5Contents {
  /** `model_config`, parsed; `undefined` for a weights-only file (`save_weights`). */
  config: JsonObject | undefined;
  kerasVersion: string | undefined;
  backend: string | undefined;
  /** Layer name → its weights in the file's order, as Keras assigns them. */
  layers: Map<string, { name: string; tensor: Tensor }[]>;
}

/** A string attribute: h5wasm returns h5py's str and fixed-length bytes alike as JS strings. */
function stringAttr(attr: Attribute | undefined): string | undefined {
  const value = attr?.value;
  return typeof value === 'string' ? value : undefined;
}

/**
 * A string-list attribute. Keras splits one larger than HDF5's 64 KiB attribute limit into
 * `name0`, `name1`, … (many-layer models), so those are read and joined too.
 */
function stringListAttr(group: Group, name: string, where: string): string[] {
  const attrs = group.attrs;
  const chunks: Attribute[] = [];
  const whole = attrs[name];
  if (whole !== undefined) {
    chunks.push(whole);
  }
  for (let i = 0; whole === undefined && attrs[`${name}${i}`] !== undefined; i += 1) {
    chunks.push(attrs[`${name}${i}`] as Attribute);
  }
  if (chunks.length === 0) {
    throw new LoaderError(`${where}: no attribute ${name}`);
  }
  return chunks.flatMap((attr) => {
    const value = attr.value;
    // Keras writes an empty list as numpy makes it: an empty float64 array.
    const isEmpty = value === null || (ArrayBuffer.isView(value) && value.byteLength === 0);
    const list = isEmpty ? [] : typeof value === 'string' ? [value] : value;
    if (!Array.isArray(list) || !list.every((v) => typeof v === 'string')) {
      throw new LoaderError(`${where}: attribute ${name} is not a list of strings`);
    }
    return list;
  });
}

/** HDF5 type class codes (H5T_class_t). */
const H5T_INTEGER = 0;
const H5T_FLOAT = 1;

function dtypeOf(dataset: Dataset, where: string): DType {
  const { type, size, signed, littleEndian } = dataset.metadata;
  if (!littleEndian && size > 1) {
    throw new LoaderError(`${where}: big-endian data is not supported`);
  }
  if (type === H5T_FLOAT && (size === 4 || size === 8)) {
    return size === 4 ? 'float32' : 'float64';
  }
  if (type === H5T_INTEGER && [1, 2, 4, 8].includes(size)) {
    const bits = size * 8;
    return `${signed ? 'int' : 'uint'}${bits}` as DType;
  }
  throw new LoaderError(`${where}: unsupported HDF5 type (class ${type}, ${size} bytes)`);
}

function readTensor(dataset: Dataset, where: string): Tensor {
  const dtype = dtypeOf(dataset, where);
  const shape = dataset.shape ?? [];
  const value = dataset.value;
  // A 0-d dataset comes as a plain number; Keras layers have none.
  if (!ArrayBuffer.isView(value) || value instanceof DataView) {
    throw new LoaderError(`${where}: not an array dataset (shape [${shape.join(', ')}])`);
  }
  // A copy into a buffer of its own: the view may sit in a larger one.
  const bytes = new Uint8Array(value.buffer, value.byteOffset, value.byteLength).slice().buffer;
  return new Tensor({ dtype, shape, storage: storageOf(where, bytes) });
}

/**
 * Reads the config and weights of a Keras 2 `.h5` file: root attributes `model_config`,
 * `keras_version`, `backend`; weights under `/model_weights` (or the root for `save_weights`
 * files) as `<layer>/<weight name>` datasets listed by the `layer_names` and `weight_names`
 * attributes. `file` names the file in errors.
 */
export async function readKerasH5(
  absPath: string,
  file: string,
  importModule?: ModuleImporter,
): Promise<KerasH5Contents> {
  const h5 = await importRuntime('h5wasm/node', `Reading the Keras file ${file}`, importModule);
  if (!(await isHdf5File(absPath))) {
    throw new LoaderError(`${file}: not an HDF5 file (no HDF5 signature)`);
  }
  await h5.ready;
  let h5file;
  try {
    h5file = new h5.File(absPath, 'r');
  } catch (err: unknown) {
    throw new LoaderError(`${file}: the HDF5 library could not open it (truncated or corrupt?)`, {
      cause: err,
    });
  }
  try {
    const configText = stringAttr(h5file.attrs.model_config);
    let config: JsonObject | undefined;
    if (configText !== undefined) {
      try {
        config = JSON.parse(configText) as JsonObject;
      } catch (err: unknown) {
        throw new LoaderError(`${file}: model_config is not valid JSON`, { cause: err });
      }
    }
    const weightsGroup = h5file.get('model_weights') ?? h5file;
    if (!(weightsGroup instanceof h5.Group)) {
      throw new LoaderError(`${file}: model_weights is not a group`);
    }
    const layers = new Map<string, { name: string; tensor: Tensor }[]>();
    for (const layer of stringListAttr(weightsGroup, 'layer_names', file)) {
      const group = weightsGroup.get(layer);
      if (!(group instanceof h5.Group)) {
        throw new LoaderError(`${file}: layer ${layer} is listed but has no group`);
      }
      const weights = stringListAttr(group, 'weight_names', `${file}: layer ${layer}`).map(
        (name) => {
          const where = `${file}:${weightsGroup.path}/${layer}/${name}`.replace('//', '/');
          const dataset = group.get(name);
          if (!(dataset instanceof h5.Dataset)) {
            throw new LoaderError(`${where}: listed in weight_names but not a dataset`);
          }
          return { name, tensor: readTensor(dataset, where) };
        },
      );
      layers.set(layer, weights);
    }
    return {
      config,
      kerasVersion: stringAttr(h5file.attrs.keras_version),
      backend: stringAttr(h5file.attrs.backend),
      layers,
    };
  } finally {
    h5file.close();
  }
}
