import { statSync } from 'node:fs';
import { join } from 'node:path';

import { serveStatic } from '@hono/node-server/serve-static';
import { Hono } from 'hono';
import type { MiddlewareHandler } from 'hono';

import type { AppDeps, AppEnv } from '../context.js';
import { acceptsExplicitly } from '../services/accept.js';

/** Paths the master itself answers; the UI never shadows them (their 404s stay JSON). */
export function isMasterPath(path: string): boolean {
  return ['/api', '/info', '/checkpoints', '/task-logs'].some(
    (prefix) => path === prefix || path.startsWith(`${prefix}/`),
  );
}

/** Vite puts content-hashed files here: they never change under the same name. */
const ASSETS_DIR = 'assets';

function isFile(path: string): boolean {
  try {
    return statSync(path).isFile();
  } catch {
    // Missing or unreadable: the UI is not there.
    return false;
  }
}

/** Hashed assets never change; everything else (index.html above all) is revalidated. */
function withCaching(res: Response, isAsset: boolean): Response {
  res.headers.set('Cache-Control', isAsset ? 'public, max-age=31536000, immutable' : 'no-cache');
  res.headers.set('X-Content-Type-Options', 'nosniff');
  return res;
}

const escapeHtml = (text: string): string =>
  text.replace(/[&<>"']/g, (ch) => `&#${ch.charCodeAt(0)};`);

/** The page every UI route answers while the UI is not built. */
function notBuiltPage(webRoot: string | undefined): string {
  const where =
    webRoot === undefined
      ? 'The web UI package (<code>@determined-ts/web</code>) could not be found.'
      : `There is no <code>index.html</code> in <code>${escapeHtml(webRoot)}</code>.`;
  return `<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>Determined-TS: web UI not built</title></head>
<body>
<h1>The web UI is not built</h1>
<p>${where}</p>
<p>Build it with <code>npm run build -w @determined-ts/web</code> and reload this page, or
start the master with <code>--web-root DIR</code> (<code>DET_WEB_ROOT</code>,
<code>web_root</code> in master.yaml) pointing at a built UI.</p>
<p>The REST API under <code>/api/v1</code> works without it.</p>
</body>
</html>
`;
}

/**
 * Serves the built web UI from `settings.webRoot`, without a session: its files at their paths
 * (GET and HEAD; hashed `/assets/*` cached for a year, everything else revalidated), and
 * `index.html` for any other page a browser asks for (an `Accept` naming `text/html`), so that
 * client-side routes survive a reload. Paths of the master's own routes are never served here.
 * While the UI is not built, pages get a 503 that says how to build it.
 */
export function webRoutes(deps: AppDeps): Hono<AppEnv> {
  const app = new Hono<AppEnv>();
  const root = deps.settings.webRoot;
  let handlers: { file: MiddlewareHandler; index: MiddlewareHandler } | undefined;

  // Built on first use, once the UI exists: serveStatic complains about a missing root.
  const built = (): typeof handlers => {
    if (root === undefined || !isFile(join(root, 'index.html'))) {
      return undefined;
    }
    handlers ??= {
      file: serveStatic({ root }),
      index: serveStatic({ root, path: 'index.html' }),
    };
    return handlers;
  };

  app.on(['GET', 'HEAD'], '*', async (c, next) => {
    const path = c.req.path;
    if (isMasterPath(path)) {
      return next();
    }
    const isPage = acceptsExplicitly(c.req.header('accept'), 'text/html');
    // Checked on every request, so a UI built while the master runs is served at once.
    const ui = built();
    if (ui === undefined) {
      if (!isPage) {
        return next();
      }
      c.header('Cache-Control', 'no-store');
      return c.html(notBuiltPage(root), 503);
    }
    // Dot-files (and `..`) are never served; such a page request still gets the UI.
    if (!path.split('/').some((segment) => segment.startsWith('.'))) {
      let missed = false;
      const found = await ui.file(c, () => {
        missed = true;
        return Promise.resolve();
      });
      if (!missed && found instanceof Response) {
        return withCaching(found, path.startsWith(`/${ASSETS_DIR}/`));
      }
    }
    if (!isPage) {
      return next();
    }
    const page = await ui.index(c, () => Promise.resolve());
    return page instanceof Response ? withCaching(page, false) : next();
  });

  return app;
}
