import react from '@vitejs/plugin-react';
import { defaultClientConditions, defaultServerConditions } from 'vite';
import { defineConfig } from 'vitest/config';

// Workspace packages export a `source` condition pointing at their TypeScript, so tests run
// against the sources with no build step. Otherwise Node's own conditions: Vite's `module` would
// pick bundler builds that Node cannot load (@aws-sdk's dist-es has extensionless imports).
const conditions = ['source', ...defaultServerConditions.filter((c) => c !== 'module')];

export default defineConfig({
  resolve: { conditions },
  ssr: { resolve: { conditions } },
  test: {
    setupFiles: ['test/isolate-config.ts'],
    testTimeout: 30_000,
    hookTimeout: 30_000,
    projects: [
      {
        extends: true,
        test: {
          name: 'node',
          include: [
            'packages/*/src/**/*.test.ts',
            'packages/*/test/**/*.test.ts',
            'examples/*/**/*.test.ts',
          ],
        },
      },
      {
        // The web UI's component tests run in a DOM, resolving packages as the browser build does.
        extends: true,
        plugins: [react()],
        resolve: { conditions: ['source', ...defaultClientConditions] },
        test: {
          name: 'web',
          include: ['packages/web/src/**/*.test.tsx'],
          environment: 'jsdom',
          setupFiles: ['packages/web/test/setup.ts'],
        },
      },
    ],
  },
});
