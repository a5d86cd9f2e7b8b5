import { ROUTES } from '@determined-ts/api';
import type { TokenScope } from '@determined-ts/api';

/** A route a scope allows: a method and one of {@link ROUTES}' Hono paths. */
type Grant = readonly [method: 'GET' | 'POST' | 'PUT' | 'PATCH', route: string];

/**
 * What a service that serves models needs: find a trial's or an experiment's checkpoints and
 * download them (the archive, or URLs that read the store), and nothing about users, logs or
 * metric series. New read routes for checkpoints belong here.
 */
const DOWNLOAD: readonly Grant[] = [
  ['GET', ROUTES.me],
  ['GET', ROUTES.master],
  ['GET', ROUTES.info],
  ['GET', ROUTES.experiment],
  ['GET', ROUTES.experimentTrials],
  ['GET', ROUTES.experimentCheckpoints],
  ['GET', ROUTES.trial],
  ['GET', ROUTES.trialCheckpoints],
  ['GET', ROUTES.checkpoint],
  ['GET', ROUTES.checkpointArchive],
  ['GET', ROUTES.checkpointDownloadUrls],
  // The model registry, read-only: a service resolves "fraud-detector@production" to a checkpoint.
  ['GET', ROUTES.models],
  ['GET', ROUTES.model],
  ['GET', ROUTES.modelLabels],
  ['GET', ROUTES.modelVersions],
  ['GET', ROUTES.modelVersion],
  ['GET', ROUTES.modelVersionMetrics],
  ['GET', ROUTES.modelAliases],
  ['GET', ROUTES.modelAlias],
  ['GET', ROUTES.modelAliasHistory],
];

/**
 * What a training job needs, from Determined's Python SDK (Core API, managed or unmanaged) or
 * ours: create its unmanaged experiment and trial, report progress, metrics, checkpoints and
 * logs, and read back the checkpoints it resumes from. It cannot delete anything.
 */
const REPORT: readonly Grant[] = [
  ...DOWNLOAD,
  ['POST', ROUTES.experiments],
  ['PUT', ROUTES.experimentByExternalId],
  ['POST', ROUTES.trials],
  ['PUT', ROUTES.trials],
  ['POST', ROUTES.runsStart],
  ['POST', ROUTES.trialStart],
  ['PATCH', ROUTES.trial],
  ['POST', ROUTES.trialProgress],
  ['POST', ROUTES.trialMetrics],
  ['POST', ROUTES.trialTrainingMetrics],
  ['POST', ROUTES.trialValidationMetrics],
  ['POST', ROUTES.checkpoints],
  ['POST', ROUTES.checkpointMetadata],
  ['POST', ROUTES.trialSourceInfo],
  ['POST', ROUTES.taskLogs],
];

interface CompiledGrant {
  method: string;
  pattern: RegExp;
}

function compile(grants: readonly Grant[]): CompiledGrant[] {
  return grants.map(([method, route]) => ({
    method,
    pattern: new RegExp(
      `^${route.replace(/[.*+?^${}()|[\]\\]/g, '\\$&').replace(/:\w+/g, '[^/]+')}$`,
    ),
  }));
}

const GRANTS: Record<Exclude<TokenScope, 'full' | 'read-only'>, CompiledGrant[]> = {
  'download-only': compile(DOWNLOAD),
  'report-only': compile(REPORT),
};

/** True when a token of `scope` may send `method` to `path` (the request's, not the route's). */
export function scopeAllows(scope: TokenScope, method: string, path: string): boolean {
  // HEAD is a GET without the body.
  const m = method === 'HEAD' ? 'GET' : method;
  // Signing out ends only the caller's own session, whatever it may otherwise do.
  if (m === 'POST' && path === ROUTES.logout) {
    return true;
  }
  switch (scope) {
    case 'full':
      return true;
    case 'read-only':
      return m === 'GET';
    case 'download-only':
    case 'report-only':
      return GRANTS[scope].some((g) => g.method === m && g.pattern.test(path));
  }
}
