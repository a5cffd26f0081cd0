// Lint: typescript-eslint's recommended rules over all TypeScript; formatting is prettier's job.
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  {
    ignores: [
      'node_modules/',
      'deploy/',
      '.cache/',
      'coverage/',
      'dist/',
      'services/console/dist/',
      'services/console/web/generated/',
    ],
  },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: { globals: { process: 'readonly', console: 'readonly', URL: 'readonly' } },
    rules: {
      '@typescript-eslint/no-unused-vars': [
        'error',
        { argsIgnorePattern: '^_', varsIgnorePattern: '^_' },
      ],
      '@typescript-eslint/consistent-type-imports': 'error',
      eqeqeq: ['error', 'always'],
      'no-console': 'off',
    },
  },
  {
    // CommonJS files: configuration dependency-cruiser reads with require, and the jest
    // environment and sequencer of mutation runs (Stryker loads the environment with require).
    files: ['**/*.cjs'],
    languageOptions: {
      sourceType: 'commonjs',
      globals: { module: 'writable', require: 'readonly' },
    },
    rules: { '@typescript-eslint/no-require-imports': 'off' },
  },
  {
    // Tests and their harness walk synthesized manifests, which are JSON of many shapes.
    files: ['**/test/**/*.ts', 'testing/support/*.ts'],
    rules: { '@typescript-eslint/no-explicit-any': 'off' },
  },
);
