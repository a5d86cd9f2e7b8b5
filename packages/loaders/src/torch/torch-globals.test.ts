import { describe, expect, it } from 'vitest';

import { storageOf } from '../tensor.js';
import { PickleCallable, PickleGlobal, PickleObject } from './pickle-values.js';
import type { PickleValue } from './pickle-values.js';
import { resolveTorchGlobal } from './torch-globals.js';
import type { StorageType } from './torch-tensor.js';
import { StorageRef, TorchTensor } from './torch-tensor.js';

function call(name: string, ...args: PickleValue[]): PickleValue {
  const callee = resolveTorchGlobal(name);
  if (!(callee instanceof PickleCallable)) {
    throw new Error(`${name} is not allow-listed as a callable`);
  }
  return callee.call(args);
}

const ref = (): StorageRef => new StorageRef(storageOf('s', new ArrayBuffer(24)), 'float32');

describe('resolveTorchGlobal', () => {
  it('leaves anything not allow-listed unresolved', () => {
    expect(resolveTorchGlobal('os.system')).toBeUndefined();
    expect(resolveTorchGlobal('builtins.eval')).toBeUndefined();
    expect(resolveTorchGlobal('torch.load')).toBeUndefined();
  });

  it('rebuilds tensors from a storage, with offset, size and stride', () => {
    const tensor = call('torch._utils._rebuild_tensor', ref(), 1, [2, 2], [1, 2]);
    expect(tensor).toBeInstanceOf(TorchTensor);
    expect((tensor as TorchTensor).storageOffset).toBe(1);
    expect((tensor as TorchTensor).strides).toEqual([1, 2]);
    expect(() => call('torch._utils._rebuild_tensor_v2', ref(), 0, [7], [1], false)).toThrow(
      /needs 28 bytes/,
    );
    expect(() => call('torch._utils._rebuild_tensor_v2', 'not a storage', 0, [1], [1])).toThrow();
  });

  it('keeps the tensor of a parameter with state and of a tensor subclass', () => {
    const plain = call('torch._utils._rebuild_tensor_v2', ref(), 0, [6], [1], false);
    const parameter = call('torch._utils._rebuild_parameter_with_state', plain, true, null, null);
    expect((parameter as TorchTensor).isParameter).toBe(true);
    expect((parameter as TorchTensor).requiresGrad).toBe(true);
    const rebuild = resolveTorchGlobal('torch._utils._rebuild_tensor_v2');
    const subclass = call(
      'torch._tensor._rebuild_from_type_v2',
      rebuild,
      new PickleGlobal('my.T'),
      [ref(), 0, [3], [1], false],
      new Map(),
    );
    expect((subclass as TorchTensor).shape).toEqual([3]);
    const unknown = call(
      'torch._tensor._rebuild_from_type_v2',
      new PickleGlobal('evil.f'),
      null,
      [],
      null,
    );
    expect((unknown as PickleObject).$class).toBe('torch._tensor._rebuild_from_type_v2');
  });

  it('maps storage classes and dtypes to their element types', () => {
    expect((resolveTorchGlobal('torch.BFloat16Storage') as StorageType).dtype).toBe('bfloat16');
    expect((resolveTorchGlobal('torch.storage.UntypedStorage') as StorageType).dtype).toBe('uint8');
    expect(resolveTorchGlobal('torch.complex128')).toBe('complex128');
  });

  it('builds the Python builtins and containers torch pickles hold', () => {
    expect(call('collections.OrderedDict', [['a', 1]])).toEqual(new Map([['a', 1]]));
    expect(call('collections.defaultdict', new PickleGlobal('builtins.list'))).toEqual(new Map());
    expect(call('builtins.slice', 1, 5, null)).toEqual({ start: 1, stop: 5, step: null });
    expect(call('builtins.bytearray', 'a\u00ff', 'latin-1')).toEqual(new Uint8Array([0x61, 0xff]));
    expect(call('builtins.bytes')).toEqual(new Uint8Array(0));
    expect(call('torch.device', 'cpu')).toBe('cpu');
    expect(call('torch.jit._pickle.build_intlist', [1, 2])).toEqual([1, 2]);
  });

  it('decodes numpy scalars and keeps big-endian ones inert', () => {
    const dtype = (code: string, order: string): PickleObject => {
      const object = new PickleObject('numpy.dtype', [code, false, true]);
      object.state = [3, order, null, null, null, -1, -1, 0];
      return object;
    };
    const f4 = new Uint8Array(new Float32Array([1.5]).buffer);
    expect(call('numpy._core.multiarray.scalar', dtype('f4', '<'), f4)).toBe(1.5);
    expect(call('numpy.core.multiarray.scalar', dtype('b1', '|'), new Uint8Array([1]))).toBe(true);
    expect(call('numpy.core.multiarray.scalar', dtype('f4', '>'), f4)).toBeInstanceOf(PickleObject);
  });
});
