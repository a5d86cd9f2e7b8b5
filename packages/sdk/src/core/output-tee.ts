/** A stream whose writes can be teed: `process.stdout`, `process.stderr` or any `Writable`. */
export type TeeableStream = Pick<NodeJS.WritableStream, 'write'>;

/** Receives what is written to a teed stream: the chunk and, for a string, its encoding. */
export type TeeSink = (chunk: unknown, encoding: BufferEncoding | undefined) => void;

type WriteFn = (chunk: unknown, ...rest: unknown[]) => boolean;

interface Tee {
  original: WriteFn;
  /** Whether `write` was the stream's own property (else it came from the prototype). */
  wasOwn: boolean;
  wrapper: WriteFn;
  sinks: Set<TeeSink>;
}

// One wrapper per stream, shared by every context teeing it, so contexts can stop in any order
// without unwrapping each other (Determined's core_v2 swaps sys.stdout per context instead).
const tees = new WeakMap<TeeableStream, Tee>();

/**
 * Calls `sink` with every chunk written to `stream` from now on, before the stream gets it:
 * the output still reaches the terminal. A sink that throws is ignored, so a write never fails
 * because of it. Returns the function that stops the tee.
 */
export function teeWrites(stream: TeeableStream, sink: TeeSink): () => void {
  const writable = stream as unknown as { write: WriteFn };
  let tee = tees.get(stream);
  if (tee === undefined) {
    const original = writable.write;
    const sinks = new Set<TeeSink>();
    const wrapper: WriteFn = function (this: unknown, chunk, ...rest) {
      const encoding = typeof rest[0] === 'string' ? (rest[0] as BufferEncoding) : undefined;
      for (const s of sinks) {
        try {
          s(chunk, encoding);
        } catch {
          // Shipping logs must never break the program's own output.
        }
      }
      return original.call(this, chunk, ...rest);
    };
    tee = { original, wasOwn: Object.hasOwn(stream, 'write'), wrapper, sinks };
    tees.set(stream, tee);
    writable.write = wrapper;
  }
  const current = tee;
  current.sinks.add(sink);
  return () => {
    current.sinks.delete(sink);
    // Unwrap only when nobody else wrapped the stream after us; otherwise stay, inert.
    if (current.sinks.size === 0 && writable.write === current.wrapper) {
      if (current.wasOwn) {
        writable.write = current.original;
      } else {
        delete (writable as Partial<typeof writable>).write;
      }
      tees.delete(stream);
    }
  };
}
