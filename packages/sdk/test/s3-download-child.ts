// A download run in a process of its own, for the test that kills it half-way: reads the
// checkpoint (as JSON) and the target from argv, downloads directly, and prints each progress
// event's bytes on a line of stdout.
import { downloadCheckpoint } from '../src/download/download.js';
import type { DownloadableCheckpoint } from '../src/download/download.js';

const [checkpointJson = '{}', target = ''] = process.argv.slice(2);
const checkpoint = JSON.parse(checkpointJson) as DownloadableCheckpoint;
await downloadCheckpoint(checkpoint, target, {
  mode: 'direct',
  concurrency: 1,
  progressIntervalMs: 0,
  onProgress: (event) => {
    if (event.type === 'progress') {
      process.stdout.write(`${event.bytes}\n`);
    }
  },
});
process.stdout.write('done\n');
