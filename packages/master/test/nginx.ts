// Debian's nginx in front of det-master replicas, with the repository's own config
// (deploy/nginx/det-master.conf), run as the current user in a temporary prefix.
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { chmod, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

import { freePort } from './child-master.js';

export const NGINX_BIN = '/usr/sbin/nginx';
export const NGINX_CONF = resolve(import.meta.dirname, '../../../deploy/nginx/det-master.conf');

export interface Nginx {
  /** `http://127.0.0.1:<port>` */
  url: string;
  /** nginx's error log so far, for failure messages. */
  errorLog(): Promise<string>;
  stop(): Promise<void>;
}

/**
 * The repository's config with its placeholders filled in: nginx listening on `listen`, in
 * front of `upstreams` (`host:port` each).
 */
export async function renderNginxConf(
  listen: string,
  upstreams: readonly string[],
): Promise<string> {
  const template = await readFile(NGINX_CONF, 'utf8');
  const servers = upstreams.map((u) => `server ${u} max_fails=1 fail_timeout=2s;`).join('\n    ');
  return template.replaceAll('@LISTEN@', listen).replaceAll('@UPSTREAM_SERVERS@', servers);
}

/** Starts nginx on a free loopback port in front of `upstreams`; resolves once it accepts. */
export async function startNginx(upstreams: readonly string[]): Promise<Nginx> {
  if (!existsSync(NGINX_BIN)) {
    throw new Error(`${NGINX_BIN} is missing: install Debian's nginx-light (.ci/run does)`);
  }
  const prefix = await mkdtemp(join(tmpdir(), 'det-nginx-'));
  // Workers run as nobody when nginx starts as root: they must reach the temp paths below.
  await chmod(prefix, 0o755);
  const port = await freePort();
  await writeFile(
    join(prefix, 'det-master.conf'),
    await renderNginxConf(`127.0.0.1:${port}`, upstreams),
  );
  // Only what a packaged nginx.conf would hold around the include; paths inside the prefix,
  // since Debian's build points its temp paths at /var/lib/nginx.
  await writeFile(
    join(prefix, 'nginx.conf'),
    [
      'worker_processes 2;',
      `error_log ${join(prefix, 'error.log')} warn;`,
      `pid ${join(prefix, 'nginx.pid')};`,
      'events { worker_connections 1024; }',
      'http {',
      '  access_log off;',
      ...['client_body', 'proxy', 'fastcgi', 'uwsgi', 'scgi'].map(
        (kind) => `  ${kind}_temp_path ${join(prefix, `${kind}_temp`)};`,
      ),
      `  include ${join(prefix, 'det-master.conf')};`,
      '}',
      '',
    ].join('\n'),
  );
  const child = spawn(
    NGINX_BIN,
    ['-p', prefix, '-c', join(prefix, 'nginx.conf'), '-g', 'daemon off;'],
    {
      stdio: ['ignore', 'ignore', 'pipe'],
    },
  );
  let stderr = '';
  child.stderr.setEncoding('utf8');
  child.stderr.on('data', (chunk: string) => (stderr += chunk));
  const exited = new Promise<void>((done) => child.once('exit', () => done()));
  let hasExited = false;
  void exited.then(() => (hasExited = true));
  const errorLog = async (): Promise<string> =>
    `${stderr}${await readFile(join(prefix, 'error.log'), 'utf8').catch(() => '')}`;
  const stop = async (): Promise<void> => {
    if (!hasExited) {
      child.kill('SIGTERM');
      await exited;
    }
    await rm(prefix, { recursive: true, force: true });
  };
  for (const started = Date.now(); !(await accepts(port));) {
    if (hasExited || Date.now() - started > 10_000) {
      const log = await errorLog();
      await stop();
      throw new Error(`nginx did not start:\n${log}`);
    }
    await new Promise((r) => setTimeout(r, 20));
  }
  return { url: `http://127.0.0.1:${port}`, errorLog, stop };
}

function accepts(port: number): Promise<boolean> {
  return new Promise((done) => {
    const socket = connect(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      done(true);
    });
    socket.once('error', () => done(false));
  });
}
