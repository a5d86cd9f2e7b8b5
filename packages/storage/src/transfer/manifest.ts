import { IntegrityError } from '../errors.js';
import { checkRelativePath, parentDirs } from '../paths.js';

/** One file the download must produce. */
export interface ManifestFile {
  path: string;
  size: number;
  /** Lowercase sha256 hex, when the master recorded one. */
  sha256: string | undefined;
  /** CRC32C as 8 lowercase hex digits, when the master recorded one. */
  crc32c?: string | undefined;
}

/** What a complete download holds, from the checkpoint's `resources`, `digests` and `crc32c`. */
export interface Manifest {
  files: ManifestFile[];
  /** Directories to create (from `sub/` resources and file parents), outermost first. */
  dirs: string[];
  byPath: Map<string, ManifestFile>;
  totalBytes: number;
}

const SHA256_HEX = /^[0-9a-f]{64}$/;
const CRC32C_HEX = /^[0-9a-f]{8}$/;

/** Checksums that can be checked, by normalised path; malformed ones are left out. */
function checkable(values: Readonly<Record<string, string>>, format: RegExp): Map<string, string> {
  const out = new Map<string, string>();
  for (const [path, value] of Object.entries(values)) {
    const v = value.toLowerCase();
    if (format.test(v)) {
      out.set(checkRelativePath(path), v);
    }
  }
  return out;
}

/**
 * Builds the manifest, refusing (IntegrityError) resource paths that are absolute, contain
 * `..`, collide after normalisation, or have impossible sizes. Checksums that are not sha256
 * or CRC32C hex are ignored: they cannot be checked, and are not the files' fault.
 */
export function buildManifest(
  resources: Readonly<Record<string, number>>,
  digests: Readonly<Record<string, string>>,
  crc32c: Readonly<Record<string, string>> = {},
): Manifest {
  const normalisedDigests = checkable(digests, SHA256_HEX);
  const normalisedCrcs = checkable(crc32c, CRC32C_HEX);
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
    const file: ManifestFile = {
      path,
      size,
      sha256: normalisedDigests.get(path),
      crc32c: normalisedCrcs.get(path),
    };
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
