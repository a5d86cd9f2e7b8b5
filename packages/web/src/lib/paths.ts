// The app's routes, built in one place.

export const experimentsPath = '/experiments';
export const experimentPath = (id: number): string => `/experiments/${id}`;
export const trialPath = (id: number): string => `/trials/${id}`;
export const checkpointPath = (trialId: number, uuid: string): string =>
  `/trials/${trialId}/checkpoints/${encodeURIComponent(uuid)}`;
export const modelsPath = '/models';

/**
 * A model's page, by name (the master looks names up exactly). `.` and `..` would be dot
 * segments, which browsers drop even when percent-encoded; those go by id (a name is never all
 * digits, so `/models/7` can only mean model 7).
 */
export function modelPath(name: string, id?: number): string {
  if ((name === '.' || name === '..') && id !== undefined) {
    return `/models/${id}`;
  }
  return `/models/${encodeURIComponent(name)}`;
}

/** The row id of a version in its model page's versions table. */
export const versionAnchor = (version: number): string => `version-${version}`;

/** A model's page, scrolled to one version's row. */
export const modelVersionPath = (name: string, version: number, id?: number): string =>
  `${modelPath(name, id)}#${versionAnchor(version)}`;

/**
 * The master's archive of a checkpoint's files (not a page of the app): a tar by default, or
 * the `format` the master's `?format=` takes.
 */
export const checkpointDownloadPath = (uuid: string, format?: 'tar.gz' | 'zip'): string =>
  `/checkpoints/${encodeURIComponent(uuid)}${format === undefined ? '' : `?format=${format}`}`;

/** The login page that returns to `next` after signing in. */
export function loginPath(next: string): string {
  return next === '' || next === '/' ? '/login' : `/login?next=${encodeURIComponent(next)}`;
}

/**
 * Where to go after signing in: `next` when it is a path of this app (never another origin,
 * never the login page itself), else the experiments.
 */
export function safeNext(next: string | null): string {
  if (
    next === null ||
    !next.startsWith('/') ||
    next.startsWith('//') ||
    next.startsWith('/\\') ||
    /^\/login(?:[/?#]|$)/.test(next)
  ) {
    return experimentsPath;
  }
  return next;
}

/** A route's numeric id: a positive integer in plain digits, else undefined. */
export function parseId(raw: string | undefined): number | undefined {
  if (raw === undefined || !/^[1-9]\d{0,15}$/.test(raw)) {
    return undefined;
  }
  const id = Number(raw);
  return Number.isSafeInteger(id) ? id : undefined;
}
