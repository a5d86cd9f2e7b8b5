/**
 * The in-repo fake GCS (`packages/storage/test/fake-gcs.ts`, in memory) in a process of its own
 * for `cloud-transfer.ts`, so its CPU is its own, as s3rver's is in the S3 benchmark:
 * `node --import tsx --conditions=source bench/cloud-gcs-server.ts <bucket> [<name> <file>]…`
 * stores each file as object `name` of `bucket`, then prints `READY <endpoint>` and serves until
 * it is killed.
 */
import { readFileSync } from 'node:fs';

import { startFakeGcs } from '../packages/storage/test/fake-gcs.js';

const [bucket = '', ...pairs] = process.argv.slice(2);
if (bucket === '' || pairs.length % 2 !== 0) {
  throw new Error('usage: cloud-gcs-server.ts <bucket> [<name> <file>]…');
}
// The fake keeps every request it served; a few hundred small records per run.
const gcs = await startFakeGcs({ buckets: [bucket] });
for (let i = 0; i < pairs.length; i += 2) {
  gcs.putObject(bucket, pairs[i] ?? '', readFileSync(pairs[i + 1] ?? ''));
}
process.stdout.write(`READY ${gcs.endpoint}\n`);
process.once('SIGTERM', () => {
  void gcs.close().then(() => process.exit(0));
});
