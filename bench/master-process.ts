/**
 * A master on the database argv[3] names (default: an SQLite file in the data dir given as
 * argv[2]), listening on a free loopback port,
 * for `metric-reports.ts` to fork: as deployed, the master has a process (and a core) of its
 * own, and the load generator does not compete with it for one event loop.
 *
 * Tells the parent its URL over IPC, and closes (finishing every acknowledged write) when the
 * parent sends 'close' or goes away.
 */
import { join } from 'node:path';

import { loadConfig } from '../packages/master/src/config.js';
import { createConsoleLogger } from '../packages/master/src/logger.js';
import { startMaster } from '../packages/master/src/server.js';

/** What the master process sends: its URL once, then its CPU time whenever asked ('cpu'). */
export type MasterProcessMessage = { url: string } | { cpu: NodeJS.CpuUsage };

const dataDir = process.argv[2];
if (dataDir === undefined || process.send === undefined) {
  throw new Error('usage: forked by metric-reports.ts with the data dir as its argument');
}
const config = loadConfig(
  ['--port', '0', '--data-dir', dataDir, '--db', process.argv[3] ?? join(dataDir, 'master.db')],
  {},
);
if (config === 'help') {
  throw new Error('unreachable: no --help given');
}
const master = await startMaster(config, createConsoleLogger());
let closing = false;
const close = (): void => {
  if (closing) {
    return;
  }
  closing = true;
  void master.close().then(() => process.exit(0));
};
process.on('message', (message) => {
  if (message === 'close') {
    close();
  } else if (message === 'cpu') {
    const reply: MasterProcessMessage = { cpu: process.cpuUsage() };
    process.send?.(reply);
  }
});
process.on('disconnect', close);
const hello: MasterProcessMessage = { url: master.url };
process.send(hello);
