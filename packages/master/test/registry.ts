import type { GetModelResponse, ModelDto, UserDto } from '@determined-ts/api';

import { call } from './flow.js';
import type { TestMaster } from './helpers.js';

/** Shared by the model registry's route tests. */
export const SECOND_MS = 1000;

export const iso = (ms: number): string => new Date(ms).toISOString();

/** The path of a model by name or id, percent-encoded as the Python SDK quotes it. */
export const modelPath = (ident: string | number): string =>
  `/api/v1/models/${encodeURIComponent(String(ident))}`;

export const versionPath = (model: string | number, version: string | number): string =>
  `${modelPath(model)}/versions/${encodeURIComponent(String(version))}`;

export const aliasPath = (model: string | number, alias: string): string =>
  `${modelPath(model)}/aliases/${encodeURIComponent(alias)}`;

export async function meId(m: TestMaster, token: string): Promise<number> {
  return (await call<{ user: UserDto }>(m, token, 'GET', '/api/v1/me')).user.id;
}

/** Creates a non-admin user with the empty password and returns a session of theirs. */
export async function addUser(
  m: TestMaster,
  username: string,
): Promise<{ token: string; id: number }> {
  const admin = await m.login('admin');
  const { user } = await call<{ user: UserDto }>(m, admin, 'POST', '/api/v1/users', {
    user: { username },
    password: '',
  });
  return { token: await m.login(username), id: user.id };
}

export async function getModel(
  m: TestMaster,
  token: string,
  ident: string | number,
): Promise<ModelDto> {
  return (await call<GetModelResponse>(m, token, 'GET', modelPath(ident))).model;
}
