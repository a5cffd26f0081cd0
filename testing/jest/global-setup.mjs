// Jest global setup: a run directory for the servers test files share (the Keycloak of
// testing/real/keycloak.ts). Plain JavaScript: jest loads it without transforms.
// Workers inherit the environment variable.
import { mkdirSync, mkdtempSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** Same name as RUN_DIR_ENV in testing/real/keycloak.ts. */
export const RUN_DIR_ENV = 'KITT4SME_TEST_RUN_DIR';

export default function globalSetup() {
  const base = join(fileURLToPath(new URL('../..', import.meta.url)), '.cache', 'run');
  mkdirSync(base, { recursive: true });
  process.env[RUN_DIR_ENV] = mkdtempSync(join(base, 'jest-'));
}
