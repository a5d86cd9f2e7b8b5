// A small in-memory Google Cloud Storage for tests (no GCS emulator installs here): the JSON
// API's listing, metadata, deletes, media downloads (generations, strict ranges, x-goog-hash)
// and multipart uploads, and the XML API's downloads (what V4 signed URLs address, their
// signatures verified) and multipart uploads, with fault injection for the transfer engine. See
// fake-gcs/server.ts for the handle.
export { startFakeGcs } from './fake-gcs/server.js';
export type { FakeGcs, FakeGcsOptions } from './fake-gcs/server.js';
export type { FakeGcsFault, FakeGcsRequest, FaultStatus } from './fake-gcs/faults.js';
export type { FakeGcsObject } from './fake-gcs/store.js';
