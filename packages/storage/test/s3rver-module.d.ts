// s3rver 3.7.1 ships no types: just the part of its programmatic API the harness uses. (Not
// s3rver.d.ts: tsc would take that for the output of s3rver.ts and skip it.)
declare module 's3rver' {
  import type { Server } from 'node:http';
  import type { AddressInfo } from 'node:net';

  interface S3rverOptions {
    address?: string;
    port?: number;
    silent?: boolean;
    directory?: string;
    resetOnClose?: boolean;
    allowMismatchedSignatures?: boolean;
    vhostBuckets?: boolean;
    configureBuckets?: { name: string; configs?: (string | Buffer)[] }[];
  }

  class S3rver {
    constructor(options?: S3rverOptions);
    /** Creates the configured buckets, then listens. */
    run(): Promise<AddressInfo>;
    /** Closes the HTTP server (which waits for open connections). */
    close(): Promise<void>;
    /** Set once `run()` has resolved. */
    httpServer: Server | undefined;
  }

  export default S3rver;
}
