// Lint rules: typescript-eslint's type-checked recommended set (it reads the
// types, so a promise nobody awaits or a switch that forgets a case is an
// error, not a review comment), plus the project's hard rules (no `any`, no
// ts-ignore, no swallowed errors, no non-null assertions).
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  {
    ignores: [
      'dist/**',
      'node_modules/**',
      'src/gen/**',
      'web/dist/**',
      'test-artifacts/**',
      'data/**',
      'tmp-*/**',
      'api-docs/**',
    ],
  },
  js.configs.recommended,
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: {
      parserOptions: {
        projectService: true,
        tsconfigRootDir: import.meta.dirname,
      },
      globals: {
        console: 'readonly',
        process: 'readonly',
        setTimeout: 'readonly',
        clearTimeout: 'readonly',
        setInterval: 'readonly',
        clearInterval: 'readonly',
        setImmediate: 'readonly',
        queueMicrotask: 'readonly',
        URL: 'readonly',
        TextEncoder: 'readonly',
        TextDecoder: 'readonly',
        crypto: 'readonly',
        performance: 'readonly',
        structuredClone: 'readonly',
        AbortController: 'readonly',
        AbortSignal: 'readonly',
        Buffer: 'readonly',
        globalThis: 'readonly',
        WebSocket: 'readonly',
        window: 'readonly',
        document: 'readonly',
        indexedDB: 'readonly',
      },
    },
    rules: {
      '@typescript-eslint/no-explicit-any': 'error',
      '@typescript-eslint/ban-ts-comment': [
        'error',
        { 'ts-ignore': true, 'ts-nocheck': true, 'ts-expect-error': 'allow-with-description' },
      ],
      '@typescript-eslint/no-non-null-assertion': 'error',
      '@typescript-eslint/no-unused-vars': [
        'error',
        { argsIgnorePattern: '^_', varsIgnorePattern: '^_' },
      ],
      'no-empty': ['error', { allowEmptyCatch: false }],
      '@typescript-eslint/consistent-type-imports': 'error',
      // node:test's describe/it return promises the runner itself tracks.
      '@typescript-eslint/no-floating-promises': [
        'error',
        {
          allowForKnownSafeCalls: [
            { from: 'package', package: 'node:test', name: ['describe', 'it', 'test', 'suite'] },
          ],
        },
      ],
      '@typescript-eslint/no-misused-promises': 'error',
      // Store and transport interfaces return promises; many implementations
      // (memory stores, fakes) have nothing to await, and `async` keeps their
      // throws as rejections, which is what callers handle.
      '@typescript-eslint/require-await': 'off',
      '@typescript-eslint/switch-exhaustiveness-check': [
        'error',
        { considerDefaultExhaustiveForUnions: true },
      ],
    },
  },
  // The example page is plain JavaScript run by the browser.
  {
    files: ['examples/web-page/**/*.js'],
    languageOptions: { globals: { location: 'readonly', FormData: 'readonly' } },
  },
  // One way to open a session: the CLI and the browser app reach the client
  // core only through the SDK entry points (src/sdk), so a second, hand-made
  // way of wiring stores, transports and clients cannot creep back in.
  {
    files: ['src/cli/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              regex: '^(\\.\\./)+(client|protocol|wire|crypto|gen)/',
              message: 'The CLI uses the SDK: import from src/sdk/index.js (or src/sdk/values.js).',
            },
            {
              regex: '^(\\.\\./)+sdk/(?!(index|values)\\.js$)',
              message:
                'Import the SDK through its entry points: src/sdk/index.js, or src/sdk/values.js (argument checks without loading the client).',
            },
          ],
        },
      ],
    },
  },
  {
    files: ['web/src/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              regex: '^(\\.\\./)+src/(?!sdk/browser\\.js$)',
              message:
                'The browser app uses the SDK browser build: import from src/sdk/browser.js.',
            },
          ],
        },
      ],
    },
  },
  {
    // Plain JavaScript (scripts, config): no type information to check with.
    files: ['**/*.js', '**/*.mjs', '**/*.cjs'],
    ...tseslint.configs.disableTypeChecked,
  },
);
