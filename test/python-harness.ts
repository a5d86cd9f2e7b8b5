// Finds what it takes to run Determined's real Python SDK (v0.38.1) in a test: /usr/bin/python3
// with the SDK's third-party modules, and Determined's harness/ (from DET_TEST_PYTHON_HARNESS,
// or extracted from the local mirror of determined-ai/determined). Tests of the master and of
// the SDK share it; they skip, saying why, when something is absent.
import { execFile, spawn, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';

export const PYTHON = '/usr/bin/python3';
/** Where this machine mirrors determined-ai/determined. */
const DETERMINED_MIRROR = '/work/.mirror/determined-ai+determined/repo';
/** The release whose clients we test against (the mirror's HEAD when it lacks the tag). */
const DETERMINED_RELEASE = 'v0.38.1';
/** Third-party modules the SDK imports, and the Debian packages that provide them. */
const PYTHON_MODULES: Record<string, string> = {
  requests: 'python3-requests',
  'ruamel.yaml': 'python3-ruamel.yaml',
  filelock: 'python3-filelock',
  appdirs: 'python3-appdirs',
  psutil: 'python3-psutil',
  numpy: 'python3-numpy',
};

export type HarnessSource = { kind: 'dir'; path: string } | { kind: 'mirror' };

/** Where the harness comes from, or what is missing. Cheap enough for collection time. */
export function findPythonSdk(): { source?: HarnessSource; missing?: string } {
  const problems: string[] = [];
  let source: HarnessSource | undefined;
  const fromEnv = process.env.DET_TEST_PYTHON_HARNESS;
  if (fromEnv !== undefined && fromEnv !== '') {
    if (existsSync(join(fromEnv, 'determined'))) {
      source = { kind: 'dir', path: fromEnv };
    } else {
      problems.push(`DET_TEST_PYTHON_HARNESS=${fromEnv} has no determined/ package`);
    }
  } else if (
    existsSync(DETERMINED_MIRROR) &&
    spawnSync('git', ['--version'], { stdio: 'ignore' }).status === 0
  ) {
    source = { kind: 'mirror' };
  } else {
    problems.push(
      `Determined's SDK: set DET_TEST_PYTHON_HARNESS to a dir holding determined/, or mirror ` +
        `determined-ai/determined at ${DETERMINED_MIRROR} (with git on PATH)`,
    );
  }
  if (!existsSync(PYTHON)) {
    problems.push(`${PYTHON} does not exist`);
  } else {
    const probe = spawnSync(
      PYTHON,
      [
        '-c',
        'import importlib.util, sys\n' +
          'for name in sys.argv[1:]:\n' +
          '    try:\n' +
          '        found = importlib.util.find_spec(name) is not None\n' +
          '    except ImportError:\n' +
          '        found = False\n' +
          '    if not found:\n' +
          '        print(name)\n',
        ...Object.keys(PYTHON_MODULES),
      ],
      { encoding: 'utf8' },
    );
    const absent = probe.stdout.split('\n').filter((name) => name !== '');
    if (probe.status !== 0) {
      problems.push(`${PYTHON} failed to run: ${probe.stderr.trim()}`);
    } else if (absent.length > 0) {
      problems.push(
        `${PYTHON} lacks ${absent.join(', ')} (apt-get install -y ` +
          `${absent.map((name) => PYTHON_MODULES[name] ?? name).join(' ')})`,
      );
    }
  }
  return problems.length > 0 ? { missing: problems.join('; ') } : { source };
}

/**
 * The directory to put on PYTHONPATH. From the mirror, only harness/ is extracted, into
 * `scratch`: Determined's code is used by tests, never committed.
 */
export async function harnessDir(source: HarnessSource, scratch: string): Promise<string> {
  if (source.kind === 'dir') {
    return source.path;
  }
  const run = promisify(execFile);
  const tarball = join(scratch, 'harness.tar');
  // The release tag where the mirror has it: a newer snapshot's HEAD is Determined's main.
  const tagged = spawnSync('git', [
    `--git-dir=${DETERMINED_MIRROR}`,
    'rev-parse',
    '--verify',
    '--quiet',
    `${DETERMINED_RELEASE}^{commit}`,
  ]);
  await run('git', [
    `--git-dir=${DETERMINED_MIRROR}`,
    'archive',
    '--format=tar',
    '-o',
    tarball,
    tagged.status === 0 ? DETERMINED_RELEASE : 'HEAD',
    'harness',
  ]);
  await run('tar', ['-xf', tarball, '-C', scratch]);
  return join(scratch, 'harness');
}

/** Runs a Python script with a clean environment (no DET_* or token cache from the caller). */
export function runPython(
  script: string,
  args: string[],
  env: Record<string, string>,
  options: { timeoutMs?: number; input?: string } = {},
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return runPythonArgv([script, ...args], env, options);
}

/**
 * Runs Python with `argv` (a script and its arguments, or `-m module …`) and a clean
 * environment; `input` is written to its stdin, which is then closed.
 */
export function runPythonArgv(
  argv: string[],
  env: Record<string, string>,
  { timeoutMs = 120_000, input }: { timeoutMs?: number; input?: string } = {},
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolveRun, reject) => {
    const child = spawn(PYTHON, argv, {
      env: { PATH: process.env.PATH ?? '/usr/bin:/bin', LANG: 'C.UTF-8', ...env },
      stdio: ['pipe', 'pipe', 'pipe'],
      timeout: timeoutMs,
    });
    // Closed at once without input: a prompt reads end of file, never waits.
    child.stdin.end(input);
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    child.once('error', reject);
    child.once('close', (code) => resolveRun({ code, stdout, stderr }));
  });
}

/** The modules Determined's CLI imports beyond its SDK's, and their Debian packages. */
const CLI_MODULES: Record<string, string> = {
  termcolor: 'python3-termcolor',
  tabulate: 'python3-tabulate',
  packaging: 'python3-packaging',
  dateutil: 'python3-dateutil',
  OpenSSL: 'python3-openssl',
  argcomplete: 'python3-argcomplete',
};

/** Why Determined's CLI cannot run here (beyond its SDK), with the packages to install; else undefined. */
export function missingCliModules(): string | undefined {
  const absent = Object.keys(CLI_MODULES).filter(
    (name) => spawnSync(PYTHON, ['-c', `import ${name}`], { stdio: 'ignore' }).status !== 0,
  );
  return absent.length === 0
    ? undefined
    : `${PYTHON} cannot import ${absent.join(', ')} (apt-get install -y ${absent.map((m) => CLI_MODULES[m]).join(' ')})`;
}
