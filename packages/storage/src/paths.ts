import { IntegrityError } from './errors.js';

/**
 * Checks a checkpoint-relative path (a `resources` key or an archive entry name) and returns it
 * normalised: `/`-separated, no `.` segments, directories keeping their trailing `/`.
 *
 * Refuses, with an IntegrityError naming the path, anything that could land outside the target:
 * absolute paths (POSIX, drive letters, UNC), `..` segments, backslashes (separators on
 * Windows), NUL bytes, and names that are empty once normalised.
 */
export function checkRelativePath(name: string): string {
  const refuse = (why: string): never => {
    throw new IntegrityError(name, `refusing path ${JSON.stringify(name)}: ${why}`);
  };
  if (name.includes('\0')) {
    refuse('it contains a NUL byte');
  }
  if (name.includes('\\')) {
    refuse('it contains a backslash');
  }
  if (name.startsWith('/') || /^[A-Za-z]:/.test(name)) {
    refuse('it is absolute');
  }
  const isDir = name.endsWith('/');
  const parts: string[] = [];
  for (const part of name.split('/')) {
    if (part === '..') {
      refuse("it contains '..'");
    }
    if (part !== '' && part !== '.') {
      parts.push(part);
    }
  }
  if (parts.length === 0) {
    refuse('it names no file');
  }
  return parts.join('/') + (isDir ? '/' : '');
}

/** The parent directories of a normalised relative path, outermost first (`a/b/c` → `a`, `a/b`). */
export function parentDirs(path: string): string[] {
  const parts = path.replace(/\/$/, '').split('/');
  const out: string[] = [];
  for (let i = 1; i < parts.length; i += 1) {
    out.push(parts.slice(0, i).join('/'));
  }
  return out;
}
