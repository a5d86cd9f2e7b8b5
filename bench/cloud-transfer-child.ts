/**
 * Our client for `cloud-transfer.ts`, one download per process so that its peak RSS and CPU are
 * the download's own: `node --import tsx --conditions=source bench/cloud-transfer-child.ts
 * <spec.json>` runs `downloadCheckpoint(checkpoint, target, { mode: 'direct', env })` with
 * default settings (the store opened by the SDK's `openCheckpointStore`).
 *
 * The SDK and the store's module (with @google-cloud/storage or @azure/storage-blob) are loaded
 * before the clock starts, as `s3-transfer-child.ts` loads the AWS SDK: loading them is a fixed
 * cost of the process, not of the transfer. Prints `RESULT {seconds, cpuSeconds, userSeconds,
 * systemSeconds, rssBeforeMiB, maxRssMiB}`.
 */
import { readFileSync } from 'node:fs';

import { downloadCheckpoint } from '../packages/sdk/src/download/download.js';
import type { DownloadableCheckpoint } from '../packages/sdk/src/download/download.js';

export interface CloudDownloadSpec {
  checkpoint: DownloadableCheckpoint;
  target: string;
  env: Record<string, string>;
}

const MIB = 1024 * 1024;
const [specFile = ''] = process.argv.slice(2);
const { checkpoint, target, env } = JSON.parse(readFileSync(specFile, 'utf8')) as CloudDownloadSpec;
const type = checkpoint.storageConfig.type;
if (type === 'gcs') {
  await import('../packages/storage/src/gcs/open-gcs.js');
} else if (type === 'azure') {
  await import('../packages/storage/src/azure/open-azure.js');
} else {
  throw new Error(`not a cloud store: ${String(type)}`);
}

const rssBeforeMiB = process.memoryUsage().rss / MIB;
const cpu0 = process.cpuUsage();
const t0 = performance.now();
await downloadCheckpoint(checkpoint, target, { mode: 'direct', env });
const seconds = (performance.now() - t0) / 1000;
const cpu = process.cpuUsage(cpu0);
const result = {
  seconds,
  cpuSeconds: (cpu.user + cpu.system) / 1e6,
  userSeconds: cpu.user / 1e6,
  systemSeconds: cpu.system / 1e6,
  rssBeforeMiB,
  maxRssMiB: process.resourceUsage().maxRSS / 1024,
};
process.stdout.write(`RESULT ${JSON.stringify(result)}\n`);
// Keep-alive sockets of the store's clients would hold the process open for a while.
process.exit(0);
