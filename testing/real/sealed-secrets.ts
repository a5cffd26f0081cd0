/**
 * The real Sealed Secrets controller (built by `npm run setup` from the Go module proxy, the
 * release the platform's chart installs) against a real kube-apiserver (./kube-apiserver.ts,
 * started with `sealedSecrets: true` for the SealedSecret CRD). It generates its key pair into a
 * Secret of its namespace at start, as in the cluster, and unseals SealedSecrets into Secrets.
 */
import type { ChildProcess } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { SEALED_SECRETS_CONTROLLER } from '../../platform/fleet/sealed.js';
import { ensureSealedSecrets, sealedSecretsPath } from '../../toolchain/tools.js';
import type { KubeApiserver } from './kube-apiserver.js';
import { freePort } from './opa.js';
import { spawnLogged, tailFile, terminate, waitFor } from '../support/processes.js';

/** A running controller. */
export interface SealedSecretsController {
  /** Its namespace (where its key Secret lives): the platform's. */
  readonly namespace: string;
  /** Its HTTP API, e.g. `http://127.0.0.1:<port>` (`/v1/cert.pem`, `/healthz`). */
  readonly url: string;
  /** Its public certificate, as `kubeseal --fetch-cert` prints it. */
  certPem(): Promise<string>;
  logTail(lines?: number): string;
  /** Stops the controller and removes its directory. Idempotent. */
  stop(): Promise<void>;
}

/**
 * Starts the pinned controller against `api` and waits until it serves its certificate.
 * @throws PlatformError ERR_TOOL_MISSING when it cannot be built; Error when it does not start.
 */
export async function startSealedSecretsController(
  api: KubeApiserver,
  opts: { readonly timeoutMs?: number } = {},
): Promise<SealedSecretsController> {
  ensureSealedSecrets(() => {});
  const timeoutMs = opts.timeoutMs ?? 90_000;
  const dir = mkdtempSync(join(tmpdir(), 'sealed-secrets-'));
  const log = join(dir, 'controller.log');
  // The controller only knows in-cluster configuration: a token and CA at a fixed path. NOTE (1)
  const sa = join(dir, 'serviceaccount');
  const token = api.kubeConfig('admin').getCurrentUser()?.token;
  if (!token) throw new Error('the apiserver kubeconfig has no admin token');
  mkdirSync(sa, { mode: 0o700 });
  writeFileSync(join(sa, 'token'), token, { mode: 0o600 });
  copyFileSync(join(api.dir, 'certs', 'apiserver.crt'), join(sa, 'ca.crt'));
  writeFileSync(join(sa, 'namespace'), SEALED_SECRETS_CONTROLLER.namespace);
  const [port, metricsPort] = [await freePort(), await freePort()];
  const apiUrl = new URL(api.url);
  const script = [
    'set -e',
    'mount -t tmpfs -o mode=0755 tmpfs /run',
    'mkdir -p /run/secrets/kubernetes.io/serviceaccount',
    'cp "$SA_DIR"/token "$SA_DIR"/ca.crt "$SA_DIR"/namespace /run/secrets/kubernetes.io/serviceaccount/',
    'exec "$CONTROLLER" "$@"',
  ].join('\n');
  const proc: ChildProcess = spawnLogged(
    'unshare',
    [
      '--mount',
      // slave: its own mounts (the /run above) stay in it, and the host's later unmounts
      // reach it, so that it keeps no copy of a mount another test takes back meanwhile (the
      // network namespaces of a test kube node's pods under /run/netns).
      '--propagation',
      'slave',
      'sh',
      '-c',
      script,
      'sealed-secrets',
      `--listen-addr=127.0.0.1:${port}`,
      `--listen-metrics-addr=127.0.0.1:${metricsPort}`,
      '--key-renew-period=0',
    ],
    log,
    {
      PATH: process.env.PATH,
      SA_DIR: sa,
      CONTROLLER: sealedSecretsPath('controller'),
      KUBERNETES_SERVICE_HOST: apiUrl.hostname,
      KUBERNETES_SERVICE_PORT: apiUrl.port,
      POD_NAMESPACE: SEALED_SECRETS_CONTROLLER.namespace,
    },
  );
  const url = `http://127.0.0.1:${port}`;
  let stopped = false;
  const stop = async () => {
    if (stopped) return;
    stopped = true;
    await terminate(proc);
    rmSync(dir, { recursive: true, force: true });
  };
  const logTail = (lines = 40) => tailFile(log, lines);
  try {
    await waitFor(
      async () => {
        if (proc.exitCode !== null) throw new Error('exited');
        return (await fetch(`${url}/v1/cert.pem`)).status === 200;
      },
      timeoutMs,
      () =>
        new Error(
          `the sealed-secrets controller did not serve its certificate within ${timeoutMs} ms${proc.exitCode !== null ? ` (it exited with ${proc.exitCode})` : ''}\n${logTail()}`,
        ),
      250,
    );
  } catch (err) {
    await stop();
    throw err;
  }
  return {
    namespace: SEALED_SECRETS_CONTROLLER.namespace,
    url,
    certPem: async () => (await fetch(`${url}/v1/cert.pem`)).text(),
    logTail,
    stop,
  };
}

// NOTE
// 1. In-cluster configuration outside a cluster. The controller (v0.39.1, pkg/controller/main.go)
//    calls rest.InClusterConfig() and has no --kubeconfig flag: it reads KUBERNETES_SERVICE_HOST
//    and _PORT and a token and CA at /var/run/secrets/kubernetes.io/serviceaccount/. The runner
//    gives it those in a private mount namespace (`unshare --mount`, root only, as the tests
//    run): a tmpfs over /run that only the controller sees, so nothing is written to the host's
//    /run. It acts with the test admin's token (the chart's RBAC is not applied here: the
//    apiserver has no controllers to bind it for a ServiceAccount token).
