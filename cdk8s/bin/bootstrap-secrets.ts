#!/usr/bin/env -S npx tsx
/**
 * `npm run bootstrap:secrets`: creates the Secrets a fresh cluster needs and git never holds
 * (database passwords, admin passwords, the ingress TLS pair). Existing Secrets are never
 * touched, so running it twice is safe.
 *
 *   npm run bootstrap:secrets -- --dry-run   list what would be created (no values)
 *   npm run bootstrap:secrets                create the missing Secrets with kubectl
 *   npm run bootstrap:secrets -- --json      the plan as one JSON document
 *
 * Exit codes: 0 done, 2 usage error, 3 kubectl or openssl missing, or the cluster unreachable.
 */
import { spawnSync } from 'node:child_process';

import { Command } from 'commander';

import { EXIT, runCli } from '../../services/lib/cli.js';
import { PlatformError } from '../../services/lib/errors.js';
import { loadPlatformConfig } from '../config/load.js';
import { ROUTES } from '../config/routes.js';
import { generateSecret, planSecrets } from '../lib/bootstrap-secrets.js';
import { PlatformContext } from '../lib/context.js';

const program = new Command()
  .name('bootstrap-secrets')
  .description(
    'Create the Secrets a fresh cluster needs (never committed to git); existing ones are kept.',
  )
  .option('--dry-run', 'only list the Secrets that would be created')
  .option('--json', 'print the plan as one JSON document on stdout')
  .option('--context <name>', 'kubectl context to use (default: the current one)')
  .action((opts: { dryRun?: boolean; json?: boolean; context?: string }) => {
    const ctx = new PlatformContext(loadPlatformConfig(), ROUTES);
    const kubectl = (args: string[], input?: string) =>
      spawnSync('kubectl', [...(opts.context ? ['--context', opts.context] : []), ...args], {
        input,
        encoding: 'utf8',
      });
    const probe = kubectl(['version', '--request-timeout=5s', '-o', 'json']);
    if (probe.error || probe.status !== 0) {
      console.error(
        `bootstrap-secrets: cannot reach a cluster with kubectl (${probe.error?.message ?? probe.stderr.trim()}).\n` +
          'Start one (see minikube/README.md) or pass --context, then run `npm run bootstrap:secrets` again. [ERR_CLUSTER_UNREACHABLE]',
      );
      process.exit(EXIT.environment);
    }
    const plan = planSecrets(
      ctx,
      (ns, name) => kubectl(['get', 'secret', '-n', ns, name, '-o', 'name']).status === 0,
    );
    if (opts.json)
      process.stdout.write(
        `${JSON.stringify({ ...plan, dryRun: Boolean(opts.dryRun) }, null, 2)}\n`,
      );
    for (const s of plan.existing) console.error(`keep    ${s.namespace}/${s.name} (exists)`);
    plan.missing.forEach((s, i) => {
      console.error(
        `[${i + 1}/${plan.missing.length}] ${opts.dryRun ? 'would create' : 'create'} ${s.namespace}/${s.name}`,
      );
      if (opts.dryRun) return;
      // The namespace may not exist yet on a fresh cluster; Argo CD adopts it later. An
      // "already exists" failure is fine.
      kubectl(['create', 'namespace', s.namespace]);
      const created = kubectl(['create', '-f', '-'], JSON.stringify(generateSecret(ctx, s.id)));
      if (created.status !== 0) {
        console.error(
          `bootstrap-secrets: creating ${s.namespace}/${s.name} failed: ${created.stderr.trim()} [ERR_CLUSTER_UNREACHABLE]`,
        );
        process.exit(EXIT.environment);
      }
    });
    if (plan.missing.length === 0)
      console.error('bootstrap-secrets: every Secret exists; nothing to do');
  });

try {
  await runCli(program);
} catch (err) {
  if (err instanceof PlatformError) {
    console.error(`bootstrap-secrets: ${err.message}\n${err.fix} [${err.code}]`);
    process.exit(EXIT.environment);
  }
  throw err;
}
