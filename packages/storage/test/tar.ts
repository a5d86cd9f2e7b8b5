// Hand-made tar archives, as a foreign or malicious master might send them.
import { pack } from 'tar-stream';

/** One entry of a hand-made tar. */
export interface TarEntry {
  name: string;
  type?: 'file' | 'directory' | 'symlink' | 'link' | 'fifo';
  content?: string | Uint8Array;
  linkname?: string;
  /** Header size, when it should lie about the content. */
  size?: number;
}

/** Builds a tar archive with tar-stream, as a foreign or malicious master might send it. */
export async function buildTar(entries: TarEntry[]): Promise<Buffer> {
  const tar = pack();
  const chunks: Buffer[] = [];
  const done = (async () => {
    for await (const chunk of tar) {
      chunks.push(chunk as Buffer);
    }
  })();
  for (const e of entries) {
    const content = typeof e.content === 'string' ? Buffer.from(e.content) : e.content;
    await new Promise<void>((resolve, reject) => {
      const cb = (err?: Error | null): void => (err ? reject(err) : resolve());
      const header = {
        name: e.name,
        type: e.type ?? 'file',
        linkname: e.linkname,
        mode: 0o644,
        size: e.size ?? content?.byteLength ?? 0,
      };
      if (content === undefined || header.type !== 'file') {
        tar.entry(header, cb);
      } else {
        tar.entry(header, content, cb);
      }
    });
  }
  tar.finalize();
  await done;
  return Buffer.concat(chunks);
}
