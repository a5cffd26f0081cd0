#!/usr/bin/env -S npx tsx
/**
 * `npm run realm:apply -- --keycloak-url <url>`: brings a running Keycloak's realm in line
 * with the realm definition (platform/realm.ts); creates the realm if missing.
 * Keycloak's own import only creates missing realms, so this is how realm changes (a new
 * tenant, other lifetimes, a new client) reach a running platform. Idempotent: a second run
 * reports "in sync".
 *
 * In a cluster the admin API is not exposed at the ingress (the gateway blocks /auth/admin):
 *   kubectl -n identity port-forward svc/keycloak 8080:8080 &
 *   npm run realm:apply -- --keycloak-url http://127.0.0.1:8080/auth
 *
 * Secrets: the admin password from $KEYCLOAK_ADMIN_PASSWORD, the realm's client secrets and
 * demo passwords from $KITT4SME_* variables; whatever is not set is read from the cluster's
 * keycloak-admin and keycloak-realm Secrets.
 *
 * Exit codes: 0 applied or in sync, 1 Keycloak refused a change or the admin login,
 * 2 usage error, 3 Keycloak unreachable or secrets not found.
 */
import { Command } from 'commander';

import { loadPlatformContext } from '../../../platform/context.js';
import { buildRealm, resolveRealm } from '../../../platform/realm.js';
import { BOOTSTRAP_SECRETS, KEYCLOAK_REALM_SECRET } from '../../../platform/secrets.js';
import { EXIT, runCli } from '../../../platform/cli.js';
import { findSecret } from '../src/credentials.js';
import { applyRealm } from '../src/realm-apply.js';

interface Opts {
  keycloakUrl: string;
  adminUser: string;
  context?: string;
  json?: boolean;
}

const program = new Command()
  .name('realm-apply')
  .description('Create or reconcile the platform realm on a running Keycloak (admin REST API).')
  .requiredOption(
    '--keycloak-url <url>',
    'Keycloak base URL ending in /auth, e.g. http://127.0.0.1:8080/auth after a port-forward',
  )
  .option('--admin-user <name>', 'admin of the master realm', 'admin')
  .option('--context <name>', 'kubeconfig context for reading Secrets (default: the current one)')
  .option('--json', 'print the result as JSON')
  .action(async (opts: Opts) => {
    const ctx = loadPlatformContext();
    const def = buildRealm(ctx);
    const ns = ctx.namespace('identity');
    const cluster = { context: opts.context };
    const admin = await findSecret(
      ['KEYCLOAK_ADMIN_PASSWORD'],
      { namespace: ns, name: BOOTSTRAP_SECRETS.keycloakAdmin.name, key: 'password' },
      cluster,
    );
    const values: Record<string, string> = {};
    for (const p of def.placeholders)
      values[p.env] = (
        await findSecret(
          [p.env],
          { namespace: ns, name: KEYCLOAK_REALM_SECRET, key: p.env },
          cluster,
        )
      ).value;
    console.error(
      `realm-apply: realm ${def.name} at ${opts.keycloakUrl} (admin password from ${admin.source})`,
    );
    const result = await applyRealm(
      { keycloakUrl: opts.keycloakUrl, username: opts.adminUser, password: admin.value },
      resolveRealm(def, values),
      (line) => console.error(`  ${line}`),
    );
    if (opts.json) process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
    else
      console.error(
        result.created
          ? `realm-apply: realm ${result.realm} created`
          : result.changes.length === 0
            ? `realm-apply: realm ${result.realm} in sync, nothing changed`
            : `realm-apply: ${result.changes.length} change(s) applied to realm ${result.realm}`,
      );
  });

await runCli(program, {
  exitCode: (err) =>
    err.code === 'ERR_REALM_APPLY' || err.code === 'ERR_CREDENTIALS_REJECTED'
      ? EXIT.failed
      : err.code === 'ERR_INSECURE_URL'
        ? EXIT.usage
        : EXIT.environment,
});
