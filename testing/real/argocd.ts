/**
 * Test support: the real Argo CD (argocd-application-controller and argocd-repo-server, built
 * by toolchain/tools.ts at the argoCd chart's appVersion) with Debian's Redis, reconciling
 * Applications into a {@link KubeApiserver}, and a loopback `git daemon` to serve it a
 * repository.
 *
 * There is no argocd-server (API, UI, webhooks): Applications and AppProjects are applied to
 * the apiserver as `argocd/bootstrap.sh` applies them, and Argo CD polls git every
 * {@link StartArgoCdOptions.reconciliationSeconds}.
 *
 * Config Management Plugins ({@link StartArgoCdOptions.plugins}) run as in a cluster's
 * repo-server pod: one argocd-cmp-server (the same multi-call binary) per plugin, each with its
 * plugin.yaml, serving a socket in the directory the repo-server scans. NOTE (3)
 */
import type { ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import * as k8s from '@kubernetes/client-node';
import { stringify } from 'yaml';

import { argoCdPath, ensureArgoCd, ensureRedis } from '../../toolchain/tools.js';
import type { KubeApiserver } from './kube-apiserver.js';
import { freePort } from './opa.js';
import { processGroup, spawnLogged, tailFile, waitFor } from '../support/processes.js';

/** The namespace Argo CD runs in and reads its settings and Applications from. */
export const ARGOCD_NAMESPACE = 'argocd';

/** A running Argo CD. */
export interface ArgoCd {
  /** The temporary directory: Redis's, the repo-server's and the controller's files and logs. */
  readonly dir: string;
  /** The last `lines` lines of a component's log, for failure messages. @default 40 */
  logTail(component: ArgoCdComponent, lines?: number): string;
  /** Stops the controller, the repo-server and Redis, and removes {@link dir}. Idempotent. */
  stop(): Promise<void>;
}

/** The processes of {@link ArgoCd}; a plugin's argocd-cmp-server is `cmp-server-<plugin name>`. */
export type ArgoCdComponent =
  'redis' | 'repo-server' | 'application-controller' | `cmp-server-${string}`;

/** A Config Management Plugin for {@link StartArgoCdOptions.plugins}. */
export interface ArgoCdPlugin {
  /**
   * Its plugin.yaml: a ConfigManagementPlugin (`metadata.name`, optional `spec.version`, and
   * the commands, which run in argocd-cmp-server's copy of the repository).
   */
  readonly config: {
    readonly metadata: { readonly name: string };
    readonly spec: { readonly version?: string } & Record<string, unknown>;
  } & Record<string, unknown>;
  /** More environment of argocd-cmp-server, which its commands inherit. @default {} */
  readonly env?: Readonly<Record<string, string>>;
}

/** Options of {@link startArgoCd}. */
export interface StartArgoCdOptions {
  /**
   * How often the controller refreshes every Application (and the repo-server re-reads
   * branch heads): the test stand-in for the git webhook. @default 5
   */
  readonly reconciliationSeconds?: number;
  /** The data of argocd-cm (Argo CD's settings), e.g. the chart values' `configs.cm`. @default {} */
  readonly cm?: Readonly<Record<string, string>>;
  /** The data of argocd-rbac-cm, e.g. the chart values' `configs.rbac`. @default {} */
  readonly rbac?: Readonly<Record<string, string>>;
  /** How long to wait for each process to listen. @default 90_000 */
  readonly timeoutMs?: number;
  /** Directories put first on the repo-server's PATH, e.g. helm's, for Helm sources. */
  readonly path?: readonly string[];
  /** Config Management Plugins, each served by its own argocd-cmp-server. @default none */
  readonly plugins?: readonly ArgoCdPlugin[];
  /**
   * How long the controller ignores failures to get manifests from the repo-server before it
   * reports a ComparisonError (`--repo-error-grace-period-seconds`). @default Argo CD's, 180
   */
  readonly repoErrorGraceSeconds?: number;
}

/** A loopback `git daemon` serving one directory of repositories. */
export interface GitDaemon {
  /** `git://127.0.0.1:<port>/`: a repository `x` under the base is at `${url}x`. */
  readonly url: string;
  logTail(lines?: number): string;
  /** Stops the daemon (the served directory is the caller's). Idempotent. */
  stop(): Promise<void>;
}

/** Whether something accepts TCP connections on 127.0.0.1:`port`. */
function listening(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect(port, '127.0.0.1');
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}

/** Waits until `proc` listens on `port`; throws with its log tail if it exits or times out. */
async function waitListening(
  name: string,
  proc: ChildProcess,
  port: number,
  log: string,
  timeoutMs: number,
): Promise<void> {
  await waitFor(
    async () => proc.exitCode !== null || proc.signalCode !== null || (await listening(port)),
    timeoutMs,
    () =>
      new Error(`${name} did not listen on ${port} within ${timeoutMs} ms\n${tailFile(log, 40)}`),
  );
  if (proc.exitCode !== null || proc.signalCode !== null)
    throw new Error(`${name} exited (${proc.exitCode ?? proc.signalCode})\n${tailFile(log, 40)}`);
}

/**
 * Serves the repositories under `baseDir` read-only with `git daemon` on a free loopback port.
 * @throws Error with the daemon's log when it does not listen.
 */
export async function startGitDaemon(baseDir: string, timeoutMs = 30_000): Promise<GitDaemon> {
  const dir = mkdtempSync(join(tmpdir(), 'git-daemon-test-'));
  const log = join(dir, 'git-daemon.log');
  const group = processGroup(dir);
  try {
    const port = await freePort();
    const daemon = group.add(
      spawnLogged(
        'git',
        [
          'daemon',
          '--reuseaddr',
          '--export-all',
          '--informative-errors',
          '--listen=127.0.0.1',
          `--port=${port}`,
          `--base-path=${baseDir}`,
          baseDir,
        ],
        log,
      ),
    );
    await waitListening('git daemon', daemon, port, log, timeoutMs);
    return {
      url: `git://127.0.0.1:${port}/`,
      logTail: (lines = 40) => tailFile(log, lines),
      stop: () => group.stop(),
    };
  } catch (err) {
    await group.stop();
    throw err;
  }
}

/** The settings objects Argo CD reads, labelled as its own. NOTE (1) */
function settingsObjects(opts: StartArgoCdOptions): k8s.KubernetesObject[] {
  const metadata = (name: string) => ({
    name,
    namespace: ARGOCD_NAMESPACE,
    labels: { 'app.kubernetes.io/part-of': 'argocd' },
  });
  return [
    {
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: metadata('argocd-cm'),
      data: { ...opts.cm },
    } as k8s.KubernetesObject,
    {
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: metadata('argocd-rbac-cm'),
      data: { ...opts.rbac },
    } as k8s.KubernetesObject,
    {
      apiVersion: 'v1',
      kind: 'Secret',
      metadata: metadata('argocd-secret'),
      stringData: { 'server.secretkey': randomBytes(32).toString('base64') },
    } as k8s.KubernetesObject,
  ];
}

/**
 * Starts Redis, argocd-repo-server and argocd-application-controller against `api` (creating
 * the argocd namespace and Argo CD's settings objects in it). Every process is SIGKILLed when
 * the calling process exits, should {@link ArgoCd.stop} not run.
 *
 * @throws PlatformError ERR_TOOL_MISSING when Argo CD or Redis is not installed.
 * @throws Error with the failing process's log tail when one does not come up.
 */
export async function startArgoCd(
  api: KubeApiserver,
  opts: StartArgoCdOptions = {},
): Promise<ArgoCd> {
  const home = ensureArgoCd();
  const redisBin = ensureRedis();
  const timeoutMs = opts.timeoutMs ?? 90_000;
  const reconciliation = `${opts.reconciliationSeconds ?? 5}s`;
  const dir = mkdtempSync(join(tmpdir(), 'argocd-test-'));
  const logs: Record<'redis' | 'repo-server' | 'application-controller', string> = {
    redis: join(dir, 'redis.log'),
    'repo-server': join(dir, 'repo-server.log'),
    'application-controller': join(dir, 'application-controller.log'),
  };
  const plugins = opts.plugins ?? [];
  const pluginLogs: Record<string, string> = {};
  for (const p of plugins)
    pluginLogs[`cmp-server-${p.config.metadata.name}`] = join(
      dir,
      `cmp-server-${p.config.metadata.name}.log`,
    );
  const group = processGroup(dir);
  try {
    const kc = api.kubeConfig();
    const core = kc.makeApiClient(k8s.CoreV1Api);
    await core.createNamespace({ body: { metadata: { name: ARGOCD_NAMESPACE } } });
    const objects = k8s.KubernetesObjectApi.makeApiClient(kc);
    for (const o of settingsObjects(opts)) await objects.create(o);

    const [redisPort, repoPort, repoMetrics, controllerMetrics] = [
      await freePort(),
      await freePort(),
      await freePort(),
      await freePort(),
    ];
    const redisDir = join(dir, 'redis');
    mkdirSync(redisDir);
    const redis = group.add(
      spawnLogged(
        redisBin,
        [
          '--bind',
          '127.0.0.1',
          '--port',
          String(redisPort),
          '--save',
          '',
          '--appendonly',
          'no',
          '--dir',
          redisDir,
        ],
        logs.redis,
      ),
    );
    await waitListening('redis-server', redis, redisPort, logs.redis, timeoutMs);

    const tmp = join(dir, 'tmp');
    mkdirSync(tmp);
    const env: NodeJS.ProcessEnv = {
      ...process.env,
      // git-verify-wrapper.sh, which the repo-server runs for every git command
      PATH: [...(opts.path ?? []), home, process.env.PATH ?? ''].join(':'),
      HOME: dir,
      TMPDIR: tmp,
      ARGOCD_GPG_ENABLED: 'false',
      ARGOCD_RECONCILIATION_TIMEOUT: reconciliation,
      ARGOCD_LOG_FORMAT_ENABLE_FULL_TIMESTAMP: 'true',
      // The repo-server's git credentials socket, /tmp/reposerver-ask-pass.sock unless told:
      // one per instance, so that test files run in parallel do not take each other's.
      ARGOCD_ASK_PASS_SOCK: join(dir, 'ask-pass.sock'),
    };
    const redisAddr = `127.0.0.1:${redisPort}`;

    // The plugins' sockets, where the repo-server looks for them. NOTE (3)
    if (plugins.length > 0) {
      const sockets = join(dir, 'plugins');
      mkdirSync(sockets);
      env.ARGOCD_PLUGINSOCKFILEPATH = sockets;
      for (const p of plugins) {
        const name = p.config.metadata.name;
        const pluginDir = join(dir, `cmp-${name}`);
        mkdirSync(join(pluginDir, 'config'), { recursive: true });
        writeFileSync(join(pluginDir, 'config', 'plugin.yaml'), stringify(p.config));
        const socket = join(
          sockets,
          p.config.spec.version ? `${name}-${p.config.spec.version}.sock` : `${name}.sock`,
        );
        const log = pluginLogs[`cmp-server-${name}`]!;
        const cmp = group.add(
          spawnLogged(
            join(home, 'argocd'),
            ['--config-dir-path', join(pluginDir, 'config'), '--logformat', 'text'],
            log,
            {
              ...env,
              ...p.env,
              ARGOCD_BINARY_NAME: 'argocd-cmp-server',
              ARGOCD_CMP_WORKDIR: pluginDir,
            },
          ),
        );
        await waitFor(
          async () => cmp.exitCode !== null || cmp.signalCode !== null || existsSync(socket),
          timeoutMs,
          () =>
            new Error(
              `argocd-cmp-server (${name}) did not create ${socket} within ${timeoutMs} ms\n${tailFile(log, 40)}`,
            ),
        );
        if (cmp.exitCode !== null || cmp.signalCode !== null)
          throw new Error(
            `argocd-cmp-server (${name}) exited (${cmp.exitCode ?? cmp.signalCode})\n${tailFile(log, 40)}`,
          );
      }
    }

    const repoServer = group.add(
      spawnLogged(
        argoCdPath('argocd-repo-server'),
        [
          '--disable-tls',
          '--client-ca-path',
          '',
          '--address',
          '127.0.0.1',
          '--port',
          String(repoPort),
          '--metrics-address',
          '127.0.0.1',
          '--metrics-port',
          String(repoMetrics),
          '--redis',
          redisAddr,
        ],
        logs['repo-server'],
        env,
      ),
    );
    await waitListening('argocd-repo-server', repoServer, repoPort, logs['repo-server'], timeoutMs);

    const controller = group.add(
      spawnLogged(
        argoCdPath('argocd-application-controller'),
        [
          '--kubeconfig',
          api.kubeconfigPath,
          '--namespace',
          ARGOCD_NAMESPACE,
          '--repo-server',
          `127.0.0.1:${repoPort}`,
          '--repo-server-plaintext',
          '--redis',
          redisAddr,
          '--metrics-port',
          String(controllerMetrics),
          '--app-resync-jitter',
          '0',
          '--status-processors',
          '4',
          '--operation-processors',
          '4',
          ...(opts.repoErrorGraceSeconds === undefined
            ? []
            : ['--repo-error-grace-period-seconds', String(opts.repoErrorGraceSeconds)]),
        ],
        logs['application-controller'],
        // NOTE (2)
        { ...env, ARGOCD_FAKE_IN_CLUSTER: 'true', KUBECONFIG: api.kubeconfigPath },
      ),
    );
    await waitListening(
      'argocd-application-controller',
      controller,
      controllerMetrics,
      logs['application-controller'],
      timeoutMs,
    );
    return {
      dir,
      logTail: (component, lines = 40) =>
        tailFile(
          ({ ...logs, ...pluginLogs } as Record<string, string>)[component] ?? '/dev/null',
          lines,
        ),
      stop: () => group.stop(),
    };
  } catch (err) {
    await group.stop();
    throw err;
  }
}

// NOTE
// 1. Argo CD's settings manager lists argocd-cm, argocd-rbac-cm and argocd-secret through an
//    informer filtered on `app.kubernetes.io/part-of=argocd`: unlabelled, they are not found
//    and the controller waits for them. Empty ConfigMaps are the chart's defaults; the
//    secret's `server.secretkey` is generated per run (only argocd-server would use it).
// 2. ARGOCD_FAKE_IN_CLUSTER=true makes the controller treat the kubeconfig's cluster as the
//    in-cluster destination `https://kubernetes.default.svc`, which every Application in
//    deploy/ names; without it the controller asks for in-cluster service-account files.
// 3. Plugins. In a cluster each plugin is a sidecar of the repo-server pod whose entry point is
//    argocd-cmp-server; it reads its plugin.yaml from --config-dir-path (default
//    /home/argocd/cmp-server/config) and listens on `<name>[-<version>].sock` in
//    ARGOCD_PLUGINSOCKFILEPATH (default /home/argocd/cmp-server/plugins), the directory the
//    repo-server lists to find plugins, and copies each repository it is sent under
//    ARGOCD_CMP_WORKDIR (default the temporary directory). Here those are directories of the
//    run, and argv0 is selected by ARGOCD_BINARY_NAME. Read from the argo-cd v3.5.4 sources:
//    cmd/main.go, cmd/argocd-cmp-server, common/common.go, cmpserver/plugin/config.go.
