/**
 * The git server of the local-only mode (minikube/README.md): for a fork without a remote,
 * Argo CD syncs from a bare repository inside the cluster that `minikube/push-local.sh`
 * pushes to. `deploy/bootstrap/local-git.yaml`; applied by argocd/bootstrap.sh only when
 * gitops.repoURL is the local server.
 *
 * Two git daemons share the repository: a read-only one behind the Service, which Argo CD's
 * repo server fetches from, and one that also accepts pushes but listens on the pod's
 * loopback only. Two ways reach it: a `kubectl port-forward` (RBAC: pods/portforward in
 * argocd), and the Service's push port through the pod's Istio sidecar, whose policy admits
 * only the fleet service's mesh identity (cdk8s/lib/components/fleet.ts NOTE 4); no other pod
 * in the cluster can rewrite what Argo CD deploys. NOTE (1)
 */
import { k8s } from 'cdk8s-plus-33';
import type { Construct } from 'constructs';

import { LOCAL_GIT } from '../../../platform/config/schema.js';
import type { PlatformContext } from '../../../platform/context.js';
import { PART_OF, hardenedSecurityContext, kubeResources } from '../workload.js';

/** The loopback-only port of the daemon that accepts pushes. */
export const LOCAL_GIT_PUSH_PORT = LOCAL_GIT.pushPort;

/** The Argo CD image of the pinned chart: it has git, so the server needs no other image. */
export function argoCdImage(ctx: PlatformContext): string | undefined {
  const v = ctx.chart('argoCd').appVersion;
  return v ? `quay.io/argoproj/argocd:${v.startsWith('v') ? v : `v${v}`}` : undefined;
}

const REPOS = '/srv/git';
// The argocd image's own user.
const UID = 999;

const SECURITY = hardenedSecurityContext(true);

const RESOURCES = kubeResources({
  cpuRequestMilli: 10,
  cpuLimitMilli: 200,
  memoryRequestMi: 32,
  memoryLimitMi: 128,
});

const MOUNTS: k8s.VolumeMount[] = [
  { name: 'repos', mountPath: REPOS },
  { name: 'tmp', mountPath: '/tmp' },
];

/** Creates the bare repository on first start; git daemon serves only exported ones. */
function initRepo(image: string): k8s.Container {
  const repo = `${REPOS}/${LOCAL_GIT.repo}`;
  return {
    name: 'init-repo',
    image,
    command: [
      'sh',
      '-c',
      `set -eu\n[ -f ${repo}/HEAD ] || git init --quiet --bare ${repo}\ntouch ${repo}/git-daemon-export-ok`,
    ],
    env: [{ name: 'HOME', value: '/tmp' }],
    resources: RESOURCES,
    securityContext: SECURITY,
    volumeMounts: MOUNTS,
  };
}

function daemon(name: string, port: number, push: boolean, image: string): k8s.Container {
  const listen = push ? '127.0.0.1' : '0.0.0.0';
  // The push daemon listens on loopback, where only an exec probe (same network) reaches it.
  const probe: k8s.Probe = push
    ? {
        exec: { command: ['git', 'ls-remote', `git://127.0.0.1:${port}/${LOCAL_GIT.repo}`] },
        periodSeconds: 20,
        timeoutSeconds: 5,
      }
    : { tcpSocket: { port: k8s.IntOrString.fromNumber(port) }, periodSeconds: 10 };
  return {
    name,
    image,
    command: [
      'git',
      'daemon',
      '--reuseaddr',
      `--base-path=${REPOS}`,
      `--listen=${listen}`,
      `--port=${port}`,
      ...(push ? ['--enable=receive-pack'] : []),
      REPOS,
    ],
    env: [{ name: 'HOME', value: '/tmp' }],
    ports: [{ name: push ? 'git-push' : 'git', containerPort: port }],
    readinessProbe: probe,
    livenessProbe: probe,
    resources: RESOURCES,
    securityContext: SECURITY,
    volumeMounts: MOUNTS,
  };
}

/** Adds the local git server's objects to `scope`. */
export function addLocalGitServer(scope: Construct, ctx: PlatformContext): void {
  const image = argoCdImage(ctx);
  if (!image)
    throw new TypeError('charts.argoCd.appVersion is needed for the local git server image');
  const namespace = ctx.namespace('argocd');
  const name = LOCAL_GIT.service;
  const selector = { 'app.kubernetes.io/name': name };
  const labels = { ...selector, 'app.kubernetes.io/part-of': PART_OF };
  const storageClass = ctx.config.storage.storageClass;
  new k8s.KubeServiceAccount(scope, 'ServiceAccount', {
    metadata: { name, namespace, labels },
    automountServiceAccountToken: false,
  });
  new k8s.KubePersistentVolumeClaim(scope, 'Repos', {
    metadata: { name, namespace, labels },
    spec: {
      accessModes: ['ReadWriteOnce'],
      ...(storageClass ? { storageClassName: storageClass } : {}),
      resources: { requests: { storage: k8s.Quantity.fromString('1Gi') } },
    },
  });
  new k8s.KubeService(scope, 'Service', {
    metadata: { name, namespace, labels },
    spec: {
      selector,
      ports: [
        { name: 'tcp-git', port: LOCAL_GIT.port, targetPort: k8s.IntOrString.fromString('git') },
        {
          name: 'tcp-git-push',
          port: LOCAL_GIT.pushPort,
          targetPort: k8s.IntOrString.fromNumber(LOCAL_GIT.pushPort),
        },
      ],
    },
  });
  new k8s.KubeDeployment(scope, 'Deployment', {
    metadata: { name, namespace, labels },
    spec: {
      replicas: 1,
      // One writer of the volume at a time.
      strategy: { type: 'Recreate' },
      selector: { matchLabels: selector },
      template: {
        // A sidecar for this pod alone (argocd is not a meshed namespace). NOTE (1)
        metadata: { labels: { ...labels, 'sidecar.istio.io/inject': 'true' } },
        spec: {
          serviceAccountName: name,
          automountServiceAccountToken: false,
          securityContext: {
            runAsNonRoot: true,
            runAsUser: UID,
            runAsGroup: UID,
            fsGroup: UID,
            seccompProfile: { type: 'RuntimeDefault' },
          },
          initContainers: [initRepo(image)],
          containers: [
            daemon('git', LOCAL_GIT.port, false, image),
            daemon('git-push', LOCAL_GIT_PUSH_PORT, true, image),
          ],
          volumes: [
            { name: 'repos', persistentVolumeClaim: { claimName: name } },
            { name: 'tmp', emptyDir: { sizeLimit: k8s.Quantity.fromString('64Mi') } },
          ],
        },
      },
    },
  });
}

// NOTE
// 1. The git server in the mesh, alone. The fleet service pushes with its mesh identity, so
//    the server needs a sidecar to see it. Moving the server into a meshed namespace would
//    put it behind STRICT mTLS, which Argo CD's repo server (not in the mesh) cannot speak;
//    meshing the whole argocd namespace would touch Argo CD itself. So only this pod asks for
//    a sidecar (`sidecar.istio.io/inject: "true"`, which istiod's webhook honours in a
//    namespace without an injection label), and argocd keeps Istio's PERMISSIVE default:
//    the read-only port still takes plaintext. The pod starts at bootstrap before Istio exists
//    and so without a sidecar: the push port then refuses everyone (the daemon is on
//    loopback), until the pod is restarted once Istio runs, which minikube/up.sh does after the
//    sync (`kubectl -n argocd rollout restart deployment/gitops-repo`).
