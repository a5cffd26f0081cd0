// Jest global teardown: stops the Keycloak the run shared (its whole process group) and
// removes the run directory with its generated secrets.
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';

import { RUN_DIR_ENV } from './global-setup.mjs';

export default function globalTeardown() {
  const runDir = process.env[RUN_DIR_ENV];
  if (!runDir) return;
  const state = join(runDir, 'keycloak.json');
  if (existsSync(state)) {
    try {
      process.kill(-JSON.parse(readFileSync(state, 'utf8')).pid, 'SIGTERM');
    } catch {
      // already gone
    }
  }
  rmSync(runDir, { recursive: true, force: true });
}
