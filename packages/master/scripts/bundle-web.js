// `npm pack` of the master ships the built web UI inside it (web/), so that an installed master
// serves the UI with no other package: prepack copies @determined-ts/web's dist/ here, postpack
// removes the copy (in a clone the master serves the workspace's own build).
import { cpSync, existsSync, rmSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const packaged = fileURLToPath(new URL('../web', import.meta.url));
const built = fileURLToPath(new URL('../../web/dist', import.meta.url));

if (process.argv[2] === 'remove') {
  rmSync(packaged, { recursive: true, force: true });
} else {
  if (!existsSync(`${built}/index.html`)) {
    process.stderr.write(`bundle-web: ${built} holds no built UI; run npm run build first\n`);
    process.exit(1);
  }
  rmSync(packaged, { recursive: true, force: true });
  cpSync(built, packaged, { recursive: true });
}
