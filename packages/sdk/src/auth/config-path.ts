import { homedir } from 'node:os';
import { join } from 'node:path';

/**
 * Determined's configuration directory, where its CLI and SDK keep `auth.json` and `certs.json`
 * (determined-ai/determined: harness/determined/common/util.py `get_config_path`):
 * `DET_DEBUG_CONFIG_PATH` when set and non-empty; else `<base>/determined`, where base is
 * `XDG_CONFIG_HOME` on Linux (when present, even empty), `~/Library/Application Support` on macOS,
 * `LOCALAPPDATA` on Windows (when present), and `~/.config` everywhere else.
 *
 * `env` and `platform` are parameters so the choice can be tested; home comes from `HOME` (or
 * `USERPROFILE` on Windows) as Python's `Path.home()` reads it, then from the OS.
 */
export function determinedConfigDir(
  env: Record<string, string | undefined>,
  platform: NodeJS.Platform = process.platform,
): string {
  const debugPath = env.DET_DEBUG_CONFIG_PATH;
  if (debugPath !== undefined && debugPath !== '') {
    return debugPath;
  }
  const home = (): string => {
    const fromEnv = platform === 'win32' ? (env.USERPROFILE ?? env.HOME) : env.HOME;
    return fromEnv !== undefined && fromEnv !== '' ? fromEnv : homedir();
  };
  let base: string;
  if (platform === 'linux' && env.XDG_CONFIG_HOME !== undefined) {
    base = env.XDG_CONFIG_HOME;
  } else if (platform === 'darwin') {
    base = join(home(), 'Library', 'Application Support');
  } else if (platform === 'win32' && env.LOCALAPPDATA !== undefined) {
    base = env.LOCALAPPDATA;
  } else {
    base = join(home(), '.config');
  }
  return join(base, 'determined');
}
