#!/usr/bin/env -S npx tsx
/**
 * `npm run platform -- <command>`: operate a running platform from a laptop.
 *
 *   status       Argo CD Applications, workloads, OPA and Keycloak (exit 1 when not healthy)
 *   wait         until healthy or --timeout, with progress (exit 1 on timeout)
 *   endpoints    the consoles' URLs and how to log in (no cluster needed)
 *   token        an access token of the platform realm (as `npm run token`)
 *   open <name>  port-forward to grafana, kiali, argocd or keycloak and print the URL
 *   validate     server-side dry-run apply of deploy/ against the cluster (exit 1 on rejection)
 *   rbac         the read-only ClusterRole this CLI needs, as YAML
 *
 * Exit codes: 0 ok, 1 not healthy / rejected, 2 usage, 3 no cluster or context, credentials
 * refused, RBAC denied, a CRD missing, nothing to forward to; 130 interrupted.
 */
import { spawn, spawnSync } from 'node:child_process';

import { Command, InvalidArgumentError, Option } from 'commander';
import { stringify } from 'yaml';

import { loadPlatformContext } from '../../../platform/context.js';
import { IDENTITY_ERRORS } from '../../identity/src/errors.js';
import { tokenCommand, tokenExitCode } from '../../identity/src/token-command.js';
import { EXIT, reportError, runCli } from '../../../platform/cli.js';
import { PlatformError } from '../../../platform/errors.js';
import type { ClusterOptions } from '../../../platform/cluster.js';
import { loadCluster } from '../../../platform/cluster.js';
import { DEPLOY_DIR, expectedApplications, readDeployObjects } from '../src/deploy.js';
import type { ConsoleName } from '../src/endpoints.js';
import { CONSOLES, platformEndpoints, renderEndpoints } from '../src/endpoints.js';
import { opsError } from '../src/errors.js';
import { startForward } from '../src/open.js';
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

const revisionOf = (o: { revision?: string }) => (o.revision ? { revision: o.revision } : {});

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

const expected = () => expectedApplications(readDeployObjects());

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

const program = new Command()
  .name('platform')
  .description('Operate a running platform: status, wait, endpoints, token, open, validate.')
  .addHelpText(
    'after',
    '\nExit codes: 0 ok, 1 not healthy or rejected, 2 usage, 3 no cluster/context, credentials refused, RBAC denied, CRD missing; 130 interrupted.',
  );

program.addCommand(
  withCluster(new Command('status'))
    .description(
      'Argo CD Application sync and health, workload readiness, OPA and Keycloak readiness; exit 1 when not healthy',
    )
    .addOption(revisionOption())
    .option('--json', 'print the status as JSON')
    .action(async (opts: ClusterOpts & { json?: boolean; revision?: string }) => {
      const c = cluster(opts);
      const s = await readStatus(c, ctx, expected(), revisionOf(opts));
      if (opts.json) json(s);
      else process.stdout.write(renderStatus(s));
      process.exitCode = s.healthy ? EXIT.ok : EXIT.failed;
    }),
);

program.addCommand(
  withCluster(new Command('wait'))
    .description(
      'wait until every Application is Synced and Healthy (at --revision) and every workload rolled out',
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
        opts: ClusterOpts & {
          timeout: number;
          interval: number;
          json?: boolean;
          revision?: string;
        },
      ) => {
        const c = cluster(opts);
        const apps = expected();
        log(
          `wait: context ${c.context}: up to ${formatDuration(opts.timeout)} for ${apps.length} Applications and the workloads of ${ctx.managedNamespaces.map((n) => n.name).join(', ')}`,
        );
        if (opts.revision)
          log(
            `wait: Applications synced from ${ctx.config.gitops.repoURL} must be at ${opts.revision}`,
          );
        const s = await waitHealthy(() => readStatus(c, ctx, apps, revisionOf(opts)), {
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
  new Command('rbac')
    .description(
      'print the read-only ClusterRole status and wait need (kubectl apply -f -); --open adds the port-forward Roles open needs',
    )
    .option(
      '--open',
      'also print Roles allowing port-forwards in the consoles’ namespaces: a port-forward reaches any pod there past the mesh, so for operators only',
    )
    .action((opts: { open?: boolean }) => {
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
      process.stdout.write(
        [viewer, ...(opts.open ? forwarders : [])].map((o) => stringify(o)).join('---\n'),
      );
    }),
);

await runCli(program, {
  exitCode: (err) =>
    ['ERR_NOT_HEALTHY', 'ERR_DEPLOY_REJECTED'].includes(err.code)
      ? EXIT.failed
      : err.code in IDENTITY_ERRORS
        ? tokenExitCode(err)
        : EXIT.environment,
});
