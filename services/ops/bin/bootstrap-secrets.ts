#!/usr/bin/env -S npx tsx
/**
 * `npm run bootstrap:secrets`: creates the Secrets a fresh cluster needs and git never holds
 * (database and admin passwords, OIDC client secrets, demo-user passwords, the ingress TLS
 * pair). Existing values are never replaced: an existing Secret only gains the keys it lacks
 * (a new tenant's clients), and a client secret's copies (Keycloak's and its application's)
 * always get the same value. Running it twice is safe.
 *
 *   npm run bootstrap:secrets -- --dry-run   list what would be created (no values; without a
 *                                            reachable cluster, what a fresh one needs)
 *   npm run bootstrap:secrets                create the missing Secrets with kubectl
 *   npm run bootstrap:secrets -- --json      the plan as one JSON document
 *
 * The fleet service's push credential follows gitops.repoURL (platform/git-remote.ts): for an
 * ssh URL an ed25519 deploy key is generated and its public half printed, to be added to the
 * fork as a deploy key with write access (the host's keys are pinned, or given with
 * `--git-known-hosts <file>`); for an https URL the token is yours to give, with
 * `--git-token-file <file>` (or $KITT4SME_FLEET_GIT_TOKEN_FILE, or the token in
 * $KITT4SME_FLEET_GIT_TOKEN); the local-only mode needs none.
 *
 * Rotation (services/ops/src/rotate.ts; talks to the cluster through the kubeconfig, not kubectl):
 *
 *   npm run bootstrap:secrets -- --rotate <id> [--dry-run] [--json] [--keycloak-url <url>]
 *
 * gives a Secret (`grafanaOidc`), a client secret (`oidc-client:grafana`) or one key
 * (`mongodb/orion-password`) a new value in every copy that shares it, sets it in the running
 * realm (Keycloak's admin API, through a port-forward unless --keycloak-url is given), and
 * restarts the workloads that read it. Database and admin passwords are refused with the
 * manual procedure; the TLS pair only while it is bootstrap's self-signed one.
 * `--rotate agent:<client id>` (an agent of fleet/, `agent-<12 hex>`) or `--rotate agents`
 * (every agent) has Keycloak generate the agent client's new secret, writes it into the
 * agent's Secret and restarts the agent's Deployments.
 *
 * Exit codes: 0 done, 1 copies of a client secret differ, or a rotation was refused or stopped
 * part-way (the message says what was changed), 2 usage error (an unknown rotation id, the
 * fleet's token or host keys not given), 3
 * kubectl or openssl missing, or the cluster unreachable.
 */
import { spawnSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { Command } from 'commander';

import { EXIT, runCli } from '../../../platform/cli.js';
import type { Cluster } from '../../../platform/cluster.js';
import { loadCluster } from '../../../platform/cluster.js';
import { loadPlatformContext } from '../../../platform/context.js';
import { PlatformError } from '../../../platform/errors.js';
import type { SecretInputs } from '../../../platform/bootstrap-secrets.js';
import { missingInputError, planSecrets } from '../../../platform/bootstrap-secrets.js';
import { readFileSync } from 'node:fs';
import { FLEET_GIT_SECRET } from '../../../platform/secrets.js';
import { agentIdentities } from '../../../platform/fleet/agents-list.js';
import { FLEET_DIR } from '../../../platform/fleet/records.js';
import { loadFleet } from '../../../platform/fleet/resolve.js';
import {
  agentsOfRotation,
  isAgentRotationId,
  renderRotation,
  rotateAgents,
  rotateSecret,
  rotationPlan,
} from '../src/rotate.js';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');

interface Opts {
  dryRun?: boolean;
  json?: boolean;
  context?: string;
  rotate?: string;
  keycloakUrl?: string;
  adminUser: string;
  gitTokenFile?: string;
  gitKnownHosts?: string;
}

/** The values only the user has, from the options and the environment. */
function secretInputs(opts: Opts): SecretInputs {
  const read = (file: string, what: string) => {
    try {
      return readFileSync(file, 'utf8');
    } catch (err) {
      throw new PlatformError(
        'ERR_SECRET_INPUT_MISSING',
        `cannot read ${what} from ${file}: ${(err as Error).message}`,
        `give a readable file with ${what}`,
        { cause: err },
      );
    }
  };
  // argocd/bootstrap.sh passes no options: the environment names the file (or holds the token).
  const tokenFile = opts.gitTokenFile ?? (process.env.KITT4SME_FLEET_GIT_TOKEN_FILE || undefined);
  const token = tokenFile
    ? read(tokenFile, 'the access token')
    : process.env.KITT4SME_FLEET_GIT_TOKEN;
  return {
    ...(token?.trim() ? { gitToken: token.trim() } : {}),
    ...(opts.gitKnownHosts ? { gitKnownHosts: read(opts.gitKnownHosts, 'known_hosts lines') } : {}),
  };
}

/** `--rotate <id>`: see services/ops/src/rotate.ts. */
async function rotate(opts: Opts & { rotate: string }): Promise<void> {
  const ctx = loadPlatformContext();
  const progress = (line: string) => console.error(line);
  const run = (cluster: Cluster | undefined) =>
    rotateSecret({
      ctx,
      cluster,
      id: opts.rotate,
      dryRun: opts.dryRun,
      keycloakUrl: opts.keycloakUrl,
      adminUser: opts.adminUser,
      adminPassword: process.env.KEYCLOAK_ADMIN_PASSWORD || undefined,
      progress,
    });
  if (isAgentRotationId(opts.rotate)) {
    const fleet = agentIdentities(loadFleet(ROOT, FLEET_DIR, ctx).agents);
    // An unknown agent is a usage error with or without a cluster.
    agentsOfRotation(opts.rotate, fleet);
    let cluster: Cluster | undefined;
    try {
      cluster = loadCluster(opts.context ? { context: opts.context } : {});
    } catch (err) {
      if (!opts.dryRun) throw err;
      progress(`bootstrap-secrets: no cluster (${(err as Error).message}); planning only`);
    }
    const report = await rotateAgents({
      ctx,
      cluster,
      fleet,
      id: opts.rotate,
      dryRun: opts.dryRun,
      keycloakUrl: opts.keycloakUrl,
      adminUser: opts.adminUser,
      adminPassword: process.env.KEYCLOAK_ADMIN_PASSWORD || undefined,
      progress,
    });
    process.stdout.write(
      opts.json ? `${JSON.stringify(report, null, 2)}\n` : renderRotation(report),
    );
    return;
  }
  // An unknown id is a usage error with or without a cluster.
  const plan = rotationPlan(ctx, opts.rotate);
  let report;
  try {
    report = await run(loadCluster(opts.context ? { context: opts.context } : {}));
  } catch (err) {
    // A dry run (or a refusal, which changes nothing) still plans without a cluster: the
    // readers then come from deploy/.
    const offline =
      err instanceof PlatformError &&
      ['ERR_KUBECONFIG', 'ERR_CLUSTER_UNREACHABLE'].includes(err.code);
    if (!(opts.dryRun || plan.manual.length > 0) || !offline) throw err;
    progress(`bootstrap-secrets: no cluster reachable (${err.message}); planning from deploy/`);
    report = await run(undefined);
  }
  process.stdout.write(opts.json ? `${JSON.stringify(report, null, 2)}\n` : renderRotation(report));
}

const program = new Command()
  .name('bootstrap-secrets')
  .description(
    'Create the Secrets a fresh cluster needs (never committed to git); existing ones are kept.',
  )
  .option(
    '--dry-run',
    'only list the Secrets that would be created (with --rotate: what would change), no values',
  )
  .option('--json', 'print the plan (with --rotate: the report) as one JSON document on stdout')
  .option('--context <name>', 'kubectl context to use (default: the current one)')
  .option(
    '--rotate <id>',
    "give a Secret, a client secret (oidc-client:<client id>) or one key (<secret id>/<key>) a new value in every copy, set it in Keycloak and restart its readers; agent:<client id> or agents: an agent's (every agent's) client secret, its Secret and Deployments; an unknown id lists the valid ones",
  )
  .option(
    '--keycloak-url <url>',
    "with --rotate: Keycloak's base URL ending in /auth for the admin API (default: a port-forward to the keycloak Service)",
  )
  .option('--admin-user <name>', "with --rotate: admin of Keycloak's master realm", 'admin')
  .option(
    '--git-token-file <file>',
    "an https gitops.repoURL: the file holding the fleet service's access token (contents read and write on the fork); else $KITT4SME_FLEET_GIT_TOKEN_FILE names it, or $KITT4SME_FLEET_GIT_TOKEN holds it",
  )
  .option(
    '--git-known-hosts <file>',
    'an ssh gitops.repoURL whose host platform/git-remote.ts does not pin: its known_hosts lines',
  )
  .addHelpText(
    'after',
    "\nWith --rotate, the admin password comes from $KEYCLOAK_ADMIN_PASSWORD or the keycloak-admin Secret.\nExit codes: 0 done, 1 copies differ or a rotation refused or stopped part-way, 2 usage (or the fleet's token or host keys not given), 3 no cluster or tool.",
  )
  .action(async (opts: Opts) => {
    if (opts.rotate !== undefined) return rotate({ ...opts, rotate: opts.rotate });
    const ctx = loadPlatformContext();
    const kubectl = (args: string[], input?: string) =>
      spawnSync('kubectl', [...(opts.context ? ['--context', opts.context] : []), ...args], {
        input,
        encoding: 'utf8',
      });
    const probe = kubectl(['version', '--request-timeout=5s', '-o', 'json']);
    const reachable = !probe.error && probe.status === 0;
    if (!reachable && !opts.dryRun) {
      console.error(
        `bootstrap-secrets: cannot reach a cluster with kubectl (${probe.error?.message ?? probe.stderr.trim()}).\n` +
          'Start one (see minikube/README.md) or pass --context, then run `npm run bootstrap:secrets` again; `--dry-run` lists what a fresh cluster needs without one. [ERR_CLUSTER_UNREACHABLE]',
      );
      process.exit(EXIT.environment);
    }
    if (!reachable) {
      console.error(
        'bootstrap-secrets: no cluster reachable with kubectl; listing what a fresh cluster needs',
      );
    }
    const plan = planSecrets(
      ctx,
      (ns, name) => {
        if (!reachable) return undefined;
        const got = kubectl(['get', 'secret', '-n', ns, name, '-o', 'json']);
        if (got.status !== 0) {
          if (/NotFound/.test(got.stderr)) return undefined;
          console.error(
            `bootstrap-secrets: reading ${ns}/${name} failed: ${got.stderr.trim()} [ERR_CLUSTER_UNREACHABLE]`,
          );
          process.exit(EXIT.environment);
        }
        const data = (JSON.parse(got.stdout) as { data?: Record<string, string> }).data ?? {};
        return Object.fromEntries(
          Object.entries(data).map(([k, v]) => [k, Buffer.from(v, 'base64').toString('utf8')]),
        );
      },
      secretInputs(opts),
    );
    // The public half of a deploy key this run makes, for the user to add to the fork.
    const deployKey = plan.create
      .map((s) => s.secret)
      .find((s) => s.metadata.name === FLEET_GIT_SECRET.name)?.stringData[
      FLEET_GIT_SECRET.publicKey
    ];
    if (opts.json)
      process.stdout.write(
        `${JSON.stringify(
          {
            existing: plan.existing,
            create: plan.create.map(({ id, namespace, name }) => ({ id, namespace, name })),
            addKeys: plan.addKeys.map(({ id, namespace, name, keys }) => ({
              id,
              namespace,
              name,
              keys,
            })),
            conflicts: plan.conflicts,
            needsInput: plan.needsInput,
            ...(deployKey && !opts.dryRun ? { deployKey: deployKey.trim() } : {}),
            dryRun: Boolean(opts.dryRun),
          },
          null,
          2,
        )}\n`,
      );
    for (const s of plan.existing) console.error(`keep    ${s.namespace}/${s.name} (exists)`);
    for (const s of plan.needsInput)
      console.error(`needs   ${s.namespace}/${s.name}: ${s.key}: ${s.fix}`);
    // Nothing is created while a value only the user has is missing: a half-bootstrapped
    // cluster would start the fleet service without its credential.
    if (plan.needsInput.length > 0 && !opts.dryRun) throw missingInputError(plan.needsInput);
    const steps = plan.create.length + plan.addKeys.length;
    let step = 0;
    const fail = (what: string, stderr: string) => {
      console.error(
        `bootstrap-secrets: ${what} failed: ${stderr.trim()} [ERR_CLUSTER_UNREACHABLE]`,
      );
      process.exit(EXIT.environment);
    };
    for (const s of plan.create) {
      console.error(
        `[${++step}/${steps}] ${opts.dryRun ? 'would create' : 'create'} ${s.namespace}/${s.name}`,
      );
      if (opts.dryRun) continue;
      // The namespace may not exist yet on a fresh cluster; Argo CD adopts it later. An
      // "already exists" failure is fine.
      kubectl(['create', 'namespace', s.namespace]);
      const created = kubectl(['create', '-f', '-'], JSON.stringify(s.secret));
      if (created.status !== 0) fail(`creating ${s.namespace}/${s.name}`, created.stderr);
    }
    for (const s of plan.addKeys) {
      console.error(
        `[${++step}/${steps}] ${opts.dryRun ? 'would add' : 'add'} ${s.keys.join(', ')} to ${s.namespace}/${s.name}`,
      );
      if (opts.dryRun) continue;
      // A merge patch adds keys; the keys already there keep their values.
      const patched = kubectl(
        [
          'patch',
          'secret',
          '-n',
          s.namespace,
          s.name,
          '--type',
          'merge',
          '--patch-file',
          '/dev/stdin',
        ],
        JSON.stringify({ stringData: s.values }),
      );
      if (patched.status !== 0) fail(`adding keys to ${s.namespace}/${s.name}`, patched.stderr);
    }
    if (deployKey && !opts.dryRun)
      console.error(
        `fleet: add this deploy key, with write access, to ${ctx.config.gitops.repoURL} (the fork's settings, Deploy keys):\n${deployKey.trim()}`,
      );
    for (const c of plan.conflicts) console.error(`conflict ${c}`);
    if (steps === 0) console.error('bootstrap-secrets: every Secret exists; nothing to do');
    if (plan.conflicts.length > 0) {
      console.error(
        'bootstrap-secrets: copies of a client secret differ; delete the wrong copy and run again [ERR_SECRET_CONFLICT]',
      );
      process.exit(EXIT.failed);
    }
  });

await runCli(program, {
  exitCode: (err) =>
    err.code === 'ERR_ROTATE_UNKNOWN_ID' ||
    err.code === 'ERR_INSECURE_URL' ||
    err.code === 'ERR_SECRET_INPUT_MISSING'
      ? EXIT.usage
      : ['ERR_ROTATE_MANUAL', 'ERR_ROTATE_NOT_BOOTSTRAPPED', 'ERR_ROTATE_INCOMPLETE'].includes(
            err.code,
          )
        ? EXIT.failed
        : EXIT.environment,
});
