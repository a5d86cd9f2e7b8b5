import { describe, expect, it } from 'vitest';

import type { CheckpointData } from '@determined-ts/sdk/client';

import {
  DEFAULT_POLICY,
  formatPolicy,
  parseCount,
  parsePolicy,
  policyInput,
  policyOfConfig,
  storageUsed,
} from './gc';

function checkpoint(state: CheckpointData['state'], resources: Record<string, number>) {
  return { state, resources } as unknown as CheckpointData;
}

describe('policyOfConfig', () => {
  it('reads the three save_* settings', () => {
    expect(
      policyOfConfig({
        checkpoint_storage: {
          type: 'shared_fs',
          save_experiment_best: 2,
          save_trial_best: 0,
          save_trial_latest: 3,
        },
      }),
    ).toEqual({ saveExperimentBest: 2, saveTrialBest: 0, saveTrialLatest: 3 });
  });

  it("takes Determined's defaults for settings that are missing or not counts", () => {
    expect(policyOfConfig({})).toEqual(DEFAULT_POLICY);
    expect(policyOfConfig({ checkpoint_storage: null })).toEqual(DEFAULT_POLICY);
    expect(
      policyOfConfig({
        checkpoint_storage: {
          save_experiment_best: -1,
          save_trial_best: 1.5,
          save_trial_latest: '4',
        },
      }),
    ).toEqual({ saveExperimentBest: 0, saveTrialBest: 1, saveTrialLatest: 1 });
  });
});

describe('parseCount', () => {
  it('accepts whole numbers from 0, with surrounding spaces', () => {
    expect(parseCount('0')).toBe(0);
    expect(parseCount(' 12 ')).toBe(12);
  });

  it('says what is wrong otherwise', () => {
    expect(parseCount('')).toBe('enter a number');
    expect(parseCount('-1')).toBe('must be a whole number, 0 or more');
    expect(parseCount('1.5')).toBe('must be a whole number, 0 or more');
    expect(parseCount('1e3')).toBe('must be a whole number, 0 or more');
    expect(parseCount('99999999999999999999')).toBe('is too large');
  });
});

describe('parsePolicy', () => {
  it('turns the form into a policy', () => {
    expect(
      parsePolicy({ saveExperimentBest: '1', saveTrialBest: '0', saveTrialLatest: '2' }),
    ).toEqual({ policy: { saveExperimentBest: 1, saveTrialBest: 0, saveTrialLatest: 2 } });
  });

  it('names every field that is wrong', () => {
    expect(
      parsePolicy({ saveExperimentBest: 'x', saveTrialBest: '0', saveTrialLatest: '-2' }),
    ).toEqual({
      errors: {
        saveExperimentBest: 'Experiment best must be a whole number, 0 or more.',
        saveTrialLatest: 'Trial latest must be a whole number, 0 or more.',
      },
    });
  });

  it('round-trips through policyInput', () => {
    const policy = { saveExperimentBest: 3, saveTrialBest: 2, saveTrialLatest: 1 };
    expect(parsePolicy(policyInput(policy))).toEqual({ policy });
  });
});

describe('formatPolicy', () => {
  it('says the policy in one line', () => {
    expect(formatPolicy({ saveExperimentBest: 0, saveTrialBest: 1, saveTrialLatest: 2 })).toBe(
      'experiment best 0 · trial best 1 · trial latest 2',
    );
  });
});

describe('storageUsed', () => {
  it('counts the live checkpoints and sums their files', () => {
    expect(
      storageUsed([
        checkpoint('COMPLETED', { 'a.bin': 100, 'dir/': 0, 'b.bin': 20 }),
        checkpoint('PARTIALLY_DELETED', { 'c.bin': 5 }),
        checkpoint('DELETED', { 'd.bin': 1000 }),
        checkpoint('ERROR', { 'e.bin': 1000 }),
        checkpoint('ACTIVE', { 'f.bin': 1000 }),
      ]),
    ).toEqual({ count: 2, bytes: 125 });
    expect(storageUsed([])).toEqual({ count: 0, bytes: 0 });
  });
});
