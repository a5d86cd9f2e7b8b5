// Every test process gets its own Determined config directory, so no test can read or write
// the token cache (auth.json) of the person or machine running the suite. Likewise no test may
// find AWS credentials it was not given: not the machine's ~/.aws, not its environment, not an
// instance role (the metadata service is never asked).
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

process.env.DET_DEBUG_CONFIG_PATH = mkdtempSync(join(tmpdir(), 'det-config-'));
delete process.env.DET_MASTER;
delete process.env.DET_MASTER_ADDR;
delete process.env.DET_USER;
delete process.env.DET_PASS;
delete process.env.DET_USER_TOKEN;

const nowhere = join(process.env.DET_DEBUG_CONFIG_PATH, 'no-such-aws-file');
process.env.AWS_SHARED_CREDENTIALS_FILE = nowhere;
process.env.AWS_CONFIG_FILE = nowhere;
process.env.AWS_EC2_METADATA_DISABLED = 'true';
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = 'true';
for (const name of [
  'AWS_ACCESS_KEY_ID',
  'AWS_SECRET_ACCESS_KEY',
  'AWS_SESSION_TOKEN',
  'AWS_PROFILE',
  'AWS_REGION',
  'AWS_DEFAULT_REGION',
  'AWS_CONTAINER_CREDENTIALS_FULL_URI',
  'AWS_CONTAINER_CREDENTIALS_RELATIVE_URI',
  'AWS_WEB_IDENTITY_TOKEN_FILE',
]) {
  delete process.env[name];
}
