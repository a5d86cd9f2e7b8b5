import { IntegrityError } from '../errors.js';
import { checkRelativePath, parentDirs } from '../storage/paths.js';

/** One file the download must produce. */
export interface ManifestFile {
  path: string;
  size: number;
  /** Lowercase sha256 hex, when the master recorded one. */
  sha256: string | undefined;
}

/** What a complete download holds, from the checkpoint's `resources` and `digests`. */
export interface Manifest {
  files: ManifestFile[];
  /** Directories to create (from `sub/` resources and file parents), outermost first. */
  dirs: string[];
  byPath: Map<string, ManifestFile>;
  totalBytes: number;
}

const SHA256_HEX = /^[0-9a-f]{64}$/;

/**
 * Builds the manifest, refusing (IntegrityError) resource paths that are absolute, contain
 * `..`, collide after normalisation, or have impossible sizes. Digests that are not sha256 hex
 * are ignored: they cannot be checked, and are not the files' fault.
 */
export function buildManifest(
  resources: Readonly<Record<string, number>>,
  digests: Readonly<Record<string, string>>,
): Manifest {
  const normalisedDigests = new Map<string, string>();
  for (const [path, digest] of Object.entries(digests)) {
    const d = digest.toLowerCase();
    if (SHA256_HEX.test(d)) {
      normalisedDigests.set(checkRelativePath(path), d);
    }
  }
  const files: ManifestFile[] = [];
  const byPath = new Map<string, ManifestFile>();
  const dirs = new Set<string>();
  const seen = new Set<string>();
  let totalBytes = 0;
  for (const [raw, size] of Object.entries(resources)) {
    const path = checkRelativePath(raw);
    const key = path.replace(/\/$/, '');
    if (seen.has(key)) {
      throw new IntegrityError(raw, `resource ${JSON.stringify(raw)} is listed twice`);
    }
    seen.add(key);
    for (const parent of parentDirs(path)) {
      dirs.add(parent);
    }
    if (path.endsWith('/')) {
      dirs.add(key);
      continue;
    }
    if (!Number.isSafeInteger(size) || size < 0) {
      throw new IntegrityError(raw, `resource ${raw} has an invalid size ${String(size)}`);
    }
    const file: ManifestFile = { path, size, sha256: normalisedDigests.get(path) };
    files.push(file);
    byPath.set(path, file);
    totalBytes += size;
  }
  for (const dir of dirs) {
    if (byPath.has(dir)) {
      throw new IntegrityError(dir, `resource ${dir} is both a file and a directory`);
    }
  }
  // Shorter paths first: parents before children.
  const sortedDirs = [...dirs].sort((a, b) => a.split('/').length - b.split('/').length);
  return { files, dirs: sortedDirs, byPath, totalBytes };
}
