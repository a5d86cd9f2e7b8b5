import { parse } from 'protobufjs';
import type { IConversionOptions, Type } from 'protobufjs';

import { LoaderError } from '../errors.js';
import { describeError } from '../file-storage.js';

/**
 * The few fields this reader needs from TensorFlow's SavedModel and TensorBundle messages
 * (saved_model.proto, meta_graph.proto, tensor_bundle.proto, tensor_shape.proto), with their
 * wire numbers. Everything else, the GraphDef above all, is skipped unread. Enum fields are
 * declared as int32 (the same varint on the wire) so a value newer than this list still decodes.
 */
const SCHEMA = `
syntax = "proto3";
package tfsubset;

message SavedModel {
  repeated MetaGraph meta_graphs = 2;
}
message MetaGraph {
  MetaInfo meta_info_def = 1;
  map<string, Signature> signature_def = 5;
}
message MetaInfo {
  repeated string tags = 4;
  string tensorflow_version = 5;
  string tensorflow_git_version = 6;
}
message Signature {
  map<string, TensorInfo> inputs = 1;
  map<string, TensorInfo> outputs = 2;
  string method_name = 3;
}
message TensorInfo {
  string name = 1;
  int32 dtype = 2;
  Shape tensor_shape = 3;
  CooSparse coo_sparse = 4;
}
message CooSparse {
  string values_tensor_name = 1;
}
message Shape {
  repeated Dim dim = 2;
  bool unknown_rank = 3;
}
message Dim {
  int64 size = 1;
}
message BundleHeader {
  int32 num_shards = 1;
  int32 endianness = 2;
  Version version = 3;
}
message Version {
  int32 producer = 1;
  int32 min_consumer = 2;
  repeated int32 bad_consumers = 3;
}
message BundleEntry {
  int32 dtype = 1;
  Shape shape = 2;
  int32 shard_id = 3;
  int64 offset = 4;
  int64 size = 5;
  fixed32 crc32c = 6;
  repeated bytes slices = 7;
}
`;

const ROOT = parse(SCHEMA, { keepCase: true }).root;

/** Plain objects with every field present (defaults filled in) and 64-bit integers as numbers. */
const PLAIN: IConversionOptions = { longs: Number, defaults: true, arrays: true, objects: true };

export interface ShapeMessage {
  dim: { size: number }[];
  unknown_rank: boolean;
}

export interface TensorInfoMessage {
  name: string;
  dtype: number;
  tensor_shape: ShapeMessage | null;
  coo_sparse: { values_tensor_name: string } | null;
}

export interface SignatureMessage {
  inputs: Record<string, TensorInfoMessage>;
  outputs: Record<string, TensorInfoMessage>;
  method_name: string;
}

export interface MetaGraphMessage {
  meta_info_def: {
    tags: string[];
    tensorflow_version: string;
    tensorflow_git_version: string;
  } | null;
  signature_def: Record<string, SignatureMessage>;
}

export interface SavedModelMessage {
  meta_graphs: MetaGraphMessage[];
}

export interface BundleHeaderMessage {
  num_shards: number;
  /** 0 little-endian, 1 big-endian. */
  endianness: number;
  version: { producer: number; min_consumer: number; bad_consumers: number[] } | null;
}

export interface BundleEntryMessage {
  dtype: number;
  shape: ShapeMessage | null;
  shard_id: number;
  offset: number;
  size: number;
  /** Masked CRC-32C of the tensor's bytes. */
  crc32c: number;
  /** Non-empty for a partitioned variable, whose slices are stored under other keys. */
  slices: Uint8Array[];
}

function decoder<T>(name: string): (bytes: Uint8Array, where: string) => T {
  const type: Type = ROOT.lookupType(`tfsubset.${name}`);
  return (bytes, where) => {
    try {
      // The schema above fixes the shape of the plain object, so this cast is what it says.
      return type.toObject(type.decode(bytes), PLAIN) as T;
    } catch (err: unknown) {
      throw new LoaderError(`${where}: not a valid ${name} message (${describeError(err)})`, {
        cause: err,
      });
    }
  };
}

export const decodeSavedModel = decoder<SavedModelMessage>('SavedModel');
export const decodeBundleHeader = decoder<BundleHeaderMessage>('BundleHeader');
export const decodeBundleEntry = decoder<BundleEntryMessage>('BundleEntry');
