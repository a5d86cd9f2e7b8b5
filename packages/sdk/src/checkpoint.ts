import type { JsonObject } from '@determined-ts/api';

import type { Client } from './client.js';
import type {
  CheckpointData,
  CheckpointState,
  CheckpointTraining,
  CheckpointValidation,
} from './models.js';

/**
 * A checkpoint: the seed API's fields (`uuid`, `storageConfig`, `batchNumber`, `startTime`,
 * `endTime`, `resources`, `validation`) and the modern ones (`state`, `metadata`, `training`,
 * `reportTime`, `digests`). Plain data plus the session it came from, which downloads use.
 */
export class Checkpoint implements CheckpointData {
  readonly uuid: string;
  readonly state: CheckpointState;
  readonly taskId: string;
  readonly allocationId: string | undefined;
  readonly reportTime: Date;
  readonly resources: Record<string, number>;
  readonly metadata: JsonObject;
  readonly training: CheckpointTraining | null;
  readonly storageId: number | undefined;
  readonly digests: Record<string, string>;
  readonly storageConfig: JsonObject;
  readonly batchNumber: number | undefined;
  readonly startTime: Date;
  readonly endTime: Date;
  readonly validation: CheckpointValidation | null;
  /** The session this checkpoint was fetched with; master-mode downloads use it. */
  readonly client: Client | undefined;

  constructor(data: CheckpointData, client?: Client) {
    this.uuid = data.uuid;
    this.state = data.state;
    this.taskId = data.taskId;
    this.allocationId = data.allocationId;
    this.reportTime = data.reportTime;
    this.resources = data.resources;
    this.metadata = data.metadata;
    this.training = data.training;
    this.storageId = data.storageId;
    this.digests = data.digests;
    this.storageConfig = data.storageConfig;
    this.batchNumber = data.batchNumber;
    this.startTime = data.startTime;
    this.endTime = data.endTime;
    this.validation = data.validation;
    this.client = client;
  }
}
