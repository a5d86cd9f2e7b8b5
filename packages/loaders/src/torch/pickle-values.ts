import type { PickleValue } from '../types.js';

/**
 * What the restricted unpickler produces. Python values map to plain JS ones: `None` → `null`,
 * `bool`, `int` → `number` (a `bigint` past ±2^53), `float` → `number`, `str` → `string`,
 * `bytes`/`bytearray` → `Uint8Array`, `list` and `tuple` → arrays, `dict` (and `OrderedDict`) →
 * `Map`, `set`/`frozenset` → `Set`, tensors → {@link TorchTensor}. Anything else becomes one of
 * the inert classes below: the unpickler never runs code from the file.
 */
export type { PickleValue };

/**
 * An instance of a class the unpickler does not know (a whole pickled `nn.Module`, numpy RNG
 * state, …): the class's qualified name and what the pickle would have passed to it. Nothing
 * was called.
 */
export class PickleObject {
  /** `module.Name` as written in the pickle (`fixture_models.MLP`, `os.system`). */
  readonly $class: string;
  /** The arguments of the call (REDUCE) or of `cls.__new__` (NEWOBJ). */
  readonly args: readonly PickleValue[];
  /** What `__setstate__` would have received (BUILD), usually the instance `__dict__`. */
  state: PickleValue = undefined;
  /** Items a dict subclass pickled after the object (SETITEM/SETITEMS). */
  dictItems: Map<PickleValue, PickleValue> | undefined;
  /** Items a list subclass pickled after the object (APPEND/APPENDS). */
  listItems: PickleValue[] | undefined;

  constructor(className: string, args: readonly PickleValue[]) {
    this.$class = className;
    this.args = args;
  }
}

/**
 * A global the allow-list knows: REDUCE and NEWOBJ call {@link call} with the pickled
 * arguments, and only our own code runs. One left uncalled in the tree (a class passed as an
 * argument) stays as this reference.
 */
export class PickleCallable {
  /** `module.Name` as written in the pickle. */
  readonly $global: string;
  readonly call: (args: readonly PickleValue[]) => PickleValue;

  constructor(name: string, call: (args: readonly PickleValue[]) => PickleValue) {
    this.$global = name;
    this.call = call;
  }
}

/** A reference to a global the unpickler does not know, never looked up nor called. */
export class PickleGlobal {
  /** `module.Name` as written in the pickle. */
  readonly $global: string;

  constructor(name: string) {
    this.$global = name;
  }
}

/** Python's `complex(real, imag)`. */
export interface PickleComplex {
  readonly real: number;
  readonly imag: number;
}

/** Python's `slice(start, stop, step)`. */
export interface PickleSlice {
  readonly start: PickleValue;
  readonly stop: PickleValue;
  readonly step: PickleValue;
}
