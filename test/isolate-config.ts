// Every test process gets its own Determined config directory, so no test can read or write
// the token cache (auth.json) of the person or machine running the suite.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

process.env.DET_DEBUG_CONFIG_PATH = mkdtempSync(join(tmpdir(), 'det-config-'));
delete process.env.DET_MASTER;
delete process.env.DET_MASTER_ADDR;
delete process.env.DET_USER;
delete process.env.DET_PASS;
delete process.env.DET_USER_TOKEN;
