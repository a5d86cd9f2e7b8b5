/**
 * Login timing (issue 13: "password and token checks are constant-time"): how long the master
 * takes to refuse a login, by why it refuses, as a ratio to a wrong password for a user who has
 * one (the anchor, measured in the same rounds). A ratio far from 1 would tell a guesser whether
 * a user name exists, or whether an account has no password. Each round uses a fresh app, so the
 * login throttle never answers first.
 *
 *   node --import tsx --conditions=source bench/login-timing.ts   # DET_BENCH_ROUNDS (default 60)
 */
import { clientHashPassword } from '../packages/api/src/index.js';
import { createApp } from '../packages/master/src/app.js';
import { migrate, openDb } from '../packages/master/src/db/connect.js';
import { benchDeps } from './checkpoint-query.js';
import { fmt, median, table } from './lib.js';

const rounds = Math.max(5, Number.parseInt(process.env.DET_BENCH_ROUNDS ?? '60', 10) || 60);

const db = openDb(':memory:');
await migrate(db);
const deps = benchDeps(db, '/nonexistent');
const admin = await (
  await createApp(deps).request('/api/v1/auth/login', {
    method: 'POST',
    body: JSON.stringify({ username: 'admin', password: '' }),
  })
).json();
await createApp(deps).request('/api/v1/users', {
  method: 'POST',
  headers: { authorization: `Bearer ${(admin as { token: string }).token}` },
  body: JSON.stringify({ user: { username: 'alice' }, password: 'correct horse' }),
});

const KINDS = {
  'wrong password (anchor)': { username: 'alice', password: 'wrong' },
  'unknown user': { username: 'nobody', password: 'wrong' },
  'wrong password, user without one': { username: 'determined', password: 'wrong' },
  'right password': { username: 'alice', password: 'correct horse' },
} as const;
type Kind = keyof typeof KINDS;

const times = new Map<Kind, number[]>(Object.keys(KINDS).map((k) => [k as Kind, []]));
for (let round = 0; round < rounds; round += 1) {
  const app = createApp(deps);
  // Interleaved, in a rotating order, so drift and warm-up fall on every kind alike.
  const kinds = Object.keys(KINDS) as Kind[];
  const order = kinds.map((_, i) => kinds[(i + round) % kinds.length] as Kind);
  for (const kind of order) {
    const { username, password } = KINDS[kind];
    const body = JSON.stringify({
      username,
      password: await clientHashPassword(password),
      isHashed: true,
    });
    const started = performance.now();
    const res = await app.request('/api/v1/auth/login', { method: 'POST', body });
    await res.arrayBuffer();
    times.get(kind)?.push(performance.now() - started);
    if ((res.status === 200) !== (kind === 'right password')) {
      throw new Error(`${kind}: unexpected status ${res.status}`);
    }
  }
}
await db.close();

const anchor = median(times.get('wrong password (anchor)') ?? []);
console.log(
  table(
    ['login', 'median ms', 'ratio to anchor'],
    [...times].map(([kind, ms]) => [kind, fmt(median(ms)), fmt(median(ms) / anchor)]),
  ),
);
console.log(`${rounds} rounds; a ratio near 1.00 means timing tells nothing.`);
