/**
 * Which workloads read a Secret, found in pod templates (deploy/'s here, the cluster's in a
 * rotation): through env, envFrom, a secret or projected volume (its items, if any), and
 * whether a mounted file is updated in place; and the restart commands printed for people.
 */
import type { KubernetesObject } from '@kubernetes/client-node';

import { readDeployObjects } from '../src/deploy.js';
import { restartCommands, secretReaders } from '../src/rotate.js';

const deploy = readDeployObjects().map((o) => o.object);

describe('secretReaders in deploy/', () => {
  it("finds Grafana reading its OIDC client secret, and only Keycloak reading the realm's copy", () => {
    expect(
      secretReaders(deploy, { namespace: 'fiware', name: 'grafana-oidc' }, ['client-secret']),
    ).toEqual([{ namespace: 'fiware', kind: 'StatefulSet', name: 'grafana', via: 'env' }]);
    expect(
      secretReaders(deploy, { namespace: 'identity', name: 'keycloak-realm' }, [
        'KITT4SME_CLIENT_SECRET_GRAFANA',
      ]),
    ).toEqual([{ namespace: 'identity', kind: 'Deployment', name: 'keycloak', via: 'env' }]);
  });

  it('tells env readers of a CrateDB password from the reconciler that mounts the files', () => {
    const readers = secretReaders(deploy, { namespace: 'fiware', name: 'cratedb-users' }, [
      'quantumleap-password',
    ]);
    expect(readers).toEqual([
      { namespace: 'fiware', kind: 'StatefulSet', name: 'cratedb', via: 'files' },
      { namespace: 'fiware', kind: 'Deployment', name: 'quantumleap', via: 'env' },
    ]);
    // A tenant's reader password: Grafana's datasource, not QuantumLeap.
    expect(
      secretReaders(deploy, { namespace: 'fiware', name: 'cratedb-users' }, [
        'reader-smithereens-password',
      ]).map((r) => r.name),
    ).toEqual(['cratedb', 'grafana']);
  });

  it('finds only the workloads that read the rotated key of a shared Secret', () => {
    expect(
      secretReaders(deploy, { namespace: 'fiware', name: 'mongodb-credentials' }, [
        'orion-password',
      ]).map((r) => r.name),
    ).toEqual(['mongodb', 'orion']);
  });

  it('finds nothing in another namespace, or for a Secret no pod references', () => {
    expect(
      secretReaders(deploy, { namespace: 'identity', name: 'grafana-oidc' }, ['client-secret']),
    ).toEqual([]);
    // Argo CD resolves $argocd-oidc:clientSecret itself; the gateway reads the TLS pair by SDS.
    expect(
      secretReaders(deploy, { namespace: 'argocd', name: 'argocd-oidc' }, ['clientSecret']),
    ).toEqual([]);
    expect(
      secretReaders(deploy, { namespace: 'istio-system', name: 'kitt4sme-ingress-tls' }, [
        'tls.crt',
        'tls.key',
      ]),
    ).toEqual([]);
  });
});

/** A Deployment in `ns` with one container and the given pod-spec parts. */
function workload(
  name: string,
  pod: { env?: unknown[]; envFrom?: unknown[]; volumes?: unknown[]; mounts?: unknown[] },
  kind = 'Deployment',
  ns = 'fiware',
): KubernetesObject {
  return {
    apiVersion: 'apps/v1',
    kind,
    metadata: { name, namespace: ns },
    spec: {
      template: {
        spec: {
          containers: [
            { name: 'c', env: pod.env, envFrom: pod.envFrom, volumeMounts: pod.mounts ?? [] },
          ],
          volumes: pod.volumes,
        },
      },
    },
  } as KubernetesObject;
}

describe('secretReaders on every way a pod reads a Secret', () => {
  const s = { namespace: 'fiware', name: 's' };
  const objects = [
    workload('env-key', {
      env: [{ name: 'X', valueFrom: { secretKeyRef: { name: 's', key: 'a' } } }],
    }),
    workload('env-other-key', {
      env: [{ name: 'X', valueFrom: { secretKeyRef: { name: 's', key: 'b' } } }],
    }),
    workload('env-from', { envFrom: [{ secretRef: { name: 's' } }] }, 'DaemonSet'),
    workload('volume', { volumes: [{ name: 'v', secret: { secretName: 's' } }] }, 'StatefulSet'),
    workload('volume-items-other', {
      volumes: [{ name: 'v', secret: { secretName: 's', items: [{ key: 'b', path: 'b' }] } }],
    }),
    workload('projected', {
      volumes: [{ name: 'v', projected: { sources: [{ secret: { name: 's' } }] } }],
    }),
    workload('sub-path', {
      volumes: [{ name: 'v', secret: { secretName: 's' } }],
      mounts: [{ name: 'v', mountPath: '/a', subPath: 'a' }],
    }),
    workload('other-secret', { envFrom: [{ secretRef: { name: 't' } }] }),
    workload('other-namespace', { envFrom: [{ secretRef: { name: 's' } }] }, 'Deployment', 'x'),
    { apiVersion: 'batch/v1', kind: 'Job', metadata: { name: 'job', namespace: 'fiware' } },
  ];

  it('finds env, envFrom, secret and projected volumes; items and subPath count', () => {
    expect(secretReaders(objects, s, ['a'])).toEqual([
      { namespace: 'fiware', kind: 'Deployment', name: 'env-key', via: 'env' },
      { namespace: 'fiware', kind: 'DaemonSet', name: 'env-from', via: 'env' },
      { namespace: 'fiware', kind: 'StatefulSet', name: 'volume', via: 'files' },
      { namespace: 'fiware', kind: 'Deployment', name: 'projected', via: 'files' },
      { namespace: 'fiware', kind: 'Deployment', name: 'sub-path', via: 'subPath' },
    ]);
  });
});

describe('restartCommands', () => {
  it('gives one kubectl rollout restart per namespace, naming kind and workload', () => {
    expect(
      restartCommands([
        { namespace: 'fiware', kind: 'Deployment', name: 'quantumleap' },
        { namespace: 'istio-system', kind: 'Deployment', name: 'kiali' },
        { namespace: 'fiware', kind: 'StatefulSet', name: 'grafana' },
      ]),
    ).toEqual([
      'kubectl -n fiware rollout restart deployment/quantumleap statefulset/grafana',
      'kubectl -n istio-system rollout restart deployment/kiali',
    ]);
  });
});
