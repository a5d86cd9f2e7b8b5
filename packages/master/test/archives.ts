// Checking archives the master serves: deterministic file contents, and extraction with the
// system's tar and unzip, as users and Determined's SDK unpack them.
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export type ArchiveKind = 'tar' | 'tgz' | 'zip';

export const sha256 = (data: Buffer): string => createHash('sha256').update(data).digest('hex');

/** Deterministic bytes that do not compress away, so sizes span several tar blocks. */
export function bytes(n: number, seed: number): Buffer {
  const out = Buffer.alloc(n);
  let x = seed;
  for (let i = 0; i < n; i++) {
    x = (Math.imul(x, 1103515245) + 12345) >>> 0;
    out[i] = x >>> 24;
  }
  return out;
}

/** sha256 of every regular file under `root`, by relative path. */
export function digestTree(root: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const entry of readdirSync(root, { recursive: true, withFileTypes: true })) {
    if (entry.isFile()) {
      const path = join(entry.parentPath, entry.name);
      out[path.slice(root.length + 1)] = sha256(readFileSync(path));
    }
  }
  return out;
}

/** sha256 of each of `files`, by name: what `extractArchive(...).files` should be. */
export function digestsOf(files: Record<string, Buffer>): Record<string, string> {
  return Object.fromEntries(Object.entries(files).map(([n, d]) => [n, sha256(d)]));
}

/** Lists an archive's entry names and extracts it with the system tools (in a temp dir). */
export function extractArchive(
  body: Buffer,
  kind: ArchiveKind,
): { names: string[]; files: Record<string, string> } {
  const dir = mkdtempSync(join(tmpdir(), 'archive-extract-'));
  try {
    const file = join(dir, `archive.${kind}`);
    writeFileSync(file, body);
    const out = join(dir, 'out');
    mkdirSync(out);
    let listing: string;
    if (kind === 'zip') {
      listing = execFileSync('unzip', ['-Z1', file], { encoding: 'utf8' });
      execFileSync('unzip', ['-q', file, '-d', out]);
    } else {
      const z = kind === 'tgz' ? 'z' : '';
      listing = execFileSync('tar', [`-t${z}f`, file], { encoding: 'utf8' });
      execFileSync('tar', [`-x${z}f`, file, '-C', out]);
    }
    const names = listing.split('\n').filter((l) => l !== '');
    return { names, files: digestTree(out) };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
