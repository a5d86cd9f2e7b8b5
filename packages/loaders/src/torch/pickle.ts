import { LoaderError } from '../errors.js';
import { PickleCallable, PickleGlobal, PickleObject } from './pickle-values.js';
import type { PickleValue } from './pickle-values.js';

/** The pickle ended before its STOP opcode (callers that read a file prefix retry with more). */
export class TruncatedPickleError extends LoaderError {
  constructor(message: string) {
    super(message);
    this.name = 'TruncatedPickleError';
  }
}

export interface UnpickleOptions {
  /** Names the data in errors, e.g. `model.pth:archive/data.pkl`. */
  where: string;
  /** Byte offset of the pickle in `bytes`. @default 0 */
  start?: number;
  /**
   * The allow-list: a value or callable for `module.Name`, or `undefined` to leave the global
   * inert ({@link PickleGlobal}; calling it makes a {@link PickleObject}).
   */
  resolveGlobal: (qualifiedName: string) => PickleValue;
  /** BINPERSID: what a persistent id stands for (torch: its storages). */
  persistentLoad?: (pid: PickleValue) => PickleValue;
}

export interface UnpickleResult {
  value: PickleValue;
  /** Byte offset just past the STOP opcode. */
  end: number;
}

/** Python 2 module names in protocol-2 pickles, as Python 3's unpickler maps them. */
const PY2_MODULES: Readonly<Record<string, string>> = {
  __builtin__: 'builtins',
  copy_reg: 'copyreg',
};

/**
 * Reads one pickle (protocols 2 to 5, as torch writes them) without running anything from it:
 * globals go through `resolveGlobal`, so only allow-listed constructors of ours are ever called.
 * Malformed input (unknown opcode, stack underflow, bad memo index) is a {@link LoaderError}
 * naming the byte offset; a pickle cut short is a {@link TruncatedPickleError}.
 */
export function unpickle(bytes: Uint8Array, options: UnpickleOptions): UnpickleResult {
  // One function over local state, not a class: this loop runs once per opcode, millions of
  // times for a big pickle, and cold for a small one (index-only loads).
  const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const size = buf.byteLength;
  const { where, resolveGlobal, persistentLoad } = options;
  const stack: PickleValue[] = [];
  /** Stack lengths at each MARK; `floor` is the innermost one (nothing below it may be popped). */
  const marks: number[] = [];
  let floor = 0;
  /** Indexed as written: picklers number memo entries 0, 1, 2, … so the array stays dense. */
  const memo: PickleValue[] = [];
  let pos = options.start ?? 0;
  let opStart = pos;

  const fail = (message: string, cause?: unknown): LoaderError =>
    new LoaderError(`${where}: pickle byte ${opStart}: ${message}`, { cause });
  const truncated = (): TruncatedPickleError =>
    new TruncatedPickleError(
      `${where}: the pickle is truncated (opcode at byte ${opStart} runs past byte ${size})`,
    );
  /** Advances past `length` bytes and returns where they start. */
  const take = (length: number): number => {
    const at = pos;
    if (at + length > size) {
      throw truncated();
    }
    pos = at + length;
    return at;
  };
  const u8 = (): number => buf[take(1)] as number;
  const checkLength = (length: number | bigint): number => {
    if (length < 0) {
      throw fail(`negative length ${length}`);
    }
    if (length > size - pos) {
      throw truncated();
    }
    return Number(length);
  };
  const u32Length = (): number => checkLength(view.getUint32(take(4), true));
  const u64Length = (): number => checkLength(view.getBigUint64(take(8), true));
  const string = (length: number): string => {
    const at = take(length);
    return buf.toString('utf8', at, at + length);
  };
  // A copy, as a plain Uint8Array: values do not keep the pickle's buffer alive.
  const bytesOf = (length: number): Uint8Array => {
    const at = take(length);
    return new Uint8Array(buf.subarray(at, at + length));
  };
  /** A text line up to `\n` (GLOBAL's module and name). */
  const line = (): string => {
    const end = buf.indexOf(0x0a, pos);
    if (end < 0) {
      throw truncated();
    }
    const text = buf.toString('utf8', pos, end);
    pos = end + 1;
    return text;
  };
  const pop = (): PickleValue => {
    if (stack.length <= floor) {
      throw fail('stack underflow');
    }
    return stack.pop();
  };
  const top = (): PickleValue => {
    if (stack.length <= floor) {
      throw fail('stack underflow');
    }
    return stack[stack.length - 1];
  };
  const popMark = (): PickleValue[] => {
    const mark = marks.pop();
    if (mark === undefined) {
      throw fail('no MARK on the stack');
    }
    floor = marks.length > 0 ? (marks[marks.length - 1] as number) : 0;
    return stack.splice(mark);
  };
  const memoGet = (index: number): PickleValue => {
    const value = memo[index];
    // No unpickled value is `undefined` (None is null), so this means never stored.
    if (value === undefined) {
      throw fail(`memo entry ${index} was never stored`);
    }
    return value;
  };
  const global = (module: string, name: string): PickleValue => {
    const qualified = `${PY2_MODULES[module] ?? module}.${name}`;
    return resolveGlobal(qualified) ?? new PickleGlobal(qualified);
  };
  /** A handler of ours failed on what the pickle gave it: name the offset and the handler. */
  const hookError = (name: string, err: unknown): LoaderError =>
    fail(`${name}: ${err instanceof Error ? err.message : String(err)}`, err);
  const call = (callee: PickleValue, args: PickleValue): PickleValue => {
    if (!Array.isArray(args)) {
      throw fail(`call arguments are ${describe(args)}, not a tuple`);
    }
    if (callee instanceof PickleCallable) {
      try {
        return callee.call(args as PickleValue[]);
      } catch (err: unknown) {
        throw hookError(callee.$global, err);
      }
    }
    if (callee instanceof PickleGlobal) {
      return new PickleObject(callee.$global, args as PickleValue[]);
    }
    throw fail(`cannot call ${describe(callee)}`);
  };
  const append = (target: PickleValue, items: PickleValue[]): void => {
    if (Array.isArray(target)) {
      for (const item of items) {
        target.push(item);
      }
    } else if (target instanceof PickleObject) {
      (target.listItems ??= []).push(...items);
    } else {
      throw fail(`APPEND to ${describe(target)}, not a list`);
    }
  };
  const setItems = (target: PickleValue, items: PickleValue[]): void => {
    if (items.length % 2 !== 0) {
      throw fail('SETITEMS with an odd number of items');
    }
    const map =
      target instanceof Map
        ? target
        : target instanceof PickleObject
          ? (target.dictItems ??= new Map())
          : undefined;
    if (map === undefined) {
      throw fail(`SETITEM on ${describe(target)}, not a dict`);
    }
    for (let i = 0; i < items.length; i += 2) {
      map.set(items[i], items[i + 1]);
    }
  };

  for (;;) {
    opStart = pos;
    const op = u8();
    switch (op) {
      case 0x2e /* . STOP */:
        return { value: pop(), end: pos };
      case 0x80 /* PROTO */: {
        const protocol = u8();
        if (protocol > 5) {
          throw fail(`pickle protocol ${protocol} is not supported (at most 5)`);
        }
        break;
      }
      case 0x95 /* FRAME: the frame's bytes follow in place */:
        take(8);
        break;
      case 0x28 /* ( MARK */:
        marks.push(stack.length);
        floor = stack.length;
        break;
      case 0x30 /* 0 POP */:
        if (stack.length > floor) {
          stack.pop();
        } else {
          popMark();
        }
        break;
      case 0x31 /* 1 POP_MARK */:
        popMark();
        break;
      case 0x32 /* 2 DUP */:
        stack.push(top());
        break;
      case 0x4e /* N NONE */:
        stack.push(null);
        break;
      case 0x88 /* NEWTRUE */:
        stack.push(true);
        break;
      case 0x89 /* NEWFALSE */:
        stack.push(false);
        break;
      case 0x4a /* J BININT */:
        stack.push(view.getInt32(take(4), true));
        break;
      case 0x4b /* K BININT1 */:
        stack.push(u8());
        break;
      case 0x4d /* M BININT2 */:
        stack.push(view.getUint16(take(2), true));
        break;
      case 0x8a /* LONG1 */: {
        const length = u8();
        stack.push(decodeLong(buf, take(length), length));
        break;
      }
      case 0x8b /* LONG4 */: {
        const length = checkLength(view.getInt32(take(4), true));
        stack.push(decodeLong(buf, take(length), length));
        break;
      }
      case 0x47 /* G BINFLOAT (big-endian) */:
        stack.push(view.getFloat64(take(8), false));
        break;
      case 0x58 /* X BINUNICODE */:
      case 0x54 /* T BINSTRING (Python 2 str, decoded as UTF-8 as torch.load does) */:
        stack.push(string(u32Length()));
        break;
      case 0x8c /* SHORT_BINUNICODE */:
      case 0x55 /* U SHORT_BINSTRING */:
        stack.push(string(u8()));
        break;
      case 0x8d /* BINUNICODE8 */:
        stack.push(string(u64Length()));
        break;
      case 0x42 /* B BINBYTES */:
        stack.push(bytesOf(u32Length()));
        break;
      case 0x43 /* C SHORT_BINBYTES */:
        stack.push(bytesOf(u8()));
        break;
      case 0x8e /* BINBYTES8 */:
      case 0x96 /* BYTEARRAY8 */:
        stack.push(bytesOf(u64Length()));
        break;
      case 0x29 /* ) EMPTY_TUPLE */:
      case 0x5d /* ] EMPTY_LIST */:
        stack.push([]);
        break;
      case 0x74 /* t TUPLE */:
      case 0x6c /* l LIST */:
        stack.push(popMark());
        break;
      case 0x85 /* TUPLE1 */:
        stack.push([pop()]);
        break;
      case 0x86 /* TUPLE2 */: {
        const b = pop();
        stack.push([pop(), b]);
        break;
      }
      case 0x87 /* TUPLE3 */: {
        const c = pop();
        const b = pop();
        stack.push([pop(), b, c]);
        break;
      }
      case 0x61 /* a APPEND */: {
        const item = pop();
        append(top(), [item]);
        break;
      }
      case 0x65 /* e APPENDS */: {
        const items = popMark();
        append(top(), items);
        break;
      }
      case 0x7d /* } EMPTY_DICT */:
        stack.push(new Map());
        break;
      case 0x64 /* d DICT */: {
        const dict = new Map<PickleValue, PickleValue>();
        setItems(dict, popMark());
        stack.push(dict);
        break;
      }
      case 0x73 /* s SETITEM */: {
        const value = pop();
        const key = pop();
        setItems(top(), [key, value]);
        break;
      }
      case 0x75 /* u SETITEMS */: {
        const items = popMark();
        setItems(top(), items);
        break;
      }
      case 0x8f /* EMPTY_SET */:
        stack.push(new Set());
        break;
      case 0x90 /* ADDITEMS */: {
        const items = popMark();
        const set = top();
        if (!(set instanceof Set)) {
          throw fail(`ADDITEMS on ${describe(set)}, not a set`);
        }
        for (const item of items) {
          set.add(item);
        }
        break;
      }
      case 0x91 /* FROZENSET */:
        stack.push(new Set(popMark()));
        break;
      case 0x63 /* c GLOBAL */: {
        const module = line();
        stack.push(global(module, line()));
        break;
      }
      case 0x93 /* STACK_GLOBAL */: {
        const name = pop();
        const module = pop();
        if (typeof module !== 'string' || typeof name !== 'string') {
          throw fail(
            `STACK_GLOBAL needs two strings, got ${describe(module)} and ${describe(name)}`,
          );
        }
        stack.push(global(module, name));
        break;
      }
      case 0x52 /* R REDUCE */:
      case 0x81 /* NEWOBJ: cls.__new__(cls, *args), here the same as a call */: {
        const args = pop();
        stack.push(call(pop(), args));
        break;
      }
      case 0x92 /* NEWOBJ_EX: keyword arguments, if any, come last as a Map */: {
        const kwargs = pop();
        const args = pop();
        const hasKwargs = kwargs instanceof Map && kwargs.size > 0;
        stack.push(
          call(
            pop(),
            hasKwargs && Array.isArray(args) ? [...(args as PickleValue[]), kwargs] : args,
          ),
        );
        break;
      }
      case 0x62 /* b BUILD */: {
        const state = pop();
        const target = top();
        // Only inert objects keep their state; known values (a Map with OrderedDict's
        // `_metadata`, a tensor) are complete without it.
        if (target instanceof PickleObject) {
          target.state =
            target.state instanceof Map && state instanceof Map
              ? new Map([...target.state, ...state])
              : state;
        }
        break;
      }
      case 0x71 /* q BINPUT */:
        memo[u8()] = top();
        break;
      case 0x72 /* r LONG_BINPUT */:
        memo[view.getUint32(take(4), true)] = top();
        break;
      case 0x94 /* MEMOIZE */:
        memo.push(top());
        break;
      case 0x68 /* h BINGET */:
        stack.push(memoGet(u8()));
        break;
      case 0x6a /* j LONG_BINGET */:
        stack.push(memoGet(view.getUint32(take(4), true)));
        break;
      case 0x51 /* Q BINPERSID */: {
        const pid = pop();
        if (persistentLoad === undefined) {
          throw fail('a persistent id where none is expected');
        }
        try {
          stack.push(persistentLoad(pid));
        } catch (err: unknown) {
          throw hookError('persistent id', err);
        }
        break;
      }
      case 0x98 /* READONLY_BUFFER */:
        break;
      default:
        throw fail(`unsupported pickle opcode 0x${op.toString(16).padStart(2, '0')}`);
    }
  }
}

/** Python's arbitrary-size little-endian two's-complement int; a bigint past ±2^53. */
function decodeLong(buf: Buffer, at: number, length: number): number | bigint {
  const last = length > 0 ? (buf[at + length - 1] as number) : 0;
  if (length <= 6) {
    let value = 0;
    for (let i = length - 1; i >= 0; i -= 1) {
      value = value * 256 + (buf[at + i] as number);
    }
    return last >= 0x80 ? value - 2 ** (8 * length) : value;
  }
  let value = BigInt(
    `0x${Buffer.from(buf.subarray(at, at + length))
      .reverse()
      .toString('hex')}`,
  );
  if (last >= 0x80) {
    value -= 1n << BigInt(8 * length);
  }
  return value >= BigInt(Number.MIN_SAFE_INTEGER) && value <= BigInt(Number.MAX_SAFE_INTEGER)
    ? Number(value)
    : value;
}

function describe(value: PickleValue): string {
  if (value === null) {
    return 'None';
  }
  if (value instanceof PickleObject) {
    return `a ${value.$class} object`;
  }
  if (value instanceof PickleGlobal || value instanceof PickleCallable) {
    return value.$global;
  }
  if (Array.isArray(value)) {
    return 'a tuple or list';
  }
  return value instanceof Map ? 'a dict' : `a ${typeof value}`;
}
