import { resolve } from 'node:path';

import type { Checkpoint, DownloadEvent, DownloadMode } from '@determined-ts/sdk';
import { Presets, SingleBar } from 'cli-progress';
import { Option } from 'commander';
import type { Command } from 'commander';

import type { CliIo } from './io.js';
import { printJson } from './output.js';
import { formatBytes } from './views.js';

export const DOWNLOAD_MODES = [
  'auto',
  'direct',
  'presigned',
  'master',
] as const satisfies DownloadMode[];

/** The options of every `det … download` command, as commander hands them over. */
export interface DownloadCommandOptions {
  outputDir?: string;
  mode: DownloadMode;
  quiet?: boolean;
  json?: boolean;
}

/** Adds `-o DIR`, `--mode` and `-q`, shared by every command that downloads a checkpoint. */
export function withDownloadOptions(command: Command): Command {
  return command
    .option('-o, --output-dir <dir>', 'target directory (default: checkpoints/<uuid>)')
    .addOption(new Option('--mode <mode>', 'how to fetch').choices(DOWNLOAD_MODES).default('auto'))
    .option('-q, --quiet', 'no progress');
}

export interface DownloadFlags {
  output?: string;
  mode: DownloadMode;
  quiet?: boolean;
}

export interface DownloadResult {
  uuid: string;
  path: string;
  totalBytes: number;
  skipped: boolean;
}

/**
 * Downloads a checkpoint into `-o DIR` (default `checkpoints/<uuid>` under the working
 * directory), drawing a bar with bytes, rate and ETA on stderr when it is a terminal, or one
 * summary line when it is not; `-q` silences both.
 */
export async function downloadWithProgress(
  io: CliIo,
  checkpoint: Checkpoint,
  flags: DownloadFlags,
): Promise<DownloadResult> {
  const target = resolve(io.cwd, flags.output ?? `checkpoints/${checkpoint.uuid}`);
  const progress = flags.quiet === true ? undefined : new ProgressView(io);
  let result: DownloadResult = {
    uuid: checkpoint.uuid,
    path: target,
    totalBytes: 0,
    skipped: true,
  };
  try {
    await checkpoint.download(target, {
      mode: flags.mode,
      signal: io.signal,
      onProgress: (event) => {
        progress?.update(event);
        if (event.type === 'done') {
          result = { uuid: checkpoint.uuid, ...event };
        }
      },
    });
  } finally {
    progress?.stop();
  }
  return result;
}

/** Renders download events: a live bar on a terminal, a summary line elsewhere. */
class ProgressView {
  readonly #io: CliIo;
  readonly #started = Date.now();
  #bar: SingleBar | undefined;

  constructor(io: CliIo) {
    this.#io = io;
  }

  update(event: DownloadEvent): void {
    switch (event.type) {
      case 'start':
        this.#io.stderr.write(
          `Downloading ${event.totalFiles} files (${formatBytes(event.totalBytes)}) from ${event.source}\n`,
        );
        if (this.#io.stderr.isTTY === true) {
          this.#bar = new SingleBar(
            {
              stream: this.#io.stderr,
              format: ' {bar} {percentage}% | {done} / {size} | {rate} | ETA {eta_formatted}',
              hideCursor: true,
              clearOnComplete: false,
            },
            Presets.shades_classic,
          );
          this.#bar.start(event.totalBytes, 0, this.#payload(0, event.totalBytes));
        }
        return;
      case 'progress':
        this.#bar?.update(event.bytes, this.#payload(event.bytes, event.totalBytes));
        return;
      case 'file':
        return;
      case 'done':
        this.stop();
        this.#io.stderr.write(
          event.skipped
            ? `Already downloaded: ${event.path}\n`
            : `Downloaded ${formatBytes(event.totalBytes)} in ${this.#seconds().toFixed(1)} s ` +
                `(${this.#rate(event.totalBytes)})\n`,
        );
        return;
    }
  }

  stop(): void {
    this.#bar?.stop();
    this.#bar = undefined;
  }

  #payload(bytes: number, total: number): Record<string, string> {
    return { done: formatBytes(bytes), size: formatBytes(total), rate: this.#rate(bytes) };
  }

  #seconds(): number {
    return Math.max((Date.now() - this.#started) / 1000, 0.001);
  }

  #rate(bytes: number): string {
    return `${formatBytes(Math.round(bytes / this.#seconds()))}/s`;
  }
}

/** What `det … download` prints: the result as JSON, or the directory's path alone. */
export function printDownload(io: CliIo, result: DownloadResult, json: boolean): void {
  if (json) {
    printJson(io, result);
  } else {
    io.stdout.write(`${result.path}\n`);
  }
}
