import { describe, expect, it } from 'vitest';

import { LoaderError } from '../errors.js';
import { Tensor, storageOf } from '../tensor.js';
import { PickleObject } from './pickle-values.js';
import type { PickleValue } from './pickle-values.js';
import { collectTensors } from './tensor-paths.js';

const tensor = (): Tensor =>
  new Tensor({ dtype: 'float32', shape: [1], storage: storageOf('t', new ArrayBuffer(4)) });

describe('collectTensors', () => {
  it('names tensors by dict keys and list indices, keys as Python prints them', () => {
    const t = tensor();
    const root = new Map<PickleValue, PickleValue>([
      ['a', [t, [t]]],
      [0, t],
      [true, t],
      [[1, 'x'], t],
    ]);
    expect([...collectTensors(root, 'f').keys()]).toEqual([
      'a.0',
      'a.1.0',
      '0',
      'True',
      "(1, 'x')",
    ]);
  });

  it('calls a tensor at the root "."', () => {
    expect([...collectTensors(tensor(), 'f').keys()]).toEqual(['.']);
  });

  it('names a pickled module’s tensors as named_parameters() does', () => {
    const linear = new PickleObject('torch.nn.modules.linear.Linear', []);
    linear.state = new Map([['_parameters', new Map([['weight', tensor()]])]]);
    const net = new PickleObject('my.Net', []);
    net.state = new Map<string, PickleValue>([
      ['_buffers', new Map([['count', tensor()]])],
      ['_modules', new Map([['fc', linear]])],
      ['extra', new Map([['t', tensor()]])],
    ]);
    expect([...collectTensors(net, 'f').keys()]).toEqual(['count', 'fc.weight', 'extra.t']);
  });

  it('cuts cycles', () => {
    const list: PickleValue[] = [tensor()];
    list.push(list);
    expect([...collectTensors(list, 'f').keys()]).toEqual(['0']);
  });

  it('refuses nesting deeper than any checkpoint has', () => {
    let deep: PickleValue = tensor();
    for (let i = 0; i < 2000; i += 1) {
      deep = [deep];
    }
    expect(() => collectTensors(deep, 'deep.pt')).toThrow(LoaderError);
  });
});
