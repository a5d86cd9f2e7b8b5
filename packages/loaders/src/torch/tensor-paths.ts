import { LoaderError } from '../errors.js';
import { Tensor } from '../tensor.js';
import { PickleObject } from './pickle-values.js';
import type { PickleValue } from './pickle-values.js';

/** An nn.Module's `__dict__` keeps its tensors in these; their names skip them, as `named_parameters()` does. */
const MODULE_SLOTS = new Set(['_parameters', '_buffers', '_modules']);
/** Deeper nesting than any checkpoint has: refuse rather than overflow the stack. */
const MAX_DEPTH = 1000;
/** Shared containers can multiply paths; stop a pickle built to explode. */
const MAX_VISITS = 10_000_000;

/**
 * Every tensor reachable from `root`, by dotted path in container order: dict keys, list and
 * tuple indices (`models_state_dict.0.fc1.weight`); a tensor at the root is `.`. Inert objects
 * are entered through their state, so a whole pickled `nn.Module` or a TorchScript module
 * names its tensors as `named_parameters()` would (`fc1.weight`). A tensor reachable twice is
 * listed under both paths; cycles are cut.
 */
export function collectTensors(root: PickleValue, where: string): Map<string, Tensor> {
  const tensors = new Map<string, Tensor>();
  const ancestors = new Set<object>();
  let visits = 0;

  const visit = (value: PickleValue, path: string, depth: number): void => {
    visits += 1;
    if (visits > MAX_VISITS) {
      throw new LoaderError(`${where}: the pickle's containers have too many paths to list`);
    }
    if (value instanceof Tensor) {
      tensors.set(path === '' ? '.' : path, value as Tensor);
      return;
    }
    const isContainer =
      Array.isArray(value) || value instanceof Map || value instanceof PickleObject;
    if (!isContainer || ancestors.has(value)) {
      return;
    }
    if (depth > MAX_DEPTH) {
      throw new LoaderError(`${where}: the pickle nests deeper than ${MAX_DEPTH} levels`);
    }
    ancestors.add(value);
    if (Array.isArray(value)) {
      value.forEach((item: PickleValue, i) => visit(item, join(path, String(i)), depth + 1));
    } else if (value instanceof Map) {
      for (const [key, item] of value) {
        visit(item, join(path, formatKey(key)), depth + 1);
      }
    } else {
      visitObject(value, path, depth);
    }
    ancestors.delete(value);
  };

  const visitObject = (object: PickleObject, path: string, depth: number): void => {
    if (object.state instanceof Map) {
      for (const [key, item] of object.state) {
        const isSlot = typeof key === 'string' && MODULE_SLOTS.has(key) && item instanceof Map;
        visit(item, isSlot ? path : join(path, formatKey(key)), depth + 1);
      }
    } else {
      visit(object.state, path, depth + 1);
    }
    visit(object.dictItems, path, depth + 1);
    visit(object.listItems, path, depth + 1);
  };

  visit(root, '', 0);
  return tensors;
}

function join(prefix: string, key: string): string {
  return prefix === '' ? key : `${prefix}.${key}`;
}

/** A dict key as Python's `str()` writes it. */
function formatKey(key: PickleValue): string {
  if (typeof key === 'string') {
    return key;
  }
  if (typeof key === 'boolean') {
    return key ? 'True' : 'False';
  }
  if (key === null || key === undefined) {
    return 'None';
  }
  if (Array.isArray(key)) {
    const items = (key as PickleValue[]).map((item) =>
      typeof item === 'string' ? `'${item}'` : formatKey(item),
    );
    return `(${items.join(', ')}${items.length === 1 ? ',' : ''})`;
  }
  return typeof key === 'number' || typeof key === 'bigint' ? String(key) : '?';
}
