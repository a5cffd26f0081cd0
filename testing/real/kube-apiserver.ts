/**
 * Test support: a real Kubernetes API server on loopback ports, the pinned kube-apiserver
 * (toolchain/tools.ts builds it from k8s.io/kubernetes at `cluster.kubernetesVersion`) over
 * Debian's etcd, with RBAC, token users and, by default, the upstream CRDs of Argo CD and
 * Istio at the versions the platform deploys.
 *
 * It has no controllers, kubelet or scheduler: objects are stored, validated, admitted and
 * authorized as in a cluster, but nothing reconciles them.
 */
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { request } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import * as k8s from '@kubernetes/client-node';
import { stringify } from 'yaml';

import {
  ensureEtcd,
  ensureKubeApiserver,
  sealedSecretsCrdFile,
  upstreamCrdFiles,
} from '../../toolchain/tools.js';
import { freePort } from './opa.js';
import { processGroup, spawnLogged, tailFile, waitFor } from '../support/processes.js';

/** The users of the kubeconfig: `admin` is in system:masters, the others have no groups. */
export type KubeUser = 'admin' | 'viewer' | 'nobody';

/** A running kube-apiserver with its etcd. */
export interface KubeApiserver {
  /** `https://127.0.0.1:<port>` (self-signed certificate). */
  readonly url: string;
  /**
   * A kubeconfig (mode 0600) with one context per {@link KubeUser}, `admin` current; token
   * auth, `insecure-skip-tls-verify: true`.
   */
  readonly kubeconfigPath: string;
  /** The temporary directory: etcd data, certificates, keys, tokens and logs. */
  readonly dir: string;
  /** The service-account signing key (PKCS#8 PEM file) in {@link dir}, for the controllers. */
  readonly serviceAccountKeyPath: string;
  /** A client-node KubeConfig for a context. @default 'admin' */
  kubeConfig(context?: KubeUser): k8s.KubeConfig;
  /** The last `lines` lines of the apiserver log, for failure messages. @default 40 */
  logTail(lines?: number): string;
  /** Stops the apiserver, then etcd, and removes {@link dir}. Idempotent. */
  stop(): Promise<void>;
}

/** Options of {@link startKubeApiserver}. */
export interface StartKubeApiserverOptions {
  /**
   * Install the upstream Argo CD and Istio CRDs and wait until they are served (`argocd`:
   * Argo CD's only, for a test in which Argo CD installs Istio's from its chart).
   * @default true
   */
  readonly crds?: boolean | 'argocd';
  /**
   * Also install the SealedSecret CRD of the pinned Sealed Secrets (for the tests that run its
   * controller). @default false
   */
  readonly sealedSecrets?: boolean;
  /** How long to wait for etcd, the apiserver and the CRDs, each. @default 90_000 */
  readonly timeoutMs?: number;
  /** More kube-apiserver flags, e.g. the ones a node needs (kube-node.ts NODE_APISERVER_ARGS). */
  readonly extraArgs?: readonly string[];
}

const USERS: readonly KubeUser[] = ['admin', 'viewer', 'nobody'];

/** One HTTPS request to the apiserver (a JSON POST when `o.body` is given), certificate unchecked (it is self-signed). */
export function apiRequest(
  url: string,
  path: string,
  token: string,
  o: { body?: unknown; timeoutMs?: number } = {},
): Promise<{ status: number; body: string }> {
  const timeoutMs = o.timeoutMs ?? 5_000;
  const payload = o.body === undefined ? undefined : JSON.stringify(o.body);
  return new Promise((resolve, reject) => {
    const req = request(
      new URL(path, url),
      {
        method: payload === undefined ? 'GET' : 'POST',
        headers: {
          authorization: `Bearer ${token}`,
          ...(payload === undefined
            ? {}
            : {
                'content-type': 'application/json',
                'content-length': Buffer.byteLength(payload),
              }),
        },
        rejectUnauthorized: false,
        timeout: timeoutMs,
      },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (d: string) => (body += d));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      },
    );
    req.on('timeout', () => req.destroy(new Error(`timeout on ${path}`)));
    req.on('error', reject);
    req.end(payload);
  });
}

/**
 * The CustomResourceDefinitions in the upstream CRD files, as client-node's typed models.
 * NOTE (1)
 */
function upstreamCrds(
  which: boolean | 'argocd',
  sealedSecrets: boolean,
): k8s.V1CustomResourceDefinition[] {
  return [
    ...(which === false
      ? []
      : upstreamCrdFiles(() => {}).filter((file) => which === true || file.includes('/argoproj/'))),
    ...(sealedSecrets ? [sealedSecretsCrdFile(() => {})] : []),
  ].flatMap((file) =>
    (k8s.loadAllYaml(readFileSync(file, 'utf8')) as (k8s.KubernetesObject | null)[]).filter(
      (o): o is k8s.V1CustomResourceDefinition => o?.kind === 'CustomResourceDefinition',
    ),
  );
}

/**
 * Creates the CRDs and waits until each is Established and every served version is in
 * discovery with its plural.
 */
async function installCrds(
  kc: k8s.KubeConfig,
  url: string,
  token: string,
  timeoutMs: number,
  logTail: () => string,
  which: boolean | 'argocd',
  sealedSecrets: boolean,
): Promise<void> {
  const api = kc.makeApiClient(k8s.ApiextensionsV1Api);
  const crds = upstreamCrds(which, sealedSecrets);
  for (const body of crds) await api.createCustomResourceDefinition({ body });
  for (const crd of crds) {
    const name = crd.metadata!.name!;
    await waitFor(
      async () => {
        const got = await api.readCustomResourceDefinition({ name });
        return !!got.status?.conditions?.some(
          (c) => c.type === 'Established' && c.status === 'True',
        );
      },
      timeoutMs,
      () => new Error(`CRD ${name} was not Established within ${timeoutMs} ms\n${logTail()}`),
    );
    for (const version of crd.spec.versions.filter((v) => v.served)) {
      const path = `/apis/${crd.spec.group}/${version.name}`;
      await waitFor(
        async () => {
          const r = await apiRequest(url, path, token);
          if (r.status !== 200) return false;
          const list = JSON.parse(r.body) as { resources?: { name: string }[] };
          return !!list.resources?.some((res) => res.name === crd.spec.names.plural);
        },
        timeoutMs,
        () =>
          new Error(`discovery did not serve ${crd.spec.names.plural} at ${path}\n${logTail()}`),
      );
    }
  }
}

/**
 * Starts etcd and kube-apiserver on free loopback ports, waits until /readyz answers, and
 * installs the upstream CRDs (unless `crds: false`). Both processes are SIGKILLed when the
 * calling process exits, should {@link KubeApiserver.stop} not run.
 *
 * @throws PlatformError ERR_TOOL_MISSING when kube-apiserver or etcd is not installed.
 * @throws Error with the apiserver log tail when it does not become ready.
 */
export async function startKubeApiserver(
  opts: StartKubeApiserverOptions = {},
): Promise<KubeApiserver> {
  const apiserverBin = ensureKubeApiserver();
  const etcdBin = ensureEtcd();
  const timeoutMs = opts.timeoutMs ?? 90_000;
  const dir = mkdtempSync(join(tmpdir(), 'kube-apiserver-test-'));
  const apiserverLog = join(dir, 'kube-apiserver.log');
  const etcdLog = join(dir, 'etcd.log');
  const logTail = (lines = 40) => tailFile(apiserverLog, lines);
  const group = processGroup(dir);
  const stop = () => group.stop();

  try {
    const [clientPort, peerPort, securePort] = [
      await freePort(),
      await freePort(),
      await freePort(),
    ];
    const etcdUrl = `http://127.0.0.1:${clientPort}`;
    const peerUrl = `http://127.0.0.1:${peerPort}`;
    const etcd = spawnLogged(
      etcdBin,
      [
        '--data-dir',
        join(dir, 'etcd'),
        '--listen-client-urls',
        etcdUrl,
        '--advertise-client-urls',
        etcdUrl,
        '--listen-peer-urls',
        peerUrl,
        '--initial-advertise-peer-urls',
        peerUrl,
        '--initial-cluster',
        `default=${peerUrl}`,
        '--logger=zap',
        '--log-level=warn',
      ],
      etcdLog,
    );
    group.add(etcd);
    await waitFor(
      async () => {
        if (etcd.exitCode !== null) return true;
        return (await fetch(`${etcdUrl}/health`)).ok;
      },
      timeoutMs,
      () => new Error(`etcd did not answer within ${timeoutMs} ms\n${tailFile(etcdLog, 40)}`),
    );
    if (etcd.exitCode !== null)
      throw new Error(`etcd exited (${etcd.exitCode})\n${tailFile(etcdLog, 40)}`);

    const { publicKey, privateKey } = generateKeyPairSync('rsa', {
      modulusLength: 2048,
      publicKeyEncoding: { type: 'spki', format: 'pem' },
      privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
    });
    writeFileSync(join(dir, 'sa.pub'), publicKey);
    writeFileSync(join(dir, 'sa.key'), privateKey, { mode: 0o600 });
    const tokens = Object.fromEntries(
      USERS.map((u) => [u, randomBytes(24).toString('hex')]),
    ) as Record<KubeUser, string>;
    const groups: Record<KubeUser, string> = { admin: ',"system:masters"', viewer: '', nobody: '' };
    writeFileSync(
      join(dir, 'tokens.csv'),
      USERS.map((u) => `${tokens[u]},${u},${u}-uid${groups[u]}\n`).join(''),
      { mode: 0o600 },
    );
    mkdirSync(join(dir, 'certs'));

    const url = `https://127.0.0.1:${securePort}`;
    const apiserver = spawnLogged(
      apiserverBin,
      [
        `--etcd-servers=${etcdUrl}`,
        `--secure-port=${securePort}`,
        '--bind-address=127.0.0.1',
        `--cert-dir=${join(dir, 'certs')}`,
        `--token-auth-file=${join(dir, 'tokens.csv')}`,
        '--authorization-mode=RBAC',
        `--service-account-key-file=${join(dir, 'sa.pub')}`,
        `--service-account-signing-key-file=${join(dir, 'sa.key')}`,
        '--service-account-issuer=https://kubernetes.default.svc',
        '--service-cluster-ip-range=10.96.0.0/16',
        '--enable-priority-and-fairness=false',
        ...(opts.extraArgs ?? []),
      ],
      apiserverLog,
    );
    group.add(apiserver);
    await waitFor(
      async () => {
        if (apiserver.exitCode !== null) return true;
        return (await apiRequest(url, '/readyz', tokens.admin)).status === 200;
      },
      timeoutMs,
      () => new Error(`kube-apiserver was not ready within ${timeoutMs} ms\n${logTail()}`),
    );
    if (apiserver.exitCode !== null)
      throw new Error(`kube-apiserver exited (${apiserver.exitCode})\n${logTail()}`);

    const kubeconfigPath = join(dir, 'kubeconfig');
    writeFileSync(
      kubeconfigPath,
      stringify({
        apiVersion: 'v1',
        kind: 'Config',
        clusters: [{ name: 'local', cluster: { server: url, 'insecure-skip-tls-verify': true } }],
        users: USERS.map((u) => ({ name: u, user: { token: tokens[u] } })),
        contexts: USERS.map((u) => ({ name: u, context: { cluster: 'local', user: u } })),
        'current-context': 'admin',
      }),
      { mode: 0o600 },
    );
    const kubeConfig = (context: KubeUser = 'admin') => {
      const kc = new k8s.KubeConfig();
      kc.loadFromFile(kubeconfigPath);
      kc.setCurrentContext(context);
      return kc;
    };

    const which = opts.crds ?? true;
    const sealed = opts.sealedSecrets ?? false;
    if (which !== false || sealed)
      await installCrds(kubeConfig(), url, tokens.admin, timeoutMs, () => logTail(), which, sealed);

    const serviceAccountKeyPath = join(dir, 'sa.key');
    return { url, kubeconfigPath, dir, serviceAccountKeyPath, kubeConfig, logTail, stop };
  } catch (err) {
    await stop();
    throw err;
  }
}

// NOTE
// 1. CRDs go through client-node's own YAML loader. The typed API clients serialize a body by
//    its model's property names, so a plain object parsed with the yaml package loses every
//    `x-kubernetes-*` key (`x-kubernetes-int-or-string`, `x-kubernetes-validations`, ...):
//    Istio's trafficextensions CRD was then refused with 422 ("observedGeneration.type:
//    Required value"), and CRDs that were accepted would have lost their CEL rules.
//    `loadAllYaml` deserializes into the models (the round trip is lossless for all 17 CRDs).
//    Seen with @kubernetes/client-node 1.4.0.
