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
 * Exit codes: 0 done, 1 copies of a client secret differ, 2 usage error, 3 kubectl or openssl
 * missing, or the cluster unreachable.
 */
import { spawnSync } from 'node:child_process';

import { Command } from 'commander';

import { EXIT, runCli } from '../../../platform/cli.js';
import { loadPlatformContext } from '../../../platform/context.js';
import { planSecrets } from '../../../platform/bootstrap-secrets.js';

const program = new Command()
  .name('bootstrap-secrets')
  .description(
    'Create the Secrets a fresh cluster needs (never committed to git); existing ones are kept.',
  )
  .option('--dry-run', 'only list the Secrets that would be created')
  .option('--json', 'print the plan as one JSON document on stdout')
  .option('--context <name>', 'kubectl context to use (default: the current one)')
  .action((opts: { dryRun?: boolean; json?: boolean; context?: string }) => {
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
    const plan = planSecrets(ctx, (ns, name) => {
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
    });
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
            dryRun: Boolean(opts.dryRun),
          },
          null,
          2,
        )}\n`,
      );
    for (const s of plan.existing) console.error(`keep    ${s.namespace}/${s.name} (exists)`);
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
    for (const c of plan.conflicts) console.error(`conflict ${c}`);
    if (steps === 0) console.error('bootstrap-secrets: every Secret exists; nothing to do');
    if (plan.conflicts.length > 0) {
      console.error(
        'bootstrap-secrets: copies of a client secret differ; delete the wrong copy and run again [ERR_SECRET_CONFLICT]',
      );
      process.exit(EXIT.failed);
    }
  });

await runCli(program, { exitCode: () => EXIT.environment });
