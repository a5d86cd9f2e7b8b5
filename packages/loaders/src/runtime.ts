import type * as Tfjs from '@tensorflow/tfjs';
import type * as H5wasm from 'h5wasm/node';
import type * as Ort from 'onnxruntime-node';

import { LoaderError, MissingRuntimeError } from './errors.js';

/**
 * Imports a module by specifier. The loaders take one so that tests can run them as if an
 * optional runtime were not installed, through a real module resolution that fails.
 */
export type ModuleImporter = (specifier: string) => Promise<unknown>;

export const nativeImport: ModuleImporter = (specifier) => import(specifier);

/** The optional framework runtimes, by the specifier they are imported with. */
export interface RuntimeModules {
  'onnxruntime-node': typeof Ort;
  '@tensorflow/tfjs': typeof Tfjs;
  'h5wasm/node': typeof H5wasm;
}

/** The npm package that provides each runtime specifier (what to `npm install`). */
const PACKAGE_OF: Readonly<Record<keyof RuntimeModules, string>> = {
  'onnxruntime-node': 'onnxruntime-node',
  '@tensorflow/tfjs': '@tensorflow/tfjs',
  'h5wasm/node': 'h5wasm',
};

function isNotFound(err: unknown, packageName: string): boolean {
  if (!(err instanceof Error)) {
    return false;
  }
  const code = (err as { code?: unknown }).code;
  // Only the package itself missing counts: a dependency of it missing is a broken install,
  // which the caller should see as such.
  return (
    (code === 'ERR_MODULE_NOT_FOUND' || code === 'MODULE_NOT_FOUND') &&
    err.message.includes(`'${packageName}`)
  );
}

/**
 * Imports an optional runtime. Absent: `MissingRuntimeError` saying how to add it. Present but
 * failing to load (a native binary for another platform, say): `LoaderError` with the cause.
 */
export async function importRuntime<S extends keyof RuntimeModules>(
  specifier: S,
  purpose: string,
  importModule: ModuleImporter = nativeImport,
): Promise<RuntimeModules[S]> {
  const packageName = PACKAGE_OF[specifier];
  try {
    return (await importModule(specifier)) as RuntimeModules[S];
  } catch (err: unknown) {
    if (isNotFound(err, packageName)) {
      throw new MissingRuntimeError(packageName, purpose, { cause: err });
    }
    throw new LoaderError(
      `${purpose}: ${packageName} is installed but failed to load: ${String(err)}`,
      { cause: err },
    );
  }
}
