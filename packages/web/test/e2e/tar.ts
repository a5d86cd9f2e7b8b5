import { readFile } from 'node:fs/promises';

import { extract } from 'tar-stream';

/** The regular files of the tar at `path`: entry name → bytes. Other entry types are left out. */
export async function readTar(path: string): Promise<Map<string, Buffer>> {
  const files = new Map<string, Buffer>();
  const tar = extract();
  const done = (async () => {
    for await (const entry of tar) {
      const chunks: Uint8Array[] = [];
      for await (const chunk of entry) {
        chunks.push(chunk as Uint8Array);
      }
      if (entry.header.type === 'file') {
        files.set(entry.header.name, Buffer.concat(chunks));
      }
    }
  })();
  tar.end(await readFile(path));
  await done;
  return files;
}
