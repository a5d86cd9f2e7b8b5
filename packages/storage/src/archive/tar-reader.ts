/*
 * A synchronous tar reader that keeps none of the bytes it is given. The archive transport
 * reads the socket into one reused buffer (fresh memory per read is what made node:http cost
 * 2.5–4 CPU-s per GiB on small VMs), so every chunk must be used before the next read: parsed,
 * and its file data written, at once. tar-stream, which keeps chunks until its consumer reads
 * them, cannot work that way. Formats: ustar (name prefix), pax extended headers (path,
 * linkpath, size) and GNU long names, sizes in octal or base-256.
 */

const BLOCK = 512;
/** pax and GNU long-name records are read whole; real ones are a few hundred bytes. */
const MAX_META_BYTES = 1024 * 1024;

/** Entry types by tar type flag; `null` for flags we do not know. */
export type TarEntryType =
  | 'file'
  | 'contiguous-file'
  | 'directory'
  | 'link'
  | 'symlink'
  | 'character-device'
  | 'block-device'
  | 'fifo'
  | null;

const TYPES = new Map<string, TarEntryType>([
  ['0', 'file'],
  ['\0', 'file'],
  ['1', 'link'],
  ['2', 'symlink'],
  ['3', 'character-device'],
  ['4', 'block-device'],
  ['5', 'directory'],
  ['6', 'fifo'],
  ['7', 'contiguous-file'],
]);

export interface TarHeader {
  name: string;
  type: TarEntryType;
  size: number;
  linkname: string;
}

/** What a {@link TarReader} calls, synchronously, as it parses. */
export interface TarVisitor {
  /** An entry starts; its `size` bytes follow through `data`, then `entryEnd`. */
  entry(header: TarHeader): void;
  /** Some of the entry's bytes: valid only during the call. */
  data(chunk: Uint8Array): void;
  entryEnd(): void;
}

/** The bytes are not a tar archive (a bad checksum, an unknown format, a broken record). */
export class TarFormatError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'TarFormatError';
  }
}

/** The archive stopped inside a header or an entry. */
export class TarTruncatedError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'TarTruncatedError';
  }
}

type Meta = { kind: 'pax' | 'gnu-name' | 'gnu-link' | 'skip'; parts: Buffer[] };

/**
 * Parses a tar archive pushed in chunks of any size, calling `visitor` as entries arrive.
 * Throws {@link TarFormatError} for bytes that are not a tar, and whatever the visitor throws.
 * Between two `write` calls its whole state is its own, so the archive's next bytes may come
 * from anywhere: a resumed download feeds it the rest of the archive from a second response.
 */
export class TarReader {
  readonly #visitor: TarVisitor;
  readonly #header = Buffer.alloc(BLOCK);
  #headerBytes = 0;
  /** Bytes left of the current entry's data, then of its padding. */
  #dataLeft = 0;
  #padLeft = 0;
  /** Set while the current entry's data is a pax or GNU record rather than a file's. */
  #meta: Meta | undefined;
  /** Overrides from pax / GNU records, for the next real entry. */
  #pending: { path?: string; linkpath?: string; size?: number } = {};
  #zeroBlocks = 0;

  constructor(visitor: TarVisitor) {
    this.#visitor = visitor;
  }

  /** Whether the end-of-archive (two zero blocks) has been read; later bytes are ignored. */
  get isDone(): boolean {
    return this.#zeroBlocks >= 2;
  }

  write(chunk: Uint8Array): void {
    let at = 0;
    while (at < chunk.byteLength && !this.isDone) {
      if (this.#dataLeft > 0) {
        const n = Math.min(this.#dataLeft, chunk.byteLength - at);
        this.#onData(chunk.subarray(at, at + n));
        at += n;
        this.#dataLeft -= n;
        if (this.#dataLeft === 0) {
          this.#endEntry();
        }
      } else if (this.#padLeft > 0) {
        const n = Math.min(this.#padLeft, chunk.byteLength - at);
        at += n;
        this.#padLeft -= n;
      } else {
        const n = Math.min(BLOCK - this.#headerBytes, chunk.byteLength - at);
        this.#header.set(chunk.subarray(at, at + n), this.#headerBytes);
        at += n;
        this.#headerBytes += n;
        if (this.#headerBytes === BLOCK) {
          this.#headerBytes = 0;
          this.#onHeader(this.#header);
        }
      }
    }
  }

  /**
   * The input has ended. Throws {@link TarTruncatedError} when it ended inside a header or an
   * entry; an archive without its end-of-archive blocks is accepted, as GNU tar does.
   */
  end(): void {
    if (this.#dataLeft > 0 || this.#headerBytes > 0 || this.#meta !== undefined) {
      throw new TarTruncatedError('unexpected end of the archive');
    }
  }

  #onHeader(block: Buffer): void {
    if (block.every((b) => b === 0)) {
      this.#zeroBlocks += 1;
      return;
    }
    this.#zeroBlocks = 0; // one zero block alone is padding, as tar-stream and GNU tar read it
    checkChecksum(block);
    const magic = block.toString('latin1', 257, 263);
    const isUstar = magic === 'ustar\0';
    if (!isUstar && magic !== 'ustar ') {
      throw new TarFormatError('invalid tar header: not a ustar, pax or GNU archive');
    }
    const flag = String.fromCharCode(block[156] ?? 0);
    const size = parseSize(block);
    if (flag === 'x' || flag === 'g' || flag === 'L' || flag === 'K') {
      if (size > MAX_META_BYTES) {
        throw new TarFormatError(`invalid tar header: a ${size}-byte extended header`);
      }
      // Global pax records (never written for checkpoints) are read past, not applied.
      const kind = { x: 'pax', g: 'skip', L: 'gnu-name', K: 'gnu-link' } as const;
      this.#meta = { kind: kind[flag], parts: [] };
      this.#startData(size);
      return;
    }
    const pending = this.#pending;
    this.#pending = {};
    const name =
      pending.path ?? joinName(isUstar ? cString(block, 345, 155) : '', cString(block, 0, 100));
    const header: TarHeader = {
      name,
      type: TYPES.get(flag) ?? null,
      size: pending.size ?? size,
      linkname: pending.linkpath ?? cString(block, 157, 100),
    };
    this.#visitor.entry(header);
    this.#startData(header.size);
  }

  #startData(size: number): void {
    this.#dataLeft = size;
    this.#padLeft = (BLOCK - (size % BLOCK)) % BLOCK;
    if (size === 0) {
      this.#endEntry();
    }
  }

  #onData(chunk: Uint8Array): void {
    if (this.#meta === undefined) {
      this.#visitor.data(chunk);
    } else {
      this.#meta.parts.push(Buffer.from(chunk)); // a copy: the chunk is the caller's
    }
  }

  #endEntry(): void {
    const meta = this.#meta;
    if (meta === undefined) {
      this.#visitor.entryEnd();
      return;
    }
    this.#meta = undefined;
    const bytes = Buffer.concat(meta.parts);
    switch (meta.kind) {
      case 'pax':
        Object.assign(this.#pending, parsePax(bytes));
        break;
      case 'gnu-name':
        this.#pending.path = cString(bytes, 0, bytes.length);
        break;
      case 'gnu-link':
        this.#pending.linkpath = cString(bytes, 0, bytes.length);
        break;
      case 'skip':
        break;
      default: {
        const unknown: never = meta.kind;
        throw new TarFormatError(`unknown record ${String(unknown)}`);
      }
    }
  }
}

/** The header checksum: the sum of its bytes with the checksum field taken as spaces. */
function checkChecksum(block: Buffer): void {
  const recorded = parseOctal(block, 148, 8);
  let unsigned = 0;
  let signed = 0;
  for (let i = 0; i < BLOCK; i += 1) {
    const b = i >= 148 && i < 156 ? 0x20 : (block[i] ?? 0);
    unsigned += b;
    signed += b > 127 ? b - 256 : b;
  }
  // Some old writers summed signed bytes; both are accepted, as GNU tar does.
  if (recorded !== unsigned && recorded !== signed) {
    throw new TarFormatError('invalid tar header: checksum mismatch');
  }
}

/** The size field: octal digits, or base-256 (GNU, for 8 GiB and more) when the top bit is set. */
function parseSize(block: Buffer): number {
  const first = block[124] ?? 0;
  if ((first & 0x80) === 0) {
    return parseOctal(block, 124, 12);
  }
  if ((first & 0x40) !== 0) {
    throw new TarFormatError('invalid tar header: negative size');
  }
  let value = first & 0x3f;
  for (let i = 125; i < 136; i += 1) {
    value = value * 256 + (block[i] ?? 0);
  }
  if (!Number.isSafeInteger(value)) {
    throw new TarFormatError('invalid tar header: size too large');
  }
  return value;
}

function parseOctal(block: Buffer, offset: number, length: number): number {
  const text = block
    .toString('latin1', offset, offset + length)
    .replace(/\0.*$/s, '')
    .trim();
  if (!/^[0-7]*$/.test(text)) {
    throw new TarFormatError(`invalid tar header: bad number ${JSON.stringify(text)}`);
  }
  return text === '' ? 0 : Number.parseInt(text, 8);
}

/** A NUL-terminated UTF-8 field. */
function cString(bytes: Buffer, offset: number, length: number): string {
  const end = bytes.indexOf(0, offset);
  const stop = end < 0 || end > offset + length ? offset + length : end;
  return bytes.toString('utf8', offset, stop);
}

function joinName(prefix: string, name: string): string {
  return prefix === '' ? name : `${prefix}/${name}`;
}

/** pax records: `<length> <key>=<value>\n`, the length counting the whole record. */
function parsePax(bytes: Buffer): { path?: string; linkpath?: string; size?: number } {
  const out: { path?: string; linkpath?: string; size?: number } = {};
  let at = 0;
  while (at < bytes.length) {
    const space = bytes.indexOf(0x20, at);
    const length = space < 0 ? Number.NaN : Number(bytes.toString('latin1', at, space));
    if (!Number.isSafeInteger(length) || length <= space - at || at + length > bytes.length) {
      throw new TarFormatError('invalid tar header: a broken pax record');
    }
    const record = bytes.toString('utf8', space + 1, at + length - 1);
    at += length;
    const eq = record.indexOf('=');
    const key = record.slice(0, eq);
    const value = record.slice(eq + 1);
    if (key === 'path') {
      out.path = value;
    } else if (key === 'linkpath') {
      out.linkpath = value;
    } else if (key === 'size') {
      const size = Number(value);
      if (!/^\d+$/.test(value) || !Number.isSafeInteger(size)) {
        throw new TarFormatError(`invalid tar header: pax size ${JSON.stringify(value)}`);
      }
      out.size = size;
    }
  }
  return out;
}
