import { ERROR_CODES, ROUTES } from '@determined-ts/api';
import type { ErrorBody, ErrorCode } from '@determined-ts/api';
import { Hono } from 'hono';
import type { Context, MiddlewareHandler } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import { HTTPException } from 'hono/http-exception';
import { requestId } from 'hono/request-id';

import { crossSiteRefusal } from './auth/csrf.js';
import { requestCredential } from './auth/request-token.js';
import { scopeAllows } from './auth/scopes.js';
import type { AppDeps, AppEnv } from './context.js';
import { HttpError, badRequest, forbidden, isUniqueViolation, unauthenticated } from './errors.js';
import { archiveRoutes } from './routes/archive.js';
import { authRoutes, PUBLIC_AUTH_PATHS } from './routes/auth.js';
import { checkpointRoutes } from './routes/checkpoints.js';
import { experimentRoutes } from './routes/experiments.js';
import { gcRoutes } from './routes/gc.js';
import { healthRoutes, PUBLIC_HEALTH_PATHS } from './routes/health.js';
import { masterRoutes, PUBLIC_MASTER_PATHS } from './routes/master.js';
import { modelRoutes } from './routes/models.js';
import { reconcileRoutes } from './routes/reconcile.js';
import { taskLogRoutes } from './routes/task-logs.js';
import { tokenRoutes } from './routes/tokens.js';
import { trialChartRoutes } from './routes/trial-charts.js';
import { trialRoutes } from './routes/trials.js';
import { webRoutes } from './routes/web.js';
import { authenticate } from './services/users.js';

/** `ROUTES.experimentPreviewGc`, matched with any id (a bad one is the route's 400). */
const GC_PREVIEW_PATH = /^\/experiments\/[^/]+\/preview_gc\/?$/;

const PUBLIC_PATHS = new Set<string>([
  ...PUBLIC_AUTH_PATHS,
  ...PUBLIC_MASTER_PATHS,
  ...PUBLIC_HEALTH_PATHS,
]);

export function errorBody(code: ErrorCode, message: string, details?: unknown): ErrorBody {
  const info = ERROR_CODES[code];
  return {
    message,
    error: {
      code: info.grpc,
      reason: info.reason,
      error: message,
      message,
      ...(details === undefined ? {} : { details }),
    },
  };
}

function sendError(c: Context, code: ErrorCode, message: string, details?: unknown): Response {
  return c.json(errorBody(code, message, details), ERROR_CODES[code].status);
}

/**
 * Builds the master's HTTP app. Does no I/O until a request arrives; everything it touches
 * comes in through `deps`.
 */
export function createApp(deps: AppDeps): Hono<AppEnv> {
  const app = new Hono<AppEnv>();

  app.use('*', requestId());
  const tooLarge = (c: Context<AppEnv>): Response =>
    sendError(c, 'payload_too_large', `request body exceeds ${deps.settings.maxBodyBytes} bytes`);
  const limitStream = bodyLimit({ maxSize: deps.settings.maxBodyBytes, onError: tooLarge });
  // Decided from the headers where they tell (as bodyLimit itself does) before bodyLimit runs:
  // bodyLimit first touches `req.raw.body`, which makes @hono/node-server build a full Request
  // and stream for every request (a tenth of a metric report's CPU time). GET and HEAD have no
  // body for any route here.
  const limitBody: MiddlewareHandler<AppEnv> = async (c, next) => {
    if (c.req.method === 'GET' || c.req.method === 'HEAD') {
      return next();
    }
    const length = c.req.header('content-length');
    if (length !== undefined && c.req.header('transfer-encoding') === undefined) {
      return Number.parseInt(length, 10) > deps.settings.maxBodyBytes ? tooLarge(c) : next();
    }
    return limitStream(c, next);
  };
  app.use('*', limitBody);
  // PostgreSQL text cannot hold NUL: refuse it in paths and queries before it reaches a query.
  app.use('*', async (c, next) => {
    if (/%00/.test(c.req.url)) {
      throw badRequest('NUL (%00) is not allowed in the URL');
    }
    return next();
  });
  app.use('*', async (c, next) => {
    if (PUBLIC_PATHS.has(c.req.path) || !isApiPath(c.req.path)) {
      // A login from another site's page would sign the browser into the attacker's account.
      const refusal = c.req.path === ROUTES.login ? crossSiteRefusal(c.req, false) : undefined;
      if (refusal !== undefined) {
        throw forbidden(refusal);
      }
      return next();
    }
    const credential = requestCredential(c.req);
    if (credential === undefined) {
      throw unauthenticated('token missing');
    }
    const user = await authenticate(deps, credential.token);
    const refusal = credential.via === 'cookie' ? crossSiteRefusal(c.req, true) : undefined;
    if (refusal !== undefined) {
      throw forbidden(refusal);
    }
    if (!scopeAllows(user.scope, c.req.method, c.req.path)) {
      throw forbidden(
        `access token ${String(user.accessTokenId)} has scope ${user.scope}, which does not allow ${c.req.method} ${c.req.path}`,
      );
    }
    c.set('user', user);
    return next();
  });

  app.route('/', authRoutes(deps));
  app.route('/', tokenRoutes(deps));
  app.route('/', masterRoutes(deps));
  app.route('/', healthRoutes(deps));
  app.route('/', experimentRoutes(deps));
  app.route('/', gcRoutes(deps));
  app.route('/', reconcileRoutes(deps));
  // Before the trial routes: `/api/v1/trials/time-series` is not a trial id.
  app.route('/', trialChartRoutes(deps));
  app.route('/', trialRoutes(deps));
  app.route('/', checkpointRoutes(deps));
  app.route('/', archiveRoutes(deps));
  app.route('/', modelRoutes(deps));
  app.route('/', taskLogRoutes(deps));
  // Last: the web UI answers only what no route above did.
  app.route('/', webRoutes(deps));

  app.notFound((c) => sendError(c, 'not_found', `no route for ${c.req.method} ${c.req.path}`));
  app.onError((err, c) => {
    if (err instanceof HttpError) {
      const retryAfter = (err.details as { retryAfterSeconds?: unknown } | undefined)
        ?.retryAfterSeconds;
      if (typeof retryAfter === 'number') {
        c.header('retry-after', String(retryAfter));
      }
      if (ERROR_CODES[err.code].status >= 500) {
        // A store or service behind the master failed: the operator needs the cause.
        deps.logger.error('upstream failure', {
          requestId: c.get('requestId'),
          method: c.req.method,
          path: c.req.path,
          error: err.message,
          ...(err.cause instanceof Error ? { cause: err.cause.message } : {}),
        });
      }
      return sendError(c, err.code, err.message, err.details);
    }
    if (isUniqueViolation(err)) {
      // Two requests raced to create the same row (possible across replicas); the loser may
      // simply retry, and nothing half-written remains because each write is one transaction.
      return sendError(c, 'already_exists', 'conflicting concurrent write; retry the request');
    }
    if (err instanceof HTTPException && err.status < 500) {
      return sendError(c, err.status === 401 ? 'unauthenticated' : 'invalid_argument', err.message);
    }
    const id = c.get('requestId');
    deps.logger.error('request failed', {
      requestId: id,
      method: c.req.method,
      path: c.req.path,
      error: err instanceof Error ? (err.stack ?? err.message) : String(err),
    });
    return sendError(c, 'internal', `internal error (request id ${id})`);
  });
  return app;
}

/**
 * Routes that need a session: the API, the archive download, the GC preview and the log sink.
 * Only the preview under `/experiments/`: the rest of it is the web UI's pages.
 */
function isApiPath(path: string): boolean {
  return (
    path.startsWith('/api/') ||
    path.startsWith('/checkpoints/') ||
    GC_PREVIEW_PATH.test(path) ||
    path === '/task-logs'
  );
}
