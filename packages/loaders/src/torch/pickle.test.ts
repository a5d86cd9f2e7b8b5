import { describe, expect, it } from 'vitest';

import { LoaderError } from '../errors.js';
import { TruncatedPickleError, unpickle } from './pickle.js';
import type { UnpickleOptions } from './pickle.js';
import { PickleCallable, PickleGlobal, PickleObject } from './pickle-values.js';
import type { PickleValue } from './pickle-values.js';

/** Builds pickle bytes: numbers are bytes, strings latin-1 text. */
function bytes(...parts: (number | string | Uint8Array)[]): Uint8Array {
  return Buffer.concat(
    parts.map((part) =>
      typeof part === 'number'
        ? Buffer.from([part])
        : typeof part === 'string'
          ? Buffer.from(part, 'latin1')
          : Buffer.from(part),
    ),
  );
}

const u32 = (n: number): Uint8Array => {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(n);
  return b;
};
const u64 = (n: number): Uint8Array => {
  const b = Buffer.alloc(8);
  b.writeBigUInt64LE(BigInt(n));
  return b;
};

const PROTO2 = bytes(0x80, 2);
const STOP = '.';

function load(pickle: Uint8Array, options: Partial<UnpickleOptions> = {}): PickleValue {
  return unpickle(pickle, { where: 'test.pkl', resolveGlobal: () => undefined, ...options }).value;
}

describe('unpickle', () => {
  it('reads protocol 2 scalars: ints, bigints, floats, strings, bools, None', () => {
    const value = load(
      bytes(
        PROTO2,
        '(',
        'K',
        7,
        'M',
        0x34,
        0x12,
        'J',
        bytes(0xfe, 0xff, 0xff, 0xff),
        0x8a,
        9,
        bytes(0, 0, 0, 0, 0, 0, 0, 0, 0x40), // LONG1 2**70
        0x8a,
        1,
        0xff, // LONG1 -1
        0x8b,
        u32(8),
        bytes(0, 0, 0, 0, 0, 0, 0, 0x80), // LONG4 -(2**63)
        'G',
        bytes(0x3f, 0xd0, 0, 0, 0, 0, 0, 0), // BINFLOAT 0.25, big-endian
        'X',
        u32(4),
        Buffer.from('✓a'),
        0x88,
        0x89,
        'N',
        't',
        STOP,
      ),
    );
    expect(value).toEqual([
      7,
      0x1234,
      -2,
      2n ** 70n,
      -1,
      -(2n ** 63n),
      0.25,
      '✓a',
      true,
      false,
      null,
    ]);
  });

  it('reads protocol 4: frames, memoize, short strings, stack globals, sets, 8-byte lengths', () => {
    const resolveGlobal = (name: string): PickleValue =>
      name === 'collections.OrderedDict' ? new PickleCallable(name, () => new Map()) : undefined;
    const value = load(
      bytes(
        0x80,
        4,
        0x95,
        u64(64),
        0x8c,
        11,
        'collections',
        0x94,
        0x8c,
        11,
        'OrderedDict',
        0x94,
        0x93, // STACK_GLOBAL
        ')',
        'R',
        0x94, // memo 2: the dict
        0x8c,
        1,
        'k',
        0x8f, // EMPTY_SET
        '(',
        'K',
        1,
        'K',
        2,
        0x90, // ADDITEMS
        's',
        0x8c,
        1,
        'f',
        '(',
        'K',
        3,
        0x91, // FROZENSET
        's',
        0x8c,
        1,
        'b',
        0x8e,
        u64(2),
        bytes(1, 2), // BINBYTES8
        's',
        0x8c,
        1,
        'u',
        0x8d,
        u64(1),
        'z', // BINUNICODE8
        's',
        0x8c,
        1,
        'm',
        'h',
        2, // BINGET the dict itself
        's',
        STOP,
      ),
      { resolveGlobal },
    ) as Map<string, PickleValue>;
    expect(value.get('k')).toEqual(new Set([1, 2]));
    expect(value.get('f')).toEqual(new Set([3]));
    expect(value.get('b')).toEqual(new Uint8Array([1, 2]));
    expect(value.get('u')).toBe('z');
    expect(value.get('m')).toBe(value);
  });

  it('makes inert objects of unknown globals, with their arguments and state', () => {
    const value = load(
      bytes(
        PROTO2,
        'cmy.module\nThing\n',
        'q',
        0,
        ')',
        0x81, // NEWOBJ
        '}',
        'X',
        u32(1),
        'a',
        'K',
        1,
        's',
        'b', // BUILD
        ']',
        'h',
        0,
        'a', // a reference to the class, uncalled
        STOP,
      ),
    );
    expect(value).toEqual([new PickleGlobal('my.module.Thing')]);
    const built = load(
      bytes(
        PROTO2,
        'cmy.module\nThing\n',
        ')',
        0x81,
        '}',
        'X',
        u32(1),
        'a',
        'K',
        1,
        's',
        'b',
        STOP,
      ),
    );
    expect(built).toBeInstanceOf(PickleObject);
    expect((built as PickleObject).$class).toBe('my.module.Thing');
    expect((built as PickleObject).state).toEqual(new Map([['a', 1]]));
  });

  it('never calls os.system or eval: REDUCE on them makes an inert object', () => {
    const value = load(bytes(PROTO2, 'cos\nsystem\n', 'X', u32(6), 'rm -rf', 0x85, 'R', STOP));
    expect(value).toBeInstanceOf(PickleObject);
    expect((value as PickleObject).$class).toBe('os.system');
    expect((value as PickleObject).args).toEqual(['rm -rf']);
    const evaled = load(bytes(PROTO2, 'c__builtin__\neval\n', 'X', u32(3), '1+1', 0x85, 'R', STOP));
    expect((evaled as PickleObject).$class).toBe('builtins.eval');
  });

  it('keeps items appended to an inert list or dict subclass', () => {
    const value = load(
      bytes(PROTO2, 'cx\nL\n', ')', 'R', 'K', 1, 'a', 'X', u32(1), 'k', 'K', 2, 's', STOP),
    ) as PickleObject;
    expect(value.listItems).toEqual([1]);
    expect(value.dictItems).toEqual(new Map([['k', 2]]));
  });

  it('hands persistent ids to persistentLoad', () => {
    const value = load(bytes(PROTO2, 'X', u32(1), '7', 'Q', STOP), {
      persistentLoad: (pid) => `storage ${String(pid)}`,
    });
    expect(value).toBe('storage 7');
  });

  it.each([
    ['an unknown opcode', bytes(PROTO2, 0xff, STOP), /byte 2: unsupported pickle opcode 0xff/],
    ['a stack underflow', bytes(PROTO2, 'R', STOP), /byte 2: stack underflow/],
    ['a TUPLE without MARK', bytes(PROTO2, 't', STOP), /no MARK/],
    ['a memo entry never stored', bytes(PROTO2, 'h', 5, STOP), /memo entry 5/],
    ['a protocol from the future', bytes(0x80, 6, 'N', STOP), /protocol 6/],
    ['a persistent id without a loader', bytes(PROTO2, 'N', 'Q', STOP), /persistent id/],
    ['a call of a plain value', bytes(PROTO2, 'K', 1, ')', 'R', STOP), /cannot call/],
    ['SETITEM on a list', bytes(PROTO2, ']', 'K', 1, 'K', 2, 's', STOP), /not a dict/],
  ])('rejects %s with a LoaderError naming the offset', (_, pickle, message) => {
    expect(() => load(pickle)).toThrow(LoaderError);
    expect(() => load(pickle)).toThrow(message);
  });

  it.each([
    ['no STOP', bytes(PROTO2, 'N')],
    ['a string longer than the data', bytes(PROTO2, 'X', u32(50), 'abc')],
    ['a GLOBAL without its newline', bytes(PROTO2, 'cos\nsys')],
    ['an 8-byte length past the end', bytes(0x80, 4, 0x8e, u64(2 ** 40))],
  ])('reports %s as truncated', (_, pickle) => {
    expect(() => load(pickle)).toThrow(TruncatedPickleError);
  });

  it('names the handler when an allow-listed constructor rejects its arguments', () => {
    const resolveGlobal = (): PickleValue =>
      new PickleCallable('torch.Thing', () => {
        throw new Error('bad size');
      });
    expect(() => load(bytes(PROTO2, 'ctorch\nThing\n', ')', 'R', STOP), { resolveGlobal })).toThrow(
      'test.pkl: pickle byte 16: torch.Thing: bad size',
    );
  });

  it('starts at an offset and reports where the pickle ended', () => {
    const data = bytes(PROTO2, 'K', 1, STOP, PROTO2, 'K', 2, STOP);
    const first = unpickle(data, { where: 'x', resolveGlobal: () => undefined });
    expect(first).toEqual({ value: 1, end: 5 });
    expect(
      unpickle(data, { where: 'x', start: first.end, resolveGlobal: () => undefined }),
    ).toEqual({ value: 2, end: 10 });
  });
});
