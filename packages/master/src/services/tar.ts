/**
 * A tar archive of regular files, laid out up front and produced from any byte offset.
 *
 * The bytes are the ones tar-stream 3 packed for the same entries before (the tests compare
 * them), so an archive keeps its bytes, and its ETag stays meaningful, across master versions:
 * per entry a 512-byte ustar header (or a pax header carrying the path, then a ustar header),
 * the file's data, zero padding to a 512-byte block; two zero blocks at the end. Every header's
 * size follows from the name alone, so the offset of every byte is known before any file is
 * opened, and a range is served by seeking, not by producing and dropping a prefix: an entry is
 * opened for just the bytes of it the range holds (for an object store, one ranged GET).
 */
import { openEntry } from './archive-entry.js';
import type { ArchiveEntry } from './archive-entry.js';
import type { EntryReader } from './archive-file.js';

const BLOCK = 512;
const END_OF_ARCHIVE = 2 * BLOCK;
const FILE_MODE = 0o644;
/** Zeros for padding and the end blocks; only ever copied from. */
const ZEROS = Buffer.alloc(END_OF_ARCHIVE);

const padded = (n: number): number => Math.ceil(n / BLOCK) * BLOCK;

/** Bytes `start` (inclusive) to `end` (exclusive) of an archive. */
export interface ByteRange {
  start: number;
  end: number;
}

/** A part of the archive: `from`..`to` of a computed buffer, or of an entry's file. */
type Piece =
  { bytes: Buffer; from: number; to: number } | { entry: ArchiveEntry; from: number; to: number };

/** Where every entry's header and data lie in the archive. */
export class TarLayout {
  /** Total archive size in bytes. */
  readonly length: number;
  /** `offsets[i]`: where entry i's header starts; `offsets[n]`: the end blocks. */
  private readonly offsets: Float64Array;

  constructor(readonly entries: readonly ArchiveEntry[]) {
    this.offsets = new Float64Array(entries.length + 1);
    let at = 0;
    for (const [i, e] of entries.entries()) {
      this.offsets[i] = at;
      at += headerLength(e.name) + padded(e.size);
    }
    this.offsets[entries.length] = at;
    this.length = at + END_OF_ARCHIVE;
  }

  /** The pieces that make up `range`, in order. Headers are encoded only when reached. */
  *pieces({ start, end }: ByteRange): Generator<Piece> {
    const n = this.entries.length;
    for (let i = this.entryAt(start); i < n && this.at(i) < end; i++) {
      const entry = this.entries[i] as ArchiveEntry;
      const headerStart = this.at(i);
      const dataStart = headerStart + headerLength(entry.name);
      const dataEnd = dataStart + entry.size;
      const clip = (from: number, to: number): { from: number; to: number } | undefined =>
        Math.max(start, from) < Math.min(end, to)
          ? { from: Math.max(start, from) - from, to: Math.min(end, to) - from }
          : undefined;
      const header = clip(headerStart, dataStart);
      if (header) {
        yield { bytes: tarHeader(entry), ...header };
      }
      const data = clip(dataStart, dataEnd);
      if (data) {
        yield { entry, ...data };
      } else if (entry.size === 0 && start <= dataStart && dataStart < end) {
        yield { entry, from: 0, to: 0 }; // nothing to read, but an empty file may have grown
      }
      const padding = clip(dataEnd, this.at(i + 1));
      if (padding) {
        yield { bytes: ZEROS, ...padding };
      }
    }
    const trailer = this.at(n);
    if (Math.max(start, trailer) < end) {
      yield { bytes: ZEROS, from: Math.max(start, trailer) - trailer, to: end - trailer };
    }
  }

  private at(i: number): number {
    return this.offsets[i] as number;
  }

  /** The last entry starting at or before `offset`; `entries.length` if in the end blocks. */
  private entryAt(offset: number): number {
    let lo = 0;
    let hi = this.entries.length;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (this.at(mid) <= offset) {
        lo = mid;
      } else {
        hi = mid - 1;
      }
    }
    return lo;
  }
}

/**
 * Yields the bytes of `range`, packed into buffers of up to `chunkBytes` taken from `nextBuffer`
 * (called with the size wanted). A consumer that passes back the same buffer every time must be
 * done with a chunk before asking for the next one. Files are opened one at a time, when reached.
 */
export async function* tarChunks(
  layout: TarLayout,
  range: ByteRange,
  chunkBytes: number,
  nextBuffer: (size: number) => Buffer,
): AsyncGenerator<Buffer> {
  let left = range.end - range.start;
  let buf = nextBuffer(Math.min(chunkBytes, left));
  let fill = 0;
  for (const piece of layout.pieces(range)) {
    const source =
      'bytes' in piece
        ? bufferSource(piece.bytes)
        : await openEntry(piece.entry, { start: piece.from, end: piece.to });
    try {
      for (let at = piece.from; at < piece.to;) {
        if (fill === buf.length) {
          yield buf;
          buf = nextBuffer(Math.min(chunkBytes, left));
          fill = 0;
        }
        const n = await source.read(buf, fill, Math.min(buf.length - fill, piece.to - at), at);
        at += n;
        fill += n;
        left -= n;
      }
      await source.verify();
    } finally {
      await source.close();
    }
  }
  if (fill > 0) {
    yield buf.subarray(0, fill);
  }
}

/** A computed buffer read like a file. */
function bufferSource(bytes: Buffer): EntryReader {
  return {
    read: (into, offset, length, position) =>
      Promise.resolve(bytes.copy(into, offset, position, position + length)),
    verify: () => Promise.resolve(),
    close: () => Promise.resolve(),
  };
}

/** The name split into ustar's prefix and name fields, or `undefined` if it needs pax. */
function ustarName(name: string): { prefix: string; name: string } | undefined {
  if (Buffer.byteLength(name) !== name.length) {
    return undefined; // non-ASCII always goes to pax
  }
  let rest = name;
  let prefix = '';
  // tar-stream's greedy split: peel directories off the front until the rest fits.
  while (rest.length > 100) {
    const i = rest.indexOf('/');
    if (i === -1) {
      return undefined;
    }
    prefix += prefix ? `/${rest.slice(0, i)}` : rest.slice(0, i);
    rest = rest.slice(i + 1);
  }
  return prefix.length <= 155 ? { prefix, name: rest } : undefined;
}

/** The pax extended-header record for the path: "<length> path=<name>\n". */
function paxRecord(name: string): Buffer {
  const body = ` path=${name}\n`;
  const len = Buffer.byteLength(body);
  // The length counts its own digits.
  let digits = String(len).length;
  if (len + digits >= 10 ** digits) {
    digits++;
  }
  return Buffer.from(`${len + digits}${body}`);
}

function headerLength(name: string): number {
  return ustarName(name) ? BLOCK : BLOCK + padded(paxRecord(name).length) + BLOCK;
}

/** The header bytes that precede an entry's data; `headerLength(entry.name)` long. */
export function tarHeader(entry: Pick<ArchiveEntry, 'name' | 'size' | 'mtimeMs'>): Buffer {
  // As tar-stream: seconds of the whole-millisecond time, truncated to int32.
  const mtime = (Math.trunc(entry.mtimeMs) / 1000) | 0;
  const ustar = ustarName(entry.name);
  if (ustar) {
    const out = Buffer.alloc(BLOCK);
    writeHeaderBlock(out, ustar.name, ustar.prefix, entry.size, mtime, '0');
    return out;
  }
  // A pax header block and record, then the ustar header; tar-stream names both 'PaxHeader'.
  const record = paxRecord(entry.name);
  const out = Buffer.alloc(BLOCK + padded(record.length) + BLOCK);
  writeHeaderBlock(out, 'PaxHeader', '', record.length, mtime, 'x');
  record.copy(out, BLOCK);
  writeHeaderBlock(
    out.subarray(BLOCK + padded(record.length)),
    'PaxHeader',
    '',
    entry.size,
    mtime,
    '0',
  );
  return out;
}

/** Fills a zeroed 512-byte ustar header block with tar-stream's field encodings. */
function writeHeaderBlock(
  block: Buffer,
  name: string,
  prefix: string,
  size: number,
  mtime: number,
  typeflag: '0' | 'x',
): void {
  block.write(name, 0, 'latin1');
  block.write(octal(FILE_MODE, 6), 100, 'latin1');
  block.write(octal(0, 6), 108, 'latin1'); // uid
  block.write(octal(0, 6), 116, 'latin1'); // gid
  if (size.toString(8).length > 11) {
    // Over 8 GiB: base-256, flagged by the high bit of the first byte.
    block[124] = 0x80;
    for (let i = 11, rest = size; i > 0; i--, rest = Math.floor(rest / 256)) {
      block[124 + i] = rest % 256;
    }
  } else {
    block.write(octal(size, 11), 124, 'latin1');
  }
  block.write(octal(mtime, 11), 136, 'latin1');
  block.write(typeflag, 156, 'latin1');
  block.write('ustar\0', 257, 'latin1'); // magic
  block.write('00', 263, 'latin1'); // version
  block.write(octal(0, 6), 329, 'latin1'); // devmajor
  block.write(octal(0, 6), 337, 'latin1'); // devminor
  block.write(prefix, 345, 'latin1');
  // The checksum is computed with its own field counted as eight spaces.
  let sum = 8 * 0x20;
  for (let i = 0; i < BLOCK; i++) {
    sum += i >= 148 && i < 156 ? 0 : (block[i] as number);
  }
  block.write(octal(sum, 6), 148, 'latin1');
}

/** `digits` octal digits and a space; all 7s when the value does not fit (as tar-stream). */
function octal(value: number, digits: number): string {
  const s = value.toString(8);
  return s.length > digits ? `${'7'.repeat(digits)} ` : `${s.padStart(digits, '0')} `;
}
