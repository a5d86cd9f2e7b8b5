import { mkdir, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';

/** A file tree: a string or bytes is a file, `null` an empty directory. */
export type Tree = Record<string, string | Uint8Array | null>;

/** Writes `tree` under `root` (created if needed). */
export async function makeTree(root: string, tree: Tree): Promise<void> {
  await mkdir(root, { recursive: true });
  for (const [rel, content] of Object.entries(tree)) {
    const path = join(root, rel);
    if (content === null) {
      await mkdir(path, { recursive: true });
    } else {
      await mkdir(dirname(path), { recursive: true });
      await writeFile(path, content);
    }
  }
}
