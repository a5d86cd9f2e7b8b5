import { defineConfig } from 'vitest/config';

// `npm run test:packages`: the install test of the packed packages, which needs the build of
// `npm run build` (the packages ship dist/), so it runs after it and not with `npm test`.
export default defineConfig({
  test: {
    include: ['test/packages/**/*.test.ts'],
    setupFiles: ['test/isolate-config.ts'],
    testTimeout: 120_000,
  },
});
