export { Checkpoint } from './checkpoint.js';
export { TrialReference } from './trial-reference.js';
export type { TrialReferenceOptions } from './trial-reference.js';
export { openSession } from './auth/session.js';
export type { SessionOptions } from './auth/session.js';
export { canonicalMasterUrl, resolveMasterUrl } from './auth/master-url.js';
export * from './client-entry.js';
