// Helpers for the loader tests: where the reference fixtures are, a module importer that
// cannot find chosen packages, and the context the format loaders take.
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

import type { JsonObject } from '@determined-ts/api';
import { expect } from 'vitest';

import type { LoadContext } from '../src/load-context.js';
import type { ModuleImporter } from '../src/runtime.js';
import { nativeImport } from '../src/runtime.js';

/** ../shared/fixtures next to the repository (CI has it; a plain clone may not). */
export const SHARED_FIXTURES = fileURLToPath(
  new URL('../../../../shared/fixtures/', import.meta.url),
);
export const HAS_SHARED_FIXTURES = existsSync(SHARED_FIXTURES);
/** Appended to describe titles, so a skipped run says why. */
export const NEEDS_SHARED = HAS_SHARED_FIXTURES
  ? ''
  : ` (skipped: ${SHARED_FIXTURES} is absent; it holds the framework-written fixtures)`;

/**
 * Imports like the real thing, except that `missing` packages are resolved from a directory
 * with no node_modules anywhere above it, so Node itself reports them not found.
 */
export function importWithout(...missing: string[]): ModuleImporter {
  const nowhere = createRequire('/nonexistent-determined-ts-test/resolver.js');
  return (specifier) =>
    missing.some((name) => specifier === name || specifier.startsWith(`${name}/`))
      ? Promise.resolve().then(() => nowhere(specifier) as unknown)
      : nativeImport(specifier);
}

export function loadContext(path: string, overrides: Partial<LoadContext> = {}): LoadContext {
  return {
    path,
    metadata: {} satisfies JsonObject,
    tensors: 'eager',
    signal: undefined,
    importModule: nativeImport,
    ...overrides,
  };
}

/** The numbers of a nested list (an expected.json input or output), in C order. */
export function flatten(values: unknown): number[] {
  return Array.isArray(values) ? values.flatMap(flatten) : [values as number];
}

/** Every value of `actual` is within `tolerance` of `expected`'s, and there are as many. */
export function expectClose(
  actual: ArrayLike<number>,
  expected: readonly number[],
  tolerance = 1e-5,
): void {
  expect(actual.length).toBe(expected.length);
  const worst = Math.max(0, ...expected.map((value, i) => Math.abs((actual[i] ?? NaN) - value)));
  expect(worst).toBeLessThanOrEqual(tolerance);
}
