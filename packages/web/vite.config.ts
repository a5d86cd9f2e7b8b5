import react from '@vitejs/plugin-react';
import { defaultClientConditions, defineConfig, loadEnv } from 'vite';

/** Where `npm run dev` sends API calls: `DET_MASTER`, as the CLI reads it, else the default master. */
function masterUrl(mode: string): string {
  const master = loadEnv(mode, process.cwd(), 'DET_').DET_MASTER ?? 'http://127.0.0.1:8080';
  return /^https?:\/\//.test(master) ? master : `http://${master}`;
}

export default defineConfig(({ mode }) => {
  const target = masterUrl(mode);
  // The master's own paths; everything else is the single-page app.
  const proxy = { '/api/': { target }, '/checkpoints/': { target }, '/info': { target } };
  return {
    base: '/',
    plugins: [react()],
    // `source` resolves @determined-ts/sdk/client and @determined-ts/api to their TypeScript.
    resolve: { conditions: ['source', ...defaultClientConditions] },
    build: { outDir: 'dist', emptyOutDir: true, sourcemap: true },
    server: { proxy },
    preview: { proxy },
  };
});
