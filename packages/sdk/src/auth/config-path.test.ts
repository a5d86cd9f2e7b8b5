import { homedir } from 'node:os';
import { join } from 'node:path';

import { describe, expect, it } from 'vitest';

import { determinedConfigDir } from './config-path.js';

describe('determinedConfigDir', () => {
  it('honours DET_DEBUG_CONFIG_PATH everywhere, as is', () => {
    for (const platform of ['linux', 'darwin', 'win32', 'freebsd'] as const) {
      expect(
        determinedConfigDir({ DET_DEBUG_CONFIG_PATH: '/cfg', XDG_CONFIG_HOME: '/x' }, platform),
      ).toBe('/cfg');
    }
  });

  it('ignores an empty DET_DEBUG_CONFIG_PATH', () => {
    expect(determinedConfigDir({ DET_DEBUG_CONFIG_PATH: '', HOME: '/home/a' }, 'linux')).toBe(
      '/home/a/.config/determined',
    );
  });

  it('uses XDG_CONFIG_HOME on Linux only', () => {
    expect(determinedConfigDir({ XDG_CONFIG_HOME: '/x', HOME: '/home/a' }, 'linux')).toBe(
      '/x/determined',
    );
    expect(determinedConfigDir({ XDG_CONFIG_HOME: '/x', HOME: '/home/a' }, 'freebsd')).toBe(
      '/home/a/.config/determined',
    );
  });

  it('uses ~/Library/Application Support on macOS, even with XDG_CONFIG_HOME', () => {
    expect(determinedConfigDir({ XDG_CONFIG_HOME: '/x', HOME: '/Users/a' }, 'darwin')).toBe(
      '/Users/a/Library/Application Support/determined',
    );
  });

  it('uses LOCALAPPDATA on Windows, else the profile .config', () => {
    expect(determinedConfigDir({ LOCALAPPDATA: 'C:/AppData/Local' }, 'win32')).toBe(
      join('C:/AppData/Local', 'determined'),
    );
    expect(determinedConfigDir({ USERPROFILE: 'C:/Users/a' }, 'win32')).toBe(
      join('C:/Users/a', '.config', 'determined'),
    );
  });

  it('falls back to ~/.config, with home from the OS when HOME is unset', () => {
    expect(determinedConfigDir({ HOME: '/home/a' }, 'linux')).toBe('/home/a/.config/determined');
    expect(determinedConfigDir({}, 'linux')).toBe(join(homedir(), '.config', 'determined'));
  });
});
