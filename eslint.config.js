import js from '@eslint/js';
import prettier from 'eslint-config-prettier';
import reactHooks from 'eslint-plugin-react-hooks';
import globals from 'globals';
import tseslint from 'typescript-eslint';

const internals = {
  group: ['@determined-ts/*/src/*', '../../*/src/*'],
  message: 'Import other packages by name, not their internals.',
};

/** The dependency direction of STYLE.md, one rule per package. */
const restrictImports = (...patterns) => ({
  'no-restricted-imports': ['error', { patterns: [internals, ...patterns] }],
});

export default tseslint.config(
  {
    ignores: [
      '**/dist/**',
      '**/node_modules/**',
      'coverage/**',
      'packages/*/bin/**',
      'packages/master/web/**',
    ],
  },
  { linterOptions: { reportUnusedDisableDirectives: 'error' } },
  js.configs.recommended,
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: {
      globals: { ...globals.node },
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      '@typescript-eslint/switch-exhaustiveness-check': 'error',
      '@typescript-eslint/consistent-type-imports': 'error',
      '@typescript-eslint/no-unused-vars': [
        'error',
        { argsIgnorePattern: '^_', varsIgnorePattern: '^_' },
      ],
      curly: ['error', 'all'],
      eqeqeq: ['error', 'smart'],
      'no-console': 'error',
    },
  },
  {
    files: ['packages/api/**/*.ts'],
    rules: restrictImports({ group: ['@determined-ts/*'], message: 'api depends on nothing.' }),
  },
  {
    // The loaders read files and need no master, client or storage: only the api's types.
    files: ['packages/loaders/**/*.ts'],
    rules: restrictImports({
      group: ['@determined-ts/*', '!@determined-ts/api'],
      message: 'loaders depend on api alone.',
    }),
  },
  {
    // master never imports the sdk, not even in tests.
    files: ['packages/master/**/*.ts'],
    rules: restrictImports({
      group: ['@determined-ts/sdk', '@determined-ts/sdk/*'],
      message: 'master never imports sdk.',
    }),
  },
  {
    // The sdk's sources never import the master; only its tests start one.
    files: ['packages/sdk/src/**/*.ts'],
    ignores: ['packages/sdk/src/**/*.test.ts'],
    rules: restrictImports({
      group: ['@determined-ts/master', '@determined-ts/master/*'],
      message: 'sdk never imports master.',
    }),
  },
  {
    // The cli builds on the sdk, and on the master only to embed it (`det master`, `det demo`).
    files: ['packages/cli/**/*.ts'],
    rules: restrictImports(),
  },
  {
    // The web UI runs in the browser and builds on the sdk's browser-safe entry and the api types.
    files: ['packages/web/src/**/*.{ts,tsx}'],
    ...reactHooks.configs.flat['recommended-latest'],
    rules: {
      ...reactHooks.configs.flat['recommended-latest'].rules,
      'no-restricted-imports': [
        'error',
        {
          paths: [
            {
              name: '@determined-ts/sdk',
              message: 'Use the browser-safe entry, @determined-ts/sdk/client.',
            },
          ],
          patterns: [
            internals,
            {
              group: ['@determined-ts/master', '@determined-ts/master/*', '@determined-ts/cli'],
              message: 'web talks to the master only through the sdk.',
            },
          ],
        },
      ],
    },
  },
  {
    files: ['**/*.js', '**/*.mjs'],
    ...tseslint.configs.disableTypeChecked,
  },
  {
    files: ['bench/**', 'scripts/**'],
    rules: { 'no-console': 'off' },
  },
  prettier,
);
