import { StringDecoder } from 'node:string_decoder';

import type { CoreLogger } from './heartbeat.js';

/** Levels of lines sent with `CoreContext.log`. */
export const LOG_LEVELS = ['debug', 'info', 'warning', 'error', 'critical'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

/** Determined's `v1LogLevel` spelling of each level. */
const WIRE_LEVELS = {
  debug: 'LOG_LEVEL_DEBUG',
  info: 'LOG_LEVEL_INFO',
  warning: 'LOG_LEVEL_WARNING',
  error: 'LOG_LEVEL_ERROR',
  critical: 'LOG_LEVEL_CRITICAL',
} as const satisfies Record<LogLevel, string>;

/** One element of the `POST /task-logs` body, as Determined's log shipper sends it. */
export interface TaskLogEntry {
  task_id: string;
  timestamp: string;
  /** Python sends the rank as a string; an unmanaged TypeScript trial is always rank 0. */
  rank: string;
  /** One line, ending in `\n`. */
  log: string;
  stdtype?: 'stdout' | 'stderr';
  level?: (typeof WIRE_LEVELS)[LogLevel];
}

export type StdType = 'stdout' | 'stderr';

export interface LogShipperOptions {
  taskId: string;
  /** Sends one batch; a rejection keeps the batch for the next attempt. */
  post: (entries: TaskLogEntry[]) => Promise<void>;
  now: () => number;
  flushIntervalMs: number;
  /** Roughly the most memory unshipped lines may take; beyond it the oldest are dropped. */
  maxBufferBytes: number;
  logger: CoreLogger;
}

/** Lines per post: Determined's LOG_BATCH_MAX_SIZE. */
const BATCH_MAX_LINES = 1000;
/** Characters per post, well under any master's body limit. */
const BATCH_MAX_CHARS = 1 << 20;
/** A longer line (a progress bar that never prints `\n`, say) is cut into pieces this long. */
const LINE_MAX_CHARS = 64 * 1024;
/** What an entry costs beyond its text, for the memory bound. */
const ENTRY_OVERHEAD_BYTES = 160;

interface Batch {
  entries: TaskLogEntry[];
  /** How many dropped lines the batch's first entry reports (0: it has no such entry). */
  dropped: number;
}

/**
 * Ships a trial's log lines to the master's task logs, as Determined's unmanaged log shipper
 * does (determined-ai/determined: harness/determined/core/_log_shipper.py): lines are batched
 * and posted every `flushIntervalMs` (at once when 1000 are waiting), one post at a time.
 * Unlike Python's shipper, whose sender thread dies at the first failed post (and whose bounded
 * queue then blocks the program), a failed batch is kept and retried on the next tick; while
 * the master cannot take them, the oldest lines beyond `maxBufferBytes` are dropped, and the
 * next shipped batch starts with a line saying how many.
 */
export class LogShipper {
  readonly #options: LogShipperOptions;
  #entries: TaskLogEntry[] = [];
  #head = 0;
  #bytes = 0;
  #dropped = 0;
  readonly #partial: Record<StdType, string> = { stdout: '', stderr: '' };
  readonly #decoders: Record<StdType, StringDecoder> = {
    stdout: new StringDecoder('utf8'),
    stderr: new StringDecoder('utf8'),
  };
  #timer: ReturnType<typeof setTimeout> | undefined;
  #inFlight: Promise<void> | undefined;
  #isFailing = false;
  #isClosed = false;

  constructor(options: LogShipperOptions) {
    this.#options = options;
  }

  /** Starts the flush timer. It is unref'd: it never keeps the process alive on its own. */
  start(): void {
    this.#schedule();
  }

  /** Lines waiting to be shipped. */
  get pending(): number {
    return this.#entries.length - this.#head;
  }

  /** Takes a chunk written to stdout or stderr; complete lines are queued. */
  capture(stdtype: StdType, chunk: unknown, encoding: BufferEncoding | undefined): void {
    if (this.#isClosed) {
      return;
    }
    let text: string;
    if (typeof chunk === 'string') {
      text =
        encoding === undefined || encoding === 'utf8' || encoding === 'utf-8'
          ? chunk
          : this.#decoders[stdtype].write(Buffer.from(chunk, encoding));
    } else if (chunk instanceof Uint8Array) {
      text = this.#decoders[stdtype].write(
        Buffer.from(chunk.buffer, chunk.byteOffset, chunk.length),
      );
    } else {
      return;
    }
    let rest = this.#partial[stdtype] + text;
    let newline = rest.indexOf('\n');
    while (newline >= 0) {
      this.#pushLine(rest.slice(0, newline + 1), { stdtype });
      rest = rest.slice(newline + 1);
      newline = rest.indexOf('\n');
    }
    while (rest.length > LINE_MAX_CHARS) {
      this.#pushLine(rest.slice(0, LINE_MAX_CHARS), { stdtype });
      rest = rest.slice(LINE_MAX_CHARS);
    }
    this.#partial[stdtype] = rest;
  }

  /** Queues `message` (each of its lines) at `level`. */
  log(message: string, level: LogLevel): void {
    const lines = message.split('\n');
    if (lines.length > 1 && lines.at(-1) === '') {
      lines.pop();
    }
    for (const line of lines) {
      this.#pushLine(line, { level: WIRE_LEVELS[level] });
    }
  }

  /**
   * Stops capturing and the timer, queues unfinished lines, and ships everything left (one
   * attempt per batch). Never throws: lines that cannot be shipped are reported to the logger.
   */
  async close(): Promise<void> {
    if (this.#isClosed) {
      return;
    }
    for (const stdtype of ['stdout', 'stderr'] as const) {
      const rest = this.#partial[stdtype] + this.#decoders[stdtype].end();
      this.#partial[stdtype] = '';
      if (rest !== '') {
        this.#pushLine(rest, { stdtype });
      }
    }
    this.#isClosed = true;
    if (this.#timer !== undefined) {
      clearTimeout(this.#timer);
      this.#timer = undefined;
    }
    await this.#inFlight;
    await this.#shipAll();
    const lost = this.pending + this.#dropped;
    if (lost > 0) {
      this.#options.logger.warn(`${lost} task log lines could not be shipped to the master`);
    }
  }

  #pushLine(text: string, extra: Pick<TaskLogEntry, 'stdtype' | 'level'>): void {
    const body = text.endsWith('\n') ? text.slice(0, -1) : text;
    for (let start = 0; start === 0 || start < body.length; start += LINE_MAX_CHARS) {
      this.#push({ ...this.#entry(`${body.slice(start, start + LINE_MAX_CHARS)}\n`), ...extra });
    }
    if (this.pending >= BATCH_MAX_LINES) {
      this.#kick();
    }
  }

  #entry(log: string): TaskLogEntry {
    return {
      task_id: this.#options.taskId,
      timestamp: new Date(this.#options.now()).toISOString(),
      rank: '0',
      log,
    };
  }

  #push(entry: TaskLogEntry): void {
    this.#entries.push(entry);
    this.#bytes += sizeOf(entry);
    while (this.#bytes > this.#options.maxBufferBytes && this.pending > 0) {
      this.#dropOldest();
    }
  }

  #dropOldest(): void {
    const entry = this.#entries[this.#head];
    this.#head += 1;
    this.#dropped += 1;
    this.#bytes -= entry === undefined ? 0 : sizeOf(entry);
    if (this.#head > 1024 && this.#head * 2 > this.#entries.length) {
      this.#entries = this.#entries.slice(this.#head);
      this.#head = 0;
    }
  }

  #schedule(): void {
    if (this.#isClosed) {
      return;
    }
    this.#timer = setTimeout(() => {
      this.#kick();
      this.#schedule();
    }, this.#options.flushIntervalMs);
    this.#timer.unref();
  }

  /** Starts shipping unless a shipment is under way (which ships what is queued meanwhile). */
  #kick(): void {
    if (this.#inFlight !== undefined || this.#isClosed) {
      return;
    }
    this.#inFlight = this.#shipAll().finally(() => {
      this.#inFlight = undefined;
    });
  }

  /** Posts batches until the queue is empty or a post fails. */
  async #shipAll(): Promise<void> {
    while (this.pending > 0 || this.#dropped > 0) {
      const batch = this.#takeBatch();
      try {
        await this.#options.post(batch.entries);
      } catch (err: unknown) {
        this.#putBack(batch);
        if (!this.#isFailing) {
          this.#isFailing = true;
          const message = err instanceof Error ? err.message : String(err);
          this.#options.logger.warn(
            `cannot ship task logs (retrying every ${this.#options.flushIntervalMs} ms, ` +
              `dropping the oldest lines beyond ${this.#options.maxBufferBytes} bytes): ${message}`,
            err,
          );
        }
        return;
      }
      this.#isFailing = false;
    }
  }

  #takeBatch(): Batch {
    const entries: TaskLogEntry[] = [];
    const dropped = this.#dropped;
    this.#dropped = 0;
    if (dropped > 0) {
      entries.push({
        ...this.#entry(
          `[determined-ts] ${dropped} log lines were dropped: the master could not take them\n`,
        ),
        stdtype: 'stderr',
        level: WIRE_LEVELS.warning,
      });
    }
    let chars = 0;
    while (this.pending > 0 && entries.length < BATCH_MAX_LINES) {
      const entry = this.#entries[this.#head];
      if (
        entry === undefined ||
        (entries.length > 0 && chars + entry.log.length > BATCH_MAX_CHARS)
      ) {
        break;
      }
      chars += entry.log.length;
      entries.push(entry);
      this.#head += 1;
      this.#bytes -= sizeOf(entry);
    }
    if (this.pending === 0) {
      this.#entries = [];
      this.#head = 0;
    }
    return { entries, dropped };
  }

  /** Puts a failed batch back in front, then applies the memory bound again. */
  #putBack(batch: Batch): void {
    const lines = batch.dropped > 0 ? batch.entries.slice(1) : batch.entries;
    this.#entries = [...lines, ...this.#entries.slice(this.#head)];
    this.#head = 0;
    this.#dropped += batch.dropped;
    this.#bytes = this.#entries.reduce((sum, e) => sum + sizeOf(e), 0);
    while (this.#bytes > this.#options.maxBufferBytes && this.pending > 0) {
      this.#dropOldest();
    }
  }
}

function sizeOf(entry: TaskLogEntry): number {
  // JavaScript strings take up to two bytes per character.
  return entry.log.length * 2 + ENTRY_OVERHEAD_BYTES;
}
