// What the interop tests with Determined's real Python SDK share: the deterministic bytes both
// sides write, trees as digests, and Python's output for failure messages.
import { readTree, sha256 } from '../../sdk/test/core-helpers.js';

/** A prime period, so no two parts of a multipart upload hold the same bytes. */
export const PERIOD = 65_521;

/** Deterministic bytes; the Python scripts' `pattern` (see PY_PATTERN) writes the same. */
export function pattern(size: number, seed: number): Buffer {
  const block = Buffer.alloc(PERIOD);
  for (let j = 0; j < PERIOD; j += 1) {
    block[j] = (j * 131 + (j >> 8) * 7 + seed) & 0xff;
  }
  const out = Buffer.alloc(size);
  for (let offset = 0; offset < size; offset += PERIOD) {
    block.copy(out, offset, 0, Math.min(PERIOD, size - offset));
  }
  return out;
}

/** `pattern` in Python, for the scripts' preludes. */
export const PY_PATTERN = String.raw`
def pattern(size, seed):
    block = bytes((j * 131 + (j >> 8) * 7 + seed) & 0xFF for j in range(${PERIOD}))
    return (block * (size // len(block) + 1))[:size]
`;

/** A tree as relative path → sha256 of the file, or `dir` for a directory. */
export type Digests = Record<string, string>;

export function digests(tree: Record<string, Buffer | string | Uint8Array | null>): Digests {
  return Object.fromEntries(
    Object.entries(tree).map(([path, data]) => [path, data === null ? 'dir' : sha256(data)]),
  );
}

export async function digestsOf(root: string): Promise<Digests> {
  return digests(await readTree(root));
}

/** Python's stderr (its log) and stdout, to show when something it did was unexpected. */
export function pythonOutput(run: { stdout: string; stderr: string }): string {
  return `python stderr:\n${run.stderr}\npython stdout:\n${run.stdout}`;
}
