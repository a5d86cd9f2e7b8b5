import { defaultServerConditions } from 'vite';
import { defineConfig } from 'vitest/config';

// Workspace packages export a `source` condition pointing at their TypeScript, so tests run
// against the sources with no build step.
const conditions = ['source', ...defaultServerConditions];

export default defineConfig({
  resolve: { conditions },
  ssr: { resolve: { conditions } },
  test: {
    include: ['packages/*/src/**/*.test.ts', 'packages/*/test/**/*.test.ts'],
    setupFiles: ['test/isolate-config.ts'],
    testTimeout: 30_000,
    hookTimeout: 30_000,
  },
});
