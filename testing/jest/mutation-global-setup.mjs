// Jest global setup of a mutation run (npm run mutation): Stryker runs the tests in a copy of
// the project (its sandbox) without the git-ignored .cache, so the pinned real tools (the OPA
// the tenancy tests start) are linked in from the project that started the run, then the usual
// setup follows. Plain JavaScript: jest loads it without transforms.
import { existsSync, mkdirSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

import globalSetup from './global-setup.mjs';

/** Set by scripts/mutation.ts: the .cache/tools of the project the run was started in. */
export const TOOLS_ENV = 'KITT4SME_MUTATION_TOOLS';

export default function mutationGlobalSetup() {
  const tools = process.env[TOOLS_ENV];
  const cache = join(fileURLToPath(new URL('../..', import.meta.url)), '.cache');
  if (tools && existsSync(tools) && !existsSync(join(cache, 'tools'))) {
    mkdirSync(cache, { recursive: true });
    try {
      symlinkSync(tools, join(cache, 'tools'));
    } catch (err) {
      // Another test runner of the same run (concurrency > 1) made it first.
      if (err.code !== 'EEXIST') throw err;
    }
  }
  globalSetup();
}
