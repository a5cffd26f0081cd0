// Jest in native ESM mode (run through scripts/test.mjs with --experimental-vm-modules).
// ts-jest only transpiles (tsconfig has isolatedModules); `npm run typecheck` is the type gate.
import { existsSync } from 'node:fs';

/** @type {import('jest').Config} */
const config = {
  testEnvironment: 'node',
  extensionsToTreatAsEsm: ['.ts'],
  roots: [
    'platform',
    'cdk8s',
    'services',
    'scenarios',
    'generate',
    'policies',
    'testing',
    'toolchain',
    'scripts',
    'minikube',
  ].filter((d) => existsSync(d)),
  testMatch: ['**/test/**/*.test.ts'],
  moduleNameMapper: { '^(\\.{1,2}/.*)\\.js$': '$1' },
  transform: { '^.+\\.ts$': ['ts-jest', { useESM: true }] },
  testTimeout: 60_000,
  // One Keycloak per run, shared by the test files that need it (testing/real/keycloak.ts).
  globalSetup: '<rootDir>/testing/jest/global-setup.mjs',
  // Files run on several workers (scripts/test.mjs): the slowest first, the two that start
  // the machine's one kube node far apart.
  testSequencer: '<rootDir>/testing/jest/sequencer.cjs',
  globalTeardown: '<rootDir>/testing/jest/global-teardown.mjs',
};

export default config;
