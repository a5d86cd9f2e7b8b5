import type { CheckpointDto, JsonObject } from '@determined-ts/api';

import { decodeCheckpoint } from './decode.js';
import { array, date, fail, int, object, string } from './decode-fields.js';
import type { CheckpointData } from './models.js';

/*
 * The model registry's wire messages (`modelv1.Model`, `modelv1.ModelVersion`) and the
 * Determined-TS aliases, decoded. Required fields must be there with their type; fields
 * Determined may leave out get their zero value, but a value of the wrong type always throws.
 */

/** A model of the registry (`modelv1.Model`), decoded. */
export interface ModelData {
  id: number;
  name: string;
  description: string;
  /** Markdown readme of the model. */
  notes: string;
  metadata: JsonObject;
  labels: string[];
  creationTime: Date;
  lastUpdatedTime: Date;
  numVersions: number;
  /** The creator. */
  userId: number;
  username: string;
  workspaceId: number;
  archived: boolean;
}

/** A registered version of a model (`modelv1.ModelVersion`), decoded. */
export interface ModelVersionData {
  /** Global id across every model; not the version number. */
  id: number;
  /** Per-model number, from 1. */
  version: number;
  model: ModelData;
  /** The registered checkpoint, as `getCheckpoint` returns it. */
  checkpoint: CheckpointData;
  /** `null` when the master did not say (Determined's register reply has no update time). */
  creationTime: Date | null;
  lastUpdatedTime: Date | null;
  name: string;
  comment: string;
  notes: string;
  metadata: JsonObject;
  labels: string[];
  /** The user who registered it. */
  userId: number;
  username: string;
  /** Aliases pointing at this version, sorted (Determined-TS; always `[]` on Determined). */
  aliases: string[];
}

/** A named pointer from a model to one of its versions (Determined-TS extension). */
export interface ModelAlias {
  alias: string;
  /** The version number it points at. */
  version: number;
  /** The global id of that version. */
  modelVersionId: number;
  /** When it was last set or moved, and by whom. */
  updatedTime: Date;
  userId: number;
  username: string;
}

/** One change of an alias: `fromVersion` null = created, `toVersion` null = removed. */
export interface ModelAliasEvent {
  id: number;
  alias: string;
  fromVersion: number | null;
  toVersion: number | null;
  time: Date;
  userId: number;
  username: string;
}

function optString(value: unknown, field: string): string {
  return value === undefined || value === null ? '' : string(value, field);
}

function optInt(value: unknown, field: string): number {
  return value === undefined || value === null ? 0 : int(value, field);
}

function optBool(value: unknown, field: string): boolean {
  if (value === undefined || value === null) {
    return false;
  }
  return typeof value === 'boolean' ? value : fail(field, 'a boolean', value);
}

function optObject(value: unknown, field: string): JsonObject {
  return value === undefined || value === null ? {} : object(value, field);
}

export function optStrings(value: unknown, field: string): string[] {
  return value === undefined || value === null
    ? []
    : array(value, field).map((s, i) => string(s, `${field}[${i}]`));
}

function nullableDate(value: unknown, field: string): Date | null {
  return value === undefined || value === null ? null : date(value, field);
}

function nullableInt(value: unknown, field: string): number | null {
  return value === undefined || value === null ? null : int(value, field);
}

/** `modelv1.Model`; `field` names where it sits in its response, for errors. */
export function decodeModel(value: unknown, field = 'model'): ModelData {
  const m = object(value, field);
  return {
    id: int(m.id, `${field}.id`),
    name: string(m.name, `${field}.name`),
    description: optString(m.description, `${field}.description`),
    notes: optString(m.notes, `${field}.notes`),
    metadata: optObject(m.metadata, `${field}.metadata`),
    labels: optStrings(m.labels, `${field}.labels`),
    creationTime: date(m.creationTime, `${field}.creationTime`),
    lastUpdatedTime: date(m.lastUpdatedTime, `${field}.lastUpdatedTime`),
    numVersions: optInt(m.numVersions, `${field}.numVersions`),
    userId: optInt(m.userId, `${field}.userId`),
    username: optString(m.username, `${field}.username`),
    workspaceId: optInt(m.workspaceId, `${field}.workspaceId`),
    archived: optBool(m.archived, `${field}.archived`),
  };
}

/** `modelv1.ModelVersion`; `field` names where it sits in its response, for errors. */
export function decodeModelVersion(value: unknown, field = 'modelVersion'): ModelVersionData {
  const v = object(value, field);
  return {
    id: int(v.id, `${field}.id`),
    version: int(v.version, `${field}.version`),
    model: decodeModel(v.model, `${field}.model`),
    checkpoint: decodeCheckpoint(v.checkpoint as CheckpointDto, `${field}.checkpoint`),
    creationTime: nullableDate(v.creationTime, `${field}.creationTime`),
    lastUpdatedTime: nullableDate(v.lastUpdatedTime, `${field}.lastUpdatedTime`),
    name: optString(v.name, `${field}.name`),
    comment: optString(v.comment, `${field}.comment`),
    notes: optString(v.notes, `${field}.notes`),
    metadata: optObject(v.metadata, `${field}.metadata`),
    labels: optStrings(v.labels, `${field}.labels`),
    userId: optInt(v.userId, `${field}.userId`),
    username: optString(v.username, `${field}.username`),
    aliases: optStrings(v.aliases, `${field}.aliases`),
  };
}

/** `ModelAliasDto`; `field` names where it sits in its response, for errors. */
export function decodeModelAlias(value: unknown, field = 'alias'): ModelAlias {
  const a = object(value, field);
  return {
    alias: string(a.alias, `${field}.alias`),
    version: int(a.version, `${field}.version`),
    modelVersionId: int(a.modelVersionId, `${field}.modelVersionId`),
    updatedTime: date(a.updatedTime, `${field}.updatedTime`),
    userId: optInt(a.userId, `${field}.userId`),
    username: optString(a.username, `${field}.username`),
  };
}

/** `ModelAliasEventDto`; `field` names where it sits in its response, for errors. */
export function decodeModelAliasEvent(value: unknown, field = 'event'): ModelAliasEvent {
  const e = object(value, field);
  return {
    id: int(e.id, `${field}.id`),
    alias: string(e.alias, `${field}.alias`),
    fromVersion: nullableInt(e.fromVersion, `${field}.fromVersion`),
    toVersion: nullableInt(e.toVersion, `${field}.toVersion`),
    time: date(e.time, `${field}.time`),
    userId: optInt(e.userId, `${field}.userId`),
    username: optString(e.username, `${field}.username`),
  };
}
