import type { CheckpointData, GcPolicy } from '@determined-ts/sdk/client';
import type { JsonObject } from '@determined-ts/api';

import { totalBytes } from './format';

/** The three `checkpoint_storage` settings, their config key and their label. */
export const POLICY_FIELDS = [
  { key: 'saveExperimentBest', config: 'save_experiment_best', label: 'Experiment best' },
  { key: 'saveTrialBest', config: 'save_trial_best', label: 'Trial best' },
  { key: 'saveTrialLatest', config: 'save_trial_latest', label: 'Trial latest' },
] as const;

export type PolicyKey = (typeof POLICY_FIELDS)[number]['key'];

/** Determined's defaults for a `checkpoint_storage` that does not say. */
export const DEFAULT_POLICY: GcPolicy = {
  saveExperimentBest: 0,
  saveTrialBest: 1,
  saveTrialLatest: 1,
};

/** The policy in an experiment's config (`checkpoint_storage.save_*`), defaults where unset. */
export function policyOfConfig(config: JsonObject): GcPolicy {
  const storage = config.checkpoint_storage;
  const policy: GcPolicy = { ...DEFAULT_POLICY };
  if (typeof storage !== 'object' || storage === null || Array.isArray(storage)) {
    return policy;
  }
  for (const field of POLICY_FIELDS) {
    const value = (storage as JsonObject)[field.config];
    if (typeof value === 'number' && Number.isSafeInteger(value) && value >= 0) {
      policy[field.key] = value;
    }
  }
  return policy;
}

/** A non-negative whole number typed in a field, or the problem with it. */
export function parseCount(text: string): number | string {
  const trimmed = text.trim();
  if (trimmed === '') {
    return 'enter a number';
  }
  if (!/^\d+$/.test(trimmed)) {
    return 'must be a whole number, 0 or more';
  }
  const n = Number(trimmed);
  return Number.isSafeInteger(n) ? n : 'is too large';
}

export type PolicyInput = Record<PolicyKey, string>;

/** The policy the form holds, or each field's problem. */
export function parsePolicy(
  input: PolicyInput,
): { policy: GcPolicy; errors?: undefined } | { policy?: undefined; errors: Partial<PolicyInput> } {
  const errors: Partial<PolicyInput> = {};
  const policy: GcPolicy = { saveExperimentBest: 0, saveTrialBest: 0, saveTrialLatest: 0 };
  for (const field of POLICY_FIELDS) {
    const parsed = parseCount(input[field.key]);
    if (typeof parsed === 'string') {
      errors[field.key] = `${field.label} ${parsed}.`;
    } else {
      policy[field.key] = parsed;
    }
  }
  return Object.keys(errors).length === 0 ? { policy } : { errors };
}

/** The form's text for a policy. */
export function policyInput(policy: GcPolicy): PolicyInput {
  return {
    saveExperimentBest: String(policy.saveExperimentBest),
    saveTrialBest: String(policy.saveTrialBest),
    saveTrialLatest: String(policy.saveTrialLatest),
  };
}

/** A policy in one line: `experiment best 0 · trial best 1 · trial latest 1`. */
export function formatPolicy(policy: GcPolicy): string {
  return POLICY_FIELDS.map((f) => `${f.label.toLowerCase()} ${policy[f.key]}`).join(' · ');
}

/** How many live checkpoints (COMPLETED, PARTIALLY_DELETED) there are and their total bytes. */
export function storageUsed(checkpoints: readonly CheckpointData[]): {
  count: number;
  bytes: number;
} {
  const live = checkpoints.filter(
    (c) => c.state === 'COMPLETED' || c.state === 'PARTIALLY_DELETED',
  );
  return { count: live.length, bytes: live.reduce((sum, c) => sum + totalBytes(c.resources), 0) };
}
