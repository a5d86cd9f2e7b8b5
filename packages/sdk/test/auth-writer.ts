// A second process writing Determined's token cache, for the concurrency test in
// src/auth/token-store.test.ts: `auth-writer.ts <configDir> <masterUrl> <userPrefix> <count>`
// stores one token per user, each a separate locked read-modify-write.
import { TokenStore } from '../src/auth/token-store.js';

const [configDir, masterUrl, prefix, count] = process.argv.slice(2);
if (configDir === undefined || masterUrl === undefined || prefix === undefined) {
  throw new Error('usage: auth-writer.ts <configDir> <masterUrl> <userPrefix> <count>');
}
for (let i = 0; i < Number(count); i += 1) {
  const store = await TokenStore.open(masterUrl, configDir);
  await store.setToken(`${prefix}${i}`, `token-${prefix}${i}`);
}
