import { describe, expect, it } from 'vitest';

import { buildTar } from '../../test/tar.js';
import type { TarEntry } from '../../test/tar.js';
import { TarFormatError, TarReader, TarTruncatedError } from './tar-reader.js';
import type { TarHeader } from './tar-reader.js';

interface ReadEntry extends TarHeader {
  content: string;
}

/** Reads `tar` pushed in pieces of `pieceBytes`, copying each entry's data (views are lent). */
function readTar(tar: Uint8Array, pieceBytes = tar.byteLength): ReadEntry[] {
  const entries: ReadEntry[] = [];
  let parts: Buffer[] = [];
  const reader = new TarReader({
    entry: (header) => {
      parts = [];
      entries.push({ ...header, content: '' });
    },
    data: (chunk) => parts.push(Buffer.from(chunk)),
    entryEnd: () => {
      const last = entries.at(-1);
      if (last !== undefined) {
        last.content = Buffer.concat(parts).toString();
      }
    },
  });
  for (let at = 0; at < tar.byteLength; at += pieceBytes) {
    reader.write(tar.subarray(at, at + pieceBytes));
  }
  reader.end();
  return entries;
}

const LONG = `${'deep/'.repeat(40)}model.bin`; // past ustar's 100 + 155 bytes: a pax path

const ENTRIES: TarEntry[] = [
  { name: 'metadata.json', content: '{"steps":3}' },
  { name: 'sub', type: 'directory' },
  { name: 'sub/empty.bin', content: '' },
  { name: `${'p'.repeat(120)}/x.bin`, content: 'ustar prefix' }, // name split into prefix/name
  { name: LONG, content: 'w'.repeat(1500) },
  { name: 'link', type: 'symlink', linkname: '/etc/passwd' },
  { name: 'café.json', content: 'utf-8 name' },
];

describe('TarReader', () => {
  it('reads entries, long and non-ASCII names included, whatever the piece size', async () => {
    const tar = await buildTar(ENTRIES);
    const expected = [
      { name: 'metadata.json', type: 'file', size: 11, linkname: '', content: '{"steps":3}' },
      { name: 'sub', type: 'directory', size: 0, linkname: '', content: '' },
      { name: 'sub/empty.bin', type: 'file', size: 0, linkname: '', content: '' },
      {
        name: `${'p'.repeat(120)}/x.bin`,
        type: 'file',
        size: 12,
        linkname: '',
        content: 'ustar prefix',
      },
      { name: LONG, type: 'file', size: 1500, linkname: '', content: 'w'.repeat(1500) },
      { name: 'link', type: 'symlink', size: 0, linkname: '/etc/passwd', content: '' },
      { name: 'café.json', type: 'file', size: 10, linkname: '', content: 'utf-8 name' },
    ];
    for (const piece of [tar.length, 4096, 511, 1]) {
      expect(readTar(tar, piece)).toEqual(expected);
    }
  });

  it('reads GNU long names and base-256 sizes', () => {
    const name = `${'g'.repeat(150)}.bin`;
    const longName = header({ name: '././@LongLink', flag: 'L', size: octal(name.length + 1, 12) });
    const file = header({ name: 'ignored', flag: '0', size: base256(5), magic: 'ustar  \0' });
    const tar = Buffer.concat([
      longName,
      block(`${name}\0`),
      file,
      block('hello'),
      Buffer.alloc(1024),
    ]);
    expect(readTar(tar)).toEqual([{ name, type: 'file', size: 5, linkname: '', content: 'hello' }]);
  });

  it('names unknown entry types null', () => {
    const tar = Buffer.concat([header({ name: 'sparse', flag: 'S', size: octal(0, 12) })]);
    expect(readTar(tar)).toMatchObject([{ name: 'sparse', type: null }]);
  });

  it('stops at the end-of-archive blocks and ignores what follows', async () => {
    const tar = await buildTar([{ name: 'a.bin', content: 'a' }]);
    const trailing = Buffer.concat([tar, Buffer.from('junk after the end'.repeat(40))]);
    expect(readTar(trailing).map((e) => e.name)).toEqual(['a.bin']);
  });

  it('refuses a header whose checksum does not match', async () => {
    const tar = await buildTar([{ name: 'a.bin', content: 'a' }]);
    tar.writeUInt8(tar.readUInt8(0) ^ 0x01, 0);
    expect(() => readTar(tar)).toThrow(TarFormatError);
    expect(() => readTar(tar)).toThrow(/checksum/);
  });

  it('refuses bytes that are not a ustar, pax or GNU archive', () => {
    const v7 = header({ name: 'old', flag: '0', size: octal(0, 12), magic: '\0'.repeat(8) });
    expect(() => readTar(v7)).toThrow(/not a ustar/);
  });

  it('reports an archive cut inside a header or an entry as truncated', async () => {
    const tar = await buildTar([{ name: 'a.bin', content: 'a'.repeat(2000) }]);
    expect(() => readTar(tar.subarray(0, 300))).toThrow(TarTruncatedError);
    expect(() => readTar(tar.subarray(0, 1200))).toThrow(TarTruncatedError);
    // Without its end-of-archive blocks, a complete last entry is accepted (as GNU tar does).
    expect(readTar(tar.subarray(0, 512 + 2048)).map((e) => e.name)).toEqual(['a.bin']);
  });
});

/** One 512-byte block holding `text`, zero-padded. */
function block(text: string): Buffer {
  const b = Buffer.alloc(512);
  b.write(text, 'utf8');
  return b;
}

function octal(n: number, width: number): Buffer {
  return Buffer.from(`${n.toString(8).padStart(width - 1, '0')}\0`, 'latin1');
}

/** GNU's binary size: the top bit set, the number big-endian in the rest. */
function base256(n: number): Buffer {
  const b = Buffer.alloc(12);
  b.writeUInt32BE(n, 8);
  b[0] = 0x80;
  return b;
}

/** A header block written by hand, with a valid checksum. */
function header(f: { name: string; flag: string; size: Buffer; magic?: string }): Buffer {
  const b = Buffer.alloc(512);
  b.write(f.name, 0, 'utf8');
  b.write('0000644\0', 100, 'latin1');
  f.size.copy(b, 124);
  b.write(f.flag, 156, 'latin1');
  b.write(f.magic ?? 'ustar\u000000', 257, 'latin1');
  b.fill(0x20, 148, 156);
  let sum = 0;
  for (const byte of b) {
    sum += byte;
  }
  b.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148, 'latin1');
  return b;
}
