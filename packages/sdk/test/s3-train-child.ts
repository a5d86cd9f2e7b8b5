// A training process for the S3 end-to-end test: it has AWS credentials in its environment (the
// test process has none), trains an unmanaged trial with the Core API into S3 storage given
// without keys (argv: the master, the storage as JSON), and prints the trial id and the
// checkpoints' uuids as JSON.
import { mkdir, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';

import { init } from '../src/core/init.js';
import { s3TestFiles } from './s3-files.js';

const [master = '', storage = '{}'] = process.argv.slice(2);
const core = await init({
  master,
  shipOutput: false,
  closeOnExit: false,
  config: {
    name: 's3-e2e',
    searcher: { name: 'single', metric: 'loss', smaller_is_better: true },
    checkpoint_storage: JSON.parse(storage) as { type: string },
  },
});
const uuids: string[] = [];
await core.run(async () => {
  for (const [steps, loss] of [
    [1, 0.9],
    [2, 0.1],
    [3, 0.5],
  ] as const) {
    await core.train.reportValidationMetrics(steps, { loss });
    const uuid = await core.checkpoint.storePath({ steps_completed: steps }, async (path) => {
      for (const [rel, bytes] of Object.entries(s3TestFiles(steps))) {
        await mkdir(dirname(join(path, rel)), { recursive: true });
        await writeFile(join(path, rel), bytes);
      }
      await mkdir(join(path, 'empty'));
    });
    uuids.push(uuid);
  }
});
process.stdout.write(`${JSON.stringify({ trialId: core.info.trialId, uuids })}\n`);
