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
 * With --agents it reconciles the agents' clients instead (and only them): one per agent of the
 * fleet records (fleet/, or --fleet <dir>, or the list the fleet's hook Job mounts with
 * --agents-file), each agent's credentials written into its Secret in agents-<tenant>, the
 * clients and Secrets of agents that are gone deleted (services/identity/src/agent-clients.ts):
 *   npm run realm:apply -- --keycloak-url http://127.0.0.1:8080/auth --agents
 * It needs only the admin password, and RBAC on Secrets in the agents namespaces.
 *
 * Exit codes: 0 applied or in sync, 1 Keycloak refused a change or the admin login,
 * 2 usage error or invalid fleet records, 3 Keycloak or the cluster unreachable, secrets or
 * an agents namespace not found.
 */
import { readFileSync, statSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

import { Command, Option } from 'commander';

import { loadPlatformContext } from '../../../platform/context.js';
import { buildRealm, resolveRealm } from '../../../platform/realm.js';
import { BOOTSTRAP_SECRETS, KEYCLOAK_REALM_SECRET } from '../../../platform/secrets.js';
import { EXIT, runCli } from '../../../platform/cli.js';
import { loadCluster } from '../../../platform/cluster.js';
import type { PlatformContext } from '../../../platform/context.js';
import { PlatformError, catalogueError } from '../../../platform/errors.js';
import type { AgentIdentity } from '../../../platform/fleet/agents-list.js';
import { agentIdentities, parseAgentsFile } from '../../../platform/fleet/agents-list.js';
import { FLEET_DIR, FLEET_ERRORS } from '../../../platform/fleet/records.js';
import { loadFleet } from '../../../platform/fleet/resolve.js';
import { reconcileAgentClients } from '../src/agent-clients.js';
import { findSecret } from '../src/credentials.js';
import { applyRealm } from '../src/realm-apply.js';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');

interface Opts {
  keycloakUrl: string;
  adminUser: string;
  context?: string;
  json?: boolean;
  agents?: boolean;
  fleet?: string;
  agentsFile?: string;
}

/** The agents whose clients --agents reconciles: from the records or the Job's list. */
function agentsOf(ctx: PlatformContext, opts: Opts): AgentIdentity[] {
  if (opts.agentsFile) {
    let text: string;
    try {
      text = readFileSync(opts.agentsFile, 'utf8');
    } catch (err) {
      throw new PlatformError(
        'ERR_FLEET_FILE',
        `cannot read the agents list ${opts.agentsFile} (${(err as Error).message}): nothing was changed`,
        'give --agents-file the agents.json of the agent-clients ConfigMap the fleet renders, or use --fleet <dir> with the records',
        { cause: err },
      );
    }
    try {
      return agentIdentities(parseAgentsFile(text));
    } catch (err) {
      throw catalogueError(
        FLEET_ERRORS,
        'ERR_FLEET_SCHEMA',
        `the agents list ${opts.agentsFile} is not valid: ${(err as Error).message}; nothing was changed`,
        err,
      );
    }
  }
  const dir = resolve(opts.fleet ?? join(ROOT, FLEET_DIR));
  // A folder that is not there would be an empty fleet, and every agent client would go.
  let isDir: boolean;
  try {
    isDir = statSync(dir).isDirectory();
  } catch {
    isDir = false;
  }
  if (opts.fleet !== undefined && !isDir)
    throw catalogueError(
      FLEET_ERRORS,
      'ERR_FLEET_NO_RECORDS',
      `the fleet folder ${opts.fleet} does not exist or is not a folder; reconciling nothing would delete every agent's client: nothing was changed`,
    );
  return agentIdentities(loadFleet(dirname(dir), basename(dir), ctx).agents);
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
  .option(
    '--agents',
    "reconcile the agents' clients instead of the realm: one per agent of the fleet, its credentials in its Secret, gone agents' clients and Secrets deleted",
  )
  .addOption(
    new Option(
      '--fleet <dir>',
      'implies --agents: the fleet records (default: fleet/ of the repository)',
    )
      .implies({ agents: true })
      .conflicts('agentsFile'),
  )
  .addOption(
    new Option(
      '--agents-file <file>',
      'implies --agents: the agents list the fleet renders (agents.json of the agent-clients ConfigMap) instead of the records',
    ).implies({ agents: true }),
  )
  .action(async (opts: Opts) => {
    const ctx = loadPlatformContext();
    // The agents first: bad records change nothing, not even a login.
    const agents = opts.agents ? agentsOf(ctx, opts) : [];
    const def = buildRealm(ctx);
    const ns = ctx.namespace('identity');
    const cluster = { context: opts.context };
    const admin = await findSecret(
      ['KEYCLOAK_ADMIN_PASSWORD'],
      { namespace: ns, name: BOOTSTRAP_SECRETS.keycloakAdmin.name, key: 'password' },
      cluster,
    );
    if (opts.agents) {
      console.error(
        `realm-apply: ${agents.length} agent client(s) of realm ${def.name} at ${opts.keycloakUrl} (admin password from ${admin.source})`,
      );
      const result = await reconcileAgentClients({
        login: { keycloakUrl: opts.keycloakUrl, username: opts.adminUser, password: admin.value },
        realm: def.name,
        agents,
        tenants: ctx.config.tenants.map((t) => t.name),
        cluster: loadCluster(opts.context ? { context: opts.context } : {}),
        progress: (line) => console.error(`  ${line}`),
      });
      if (opts.json) process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
      const n = result.changes.length + result.secrets.length;
      console.error(
        n === 0
          ? `realm-apply: the ${agents.length} agent client(s) and their Secrets are in sync, nothing changed`
          : `realm-apply: ${result.changes.length} change(s) in Keycloak, ${result.secrets.length} Secret(s) written or deleted`,
      );
      return;
    }
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
      : err.code === 'ERR_INSECURE_URL' || err.code in FLEET_ERRORS
        ? EXIT.usage
        : EXIT.environment,
});
