#!/usr/bin/env node
// An installed package runs its build. A clone before `npm run build` runs the sources, in this
// process: tsx compiles them, and a resolve hook adds the `source` export condition the
// workspace packages resolve with. So `npx det …` works right after `npm ci`.
import { existsSync } from 'node:fs';
import { register } from 'node:module';

const built = new URL('../dist/bin.js', import.meta.url);
if (existsSync(built)) {
  await import(built.href);
} else {
  const tsx = await import('tsx/esm/api');
  tsx.register();
  const hook = `export const resolve = (s, c, next) => next(s, { ...c, conditions: [...c.conditions, 'source'] });`;
  register(`data:text/javascript,${encodeURIComponent(hook)}`);
  await import(new URL('../src/bin.ts', import.meta.url).href);
}
