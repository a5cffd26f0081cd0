/**
 * `npm run realm:apply` without an admin password: the message names the variable that
 * would have given it and the Secret it tried, never a client-secret variable.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, beforeAll, expect, it } from '@jest/globals';

import { runCli } from '../../../testing/support/cli.js';

let home: string;
beforeAll(() => {
  home = mkdtempSync(join(tmpdir(), 'realm-apply-cli-'));
});
afterAll(() => rmSync(home, { recursive: true, force: true }));

it('without KEYCLOAK_ADMIN_PASSWORD or a cluster, exits 3 naming that variable and the Secret', async () => {
  const run = await runCli(
    'services/identity/bin/realm-apply.ts',
    ['--keycloak-url', 'http://127.0.0.1:9/auth'],
    home,
  );
  expect(run.code).toBe(3);
  expect(run.stderr).toContain('Secret identity/keycloak-admin');
  expect(run.stderr).toContain('KEYCLOAK_ADMIN_PASSWORD is not set');
  expect(run.stderr).not.toContain('KITT4SME_CLIENT_SECRET');
  expect(run.stderr).toContain('[ERR_CREDENTIALS_MISSING]');
});
