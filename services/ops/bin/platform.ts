#!/usr/bin/env -S npx tsx
/**
 * `npm run platform -- <command>`: operate a running platform from a laptop.
 *
 *   status       Argo CD Applications, workloads, OPA and Keycloak (exit 1 when not healthy), and the fleet summary
 *   wait         until healthy or --timeout, with progress (exit 1 on timeout)
 *   endpoints    the consoles' URLs and how to log in (no cluster needed)
 *   token        an access token of the platform realm (as `npm run token`)
 *   open <name>  port-forward to grafana, kiali, argocd or keycloak and print the URL
 *   validate     server-side dry-run apply of deploy/ against the cluster (exit 1 on rejection)
 *   backup       back up databases now, in Jobs made from their backup CronJobs (exit 1 on failure)
 *   backups      list the backups each database has
 *   restore      restore a database from a backup (asks for --yes; exit 1 on failure)
 *   rbac         the read-only ClusterRole this CLI needs, as YAML
 *
 * Exit codes: 0 ok, 1 not healthy / rejected, 2 usage, 3 no cluster or context, credentials
 * refused, RBAC denied, a CRD missing, nothing to forward to; 130 interrupted.
 */
import { dirname } from 'node:path';
import { spawn, spawnSync } from 'node:child_process';

import { Argument, Command, InvalidArgumentError, Option } from 'commander';
import { stringify } from 'yaml';

import type { BackupTargetName } from '../../../platform/backup.js';
import { BACKUP_NAME, BACKUP_TARGETS, BACKUP_TARGET_NAMES } from '../../../platform/backup.js';
import { loadPlatformContext } from '../../../platform/context.js';
import { IDENTITY_ERRORS } from '../../identity/src/errors.js';
import { tokenCommand, tokenExitCode } from '../../identity/src/token-command.js';
import { EXIT, reportError, runCli } from '../../../platform/cli.js';
import { PlatformError } from '../../../platform/errors.js';
import type { ClusterOptions } from '../../../platform/cluster.js';
import { loadCluster } from '../../../platform/cluster.js';
import type { JobRun } from '../src/backup.js';
import {
  BACKUP_RULES,
  backupLocation,
  describeLocation,
  restartWorkloads,
  restorePlan,
  runJob,
} from '../src/backup.js';
import { DEPLOY_DIR, expectedApplications, readDeployObjects } from '../src/deploy.js';
import type { ConsoleName } from '../src/endpoints.js';
import { CONSOLES, platformEndpoints, renderEndpoints } from '../src/endpoints.js';
import { OPS_ERRORS, opsError } from '../src/errors.js';
import { startForward } from '../src/open.js';
import { readFleetSummary, renderFleetSummary } from '../src/fleet-summary.js';
import { readStatus, renderStatus, REQUIRED_RULES } from '../src/status.js';
import { validateDeploy } from '../src/validate.js';
import { formatDuration, parseDuration, waitHealthy } from '../src/wait.js';

const log = (line: string) => process.stderr.write(`${line}\n`);
const json = (value: unknown) => process.stdout.write(`${JSON.stringify(value, null, 2)}\n`);

/** Prints a documented error (as JSON on stdout too, with --json) and exits. */
function fail(err: PlatformError, code: number): never {
  reportError('platform', err);
  process.exit(code);
}

const ctx = (() => {
  try {
    return loadPlatformContext();
  } catch (err) {
    // An invalid platform/config/platform.ts: the same message synth gives.
    if (err instanceof PlatformError) fail(err, EXIT.usage);
    throw err;
  }
})();

function duration(text: string): number {
  const ms = parseDuration(text);
  if (ms === undefined || ms <= 0)
    throw new InvalidArgumentError('use a duration such as 90s, 10m, 1h30m or plain seconds');
  return ms;
}

interface JudgeOpts {
  revision?: string;
  syncOnly?: boolean;
  skipApp?: string[];
}

/** What status and wait judge by, from their options. */
const judgeOf = (o: JudgeOpts) => ({
  ...(o.revision ? { revision: o.revision } : {}),
  ...(o.syncOnly ? { syncOnly: true } : {}),
  ...(o.skipApp?.length ? { skipApps: o.skipApp } : {}),
});

/** `--sync-only` and `--skip-app`, shared by status and wait. */
function withJudge(cmd: Command): Command {
  return cmd
    .option(
      '--sync-only',
      'count an Application as ready once Synced (health shown, not required) and do not count workloads, OPA or Keycloak: for clusters where some images cannot run',
    )
    .addOption(
      new Option(
        '--skip-app <name>',
        'do not wait for this Application (repeatable); it is still shown, marked skipped',
      ).argParser(skipApp),
    );
}

function skipApp(name: string, previous: string[] | undefined): string[] {
  const known = expected().names;
  if (!known.includes(name))
    throw new InvalidArgumentError(
      `deploy/ defines no Application ${JSON.stringify(name)}; use one of: ${known.join(', ')}`,
    );
  return [...(previous ?? []), name];
}

interface ClusterOpts {
  context?: string;
  kubeconfig?: string;
  requestTimeout: number;
}

/** The options every command that talks to the cluster has. */
function withCluster(cmd: Command): Command {
  return cmd
    .option('--context <name>', 'kubeconfig context (default: the current one)')
    .option('--kubeconfig <file>', 'kubeconfig file (default: $KUBECONFIG or ~/.kube/config)')
    .addOption(
      new Option('--request-timeout <duration>', 'time limit of one API request')
        .argParser(duration)
        .default(10_000, '10s'),
    );
}

function cluster(opts: ClusterOpts) {
  const o: ClusterOptions = {
    requestTimeoutMs: opts.requestTimeout,
    ...(opts.context ? { context: opts.context } : {}),
    ...(opts.kubeconfig ? { kubeconfig: opts.kubeconfig } : {}),
  };
  return loadCluster(o);
}

const expected = () => expectedApplications(readDeployObjects(), ctx.config.gitops.repoURL);

/** A commit as Argo CD reports it (the full SHA), from anything `git rev-parse` accepts. */
function commit(ref: string): string {
  const r = spawnSync('git', ['rev-parse', '--verify', '--quiet', `${ref}^{commit}`], {
    encoding: 'utf8',
  });
  const sha = r.status === 0 ? r.stdout.trim() : '';
  if (!/^[0-9a-f]{40}$/.test(sha))
    throw new InvalidArgumentError(
      `git cannot resolve ${JSON.stringify(ref)} to a commit here; give a full commit SHA, or HEAD after you pushed it`,
    );
  return sha;
}

const revisionOption = () =>
  new Option(
    '--revision <commit>',
    'the Applications synced from the platform repository must be at this commit (HEAD, a branch or a SHA; resolved with git)',
  ).argParser(commit);

const databasesArgument = () =>
  new Argument('[databases...]', 'which databases (default: all)').choices([
    ...BACKUP_TARGET_NAMES,
  ]);

const jobTimeout = () =>
  new Option(
    '--timeout <duration>',
    'give up waiting for a job after this long (it goes on running)',
  )
    .argParser(duration)
    .default(60 * 60_000, '1h');

const jobInterval = () =>
  new Option('--interval <duration>', 'time between checks of the job')
    .argParser(duration)
    .default(2000, '2s');

interface JobOpts extends ClusterOpts {
  timeout: number;
  interval: number;
  json?: boolean;
}

/** One database's line of a backup or list report, for --json. */
function jobReport(run: JobRun) {
  const r = run.outcome.result;
  const location = backupLocation(ctx, run.target);
  return {
    database: run.target,
    job: `${run.namespace}/${run.job}`,
    ok: run.outcome.state === 'succeeded',
    ...(r?.name ? { backup: r.name, where: describeLocation(location, r.name) } : {}),
    ...(r?.bytes !== undefined ? { bytes: r.bytes } : {}),
    ...(r?.tables !== undefined ? { tables: r.tables } : {}),
    location,
    ...(r?.kept ? { kept: r.kept } : {}),
    ...(r?.removed ? { removed: r.removed } : {}),
    ...(run.outcome.state === 'failed'
      ? {
          error: {
            code: 'ERR_BACKUP_FAILED',
            message: run.outcome.message ?? '',
            fix: OPS_ERRORS.ERR_BACKUP_FAILED.fix,
          },
        }
      : {}),
  };
}

const program = new Command()
  .name('platform')
  .description(
    'Operate a running platform: status, wait, endpoints, token, open, validate, backup, backups, restore.',
  )
  .addHelpText(
    'after',
    '\nExit codes: 0 ok, 1 not healthy, rejected, or a backup or restore failed, 2 usage (restore without --yes), 3 no cluster/context, credentials refused, RBAC denied, CRD or backup CronJob missing; 130 interrupted.',
  );

program.addCommand(
  withJudge(withCluster(new Command('status')))
    .description(
      'Argo CD Application sync and health, workload readiness, OPA and Keycloak readiness; exit 1 when not healthy',
    )
    .addOption(revisionOption())
    .option('--json', 'print the status as JSON')
    .action(async (opts: ClusterOpts & JudgeOpts & { json?: boolean }) => {
      const c = cluster(opts);
      const [s, fleet] = await Promise.all([
        readStatus(c, ctx, expected(), judgeOf(opts)),
        readFleetSummary(c, ctx, dirname(DEPLOY_DIR)),
      ]);
      if (opts.json) json({ ...s, fleet });
      else process.stdout.write(`${renderStatus(s)}${renderFleetSummary(fleet)}`);
      process.exitCode = s.healthy ? EXIT.ok : EXIT.failed;
    }),
);

program.addCommand(
  withJudge(withCluster(new Command('wait')))
    .description(
      'wait until every Application is Synced and Healthy (at --revision) and every workload rolled out; with --sync-only, until every Application is Synced',
    )
    .addOption(
      new Option('--timeout <duration>', 'give up after this long')
        .argParser(duration)
        .default(20 * 60_000, '20m'),
    )
    .addOption(
      new Option('--interval <duration>', 'time between checks')
        .argParser(duration)
        .default(5000, '5s'),
    )
    .addOption(revisionOption())
    .option('--json', 'print the final status as JSON')
    .action(
      async (
        opts: ClusterOpts &
          JudgeOpts & {
            timeout: number;
            interval: number;
            json?: boolean;
          },
      ) => {
        const c = cluster(opts);
        const apps = expected();
        const counted = apps.names.length - new Set(opts.skipApp ?? []).size;
        log(
          opts.syncOnly
            ? `wait: context ${c.context}: up to ${formatDuration(opts.timeout)} for ${counted} Applications to be Synced (--sync-only: health and workloads not counted)`
            : `wait: context ${c.context}: up to ${formatDuration(opts.timeout)} for ${counted} Applications and the workloads of ${ctx.managedNamespaces.map((n) => n.name).join(', ')}`,
        );
        if (opts.skipApp?.length)
          log(`wait: not waiting for ${opts.skipApp.join(', ')} (--skip-app)`);
        if (opts.revision)
          log(
            `wait: Applications synced from ${ctx.config.gitops.repoURL} must be at ${opts.revision}`,
          );
        const s = await waitHealthy(() => readStatus(c, ctx, apps, judgeOf(opts)), {
          timeoutMs: opts.timeout,
          intervalMs: opts.interval,
          progress: (line) => log(`wait: ${line}`),
        });
        if (opts.json) json(s);
      },
    ),
);

program.addCommand(
  new Command('endpoints')
    .description('the URLs of the ingress and the consoles, and how to log in')
    .option('--json', 'print them as JSON')
    .action((opts: { json?: boolean }) => {
      const e = platformEndpoints(ctx, ctx.routes);
      if (opts.json) json(e);
      else process.stdout.write(renderEndpoints(e, ctx));
    }),
);

program.addCommand(tokenCommand(ctx));

program.addCommand(
  withCluster(new Command('open'))
    .description('port-forward to a console and print its URL; runs until Ctrl-C')
    .addArgument(
      new Command().createArgument('<console>', 'which console').choices(Object.keys(CONSOLES)),
    )
    .addOption(
      new Option('--port <port>', 'local port (default: a free one)').argParser((v) => {
        const n = Number(v);
        if (!Number.isInteger(n) || n < 1 || n > 65535)
          throw new InvalidArgumentError('use a port number from 1 to 65535');
        return n;
      }),
    )
    .option('--no-browser', 'do not start a browser')
    .option('--json', 'print {url, pod, port} as JSON once listening')
    .action(
      async (
        name: ConsoleName,
        opts: ClusterOpts & { port?: number; browser: boolean; json?: boolean },
      ) => {
        const c = cluster(opts);
        const endpoint = platformEndpoints(ctx, ctx.routes).consoles.find((e) => e.name === name)!;
        const fwd = await startForward(c, endpoint, {
          ...(opts.port ? { localPort: opts.port } : {}),
          onError: (err) =>
            log(`open: ${err.message} [${(err as PlatformError).code ?? 'ERR_PORT_FORWARD'}]`),
        });
        log(
          `open: forwarding 127.0.0.1:${fwd.localPort} to pod ${fwd.target.namespace}/${fwd.target.pod}:${fwd.target.port}; Ctrl-C to stop`,
        );
        log(`open: login: ${endpoint.login}`);
        if (opts.json)
          json({
            url: fwd.url,
            pod: fwd.target.pod,
            namespace: fwd.target.namespace,
            port: fwd.localPort,
          });
        else process.stdout.write(`${fwd.url}\n`);
        if (opts.browser && process.stdout.isTTY) {
          const opener = process.platform === 'darwin' ? 'open' : 'xdg-open';
          spawn(opener, [fwd.url], { stdio: 'ignore', detached: true })
            .on('error', () => log(`open: no ${opener}; open ${fwd.url} yourself`))
            .unref();
        }
        await new Promise<void>((resolve) => {
          process.once('SIGTERM', resolve);
        });
        await fwd.close();
      },
    ),
);

program.addCommand(
  withCluster(new Command('validate'))
    .description(
      'server-side dry-run apply of every object of deploy/: the API server judges the manifests; nothing changes',
    )
    .option('--dir <dir>', 'the directory of manifests', DEPLOY_DIR)
    .option(
      '--strict',
      'count objects the server cannot judge yet (kind or namespace missing) as failures',
    )
    .option('--json', 'print every result as JSON')
    .action(async (opts: ClusterOpts & { dir: string; strict?: boolean; json?: boolean }) => {
      const c = cluster(opts);
      const objects = readDeployObjects(opts.dir);
      log(
        `validate: ${objects.length} objects against context ${c.context} (${c.server}), dry-run`,
      );
      let shown = 0;
      const results = await validateDeploy(c, objects, {
        progress: (done, total) => {
          if (done === total || done - shown >= 25) {
            log(`validate: ${done}/${total}`);
            shown = done;
          }
        },
      });
      const rejected = results.filter((r) => r.outcome === 'rejected');
      const unchecked = results.filter((r) => r.outcome === 'unchecked');
      const where = (r: (typeof results)[number]) =>
        `${r.file}: ${r.kind} ${r.namespace ? `${r.namespace}/` : ''}${r.name}`;
      if (opts.json) json(results);
      for (const r of unchecked) log(`validate: not checked: ${where(r)}: ${r.reason}`);
      for (const r of rejected) log(`validate: REJECTED ${where(r)}: ${r.reason}`);
      process.stdout.write(
        opts.json
          ? ''
          : `${results.length - rejected.length - unchecked.length} accepted, ${rejected.length} rejected, ${unchecked.length} not checked\n`,
      );
      if (rejected.length || (opts.strict && unchecked.length))
        throw opsError(
          'ERR_DEPLOY_REJECTED',
          `${rejected.length} object${rejected.length === 1 ? '' : 's'} rejected${opts.strict && unchecked.length ? `, ${unchecked.length} not checked (--strict)` : ''}`,
        );
    }),
);

program.addCommand(
  withCluster(new Command('backup'))
    .description(
      'back up databases now: a Job from each backup CronJob (the same image, identity and volume), waited for; prints where each backup is. Exit 1 when one failed',
    )
    .addArgument(databasesArgument())
    .addOption(jobTimeout())
    .addOption(jobInterval())
    .option('--json', 'print the report as JSON')
    .action(async (databases: BackupTargetName[], opts: JobOpts) => {
      const c = cluster(opts);
      const targets = databases.length > 0 ? databases : [...BACKUP_TARGET_NAMES];
      const reports = [];
      for (const [i, t] of targets.entries()) {
        log(`backup: [${i + 1}/${targets.length}] ${t}: ${BACKUP_TARGETS[t].format}`);
        const run = await runJob(c, ctx, t, 'backup', {
          timeoutMs: opts.timeout,
          intervalMs: opts.interval,
          progress: (line) => log(`backup: ${line}`),
        });
        const report = jobReport(run);
        reports.push(report);
        if (report.error)
          log(`backup: ${t} FAILED: ${report.error.message}
${report.error.fix} [ERR_BACKUP_FAILED]`);
      }
      if (opts.json) json({ context: c.context, backups: reports });
      else
        for (const r of reports)
          process.stdout.write(
            r.ok
              ? `${r.database}: ${r.where}${r.bytes !== undefined ? `, ${r.bytes} bytes` : ''}; ${r.kept?.length ?? 0} kept${r.removed?.length ? `, ${r.removed.length} removed` : ''}\n`
              : `${r.database}: FAILED (job ${r.job})\n`,
          );
      process.exitCode = reports.every((r) => r.ok) ? EXIT.ok : EXIT.failed;
    }),
);

program.addCommand(
  withCluster(new Command('backups'))
    .description(
      'list the backups of databases, newest first (a short Job per database reads them)',
    )
    .addArgument(databasesArgument())
    .addOption(jobTimeout())
    .addOption(jobInterval())
    .option('--json', 'print the lists as JSON')
    .action(async (databases: BackupTargetName[], opts: JobOpts) => {
      const c = cluster(opts);
      const targets = databases.length > 0 ? databases : [...BACKUP_TARGET_NAMES];
      const reports = [];
      for (const t of targets) {
        const run = await runJob(c, ctx, t, 'list', {
          timeoutMs: opts.timeout,
          intervalMs: opts.interval,
          progress: (line) => log(`backups: ${line}`),
        });
        reports.push(jobReport(run));
      }
      if (opts.json) json({ context: c.context, backups: reports });
      else
        for (const r of reports)
          process.stdout.write(
            r.ok
              ? `${r.database} (volume ${r.location.volume}, namespace ${r.location.namespace}):\n${(r.kept ?? []).map((n) => `  ${n}\n`).join('') || '  none yet\n'}`
              : `${r.database}: FAILED (job ${r.job}): ${r.error?.message}\n`,
          );
      process.exitCode = reports.every((r) => r.ok) ? EXIT.ok : EXIT.failed;
    }),
);

program.addCommand(
  withCluster(new Command('restore'))
    .description(
      'restore a database from one of its backups, in a Job made from its backup CronJob, then restart what caches it; refuses without --yes and says what it would overwrite',
    )
    .addArgument(new Argument('<database>', 'which database').choices([...BACKUP_TARGET_NAMES]))
    .addOption(
      new Option(
        '--from <backup>',
        'the backup: a name `platform backups` lists, or latest for the newest',
      )
        .argParser((v) => {
          if (v !== 'latest' && !BACKUP_NAME.test(v))
            throw new InvalidArgumentError(
              'give a backup name as `npm run platform -- backups` lists it (e.g. mongodb-20260102-023000.archive.gz) or latest',
            );
          return v;
        })
        .default('latest'),
    )
    .option('--yes', 'overwrite the database (without it, nothing happens)')
    .option('--no-restart', 'do not restart the workloads that cache what the database holds')
    .addOption(jobTimeout())
    .addOption(jobInterval())
    .option('--json', 'print what was restored as JSON')
    .action(
      async (
        database: BackupTargetName,
        opts: JobOpts & { from: string; yes?: boolean; restart: boolean },
      ) => {
        const t = BACKUP_TARGETS[database];
        const prefix = {
          mongodb: 'mongodb-',
          'keycloak-postgres': 'keycloak-',
          cratedb: 'cratedb-',
        }[database];
        if (opts.from !== 'latest' && !opts.from.startsWith(prefix))
          throw opsError(
            'ERR_BACKUP_NAME',
            `${opts.from} is not a backup of ${database} (its backups are named ${prefix}...); nothing was changed`,
          );
        const plan = restorePlan(ctx, database, opts.from);
        if (!opts.yes) {
          log(plan);
          throw opsError(
            'ERR_RESTORE_UNCONFIRMED',
            `not restoring ${database} without --yes; nothing was changed`,
          );
        }
        const c = cluster(opts);
        log(`restore: context ${c.context}\n${plan}`);
        const run = await runJob(c, ctx, database, 'restore', {
          timeoutMs: opts.timeout,
          intervalMs: opts.interval,
          backupName: opts.from,
          progress: (line) => log(`restore: ${line}`),
        });
        if (run.outcome.state !== 'succeeded')
          throw opsError(
            'ERR_RESTORE_FAILED',
            `restore job ${run.namespace}/${run.job} failed: ${run.outcome.message}`,
          );
        const restored = run.outcome.result!;
        const restarted = opts.restart ? await restartWorkloads(c, ctx, t.restartAfterRestore) : [];
        if (restarted.length) log(`restore: restarted ${restarted.join(', ')}`);
        if (opts.json)
          json({
            database,
            job: `${run.namespace}/${run.job}`,
            restored: restored.name,
            ...(restored.tables !== undefined ? { tables: restored.tables } : {}),
            restarted,
          });
        else
          process.stdout.write(
            `${database}: restored ${restored.name}${Array.isArray(restored.tables) ? ` (${restored.tables.length} tables)` : ''}${restarted.length ? `; restarted ${restarted.join(', ')}` : ''}\n`,
          );
      },
    ),
);

program.addCommand(
  new Command('rbac')
    .description(
      'print the read-only ClusterRole status and wait need (kubectl apply -f -); --open adds the port-forward Roles open needs',
    )
    .option(
      '--open',
      'also print Roles allowing port-forwards in the consoles’ namespaces: a port-forward reaches any pod there past the mesh, so for operators only',
    )
    .option(
      '--backup',
      'also print Roles allowing backup, backups and restore in the databases’ namespaces (create Jobs, restart Deployments): for operators only',
    )
    .action((opts: { open?: boolean; backup?: boolean }) => {
      const viewer = {
        apiVersion: 'rbac.authorization.k8s.io/v1',
        kind: 'ClusterRole',
        metadata: { name: 'kitt4sme-platform-viewer' },
        rules: REQUIRED_RULES,
      };
      const namespaces = [
        ...new Set(Object.values(CONSOLES).map((id) => ctx.componentNamespace(id))),
      ];
      const forwarders = namespaces.map((namespace) => ({
        apiVersion: 'rbac.authorization.k8s.io/v1',
        kind: 'Role',
        metadata: { name: 'kitt4sme-platform-open', namespace },
        rules: [{ apiGroups: [''], resources: ['pods/portforward'], verbs: ['create'] }],
      }));
      const backupNamespaces = [
        ...new Set(Object.values(BACKUP_TARGETS).map((t) => ctx.componentNamespace(t.component))),
      ];
      const backupRoles = backupNamespaces.map((namespace) => ({
        apiVersion: 'rbac.authorization.k8s.io/v1',
        kind: 'Role',
        metadata: { name: 'kitt4sme-platform-backup', namespace },
        rules: BACKUP_RULES,
      }));
      process.stdout.write(
        [viewer, ...(opts.open ? forwarders : []), ...(opts.backup ? backupRoles : [])]
          .map((o) => stringify(o))
          .join('---\n'),
      );
    }),
);

await runCli(program, {
  exitCode: (err) =>
    ['ERR_NOT_HEALTHY', 'ERR_DEPLOY_REJECTED', 'ERR_RESTORE_FAILED', 'ERR_JOB_TIMEOUT'].includes(
      err.code,
    )
      ? EXIT.failed
      : ['ERR_RESTORE_UNCONFIRMED', 'ERR_BACKUP_NAME'].includes(err.code)
        ? EXIT.usage
        : err.code in IDENTITY_ERRORS
          ? tokenExitCode(err)
          : EXIT.environment,
});
