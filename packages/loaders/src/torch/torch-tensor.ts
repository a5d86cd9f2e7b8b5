import type { DType, TensorInit, TensorStorage } from '../tensor.js';
import { Tensor } from '../tensor.js';

/** What makes a torch tensor more than its bytes: autograd flags as `torch.save` kept them. */
export interface TorchTensorFlags {
  readonly requiresGrad: boolean;
  /** Pickled as an `nn.Parameter` (`torch._utils._rebuild_parameter`). */
  readonly isParameter: boolean;
}

/** A tensor from a torch file: a {@link Tensor} plus its `requires_grad` and parameter flags. */
export class TorchTensor<D extends DType = DType> extends Tensor<D> implements TorchTensorFlags {
  readonly requiresGrad: boolean;
  readonly isParameter: boolean;

  constructor(init: TensorInit<D>, flags: TorchTensorFlags) {
    super(init);
    this.requiresGrad = flags.requiresGrad;
    this.isParameter = flags.isParameter;
  }

  /** The same tensor as an `nn.Parameter`. */
  asParameter(requiresGrad: boolean): TorchTensor<D> {
    const { dtype, shape, strides, storageOffset, storage } = this;
    return new TorchTensor(
      { dtype, shape, strides, storageOffset, storage },
      { requiresGrad, isParameter: true },
    );
  }
}

/** A storage class a pickle names (`torch.FloatStorage`): the element type of its storages. */
export class StorageType {
  readonly $global: string;
  readonly dtype: DType;

  constructor(name: string, dtype: DType) {
    this.$global = name;
    this.dtype = dtype;
  }
}

/** What a persistent id stands for: a storage, seen as `dtype` elements. Its tensors share its bytes. */
export class StorageRef {
  readonly storage: TensorStorage;
  readonly dtype: DType;

  constructor(storage: TensorStorage, dtype: DType) {
    this.storage = storage;
    this.dtype = dtype;
  }
}
