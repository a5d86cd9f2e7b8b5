import { closeSync, openSync, readFileSync, writeSync } from 'node:fs';
import { open } from 'node:fs/promises';

import { errnoCode } from '../errno.js';

/*
 * A download's journal: an append-only file of JSON lines beside the partial download, so a
 * download killed half-way and started again (by another process) fetches only what is missing.
 * Lines are appended with one synchronous write each, after the bytes they describe were
 * written: a line never claims more than the file holds, and a kill loses at most the bytes
 * since a range's last line (one line per `NOTE_EVERY_BYTES` and per finished range). A torn
 * last line is ignored.
 *
 *   {"t":"h","v":1,"source":"s3://bucket/prefix/<uuid>"}             the journal's header
 *   {"t":"f","p":"model.bin","s":1073741824,"v":"\"etag\"","r":67108864}  a file (re)started
 *   {"t":"r","p":"model.bin","i":3,"w":4194304,"c":305419896}          range 3: bytes written, their CRC32C
 *   {"t":"d","p":"model.bin","c":305419896}                            file complete and checked
 */

/** A range's progress is appended after at least this many more bytes (and at its end). */
export const NOTE_EVERY_BYTES = 4 * 1024 * 1024;

const FORMAT_VERSION = 1;

/** What the journal holds about one file. */
export interface JournaledFile {
  size: number;
  /** The object version its bytes came from. */
  version: string | undefined;
  /** Range `i` covers `[i × rangeBytes, min(size, (i + 1) × rangeBytes))`. */
  rangeBytes: number;
  /** Per range: bytes written from its start, and their CRC32C. */
  ranges: Map<number, { written: number; crc: number }>;
  /** Set once the file was complete and checked: its CRC32C. */
  doneCrc: number | undefined;
}

type Line =
  | { t: 'h'; v: number; source: string }
  | { t: 'f'; p: string; s: number; v: string | null; r: number }
  | { t: 'r'; p: string; i: number; w: number; c: number }
  | { t: 'd'; p: string; c: number };

/** An open journal: what a previous run left (if it was of the same source), then appends. */
export class Journal {
  readonly path: string;
  readonly #restored: Map<string, JournaledFile>;
  #fd: number | undefined;

  private constructor(path: string, restored: Map<string, JournaledFile>, fd: number) {
    this.path = path;
    this.#restored = restored;
    this.#fd = fd;
  }

  /**
   * Whether the journal at `path` was written for `source`, as {@link Journal.open} would keep
   * it; reads its header line only. No journal, or one that cannot be read, is not.
   */
  static async isOf(path: string, source: string): Promise<boolean> {
    let head: string;
    try {
      const handle = await open(path, 'r');
      try {
        const buffer = Buffer.alloc(64 * 1024); // the header line is far shorter
        const { bytesRead } = await handle.read(buffer, 0, buffer.length, 0);
        head = buffer.toString('utf8', 0, bytesRead);
      } finally {
        await handle.close();
      }
    } catch {
      return false;
    }
    const end = head.indexOf('\n');
    return end >= 0 && isHeaderOf(parseLines(head.slice(0, end))[0], source);
  }

  /**
   * Opens the journal at `path`. One written for another source is discarded; so is one that
   * cannot be read. The file is then rewritten from what was restored, which also drops torn
   * and superseded lines.
   */
  static open(path: string, source: string): Journal {
    let restored = new Map<string, JournaledFile>();
    let text = '';
    try {
      text = readFileSync(path, 'utf8');
    } catch (err: unknown) {
      if (errnoCode(err) !== 'ENOENT') {
        throw err;
      }
    }
    const lines = parseLines(text);
    if (isHeaderOf(lines[0], source)) {
      restored = replay(lines.slice(1));
    }
    const fd = openSync(path, 'w');
    const journal = new Journal(path, restored, fd);
    journal.#append({ t: 'h', v: FORMAT_VERSION, source });
    for (const [p, file] of restored) {
      journal.#append({ t: 'f', p, s: file.size, v: file.version ?? null, r: file.rangeBytes });
      for (const [i, range] of file.ranges) {
        journal.#append({ t: 'r', p, i, w: range.written, c: range.crc });
      }
      if (file.doneCrc !== undefined) {
        journal.#append({ t: 'd', p, c: file.doneCrc });
      }
    }
    return journal;
  }

  /** What the previous run achieved for `path`, if anything. */
  restored(path: string): JournaledFile | undefined {
    return this.#restored.get(path);
  }

  /** A file starts (or starts over) from nothing. */
  startFile(path: string, size: number, version: string | undefined, rangeBytes: number): void {
    this.#append({ t: 'f', p: path, s: size, v: version ?? null, r: rangeBytes });
  }

  noteRange(path: string, index: number, written: number, crc: number): void {
    this.#append({ t: 'r', p: path, i: index, w: written, c: crc });
  }

  finishFile(path: string, crc: number): void {
    this.#append({ t: 'd', p: path, c: crc });
  }

  close(): void {
    if (this.#fd !== undefined) {
      closeSync(this.#fd);
      this.#fd = undefined;
    }
  }

  #append(line: Line): void {
    if (this.#fd !== undefined) {
      writeSync(this.#fd, `${JSON.stringify(line)}\n`);
    }
  }
}

/** Whether `line` is the header of a journal of this format written for `source`. */
function isHeaderOf(line: Line | undefined, source: string): boolean {
  return line?.t === 'h' && line.v === FORMAT_VERSION && line.source === source;
}

function parseLines(text: string): Line[] {
  const out: Line[] = [];
  for (const raw of text.split('\n')) {
    if (raw === '') {
      continue;
    }
    try {
      out.push(JSON.parse(raw) as Line);
    } catch {
      break; // a torn last line: what follows it (nothing) cannot be trusted either
    }
  }
  return out;
}

function replay(lines: readonly Line[]): Map<string, JournaledFile> {
  const files = new Map<string, JournaledFile>();
  const isCount = (n: unknown): n is number =>
    typeof n === 'number' && Number.isSafeInteger(n) && n >= 0;
  for (const line of lines) {
    if (line.t === 'f' && isCount(line.s) && isCount(line.r) && line.r > 0) {
      files.set(line.p, {
        size: line.s,
        version: typeof line.v === 'string' ? line.v : undefined,
        rangeBytes: line.r,
        ranges: new Map(),
        doneCrc: undefined,
      });
    } else if (line.t === 'r' && isCount(line.i) && isCount(line.w) && isCount(line.c)) {
      files.get(line.p)?.ranges.set(line.i, { written: line.w, crc: line.c });
    } else if (line.t === 'd' && isCount(line.c)) {
      const file = files.get(line.p);
      if (file !== undefined) {
        file.doneCrc = line.c;
      }
    }
  }
  return files;
}
