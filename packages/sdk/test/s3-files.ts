// The files of the S3 end-to-end test's checkpoints, the same in the training process and in
// the test that checks the downloads: deterministic bytes, one file past the multipart
// threshold (32 MiB), nested and empty ones.
const MiB = 1024 * 1024;

/** Bytes that depend on `seed` and on their offset, cheap to make and to compare. */
function pattern(size: number, seed: number): Buffer {
  const out = Buffer.allocUnsafe(size);
  let x = (seed * 2654435761) >>> 0;
  for (let i = 0; i < size; i += 4) {
    x = (x ^ (x << 13)) >>> 0;
    x = (x ^ (x >>> 17)) >>> 0;
    x = (x ^ (x << 5)) >>> 0;
    out.writeUInt32LE(x, i);
  }
  return out;
}

/** The files of the checkpoint taken at `steps`, by checkpoint-relative path. */
export function s3TestFiles(steps: number): Record<string, Buffer> {
  return {
    'model.bin': pattern(36 * MiB, steps),
    'optimizer.bin': pattern(3 * MiB + 12, steps + 100),
    'sub/deep/config.json': Buffer.from(JSON.stringify({ steps })),
    'sub/empty.txt': Buffer.alloc(0),
  };
}
