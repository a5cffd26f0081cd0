/**
 * The test command's own options (scripts/test.mjs): a number of workers that is no number
 * stops it before anything runs.
 */
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

describe('npm test', () => {
  it.each(['x', '0', '-1', '1.5', ''])(
    'exits 2 with a clear message for TEST_WORKERS=%j, running nothing',
    (workers) => {
      const run = spawnSync(process.execPath, [join(ROOT, 'scripts/test.mjs'), 'no/such/test'], {
        cwd: ROOT,
        env: { ...process.env, TEST_WORKERS: workers },
        encoding: 'utf8',
        timeout: 30_000,
      });
      expect({ status: run.status, stdout: run.stdout, stderr: run.stderr }).toEqual({
        status: 2,
        stdout: '',
        stderr: `test: TEST_WORKERS must be a whole number of workers, 1 or more (got ${JSON.stringify(workers)})\n`,
      });
    },
  );
});
