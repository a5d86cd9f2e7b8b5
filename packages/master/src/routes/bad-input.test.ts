import { mkdir, readdir, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

import { ERROR_CODES, ROUTES } from '@determined-ts/api';
import { expect, it } from 'vitest';

import { createApp } from '../app.js';
import { DEFAULT_MAX_BODY_BYTES } from '../config.js';
import { call, reportCheckpoint, reportMetric, seedTrial, testUuid } from '../../test/flow.js';
import { describeEachDialect } from '../../test/helpers.js';
import type { TestMaster } from '../../test/helpers.js';

type RouteName = keyof typeof ROUTES;
type Method = 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';

/** Ids and tokens every row may refer to, as `#name` (see {@link fill}). */
interface Fixture {
  admin: string;
  user: string;
  other: string;
  otherId: number;
  exp: number;
  trial: number;
  task: string;
  run: number;
  ckpt: string;
  trial2: number;
  ckpt2: string;
  badckpt: string;
  unknownUuid: string;
  /** An access token of `other`'s, made by the admin. */
  tokenId: number;
}

/** One bad request and what the master must answer. */
interface BadRow {
  route: RouteName;
  method: Method;
  name: string;
  /** The path with `:params` filled in; `#name` placeholders are replaced from the fixture. */
  path: string;
  body?: unknown;
  rawBody?: string;
  headers?: Record<string, string>;
  /** Whose token to send; `none` sends none. */
  as?: 'admin' | 'user' | 'other' | 'none';
  status: number;
  message: string;
  /** Set on rows generated for every route (401, malformed JSON, oversized body). */
  generated?: boolean;
}

const NO_SUCH_UUID = '00000000-0000-4000-8000-ffffffffffff';

/**
 * Replaces `#name` placeholders with fixture values: a string that is exactly `#name` becomes
 * the value itself (so numbers stay numbers), and `#name` inside a longer string its text.
 */
function fill(value: unknown, f: Fixture): unknown {
  const table = f as unknown as Record<string, unknown>;
  if (typeof value === 'string') {
    const whole = /^#(\w+)$/.exec(value);
    if (whole?.[1] !== undefined && whole[1] in table) {
      return table[whole[1]];
    }
    return value.replace(/#(\w+)/g, (all, key: string) =>
      key in table ? String(table[key]) : all,
    );
  }
  if (Array.isArray(value)) {
    return value.map((v) => fill(v, f));
  }
  if (value !== null && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, fill(v, f)]));
  }
  return value;
}

const METRICS = (runId: unknown, extra: Record<string, unknown> = {}) => ({
  trialId: '#trial',
  trialRunId: runId,
  stepsCompleted: 10,
  reportTime: null,
  metrics: { avgMetrics: { loss: 1 }, batchMetrics: null },
  ...extra,
});

const REPORT = (extra: Record<string, unknown> = {}) => ({
  uuid: NO_SUCH_UUID,
  taskId: '#task',
  allocationId: null,
  reportTime: '2025-01-01T00:00:00+00:00',
  state: 'STATE_COMPLETED',
  resources: { 'model.bin': '3' },
  metadata: { steps_completed: 5 },
  training: {},
  storageId: null,
  ...extra,
});

/** The hand-written table: every route, each with the ways its input can be wrong. */
const ROWS: BadRow[] = [
  // --- auth ---
  {
    route: 'login',
    method: 'POST',
    name: 'username of the wrong type',
    path: ROUTES.login,
    body: { username: 5, password: '' },
    as: 'none',
    status: 400,
    message: 'invalid request body: username',
  },
  {
    route: 'login',
    method: 'POST',
    name: 'missing username',
    path: ROUTES.login,
    body: { password: '' },
    as: 'none',
    status: 400,
    message: 'invalid request body: username',
  },
  {
    route: 'login',
    method: 'POST',
    name: 'isHashed not a boolean',
    path: ROUTES.login,
    body: { username: 'determined', password: '', isHashed: 'yes' },
    as: 'none',
    status: 400,
    message: 'isHashed',
  },
  {
    route: 'login',
    method: 'POST',
    name: 'empty username',
    path: ROUTES.login,
    body: { username: '' },
    as: 'none',
    status: 400,
    message: 'missing argument: username',
  },
  {
    route: 'login',
    method: 'POST',
    name: 'wrong password',
    path: ROUTES.login,
    body: { username: 'determined', password: 'x' },
    as: 'none',
    status: 401,
    message: 'invalid credentials',
  },
  {
    route: 'login',
    method: 'POST',
    name: 'a NUL character in the username',
    path: ROUTES.login,
    body: { username: 'deter\u0000mined' },
    as: 'none',
    status: 400,
    message: 'username: NUL',
  },
  {
    route: 'login',
    method: 'POST',
    name: 'a JSON array body',
    path: ROUTES.login,
    body: [{ username: 'determined' }],
    as: 'none',
    status: 400,
    message: 'invalid request body',
  },
  {
    route: 'logout',
    method: 'POST',
    name: 'a garbage token',
    path: ROUTES.logout,
    headers: { authorization: 'Bearer garbage' },
    as: 'none',
    status: 401,
    message: 'invalid credentials',
  },
  {
    route: 'me',
    method: 'GET',
    name: 'a garbage cookie',
    path: ROUTES.me,
    headers: { cookie: 'auth=garbage' },
    as: 'none',
    status: 401,
    message: 'invalid credentials',
  },
  {
    route: 'me',
    method: 'GET',
    name: 'a non-bearer Authorization header',
    path: ROUTES.me,
    headers: { authorization: 'Basic YTpi' },
    as: 'none',
    status: 401,
    message: 'token missing',
  },
  {
    route: 'users',
    method: 'GET',
    name: 'a garbage token',
    path: ROUTES.users,
    headers: { authorization: 'Bearer dts1.garbage' },
    as: 'none',
    status: 401,
    message: 'invalid credentials',
  },
  {
    route: 'users',
    method: 'POST',
    name: 'missing user',
    path: ROUTES.users,
    body: { password: '' },
    status: 400,
    message: 'invalid request body: user',
  },
  {
    route: 'users',
    method: 'POST',
    name: 'admin of the wrong type',
    path: ROUTES.users,
    body: { user: { username: 'zed', admin: 'yes' } },
    status: 400,
    message: 'user.admin',
  },
  {
    route: 'users',
    method: 'POST',
    name: 'an invalid username',
    path: ROUTES.users,
    body: { user: { username: 'bad name!' } },
    status: 400,
    message: "invalid username 'bad name!'",
  },
  {
    route: 'users',
    method: 'POST',
    name: 'a duplicate username',
    path: ROUTES.users,
    body: { user: { username: 'other' } },
    status: 409,
    message: "user 'other' already exists",
  },
  {
    route: 'users',
    method: 'POST',
    name: 'a non-admin',
    path: ROUTES.users,
    body: { user: { username: 'zed' } },
    as: 'user',
    status: 403,
    message: 'only admins may create users',
  },
  {
    route: 'user',
    method: 'GET',
    name: 'a non-numeric id',
    path: '/api/v1/users/abc',
    status: 400,
    message: "invalid userId 'abc': expected a positive integer",
  },
  {
    route: 'user',
    method: 'GET',
    name: 'id zero',
    path: '/api/v1/users/0',
    status: 400,
    message: "invalid userId '0'",
  },
  {
    route: 'user',
    method: 'GET',
    name: 'an id past int32',
    path: '/api/v1/users/2147483648',
    status: 400,
    message: "invalid userId '2147483648'",
  },
  {
    route: 'user',
    method: 'GET',
    name: 'an unknown id',
    path: '/api/v1/users/999',
    status: 404,
    message: "user '999' not found",
  },
  {
    route: 'user',
    method: 'PATCH',
    name: 'admin of the wrong type',
    path: '/api/v1/users/#otherId',
    body: { admin: 'true' },
    status: 400,
    message: 'invalid request body: admin',
  },
  {
    route: 'user',
    method: 'PATCH',
    name: 'an unknown id',
    path: '/api/v1/users/999',
    body: { displayName: 'x' },
    status: 404,
    message: "user '999' not found",
  },
  {
    route: 'user',
    method: 'PATCH',
    name: 'a non-admin making itself admin',
    path: '/api/v1/users/#otherId',
    body: { admin: true },
    as: 'other',
    status: 403,
    message: 'only admins may change',
  },
  {
    route: 'user',
    method: 'PATCH',
    name: 'a non-admin renaming someone else',
    path: '/api/v1/users/#otherId',
    body: { displayName: 'x' },
    as: 'user',
    status: 403,
    message: 'only admins may change other users',
  },
  // --- users by name, access tokens ---
  {
    route: 'userByUsername',
    method: 'GET',
    name: 'an unknown user name',
    path: '/api/v1/users/nobody/by-username',
    status: 404,
    message: "user 'nobody' not found",
  },
  {
    route: 'tokens',
    method: 'POST',
    name: 'userId of the wrong type',
    path: ROUTES.tokens,
    body: { userId: 'me' },
    status: 400,
    message: 'invalid request body: userId',
  },
  {
    route: 'tokens',
    method: 'POST',
    name: 'an unknown user',
    path: ROUTES.tokens,
    body: { userId: 999 },
    status: 404,
    message: "user '999' not found",
  },
  {
    route: 'tokens',
    method: 'POST',
    name: 'a lifespan that is not a Go duration',
    path: ROUTES.tokens,
    body: { userId: '#otherId', lifespan: '3 days' },
    status: 400,
    message: "invalid lifespan '3 days'",
  },
  {
    route: 'tokens',
    method: 'POST',
    name: 'an unknown scope',
    path: ROUTES.tokens,
    body: { userId: '#otherId', scope: 'admin' },
    status: 400,
    message: 'invalid request body: scope',
  },
  {
    route: 'tokens',
    method: 'POST',
    name: "a non-admin creating someone else's token",
    path: ROUTES.tokens,
    body: { userId: '#otherId' },
    as: 'user',
    status: 403,
    message: 'only admins may create access tokens for other users',
  },
  {
    route: 'tokens',
    method: 'GET',
    name: 'showInactive that is not a bool',
    path: `${ROUTES.tokens}?showInactive=maybe`,
    status: 400,
    message: "invalid showInactive 'maybe'",
  },
  {
    route: 'tokens',
    method: 'GET',
    name: 'a token id that is not a number',
    path: `${ROUTES.tokens}?tokenIds=abc`,
    status: 400,
    message: "invalid tokenIds 'abc'",
  },
  {
    route: 'tokens',
    method: 'GET',
    name: 'an unknown sort key',
    path: `${ROUTES.tokens}?sortBy=SORT_BY_NAME`,
    status: 400,
    message: "invalid sortBy 'SORT_BY_NAME'",
  },
  {
    route: 'tokens',
    method: 'GET',
    name: 'an unknown user name',
    path: `${ROUTES.tokens}?username=nobody`,
    status: 404,
    message: "user 'nobody' not found",
  },
  {
    route: 'tokens',
    method: 'GET',
    name: "a non-admin listing another user's tokens",
    path: `${ROUTES.tokens}?username=other`,
    as: 'user',
    status: 403,
    message: "only admins may list other users' access tokens",
  },
  {
    route: 'tokens',
    method: 'GET',
    name: 'an offset past the end',
    path: `${ROUTES.tokens}?offset=5`,
    status: 400,
    message: 'offset out of bounds',
  },
  {
    route: 'token',
    method: 'PATCH',
    name: 'a non-numeric id',
    path: '/api/v1/tokens/abc',
    body: { setRevoked: true },
    status: 400,
    message: "invalid tokenId 'abc'",
  },
  {
    route: 'token',
    method: 'PATCH',
    name: 'an unknown id',
    path: '/api/v1/tokens/999',
    body: { setRevoked: true },
    status: 404,
    message: "access token '999' not found",
  },
  {
    route: 'token',
    method: 'PATCH',
    name: 'setRevoked of the wrong type',
    path: '/api/v1/tokens/#tokenId',
    body: { setRevoked: 'yes' },
    status: 400,
    message: 'invalid request body: setRevoked',
  },
  {
    route: 'token',
    method: 'PATCH',
    name: 'a body tokenId that differs from the path',
    path: '/api/v1/tokens/#tokenId',
    body: { tokenId: 999, setRevoked: true },
    status: 400,
    message: 'differs from',
  },
  {
    route: 'token',
    method: 'PATCH',
    name: "a non-admin revoking someone else's token",
    path: '/api/v1/tokens/#tokenId',
    body: { setRevoked: true },
    as: 'user',
    status: 403,
    message: "only admins may change other users' access tokens",
  },
  {
    route: 'userPassword',
    method: 'POST',
    name: 'an object instead of a bare string',
    path: '/api/v1/users/#otherId/password',
    body: { password: 'abc' },
    status: 400,
    message: 'invalid request body: Invalid input: expected string',
  },
  {
    route: 'userPassword',
    method: 'POST',
    name: 'an unknown user',
    path: '/api/v1/users/999/password',
    body: 'abc',
    status: 404,
    message: "user '999' not found",
  },
  {
    route: 'userPassword',
    method: 'POST',
    name: "a non-admin setting another user's password",
    path: '/api/v1/users/#otherId/password',
    body: 'abc',
    as: 'user',
    status: 403,
    message: "only admins may change other users' passwords",
  },
  {
    route: 'userPassword',
    method: 'POST',
    name: 'a non-numeric id',
    path: '/api/v1/users/me/password',
    body: 'abc',
    status: 400,
    message: "invalid userId 'me'",
  },
  // --- master info: public, read-only ---
  {
    route: 'master',
    method: 'GET',
    name: 'a path under it that does not exist',
    path: '/api/v1/master/config',
    status: 404,
    message: 'no route for GET /api/v1/master/config',
  },
  {
    route: 'master',
    method: 'POST',
    name: 'a method it does not serve',
    path: ROUTES.master,
    body: {},
    status: 404,
    message: 'no route for POST /api/v1/master',
  },
  {
    route: 'info',
    method: 'GET',
    name: 'a path under it that does not exist',
    path: '/info/extra',
    as: 'none',
    status: 404,
    message: 'no route for GET /info/extra',
  },
  {
    route: 'info',
    method: 'DELETE',
    name: 'a method it does not serve',
    path: ROUTES.info,
    as: 'none',
    status: 404,
    message: 'no route for DELETE /info',
  },
  // --- experiments ---
  {
    route: 'experiments',
    method: 'POST',
    name: 'missing config',
    path: ROUTES.experiments,
    body: { unmanaged: true },
    status: 400,
    message: 'invalid request body: config',
  },
  {
    route: 'experiments',
    method: 'POST',
    name: 'config of the wrong type',
    path: ROUTES.experiments,
    body: { config: { name: 'x' }, unmanaged: true },
    status: 400,
    message: 'invalid request body: config',
  },
  {
    route: 'experiments',
    method: 'POST',
    name: 'a managed experiment',
    path: ROUTES.experiments,
    body: { config: 'name: x' },
    status: 400,
    message: 'only unmanaged experiments are supported',
  },
  {
    route: 'experiments',
    method: 'POST',
    name: 'unparsable YAML',
    path: ROUTES.experiments,
    body: { config: '{name: [x', unmanaged: true },
    status: 400,
    message: 'invalid experiment config',
  },
  {
    route: 'experiments',
    method: 'POST',
    name: 'YAML that is not a mapping',
    path: ROUTES.experiments,
    body: { config: '- a\n- b\n', unmanaged: true },
    status: 400,
    message: 'invalid experiment config: expected a YAML mapping',
  },
  {
    route: 'experiments',
    method: 'POST',
    name: 'a YAML alias bomb',
    path: ROUTES.experiments,
    body: {
      config:
        'a: &a [x, x, x, x, x, x, x, x, x, x]\n' +
        'b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]\n' +
        'c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b]\n' +
        'd: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c, *c]\n' +
        'e: [*d, *d, *d, *d, *d, *d, *d, *d, *d, *d]\n',
      unmanaged: true,
    },
    status: 400,
    message: 'invalid experiment config',
  },
  {
    route: 'experiments',
    method: 'POST',
    name: 'smaller_is_better not a boolean',
    path: ROUTES.experiments,
    body: { config: '{searcher: {metric: m, smaller_is_better: "yes"}}', unmanaged: true },
    status: 400,
    message: 'searcher.smaller_is_better must be a boolean',
  },
  {
    route: 'experiments',
    method: 'POST',
    name: 'an empty searcher metric',
    path: ROUTES.experiments,
    body: { config: '{searcher: {metric: ""}}', unmanaged: true },
    status: 400,
    message: 'searcher.metric must be a non-empty string',
  },
  {
    route: 'experiments',
    method: 'POST',
    name: 'an unknown storage type',
    path: ROUTES.experiments,
    body: { config: '{checkpoint_storage: {type: ftp}}', unmanaged: true },
    status: 400,
    message: 'checkpoint_storage.type must be one of',
  },
  {
    route: 'experiments',
    method: 'POST',
    name: 'a relative directory path',
    path: ROUTES.experiments,
    body: {
      config: '{checkpoint_storage: {type: directory, container_path: ckpts}}',
      unmanaged: true,
    },
    status: 400,
    message: 'checkpoint_storage.container_path must be an absolute path, got "ckpts"',
  },
  {
    route: 'experiments',
    method: 'POST',
    name: 's3 storage without a bucket',
    path: ROUTES.experiments,
    body: { config: '{checkpoint_storage: {type: s3}}', unmanaged: true },
    status: 400,
    message: 'checkpoint_storage.bucket is required for s3 storage',
  },
  {
    route: 'experiments',
    method: 'POST',
    name: "an s3 prefix climbing out with '..'",
    path: ROUTES.experiments,
    body: {
      config: '{checkpoint_storage: {type: s3, bucket: b, prefix: a/../..}}',
      unmanaged: true,
    },
    status: 400,
    message: "checkpoint_storage.prefix must not contain '..' segments",
  },
  {
    route: 'experiments',
    method: 'POST',
    name: 'an s3 endpoint_url that is not an http(s) URL',
    path: ROUTES.experiments,
    body: {
      config: '{checkpoint_storage: {type: s3, bucket: b, endpoint_url: "ftp://minio:9000"}}',
      unmanaged: true,
    },
    status: 400,
    message: 'checkpoint_storage.endpoint_url must be an http(s) URL',
  },
  {
    route: 'experiments',
    method: 'POST',
    name: 'an unknown s3 key',
    path: ROUTES.experiments,
    body: { config: '{checkpoint_storage: {type: s3, bucket: b, region: x}}', unmanaged: true },
    status: 400,
    message: 'checkpoint_storage.region is not a key of s3 storage',
  },
  {
    route: 'experiments',
    method: 'POST',
    name: 's3 access_key without secret_key',
    path: ROUTES.experiments,
    body: { config: '{checkpoint_storage: {type: s3, bucket: b, access_key: k}}', unmanaged: true },
    status: 400,
    message: 'checkpoint_storage.access_key and secret_key go together',
  },
  {
    route: 'experiments',
    method: 'POST',
    name: 'labels that are not a list of strings',
    path: ROUTES.experiments,
    body: { config: '{labels: {a: 1}}', unmanaged: true },
    status: 400,
    message: 'labels must be a list of strings',
  },
  {
    route: 'experiments',
    method: 'POST',
    name: 'a name that is not a string',
    path: ROUTES.experiments,
    body: { config: '{name: [a]}', unmanaged: true },
    status: 400,
    message: 'name must be a string',
  },
  {
    route: 'experiments',
    method: 'POST',
    name: 'hyperparameters that are not a mapping',
    path: ROUTES.experiments,
    body: { config: '{hyperparameters: 5}', unmanaged: true },
    status: 400,
    message: 'hyperparameters must be a mapping',
  },
  {
    route: 'experiments',
    method: 'POST',
    name: 'a NUL character from a YAML escape',
    path: ROUTES.experiments,
    body: { config: '{name: "a\\0b"}', unmanaged: true },
    status: 400,
    message: 'invalid experiment config: name: NUL',
  },
  {
    route: 'experiments',
    method: 'GET',
    name: 'an unknown sortBy',
    path: '/api/v1/experiments?sortBy=SORT_BY_COLOUR',
    status: 400,
    message: "invalid sortBy 'SORT_BY_COLOUR'",
  },
  {
    route: 'experiments',
    method: 'GET',
    name: 'an unknown orderBy',
    path: '/api/v1/experiments?orderBy=UP',
    status: 400,
    message: "invalid orderBy 'UP'",
  },
  {
    route: 'experiments',
    method: 'GET',
    name: 'an unknown state',
    path: '/api/v1/experiments?states=STATE_BORED',
    status: 400,
    message: "invalid states 'STATE_BORED'",
  },
  {
    route: 'experiments',
    method: 'GET',
    name: 'a negative limit',
    path: '/api/v1/experiments?limit=-1',
    status: 400,
    message: "invalid limit '-1'",
  },
  {
    route: 'experiments',
    method: 'GET',
    name: 'a limit past int32',
    path: '/api/v1/experiments?limit=99999999999',
    status: 400,
    message: "invalid limit '99999999999'",
  },
  {
    route: 'experiments',
    method: 'GET',
    name: 'a non-numeric offset',
    path: '/api/v1/experiments?offset=first',
    status: 400,
    message: "invalid offset 'first'",
  },
  {
    route: 'experiments',
    method: 'GET',
    name: 'an offset past the end',
    path: '/api/v1/experiments?offset=99',
    status: 400,
    message: 'offset out of bounds: 99 with 2 items',
  },
  {
    route: 'experiments',
    method: 'GET',
    name: 'a negative offset before the start',
    path: '/api/v1/experiments?offset=-99',
    status: 400,
    message: 'offset out of bounds: -99 with 2 items',
  },
  {
    route: 'experiments',
    method: 'GET',
    name: 'a repeated offset',
    path: '/api/v1/experiments?offset=0&offset=1',
    status: 400,
    message: 'query parameter offset given 2 times',
  },
  {
    route: 'experiments',
    method: 'GET',
    name: 'an empty username in users',
    path: '/api/v1/experiments?users=determined&users=',
    status: 400,
    message: 'invalid users: a username must not be empty',
  },
  {
    route: 'experiments',
    method: 'GET',
    name: 'a repeated name filter',
    path: '/api/v1/experiments?name=a&name=b',
    status: 400,
    message: 'query parameter name given 2 times',
  },
  {
    route: 'experiments',
    method: 'GET',
    name: 'a sortBy number out of range',
    path: '/api/v1/experiments?sortBy=99',
    status: 400,
    message: "invalid sortBy '99'",
  },
  {
    route: 'experiments',
    method: 'GET',
    name: 'a NUL character in the name filter',
    path: '/api/v1/experiments?name=a%00b',
    status: 400,
    message: 'NUL',
  },
  {
    route: 'experiment',
    method: 'GET',
    name: 'a non-numeric id',
    path: '/api/v1/experiments/abc',
    status: 400,
    message: "invalid experimentId 'abc'",
  },
  {
    route: 'experiment',
    method: 'GET',
    name: 'a negative id',
    path: '/api/v1/experiments/-1',
    status: 400,
    message: "invalid experimentId '-1'",
  },
  {
    route: 'experiment',
    method: 'GET',
    name: 'a fractional id',
    path: '/api/v1/experiments/1.5',
    status: 400,
    message: "invalid experimentId '1.5'",
  },
  {
    route: 'experiment',
    method: 'GET',
    name: 'an unknown id',
    path: '/api/v1/experiments/999',
    status: 404,
    message: "experiment '999' not found",
  },
  {
    route: 'experimentByExternalId',
    method: 'PUT',
    name: 'a managed experiment',
    path: '/api/v1/experiments/by-external-id/ext-1',
    body: { config: 'name: x' },
    status: 400,
    message: 'only unmanaged experiments are supported',
  },
  {
    route: 'experimentByExternalId',
    method: 'PUT',
    name: 'missing config',
    path: '/api/v1/experiments/by-external-id/ext-1',
    body: { unmanaged: true },
    status: 400,
    message: 'invalid request body: config',
  },
  {
    route: 'experimentByExternalId',
    method: 'PUT',
    name: 'a NUL character in the external id',
    path: '/api/v1/experiments/by-external-id/a%00b',
    body: { config: 'name: x', unmanaged: true },
    status: 400,
    message: 'NUL',
  },
  {
    route: 'experimentTrials',
    method: 'GET',
    name: 'an unknown experiment',
    path: '/api/v1/experiments/999/trials',
    status: 404,
    message: "experiment '999' not found",
  },
  {
    route: 'experimentTrials',
    method: 'GET',
    name: 'an unknown sortBy',
    path: '/api/v1/experiments/#exp/trials?sortBy=SORT_BY_COLOUR',
    status: 400,
    message: "invalid sortBy 'SORT_BY_COLOUR'",
  },
  {
    route: 'experimentTrials',
    method: 'GET',
    name: 'an unknown state',
    path: '/api/v1/experiments/#exp/trials?states=STATE_BORED',
    status: 400,
    message: "invalid states 'STATE_BORED'",
  },
  {
    route: 'experimentTrials',
    method: 'GET',
    name: 'an offset past the end',
    path: '/api/v1/experiments/#exp/trials?offset=3',
    status: 400,
    message: 'offset out of bounds: 3 with 2 items',
  },
  {
    route: 'experimentTrials',
    method: 'GET',
    name: 'a negative limit',
    path: '/api/v1/experiments/#exp/trials?limit=-5',
    status: 400,
    message: "invalid limit '-5'",
  },
  {
    route: 'experimentCheckpoints',
    method: 'GET',
    name: 'an unknown experiment',
    path: '/api/v1/experiments/999/checkpoints',
    status: 404,
    message: "experiment '999' not found",
  },
  {
    route: 'experimentCheckpoints',
    method: 'GET',
    name: 'an unknown sortByAttr',
    path: '/api/v1/experiments/#exp/checkpoints?sortByAttr=SORT_BY_COLOUR',
    status: 400,
    message: "invalid sortByAttr 'SORT_BY_COLOUR'",
  },
  {
    route: 'experimentCheckpoints',
    method: 'GET',
    name: 'both sortByAttr and sortByMetric',
    path: '/api/v1/experiments/#exp/checkpoints?sortByAttr=SORT_BY_UUID&sortByMetric=loss',
    status: 400,
    message: 'give sortByAttr or sortByMetric, not both',
  },
  {
    route: 'experimentCheckpoints',
    method: 'GET',
    name: 'an unknown state',
    path: '/api/v1/experiments/#exp/checkpoints?states=STATE_BORED',
    status: 400,
    message: "invalid states 'STATE_BORED'",
  },
  {
    route: 'experimentCheckpoints',
    method: 'GET',
    name: 'a state number out of range',
    path: '/api/v1/experiments/#exp/checkpoints?states=17',
    status: 400,
    message: "invalid states '17'",
  },
  {
    route: 'experimentCheckpoints',
    method: 'GET',
    name: 'a metric name with a quote',
    path: '/api/v1/experiments/#exp/checkpoints?sortByMetric=a%22b',
    status: 400,
    message: "invalid sortByMetric 'a\"b'",
  },
  {
    route: 'experimentCheckpoints',
    method: 'GET',
    name: 'an offset past the end',
    path: '/api/v1/experiments/#exp/checkpoints?offset=50',
    status: 400,
    message: 'offset out of bounds: 50 with 2 items',
  },
  // --- trials ---
  {
    route: 'trials',
    method: 'POST',
    name: 'missing experimentId',
    path: ROUTES.trials,
    body: { unmanaged: true },
    status: 400,
    message: 'invalid request body: experimentId',
  },
  {
    route: 'trials',
    method: 'POST',
    name: 'a non-numeric experimentId',
    path: ROUTES.trials,
    body: { experimentId: 'abc', unmanaged: true },
    status: 400,
    message: 'experimentId: expected an integer, got "abc"',
  },
  {
    route: 'trials',
    method: 'POST',
    name: 'an experimentId past int32',
    path: ROUTES.trials,
    body: { experimentId: 2 ** 31, unmanaged: true },
    status: 400,
    message: 'experimentId: expected a 32-bit integer',
  },
  {
    route: 'trials',
    method: 'POST',
    name: 'an unknown experiment',
    path: ROUTES.trials,
    body: { experimentId: 999, unmanaged: true },
    status: 404,
    message: "experiment '999' not found",
  },
  {
    route: 'trials',
    method: 'POST',
    name: 'a managed trial',
    path: ROUTES.trials,
    body: { experimentId: '#exp' },
    status: 400,
    message: 'only unmanaged trials can be created',
  },
  {
    route: 'trials',
    method: 'POST',
    name: 'hparams that are not an object',
    path: ROUTES.trials,
    body: { experimentId: '#exp', hparams: [1], unmanaged: true },
    status: 400,
    message: 'invalid request body: hparams',
  },
  {
    route: 'trials',
    method: 'PUT',
    name: 'an empty externalTrialId',
    path: ROUTES.trials,
    body: {
      createTrialRequest: { experimentId: '#exp', unmanaged: true },
      externalTrialId: '',
    },
    status: 400,
    message: 'invalid request body: externalTrialId',
  },
  {
    route: 'trials',
    method: 'PUT',
    name: 'missing createTrialRequest',
    path: ROUTES.trials,
    body: { externalTrialId: 'x' },
    status: 400,
    message: 'invalid request body: createTrialRequest',
  },
  {
    route: 'trials',
    method: 'PUT',
    name: 'an unknown experiment',
    path: ROUTES.trials,
    body: { createTrialRequest: { experimentId: 999, unmanaged: true }, externalTrialId: 'x' },
    status: 404,
    message: "experiment '999' not found",
  },
  {
    route: 'trial',
    method: 'GET',
    name: 'a non-numeric id',
    path: '/api/v1/trials/abc',
    status: 400,
    message: "invalid trialId 'abc'",
  },
  {
    route: 'trial',
    method: 'GET',
    name: 'an id with a leading zero',
    path: '/api/v1/trials/01',
    status: 400,
    message: "invalid trialId '01'",
  },
  {
    route: 'trial',
    method: 'GET',
    name: 'an unknown id',
    path: '/api/v1/trials/999',
    status: 404,
    message: "trial '999' not found",
  },
  {
    route: 'trial',
    method: 'PATCH',
    name: 'an unknown state',
    path: '/api/v1/trials/#trial',
    body: { trialId: '#trial', state: 'STATE_BORED' },
    status: 400,
    message: "invalid state 'STATE_BORED'",
  },
  {
    route: 'trial',
    method: 'PATCH',
    name: 'STATE_UNSPECIFIED',
    path: '/api/v1/trials/#trial',
    body: { state: 'STATE_UNSPECIFIED' },
    status: 400,
    message: 'invalid state STATE_UNSPECIFIED',
  },
  {
    route: 'trial',
    method: 'PATCH',
    name: "another trial's id in the body",
    path: '/api/v1/trials/#trial',
    body: { trialId: '#trial2', state: 'STATE_COMPLETED' },
    status: 400,
    message: 'in the body does not match trial',
  },
  {
    route: 'trial',
    method: 'PATCH',
    name: 'a non-numeric trialId in the body',
    path: '/api/v1/trials/#trial',
    body: { trialId: 'abc' },
    status: 400,
    message: 'trialId: expected an integer',
  },
  {
    route: 'trial',
    method: 'PATCH',
    name: 'an unknown id',
    path: '/api/v1/trials/999',
    body: { state: 'STATE_RUNNING' },
    status: 404,
    message: "trial '999' not found",
  },
  {
    route: 'trialStart',
    method: 'POST',
    name: 'resume of the wrong type',
    path: '/api/v1/trials/#trial/start',
    body: { trialId: '#trial', resume: 'yes' },
    status: 400,
    message: 'invalid request body: resume',
  },
  {
    route: 'trialStart',
    method: 'POST',
    name: 'a fresh start of a started trial',
    path: '/api/v1/trials/#trial/start',
    body: { trialId: '#trial', resume: false },
    status: 400,
    message: 'has already started; pass resume: true',
  },
  {
    route: 'trialStart',
    method: 'POST',
    name: "another trial's id in the body",
    path: '/api/v1/trials/#trial/start',
    body: { trialId: '#trial2', resume: true },
    status: 400,
    message: 'in the body does not match trial',
  },
  {
    route: 'trialStart',
    method: 'POST',
    name: 'an unknown trial',
    path: '/api/v1/trials/999/start',
    body: { resume: true },
    status: 404,
    message: "trial '999' not found",
  },
  {
    route: 'trialProgress',
    method: 'POST',
    name: 'missing progress',
    path: '/api/v1/trials/#trial/progress',
    body: { is_raw: true },
    status: 400,
    message: 'invalid request body: progress',
  },
  {
    route: 'trialProgress',
    method: 'POST',
    name: 'a negative progress',
    path: '/api/v1/trials/#trial/progress',
    body: { progress: -0.5 },
    status: 400,
    message: 'invalid request body: progress',
  },
  {
    route: 'trialProgress',
    method: 'POST',
    name: 'a non-numeric progress',
    path: '/api/v1/trials/#trial/progress',
    body: { progress: 'half' },
    status: 400,
    message: 'invalid request body: progress',
  },
  {
    route: 'trialProgress',
    method: 'POST',
    name: 'an unknown trial',
    path: '/api/v1/trials/999/progress',
    body: { progress: 0.5 },
    status: 404,
    message: "trial '999' not found",
  },
  {
    route: 'trialMetrics',
    method: 'POST',
    name: 'a stale run id',
    path: '/api/v1/trials/#trial/metrics',
    body: { group: 'training', metrics: METRICS(0) },
    status: 400,
    message: 'invalid run id, 0 (reported) != 1 (expected)',
  },
  {
    route: 'trialMetrics',
    method: 'POST',
    name: 'a future run id',
    path: '/api/v1/trials/#trial/metrics',
    body: { group: 'training', metrics: METRICS(2) },
    status: 400,
    message: 'invalid run id, 2 (reported) != 1 (expected)',
  },
  {
    route: 'trialMetrics',
    method: 'POST',
    name: 'an empty group',
    path: '/api/v1/trials/#trial/metrics',
    body: { group: '', metrics: METRICS('#run') },
    status: 400,
    message: "invalid metric group ''",
  },
  {
    route: 'trialMetrics',
    method: 'POST',
    name: 'a group with a dot',
    path: '/api/v1/trials/#trial/metrics',
    body: { group: 'a.b', metrics: METRICS('#run') },
    status: 400,
    message: "invalid metric group 'a.b'",
  },
  {
    route: 'trialMetrics',
    method: 'POST',
    name: 'missing trialRunId',
    path: '/api/v1/trials/#trial/metrics',
    body: { group: 'training', metrics: METRICS(undefined) },
    status: 400,
    message: 'invalid request body: metrics.trialRunId',
  },
  {
    route: 'trialMetrics',
    method: 'POST',
    name: 'avgMetrics that are not an object',
    path: '/api/v1/trials/#trial/metrics',
    body: { group: 'training', metrics: METRICS('#run', { metrics: { avgMetrics: [1] } }) },
    status: 400,
    message: 'invalid request body: metrics.metrics.avgMetrics',
  },
  {
    route: 'trialMetrics',
    method: 'POST',
    name: 'batchMetrics that are not a list',
    path: '/api/v1/trials/#trial/metrics',
    body: {
      group: 'training',
      metrics: METRICS('#run', { metrics: { avgMetrics: {}, batchMetrics: { a: 1 } } }),
    },
    status: 400,
    message: 'invalid request body: metrics.metrics.batchMetrics',
  },
  {
    route: 'trialMetrics',
    method: 'POST',
    name: 'a negative stepsCompleted',
    path: '/api/v1/trials/#trial/metrics',
    body: { group: 'training', metrics: METRICS('#run', { stepsCompleted: -1 }) },
    status: 400,
    message: 'metrics.stepsCompleted: must be ≥ 0',
  },
  {
    route: 'trialMetrics',
    method: 'POST',
    name: 'a reportTime that is not RFC 3339',
    path: '/api/v1/trials/#trial/metrics',
    body: { group: 'training', metrics: METRICS('#run', { reportTime: 'yesterday' }) },
    status: 400,
    message: 'metrics.reportTime: expected an RFC 3339 timestamp',
  },
  {
    route: 'trialMetrics',
    method: 'POST',
    name: 'an impossible date',
    path: '/api/v1/trials/#trial/metrics',
    body: {
      group: 'training',
      metrics: METRICS('#run', { reportTime: '2025-13-45T00:00:00Z' }),
    },
    status: 400,
    message: 'metrics.reportTime: invalid timestamp',
  },
  {
    route: 'trialMetrics',
    method: 'POST',
    name: 'a non-numeric epoch',
    path: '/api/v1/trials/#trial/metrics',
    body: {
      group: 'training',
      metrics: METRICS('#run', { metrics: { avgMetrics: { epoch: 'one' } } }),
    },
    status: 400,
    message: "metric 'epoch' must be a number",
  },
  {
    route: 'trialMetrics',
    method: 'POST',
    name: 'a conflicting re-report',
    path: '/api/v1/trials/#trial/metrics',
    body: {
      group: 'training',
      metrics: METRICS('#run', { metrics: { avgMetrics: { loss: 2, other: 1 } } }),
    },
    status: 400,
    message: "metric 'loss' of group 'training' at step 10 was already reported",
  },
  {
    route: 'trialMetrics',
    method: 'POST',
    name: "another trial's id in the body",
    path: '/api/v1/trials/#trial/metrics',
    body: { group: 'training', metrics: METRICS('#run', { trialId: '#trial2' }) },
    status: 400,
    message: 'in the body does not match trial',
  },
  {
    route: 'trialMetrics',
    method: 'POST',
    name: 'a NUL character in a metric name',
    path: '/api/v1/trials/#trial/metrics',
    body: {
      group: 'validation',
      metrics: METRICS('#run', { metrics: { avgMetrics: { 'a\u0000b': 1 } } }),
    },
    status: 400,
    message: 'NUL',
  },
  {
    route: 'trialMetrics',
    method: 'POST',
    name: 'an unknown trial',
    path: '/api/v1/trials/999/metrics',
    body: { group: 'training', metrics: METRICS(1, { trialId: 999 }) },
    status: 404,
    message: "trial '999' not found",
  },
  {
    route: 'trialTrainingMetrics',
    method: 'POST',
    name: 'a stale run id',
    path: '/api/v1/trials/#trial/training_metrics',
    body: METRICS(0),
    status: 400,
    message: 'invalid run id, 0 (reported) != 1 (expected)',
  },
  {
    route: 'trialTrainingMetrics',
    method: 'POST',
    name: 'the /metrics body shape',
    path: '/api/v1/trials/#trial/training_metrics',
    body: { group: 'training', metrics: METRICS('#run') },
    status: 400,
    message: 'invalid request body: trialRunId',
  },
  {
    route: 'trialValidationMetrics',
    method: 'POST',
    name: 'a stale run id',
    path: '/api/v1/trials/#trial/validation_metrics',
    body: METRICS(0),
    status: 400,
    message: 'invalid run id, 0 (reported) != 1 (expected)',
  },
  {
    route: 'trialValidationMetrics',
    method: 'POST',
    name: 'an unknown trial',
    path: '/api/v1/trials/999/validation_metrics',
    body: METRICS(1, { trialId: 999 }),
    status: 404,
    message: "trial '999' not found",
  },
  {
    route: 'trialCheckpoints',
    method: 'GET',
    name: 'an unknown trial',
    path: '/api/v1/trials/999/checkpoints',
    status: 404,
    message: "trial '999' not found",
  },
  {
    route: 'trialCheckpoints',
    method: 'GET',
    name: 'an unknown sortByAttr',
    path: '/api/v1/trials/#trial/checkpoints?sortByAttr=SORT_BY_COLOUR',
    status: 400,
    message: "invalid sortByAttr 'SORT_BY_COLOUR'",
  },
  {
    route: 'trialCheckpoints',
    method: 'GET',
    name: 'an unknown orderBy',
    path: '/api/v1/trials/#trial/checkpoints?orderBy=ORDER_BY_RANDOM',
    status: 400,
    message: "invalid orderBy 'ORDER_BY_RANDOM'",
  },
  {
    route: 'trialCheckpoints',
    method: 'GET',
    name: 'an unknown state',
    path: '/api/v1/trials/#trial/checkpoints?states=STATE_COMPLETED&states=STATE_BORED',
    status: 400,
    message: "invalid states 'STATE_BORED'",
  },
  {
    route: 'trialCheckpoints',
    method: 'GET',
    name: 'an empty sortByMetric with a sortByAttr',
    path: '/api/v1/trials/#trial/checkpoints?sortByAttr=SORT_BY_UUID&sortByMetric=x',
    status: 400,
    message: 'give sortByAttr or sortByMetric, not both',
  },
  {
    route: 'trialCheckpoints',
    method: 'GET',
    name: 'a metric name with a backslash',
    path: '/api/v1/trials/#trial/checkpoints?sortByMetric=a%5Cb',
    status: 400,
    message: 'invalid sortByMetric',
  },
  {
    route: 'trialCheckpoints',
    method: 'GET',
    name: 'a NUL character in the metric name',
    path: '/api/v1/trials/#trial/checkpoints?sortByMetric=a%00b',
    status: 400,
    message: 'NUL',
  },
  {
    route: 'trialCheckpoints',
    method: 'GET',
    name: 'an offset past the end',
    path: '/api/v1/trials/#trial/checkpoints?offset=2',
    status: 400,
    message: 'offset out of bounds: 2 with 1 items',
  },
  {
    route: 'trialCheckpoints',
    method: 'GET',
    name: 'a negative limit',
    path: '/api/v1/trials/#trial/checkpoints?limit=-1',
    status: 400,
    message: "invalid limit '-1'",
  },
  {
    route: 'trialCheckpoints',
    method: 'GET',
    name: 'a limit past int32',
    path: '/api/v1/trials/#trial/checkpoints?limit=4294967296',
    status: 400,
    message: "invalid limit '4294967296'",
  },
  {
    route: 'trialsTimeSeries',
    method: 'GET',
    name: 'no trialIds',
    path: '/api/v1/trials/time-series?maxDatapoints=10',
    status: 400,
    message: 'trialIds is required',
  },
  {
    route: 'trialsTimeSeries',
    method: 'GET',
    name: 'a non-numeric trial id',
    path: '/api/v1/trials/time-series?trialIds=abc&maxDatapoints=10',
    status: 400,
    message: "invalid trialIds 'abc'",
  },
  {
    route: 'trialsTimeSeries',
    method: 'GET',
    name: 'a zero trial id',
    path: '/api/v1/trials/time-series?trialIds=0&maxDatapoints=10',
    status: 400,
    message: "invalid trialIds '0'",
  },
  {
    route: 'trialsTimeSeries',
    method: 'GET',
    name: 'a trial id past int32',
    path: '/api/v1/trials/time-series?trialIds=4294967296&maxDatapoints=10',
    status: 400,
    message: "invalid trialIds '4294967296'",
  },
  {
    route: 'trialsTimeSeries',
    method: 'GET',
    name: 'an unknown trial',
    path: '/api/v1/trials/time-series?trialIds=#trial&trialIds=999&maxDatapoints=10',
    status: 404,
    message: "trial '999' not found",
  },
  {
    route: 'trialsTimeSeries',
    method: 'GET',
    name: 'no maxDatapoints',
    path: '/api/v1/trials/time-series?trialIds=#trial',
    status: 400,
    message: 'maxDatapoints is required',
  },
  {
    route: 'trialsTimeSeries',
    method: 'GET',
    name: 'a zero maxDatapoints',
    path: '/api/v1/trials/time-series?trialIds=#trial&maxDatapoints=0',
    status: 400,
    message: "invalid maxDatapoints '0': expected an integer from 1 to 10000",
  },
  {
    route: 'trialsTimeSeries',
    method: 'GET',
    name: 'a maxDatapoints over the cap',
    path: '/api/v1/trials/time-series?trialIds=#trial&maxDatapoints=10001',
    status: 400,
    message: "invalid maxDatapoints '10001'",
  },
  {
    route: 'trialsTimeSeries',
    method: 'GET',
    name: 'a negative maxDatapoints',
    path: '/api/v1/trials/time-series?trialIds=#trial&maxDatapoints=-5',
    status: 400,
    message: "invalid maxDatapoints '-5'",
  },
  {
    route: 'trialsTimeSeries',
    method: 'GET',
    name: 'a non-numeric maxDatapoints',
    path: '/api/v1/trials/time-series?trialIds=#trial&maxDatapoints=many',
    status: 400,
    message: "invalid maxDatapoints 'many'",
  },
  {
    route: 'trialsTimeSeries',
    method: 'GET',
    name: 'a repeated maxDatapoints',
    path: '/api/v1/trials/time-series?trialIds=#trial&maxDatapoints=1&maxDatapoints=2',
    status: 400,
    message: 'query parameter maxDatapoints given 2 times',
  },
  {
    route: 'trialsTimeSeries',
    method: 'GET',
    name: 'an empty metric name',
    path: '/api/v1/trials/time-series?trialIds=#trial&maxDatapoints=10&metricNames=',
    status: 400,
    message: 'invalid metricNames',
  },
  {
    route: 'trialsTimeSeries',
    method: 'GET',
    name: 'a negative startBatches',
    path: '/api/v1/trials/time-series?trialIds=#trial&maxDatapoints=10&startBatches=-1',
    status: 400,
    message: "invalid startBatches '-1'",
  },
  {
    route: 'trialsTimeSeries',
    method: 'GET',
    name: 'a non-numeric endBatches',
    path: '/api/v1/trials/time-series?trialIds=#trial&maxDatapoints=10&endBatches=end',
    status: 400,
    message: "invalid endBatches 'end'",
  },
  {
    route: 'trialsTimeSeries',
    method: 'GET',
    name: 'an endBatches before startBatches',
    path: '/api/v1/trials/time-series?trialIds=#trial&maxDatapoints=10&startBatches=50&endBatches=10',
    status: 400,
    message: "invalid endBatches '10': less than startBatches 50",
  },
  {
    route: 'trialsTimeSeries',
    method: 'GET',
    name: 'a group with a dot',
    path: '/api/v1/trials/time-series?trialIds=#trial&maxDatapoints=10&group=a.b',
    status: 400,
    message: "invalid metric group 'a.b'",
  },
  {
    route: 'trialsTimeSeries',
    method: 'GET',
    name: 'an unknown metricType',
    path: '/api/v1/trials/time-series?trialIds=#trial&maxDatapoints=10&metricType=METRIC_TYPE_LOSS',
    status: 400,
    message: "invalid metricType 'METRIC_TYPE_LOSS'",
  },
  {
    route: 'trialsTimeSeries',
    method: 'GET',
    name: 'both group and metricType',
    path: '/api/v1/trials/time-series?trialIds=#trial&maxDatapoints=10&group=training&metricType=METRIC_TYPE_VALIDATION',
    status: 400,
    message: 'give group or metricType, not both',
  },
  {
    route: 'trialsTimeSeries',
    method: 'GET',
    name: 'profiling metrics',
    path: '/api/v1/trials/time-series?trialIds=#trial&maxDatapoints=10&metricType=METRIC_TYPE_PROFILING',
    status: 400,
    message: 'invalid metricType METRIC_TYPE_PROFILING',
  },
  {
    route: 'trialCheckpointMarkers',
    method: 'GET',
    name: 'an unknown trial',
    path: '/api/v1/trials/999/checkpoint-markers',
    status: 404,
    message: "trial '999' not found",
  },
  {
    route: 'trialCheckpointMarkers',
    method: 'GET',
    name: 'a non-numeric trial id',
    path: '/api/v1/trials/best/checkpoint-markers',
    status: 400,
    message: "invalid trialId 'best'",
  },
  {
    route: 'trialCheckpointMarkers',
    method: 'GET',
    name: 'a zero maxMarkers',
    path: '/api/v1/trials/#trial/checkpoint-markers?maxMarkers=0',
    status: 400,
    message: "invalid maxMarkers '0': expected an integer from 1 to 10000",
  },
  {
    route: 'trialCheckpointMarkers',
    method: 'GET',
    name: 'a maxMarkers over the cap',
    path: '/api/v1/trials/#trial/checkpoint-markers?maxMarkers=10001',
    status: 400,
    message: "invalid maxMarkers '10001'",
  },
  {
    route: 'trialCheckpointMarkers',
    method: 'GET',
    name: 'a non-numeric maxMarkers',
    path: '/api/v1/trials/#trial/checkpoint-markers?maxMarkers=all',
    status: 400,
    message: "invalid maxMarkers 'all'",
  },
  {
    route: 'trialCheckpointMarkers',
    method: 'GET',
    name: 'a repeated maxMarkers',
    path: '/api/v1/trials/#trial/checkpoint-markers?maxMarkers=1&maxMarkers=2',
    status: 400,
    message: 'query parameter maxMarkers given 2 times',
  },
  {
    route: 'trialLogs',
    method: 'GET',
    name: 'an unknown trial',
    path: '/api/v1/trials/999/logs',
    status: 404,
    message: "trial '999' not found",
  },
  {
    route: 'trialLogs',
    method: 'GET',
    name: 'a negative limit',
    path: '/api/v1/trials/#trial/logs?limit=-1',
    status: 400,
    message: "invalid limit '-1'",
  },
  {
    route: 'trialLogs',
    method: 'GET',
    name: 'an unknown orderBy',
    path: '/api/v1/trials/#trial/logs?orderBy=NEWEST',
    status: 400,
    message: "invalid orderBy 'NEWEST'",
  },
  {
    route: 'trialLogs',
    method: 'GET',
    name: 'a repeated searchText',
    path: '/api/v1/trials/#trial/logs?searchText=a&searchText=b',
    status: 400,
    message: 'query parameter searchText given 2 times',
  },
  {
    route: 'trialLogs',
    method: 'GET',
    name: 'a non-numeric trial id',
    path: '/api/v1/trials/latest/logs',
    status: 400,
    message: "invalid trialId 'latest'",
  },
  {
    route: 'trialMetricsStream',
    method: 'GET',
    name: 'no trialIds',
    path: '/api/v1/trials/metrics/trial_metrics?group=training',
    status: 400,
    message: 'trialIds is required',
  },
  {
    route: 'trialMetricsStream',
    method: 'GET',
    name: 'a non-numeric trial id',
    path: '/api/v1/trials/metrics/trial_metrics?trialIds=abc',
    status: 400,
    message: "invalid trialIds 'abc'",
  },
  {
    route: 'trialMetricsStream',
    method: 'GET',
    name: 'an unknown trial among known ones',
    path: '/api/v1/trials/metrics/trial_metrics?trialIds=#trial&trialIds=999',
    status: 404,
    message: "trial '999' not found",
  },
  {
    route: 'trialMetricsStream',
    method: 'GET',
    name: 'a group with a dot',
    path: '/api/v1/trials/metrics/trial_metrics?trialIds=#trial&group=a.b',
    status: 400,
    message: "invalid metric group 'a.b'",
  },
  {
    route: 'trialMetricsStream',
    method: 'GET',
    name: 'a NUL character in the group',
    path: '/api/v1/trials/metrics/trial_metrics?trialIds=#trial&group=a%00',
    status: 400,
    message: 'NUL',
  },
  {
    route: 'trialTrainingMetricsStream',
    method: 'GET',
    name: 'no trialIds',
    path: ROUTES.trialTrainingMetricsStream,
    status: 400,
    message: 'trialIds is required',
  },
  {
    route: 'trialTrainingMetricsStream',
    method: 'GET',
    name: 'an unknown trial',
    path: '/api/v1/trials/metrics/training_metrics?trialIds=999',
    status: 404,
    message: "trial '999' not found",
  },
  {
    route: 'trialValidationMetricsStream',
    method: 'GET',
    name: 'a trial id past int32',
    path: '/api/v1/trials/metrics/validation_metrics?trialIds=99999999999',
    status: 400,
    message: "invalid trialIds '99999999999'",
  },
  {
    route: 'trialValidationMetricsStream',
    method: 'GET',
    name: 'an unknown trial',
    path: '/api/v1/trials/metrics/validation_metrics?trialIds=#trial&trialIds=998',
    status: 404,
    message: "trial '998' not found",
  },
  {
    route: 'runsStart',
    method: 'POST',
    name: 'missing runId',
    path: ROUTES.runsStart,
    body: { checkpointStorage: null },
    status: 400,
    message: 'invalid request body: runId',
  },
  {
    route: 'runsStart',
    method: 'POST',
    name: 'a non-numeric runId',
    path: ROUTES.runsStart,
    body: { runId: 'one' },
    status: 400,
    message: 'runId: expected an integer, got "one"',
  },
  {
    route: 'runsStart',
    method: 'POST',
    name: 'an unknown run',
    path: ROUTES.runsStart,
    body: { runId: 999, checkpointStorage: { type: 'directory', container_path: '/tmp' } },
    status: 404,
    message: "trial '999' not found",
  },
  {
    route: 'runsStart',
    method: 'POST',
    name: 'an unknown storage type',
    path: ROUTES.runsStart,
    body: { runId: '#trial', checkpointStorage: { type: 'ftp' } },
    status: 400,
    message: 'checkpointStorage.type must be one of',
  },
  {
    route: 'runsStart',
    method: 'POST',
    name: 's3 storage without a bucket',
    path: ROUTES.runsStart,
    body: { runId: '#trial', checkpointStorage: { type: 's3', prefix: 'p' } },
    status: 400,
    message: 'checkpointStorage.bucket is required for s3 storage',
  },
  {
    route: 'runsStart',
    method: 'POST',
    name: 'storage that is not an object',
    path: ROUTES.runsStart,
    body: { runId: '#trial', checkpointStorage: 'directory' },
    status: 400,
    message: 'invalid request body: checkpointStorage',
  },
  // --- checkpoints ---
  {
    route: 'checkpoints',
    method: 'POST',
    name: 'an unknown task',
    path: ROUTES.checkpoints,
    body: REPORT({ taskId: 'trial.unknown' }),
    status: 404,
    message: "task 'trial.unknown' not found",
  },
  {
    route: 'checkpoints',
    method: 'POST',
    name: 'an invalid uuid',
    path: ROUTES.checkpoints,
    body: REPORT({ uuid: 'not-a-uuid' }),
    status: 400,
    message: 'invalid request body: uuid: expected a UUID',
  },
  {
    route: 'checkpoints',
    method: 'POST',
    name: 'missing taskId',
    path: ROUTES.checkpoints,
    body: REPORT({ taskId: undefined }),
    status: 400,
    message: 'invalid request body: taskId',
  },
  {
    route: 'checkpoints',
    method: 'POST',
    name: 'a state other than COMPLETED',
    path: ROUTES.checkpoints,
    body: REPORT({ state: 'STATE_DELETED' }),
    status: 400,
    message: 'invalid state for reported checkpoint: STATE_DELETED',
  },
  {
    route: 'checkpoints',
    method: 'POST',
    name: 'an unknown state',
    path: ROUTES.checkpoints,
    body: REPORT({ state: 'STATE_BORED' }),
    status: 400,
    message: "invalid state 'STATE_BORED'",
  },
  {
    route: 'checkpoints',
    method: 'POST',
    name: 'a resource path with ..',
    path: ROUTES.checkpoints,
    body: REPORT({ resources: { '../escape.bin': '3' } }),
    status: 400,
    message: "invalid resource path '../escape.bin'",
  },
  {
    route: 'checkpoints',
    method: 'POST',
    name: 'an absolute resource path',
    path: ROUTES.checkpoints,
    body: REPORT({ resources: { '/etc/passwd': '3' } }),
    status: 400,
    message: "invalid resource path '/etc/passwd'",
  },
  {
    route: 'checkpoints',
    method: 'POST',
    name: 'a resource path with an inner ..',
    path: ROUTES.checkpoints,
    body: REPORT({ resources: { 'a/../../b': '3' } }),
    status: 400,
    message: "invalid resource path 'a/../../b'",
  },
  {
    route: 'checkpoints',
    method: 'POST',
    name: 'a negative size',
    path: ROUTES.checkpoints,
    body: REPORT({ resources: { 'a.bin': '-1' } }),
    status: 400,
    message: 'resources.a.bin: expected a size ≥ 0',
  },
  {
    route: 'checkpoints',
    method: 'POST',
    name: 'a non-numeric size',
    path: ROUTES.checkpoints,
    body: REPORT({ resources: { 'a.bin': 'big' } }),
    status: 400,
    message: 'expected an integer, got "big"',
  },
  {
    route: 'checkpoints',
    method: 'POST',
    name: 'a directory entry with a size',
    path: ROUTES.checkpoints,
    body: REPORT({ resources: { 'sub/': '5' } }),
    status: 400,
    message: "invalid size 5 for resource 'sub/'",
  },
  {
    route: 'checkpoints',
    method: 'POST',
    name: 'metadata without steps_completed',
    path: ROUTES.checkpoints,
    body: REPORT({ metadata: { framework: 'torch' } }),
    status: 400,
    message: 'checkpoint metadata.steps_completed must be a non-negative integer',
  },
  {
    route: 'checkpoints',
    method: 'POST',
    name: 'a digest for a file not in resources',
    path: ROUTES.checkpoints,
    body: REPORT({ digests: { 'other.bin': 'a'.repeat(64) } }),
    status: 400,
    message: "digest given for 'other.bin'",
  },
  {
    route: 'checkpoints',
    method: 'POST',
    name: 'a digest that is not sha256 hex',
    path: ROUTES.checkpoints,
    body: REPORT({ digests: { 'model.bin': 'XYZ' } }),
    status: 400,
    message: "invalid sha256 digest for 'model.bin'",
  },
  {
    route: 'checkpoints',
    method: 'POST',
    name: 'a crc32c for a file not in resources',
    path: ROUTES.checkpoints,
    body: REPORT({ crc32c: { 'other.bin': '0a1b2c3d' } }),
    status: 400,
    message: "crc32c given for 'other.bin', which is not a file in resources",
  },
  {
    route: 'checkpoints',
    method: 'POST',
    name: 'a crc32c that is not 8 lowercase hex digits',
    path: ROUTES.checkpoints,
    body: REPORT({ crc32c: { 'model.bin': '0A1B2C3D' } }),
    status: 400,
    message: "invalid crc32c for 'model.bin': expected 8 lowercase hex digits",
  },
  {
    route: 'checkpoints',
    method: 'POST',
    name: 'crc32c that is not a map of strings',
    path: ROUTES.checkpoints,
    body: REPORT({ crc32c: { 'model.bin': 123 } }),
    status: 400,
    message: 'invalid request body: crc32c.model.bin',
  },
  {
    route: 'checkpoints',
    method: 'POST',
    name: 'an unknown storage id',
    path: ROUTES.checkpoints,
    body: REPORT({ storageId: 999 }),
    status: 404,
    message: "storage backend '999' not found",
  },
  {
    route: 'checkpoints',
    method: 'POST',
    name: 'a reportTime that is not RFC 3339',
    path: ROUTES.checkpoints,
    body: REPORT({ reportTime: '1700000000' }),
    status: 400,
    message: 'reportTime: expected an RFC 3339 timestamp',
  },
  {
    route: 'checkpoints',
    method: 'POST',
    name: 'an existing uuid with other resources',
    path: ROUTES.checkpoints,
    body: REPORT({ uuid: '#ckpt', resources: { 'other.bin': '1' } }),
    status: 409,
    message: "checkpoint '#ckpt' already exists",
  },
  {
    route: 'checkpoints',
    method: 'POST',
    name: "another trial's checkpoint uuid",
    path: ROUTES.checkpoints,
    body: REPORT({ uuid: '#ckpt2' }),
    status: 409,
    message: "checkpoint '#ckpt2' already exists",
  },
  {
    route: 'checkpoints',
    method: 'PATCH',
    name: 'an unknown uuid among known ones',
    path: ROUTES.checkpoints,
    body: {
      checkpoints: [
        { uuid: '#ckpt', resources: { resources: {} } },
        { uuid: NO_SUCH_UUID, resources: { resources: {} } },
      ],
    },
    status: 404,
    message: `checkpoint '${NO_SUCH_UUID}' not found`,
  },
  {
    route: 'checkpoints',
    method: 'PATCH',
    name: 'an invalid uuid',
    path: ROUTES.checkpoints,
    body: { checkpoints: [{ uuid: 'abc' }] },
    status: 400,
    message: 'checkpoints.0.uuid: expected a UUID',
  },
  {
    route: 'checkpoints',
    method: 'PATCH',
    name: 'a resource path with ..',
    path: ROUTES.checkpoints,
    body: { checkpoints: [{ uuid: '#ckpt', resources: { resources: { '../x': '1' } } }] },
    status: 400,
    message: "invalid resource path '../x'",
  },
  {
    route: 'checkpoints',
    method: 'PATCH',
    name: 'checkpoints that are not a list',
    path: ROUTES.checkpoints,
    body: { checkpoints: { uuid: '#ckpt' } },
    status: 400,
    message: 'invalid request body: checkpoints',
  },
  {
    route: 'checkpoints',
    method: 'DELETE',
    name: 'no uuids',
    path: ROUTES.checkpoints,
    body: { checkpointUuids: [] },
    status: 400,
    message: 'invalid request body: checkpointUuids',
  },
  {
    route: 'checkpoints',
    method: 'DELETE',
    name: 'an invalid uuid',
    path: ROUTES.checkpoints,
    body: { checkpointUuids: ['#ckpt', 'abc'] },
    status: 400,
    message: 'checkpointUuids.1: expected a UUID',
  },
  {
    route: 'checkpoints',
    method: 'DELETE',
    name: 'an unknown uuid among known ones',
    path: ROUTES.checkpoints,
    body: { checkpointUuids: ['#ckpt', NO_SUCH_UUID] },
    status: 404,
    message: `checkpoint '${NO_SUCH_UUID}' not found`,
  },
  {
    route: 'checkpoints',
    method: 'DELETE',
    name: 'storage the master cannot reach, with a reachable one',
    path: ROUTES.checkpoints,
    body: { checkpointUuids: ['#ckpt', '#badckpt'] },
    status: 400,
    message: 'cannot delete files of checkpoint #badckpt: shared_fs storage_path ../etc must be',
  },
  {
    route: 'checkpointsRm',
    method: 'POST',
    name: 'a glob with ..',
    path: ROUTES.checkpointsRm,
    body: { checkpointUuids: ['#ckpt'], checkpointGlobs: ['..'] },
    status: 400,
    message: "invalid glob '..'",
  },
  {
    route: 'checkpointsRm',
    method: 'POST',
    name: 'a glob with an inner ..',
    path: ROUTES.checkpointsRm,
    body: { checkpointUuids: ['#ckpt'], checkpointGlobs: ['**', 'a/../../b'] },
    status: 400,
    message: "invalid glob 'a/../../b'",
  },
  {
    route: 'checkpointsRm',
    method: 'POST',
    name: 'an empty glob',
    path: ROUTES.checkpointsRm,
    body: { checkpointUuids: ['#ckpt'], checkpointGlobs: [''] },
    status: 400,
    message: "invalid glob ''",
  },
  {
    route: 'checkpointsRm',
    method: 'POST',
    name: 'globs that are not a list',
    path: ROUTES.checkpointsRm,
    body: { checkpointUuids: ['#ckpt'], checkpointGlobs: '**' },
    status: 400,
    message: 'invalid request body: checkpointGlobs',
  },
  {
    route: 'checkpointsRm',
    method: 'POST',
    name: 'an unknown uuid',
    path: ROUTES.checkpointsRm,
    body: { checkpointUuids: [NO_SUCH_UUID], checkpointGlobs: ['**'] },
    status: 404,
    message: `checkpoint '${NO_SUCH_UUID}' not found`,
  },
  {
    route: 'checkpoint',
    method: 'GET',
    name: 'an invalid uuid',
    path: '/api/v1/checkpoints/not-a-uuid',
    status: 400,
    message: "invalid checkpoint uuid 'not-a-uuid'",
  },
  {
    route: 'checkpoint',
    method: 'GET',
    name: 'an unknown uuid',
    path: `/api/v1/checkpoints/${NO_SUCH_UUID}`,
    status: 404,
    message: `checkpoint '${NO_SUCH_UUID}' not found`,
  },
  {
    route: 'checkpointMetadata',
    method: 'POST',
    name: "another checkpoint's uuid in the body",
    path: '/api/v1/checkpoints/#ckpt/metadata',
    body: { checkpoint: { uuid: '#ckpt2', metadata: { steps_completed: 1 } } },
    status: 400,
    message: 'checkpoint.uuid #ckpt2 does not match #ckpt in the path',
  },
  {
    route: 'checkpointMetadata',
    method: 'POST',
    name: 'metadata that is not an object',
    path: '/api/v1/checkpoints/#ckpt/metadata',
    body: { checkpoint: { metadata: [1, 2] } },
    status: 400,
    message: 'invalid request body: checkpoint.metadata',
  },
  {
    route: 'checkpointMetadata',
    method: 'POST',
    name: 'missing checkpoint',
    path: '/api/v1/checkpoints/#ckpt/metadata',
    body: { metadata: {} },
    status: 400,
    message: 'invalid request body: checkpoint',
  },
  {
    route: 'checkpointMetadata',
    method: 'POST',
    name: 'an unknown uuid',
    path: `/api/v1/checkpoints/${NO_SUCH_UUID}/metadata`,
    body: { checkpoint: { metadata: {} } },
    status: 404,
    message: `checkpoint '${NO_SUCH_UUID}' not found`,
  },
  {
    route: 'checkpointMetadata',
    method: 'POST',
    name: 'an invalid uuid',
    path: '/api/v1/checkpoints/xyz/metadata',
    body: { checkpoint: { metadata: {} } },
    status: 400,
    message: "invalid checkpoint uuid 'xyz'",
  },
  {
    route: 'checkpointMetrics',
    method: 'GET',
    name: 'an unknown trialSourceInfoType',
    path: '/api/v1/checkpoints/#ckpt/metrics?trialSourceInfoType=TRAINING',
    status: 400,
    message: "invalid trialSourceInfoType 'TRAINING'",
  },
  {
    route: 'checkpointMetrics',
    method: 'GET',
    name: 'a metric group with a dot',
    path: '/api/v1/checkpoints/#ckpt/metrics?metricGroup=a.b',
    status: 400,
    message: "invalid metric group 'a.b'",
  },
  {
    route: 'checkpointMetrics',
    method: 'GET',
    name: 'an unknown uuid',
    path: `/api/v1/checkpoints/${NO_SUCH_UUID}/metrics`,
    status: 404,
    message: `checkpoint '${NO_SUCH_UUID}' not found`,
  },
  {
    route: 'checkpointMetrics',
    method: 'GET',
    name: 'an invalid uuid',
    path: '/api/v1/checkpoints/1234/metrics',
    status: 400,
    message: "invalid checkpoint uuid '1234'",
  },
  {
    route: 'checkpointDownloadUrls',
    method: 'GET',
    name: 'an unknown uuid',
    path: `/api/v1/checkpoints/${NO_SUCH_UUID}/download-urls`,
    status: 404,
    message: `checkpoint '${NO_SUCH_UUID}' not found`,
  },
  {
    route: 'checkpointDownloadUrls',
    method: 'GET',
    name: 'an invalid uuid',
    path: '/api/v1/checkpoints/1234/download-urls',
    status: 400,
    message: "invalid checkpoint uuid '1234'",
  },
  {
    route: 'checkpointDownloadUrls',
    method: 'GET',
    name: 'a lifetime over an hour',
    path: '/api/v1/checkpoints/#ckpt/download-urls?expiresInSeconds=3601',
    status: 400,
    message: "invalid expiresInSeconds '3601': expected 60 to 3600 seconds",
  },
  {
    route: 'checkpointDownloadUrls',
    method: 'GET',
    name: 'a lifetime that is not a number',
    path: '/api/v1/checkpoints/#ckpt/download-urls?expiresInSeconds=soon',
    status: 400,
    message: "invalid expiresInSeconds 'soon'",
  },
  {
    route: 'checkpointDownloadUrls',
    method: 'GET',
    name: 'local storage, which gives no URLs',
    path: '/api/v1/checkpoints/#ckpt/download-urls',
    status: 400,
    message:
      'download URLs are not available for checkpoint #ckpt: directory storage is read through the master',
  },
  {
    route: 'checkpointDownloadUrls',
    method: 'GET',
    name: 'storage whose config the master cannot use',
    path: '/api/v1/checkpoints/#badckpt/download-urls',
    status: 400,
    message:
      'download URLs are not available for checkpoint #badckpt: shared_fs storage_path ../etc',
  },
  {
    route: 'checkpointArchive',
    method: 'GET',
    name: 'an Accept it cannot serve',
    path: '/checkpoints/#ckpt',
    headers: { accept: 'text/html' },
    status: 415,
    message: "unsupported Accept 'text/html'",
  },
  {
    route: 'checkpointArchive',
    method: 'GET',
    name: 'an unknown format',
    path: '/checkpoints/#ckpt?format=rar',
    status: 400,
    message: "invalid format 'rar': expected tar, tar.gz, tgz or zip",
  },
  {
    route: 'checkpointArchive',
    method: 'GET',
    name: 'a repeated format',
    path: '/checkpoints/#ckpt?format=tar&format=zip',
    status: 400,
    message: 'query parameter format given 2 times',
  },
  {
    route: 'checkpointArchive',
    method: 'GET',
    name: 'an Accept that refuses every archive',
    path: '/checkpoints/#ckpt',
    headers: { accept: 'application/x-tar;q=0, application/gzip;q=0, application/zip;q=0' },
    status: 415,
    message: "unsupported Accept 'application/x-tar;q=0",
  },
  {
    route: 'checkpointArchive',
    method: 'GET',
    name: 'an invalid uuid',
    path: '/checkpoints/../etc/passwd',
    status: 404,
    message: 'no route for GET /etc/passwd',
  },
  {
    route: 'checkpointArchive',
    method: 'GET',
    name: 'a uuid-like path with dots',
    path: '/checkpoints/..%2F..%2Fetc',
    status: 400,
    message: 'invalid checkpoint uuid',
  },
  {
    route: 'checkpointArchive',
    method: 'GET',
    name: 'an unknown uuid',
    path: `/checkpoints/${NO_SUCH_UUID}`,
    headers: { accept: 'application/gzip' },
    status: 404,
    message: `checkpoint '${NO_SUCH_UUID}' not found`,
  },
  {
    route: 'checkpointArchive',
    method: 'GET',
    name: 'storage whose config the master cannot use',
    path: '/checkpoints/#badckpt',
    headers: { accept: 'application/x-tar' },
    status: 400,
    message: 'checkpoint download via master is not possible: shared_fs storage_path ../etc',
  },
  {
    route: 'checkpointArchive',
    method: 'GET',
    name: 'a garbage auth cookie',
    path: '/checkpoints/#ckpt',
    headers: { cookie: 'auth=garbage' },
    as: 'none',
    status: 401,
    message: 'invalid credentials',
  },
  {
    route: 'checkpointArchive',
    method: 'GET',
    name: 'a Range past the end of the tar',
    path: '/checkpoints/#ckpt',
    headers: { range: 'bytes=2048-' },
    status: 416,
    message: "Range 'bytes=2048-' starts at or after the end of the 2048-byte archive",
  },
  {
    route: 'checkpointArchive',
    method: 'GET',
    name: 'a Range whose last byte is before its first',
    path: '/checkpoints/#ckpt',
    headers: { range: 'bytes=9-3' },
    status: 416,
    message: "invalid Range 'bytes=9-3'",
  },
  {
    route: 'checkpointArchive',
    method: 'GET',
    name: 'an If-Match naming another ETag',
    path: '/checkpoints/#ckpt',
    headers: { 'if-match': '"not-the-etag"' },
    status: 412,
    message: 'If-Match "not-the-etag" does not match',
  },
  {
    route: 'taskLogs',
    method: 'POST',
    name: 'an unknown task among known ones',
    path: ROUTES.taskLogs,
    body: [
      { task_id: '#task', log: 'a\n' },
      { task_id: 'trial.unknown', log: 'b\n' },
    ],
    status: 404,
    message: "task 'trial.unknown' not found",
  },
  {
    route: 'taskLogs',
    method: 'POST',
    name: 'an object instead of a list',
    path: ROUTES.taskLogs,
    body: { task_id: '#task', log: 'a\n' },
    status: 400,
    message: 'invalid request body: Invalid input: expected array',
  },
  {
    route: 'taskLogs',
    method: 'POST',
    name: 'an entry without log',
    path: ROUTES.taskLogs,
    body: [{ task_id: '#task', log: 'ok\n' }, { task_id: '#task' }],
    status: 400,
    message: 'invalid request body: 1.log',
  },
  {
    route: 'taskLogs',
    method: 'POST',
    name: 'a negative rank',
    path: ROUTES.taskLogs,
    body: [{ task_id: '#task', log: 'a', rank: '-1' }],
    status: 400,
    message: 'invalid request body: 0.rank',
  },
  {
    route: 'taskLogs',
    method: 'POST',
    name: 'a rank past int32',
    path: ROUTES.taskLogs,
    body: [{ task_id: '#task', log: 'a', rank: '99999999999' }],
    status: 400,
    message: 'invalid request body: 0.rank',
  },
  {
    route: 'taskLogs',
    method: 'POST',
    name: 'a timestamp that is not RFC 3339',
    path: ROUTES.taskLogs,
    body: [{ task_id: '#task', log: 'a', timestamp: 'now' }],
    status: 400,
    message: '0.timestamp: expected an RFC 3339 timestamp',
  },
  {
    route: 'taskLogs',
    method: 'POST',
    name: 'an empty task id',
    path: ROUTES.taskLogs,
    body: [{ task_id: '', log: 'a' }],
    status: 400,
    message: 'invalid request body: 0.task_id',
  },
];

/** Routes that answer without a session. */
const PUBLIC: readonly RouteName[] = ['login', 'master', 'info'];

/** Every (method, route) the app serves, from Hono's own route list. */
function servedRoutes(m: TestMaster): { method: Method; route: RouteName }[] {
  const byPath = new Map(Object.entries(ROUTES).map(([name, path]) => [path, name as RouteName]));
  const out: { method: Method; route: RouteName }[] = [];
  const seen = new Set<string>();
  for (const r of m.app.routes) {
    // The web UI's catch-all is not an API route (web.test.ts covers it).
    if (r.method === 'ALL' || r.path === '/*') {
      continue;
    }
    const route = byPath.get(r.path as (typeof ROUTES)[RouteName]);
    // A served path missing from ROUTES fails here, so it cannot skip the table either.
    expect(route, `${r.method} ${r.path} is not in ROUTES`).toBeDefined();
    const key = `${r.method} ${r.path}`;
    if (route !== undefined && !seen.has(key)) {
      seen.add(key);
      out.push({ method: r.method as Method, route });
    }
  }
  return out;
}

/** A valid path for a route, with its parameters taken from the fixture. */
function samplePath(route: RouteName): string {
  return ROUTES[route]
    .replace(':userId', '#otherId')
    .replace(':experimentId', '#exp')
    .replace(':externalExperimentId', 'ext-new')
    .replace(':trialId', '#trial')
    .replace(':checkpointUuid', '#ckpt')
    .replace(':tokenId', '#tokenId')
    .replace(':username', 'other');
}

const WRITES: readonly Method[] = ['POST', 'PUT', 'PATCH', 'DELETE'];

/** Rows every route gets: no session, malformed JSON and an oversized body. */
function generatedRows(m: TestMaster): BadRow[] {
  const rows: BadRow[] = [];
  for (const { method, route } of servedRoutes(m)) {
    const path = samplePath(route);
    if (!PUBLIC.includes(route)) {
      rows.push({
        route,
        method,
        name: 'no session',
        path,
        as: 'none',
        status: 401,
        message: 'token missing',
        generated: true,
      });
    }
    // Logout reads no body.
    if (WRITES.includes(method) && route !== 'logout') {
      rows.push({
        route,
        method,
        name: 'malformed JSON',
        path,
        rawBody: '{"a": ',
        status: 400,
        message: 'malformed JSON body',
        generated: true,
      });
      rows.push({
        route,
        method,
        name: 'a body over the limit',
        path,
        rawBody: JSON.stringify({ pad: 'x'.repeat(1024 * 1024) }),
        status: 413,
        message: 'request body exceeds 1048576 bytes',
        generated: true,
      });
    }
  }
  return rows;
}

async function makeFixture(m: TestMaster): Promise<Fixture> {
  const s = await seedTrial(m, { metric: 'loss' });
  const admin = await m.login('admin');
  const { user: other } = await call<{ user: { id: number } }>(m, admin, 'POST', '/api/v1/users', {
    user: { username: 'other' },
    password: '',
  });
  await reportMetric(m, s, 'training', 10, { loss: 1 });
  // A checkpoint with real files, so a refused delete that went through would show.
  const ckpt = testUuid();
  await mkdir(join(m.storageDir, ckpt), { recursive: true });
  await writeFile(join(m.storageDir, ckpt, 'model.bin'), 'abc');
  await reportCheckpoint(m, s, 10, { uuid: ckpt, resources: { 'model.bin': '3' } });
  const { trial: trial2 } = await call<{ trial: { id: number; taskId: string } }>(
    m,
    s.token,
    'POST',
    '/api/v1/trials',
    { experimentId: s.experimentId, unmanaged: true },
  );
  await call(m, s.token, 'POST', `/api/v1/trials/${trial2.id}/start`, { resume: true });
  const ckpt2 = await reportCheckpoint(m, { ...s, trialId: trial2.id, taskId: trial2.taskId }, 5);
  // Storage the master cannot use (a shared_fs path out of its host_path): refused before
  // anything changes.
  const unusable = await seedTrial(m, {
    storage: '{type: shared_fs, host_path: /tmp, storage_path: ../etc}',
  });
  const badckpt = await reportCheckpoint(m, unusable, 5);
  const { tokenId } = await call<{ tokenId: number }>(m, admin, 'POST', '/api/v1/tokens', {
    userId: other.id,
  });
  return {
    admin,
    user: s.token,
    other: await m.login('other'),
    otherId: other.id,
    tokenId,
    exp: s.experimentId,
    trial: s.trialId,
    task: s.taskId,
    run: s.runId,
    ckpt,
    trial2: trial2.id,
    ckpt2,
    badckpt,
    unknownUuid: NO_SUCH_UUID,
  };
}

const TABLES = [
  'users',
  'sessions',
  'access_tokens',
  'experiments',
  'trials',
  'storage_backends',
  'metrics',
  'checkpoints',
  'checkpoint_counts',
  'task_logs',
  'cluster_info',
] as const;

/** Everything the master stores: every table's rows and the files in checkpoint storage. */
async function snapshot(m: TestMaster): Promise<string> {
  const out: Record<string, unknown> = {};
  for (const table of TABLES) {
    const rows = await m.deps.db.kysely.selectFrom(table).selectAll().execute();
    out[table] = rows.map((r) => JSON.stringify(r)).sort();
  }
  const files: string[] = [];
  const walk = async (dir: string): Promise<void> => {
    for (const entry of await readdir(dir, { withFileTypes: true })) {
      const path = join(dir, entry.name);
      if (entry.isDirectory()) {
        await walk(path);
      } else {
        files.push(`${path} ${(await stat(path)).size}`);
      }
    }
  };
  await walk(m.storageDir);
  out.files = files.sort();
  return JSON.stringify(out);
}

/** Sends one row's request and lists what is wrong with the answer (nothing, if all is well). */
async function check(m: TestMaster, f: Fixture, row: BadRow): Promise<string[]> {
  const headers: Record<string, string> = {};
  for (const [k, v] of Object.entries(row.headers ?? {})) {
    headers[k] = String(fill(v, f));
  }
  const as = row.as ?? 'admin';
  const token = as === 'none' ? undefined : f[as];
  const res = await m.request(row.method, String(fill(row.path, f)), {
    token,
    headers,
    ...(row.rawBody !== undefined
      ? { rawBody: row.rawBody }
      : row.body !== undefined
        ? { body: fill(row.body, f) }
        : {}),
  });
  return verify(res, row.status, String(fill(row.message, f)));
}

/**
 * Lists what is wrong with an error answer: its status, a JSON body of the master's error shape
 * (`{message, error: {code, reason, error, message}}` with the code matching the status) and
 * a message containing `expected`.
 */
async function verify(res: Response, status: number, expected: string): Promise<string[]> {
  const text = await res.text();
  const problems: string[] = [];
  if (res.status >= 500) {
    problems.push(`a ${res.status}`);
  }
  if (res.status !== status) {
    problems.push(`status ${res.status}, expected ${status}`);
  }
  let body: { message?: unknown; error?: Record<string, unknown> } = {};
  try {
    body = JSON.parse(text) as typeof body;
  } catch {
    problems.push('a body that is not JSON');
  }
  if (!(res.headers.get('content-type') ?? '').startsWith('application/json')) {
    problems.push(`content-type ${res.headers.get('content-type')}`);
  }
  const message = typeof body.message === 'string' ? body.message : undefined;
  if (message === undefined || !message.includes(expected)) {
    problems.push(`message ${JSON.stringify(message)} lacks ${JSON.stringify(expected)}`);
  }
  const info = Object.values(ERROR_CODES).find(
    (c) => c.status === status && c.grpc === body.error?.code && c.reason === body.error.reason,
  );
  if (info === undefined || body.error?.error !== message || body.error?.message !== message) {
    problems.push(`error ${JSON.stringify(body.error)} is not {code, reason, error, message}`);
  }
  return problems.length === 0 ? [] : [`${problems.join('; ')} — body ${text.slice(0, 300)}`];
}

describeEachDialect('bad input', ({ master }) => {
  it('answers every bad request with its 4xx and a JSON error naming the problem, writing nothing', async () => {
    const m = master();
    const f = await makeFixture(m);
    const before = await snapshot(m);
    const failures: string[] = [];
    for (const row of [...ROWS, ...generatedRows(m)]) {
      const label = `${row.method} ${row.route} (${row.name})`;
      for (const problem of await check(m, f, row)) {
        failures.push(`${label}: ${problem}`);
      }
      const after = await snapshot(m);
      if (after !== before) {
        failures.push(`${label}: changed what the master stores`);
        break;
      }
    }
    expect(failures).toEqual([]);
  });

  it('refuses long lists of unknown ids with 404 under the production body limit', async () => {
    const m = master();
    const token = await m.login();
    // The default limit (64 MiB) lets through more ids than one IN list may bind.
    const app = createApp({
      ...m.deps,
      settings: { ...m.deps.settings, maxBodyBytes: DEFAULT_MAX_BODY_BYTES },
    });
    const uuids = Array.from(
      { length: 70_000 },
      (_, i) => `00000000-0000-4000-9000-${i.toString(16).padStart(12, '0')}`,
    );
    const cases: [string, string, unknown, string][] = [
      ['DELETE', ROUTES.checkpoints, { checkpointUuids: uuids }, `checkpoint '${uuids[0]}'`],
      [
        'PATCH',
        ROUTES.checkpoints,
        { checkpoints: uuids.map((uuid) => ({ uuid })) },
        '(and 69990 more)',
      ],
      [
        'POST',
        ROUTES.checkpointsRm,
        { checkpointUuids: uuids, checkpointGlobs: ['**'] },
        `checkpoint '${uuids[0]}'`,
      ],
      ['POST', ROUTES.taskLogs, uuids.map((u) => ({ task_id: u, log: 'x' })), `task '${uuids[0]}'`],
    ];
    for (const [method, path, body, message] of cases) {
      const res = await app.request(path, {
        method,
        headers: { authorization: `Bearer ${token}` },
        body: JSON.stringify(body),
      });
      expect(await verify(res, 404, message), `${method} ${path}`).toEqual([]);
    }
    const logs = await m.deps.db.kysely.selectFrom('task_logs').selectAll().execute();
    expect(logs).toEqual([]);
  });

  it('has hand-written rows for every route the master serves', () => {
    const m = master();
    const covered = new Set(ROWS.map((r) => `${r.method} ${r.route}`));
    const missing = servedRoutes(m)
      .map(({ method, route }) => `${method} ${route}`)
      .filter((key) => !covered.has(key));
    expect(missing).toEqual([]);
    const names = new Set(ROWS.map((r) => r.route));
    expect(Object.keys(ROUTES).filter((name) => !names.has(name as RouteName))).toEqual([]);
    // The generated rows reach every route as well.
    const generated = new Set(generatedRows(m).map((r) => r.route));
    expect(
      Object.keys(ROUTES).filter(
        (name) => !generated.has(name as RouteName) && !PUBLIC.includes(name as RouteName),
      ),
    ).toEqual([]);
  });
});
