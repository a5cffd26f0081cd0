/**
 * The manifest rules one by one, on small objects written here: each rule accepts what it
 * should and refuses what it guards against with its own message. validation.test.ts checks
 * the same rules on the synthesized platform (and the schemas on a real kube-apiserver); this
 * file needs no synthesis, so it is also what `npm run mutation -- rules` runs per mutant.
 */
import { describe, expect, it } from '@jest/globals';

import { encodeExceptions, EXCEPTIONS_ANNOTATION } from '../lib/policy-exceptions.js';
import type { PolicyException } from '../lib/policy-exceptions.js';
import type { KubeObject, SynthObject } from '../lib/objects.js';
import type { RuleContext, RuleId } from '../lib/validate/rules.js';
import {
  assertValid,
  checkObjects,
  ManifestValidationError,
  podSpecOf,
  RULES,
} from '../lib/validate/rules.js';

const IMAGE = 'example.org/app:1.2.3';

const ctx: RuleContext = {
  images: new Set([IMAGE, 'example.org/init:2.0']),
  extensionProviders: new Set(['opa-ext-authz']),
  externalServicePorts: new Set(['argocd-server.argocd.svc.cluster.local:80']),
};

/** A container that meets every rule. */
const goodContainer = (name = 'app'): any => ({
  name,
  image: IMAGE,
  resources: {
    requests: { cpu: '10m', memory: '16Mi' },
    limits: { cpu: '100m', memory: '64Mi' },
  },
  readinessProbe: { httpGet: { path: '/ready', port: 8080 } },
  livenessProbe: { httpGet: { path: '/live', port: 8080 } },
  securityContext: {
    runAsNonRoot: true,
    allowPrivilegeEscalation: false,
    capabilities: { drop: ['ALL'] },
    seccompProfile: { type: 'RuntimeDefault' },
    readOnlyRootFilesystem: true,
  },
});

/** A pod spec that meets every rule. */
const goodPod = (): any => ({
  automountServiceAccountToken: false,
  containers: [goodContainer()],
});

const meta = (name: string, extra: Record<string, unknown> = {}) => ({
  name,
  namespace: 'apps',
  ...extra,
});

/** A Deployment that meets every rule, changed by `change`. */
function deployment(change: (d: any) => void = () => {}, name = 'web'): KubeObject {
  const d: any = {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: meta(name, { labels: { 'app.kubernetes.io/name': name } }),
    spec: {
      selector: { matchLabels: { app: name } },
      template: { metadata: { labels: { app: name } }, spec: goodPod() },
    },
  };
  change(d);
  return d;
}

const podOf = (d: any) => d.spec.template.spec;
const containerOf = (d: any) => podOf(d).containers[0];

const service = (spec: Record<string, unknown>, name = 'web'): KubeObject => ({
  apiVersion: 'v1',
  kind: 'Service',
  metadata: meta(name),
  spec: { ports: [{ name: 'http', port: 8080 }], ...spec },
});

const at = (
  object: KubeObject,
  file = `deploy/apps/${object.metadata.name}.yaml`,
): SynthObject => ({
  file,
  object,
});

/** The violations of some objects, as `rule object: message`. */
const broken = (...objects: KubeObject[]) =>
  checkObjects(
    objects.map((o) => at(o)),
    ctx,
  ).map((v) => `${v.rule} ${v.object}: ${v.message}`);

/** The violations of one Deployment changed by `change`. */
const brokenDeployment = (change: (d: any) => void) => broken(deployment(change));

describe('a compliant set of objects', () => {
  it('breaks no rule', () => {
    const objects: KubeObject[] = [
      { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'apps' } },
      deployment(),
      service({}),
      {
        apiVersion: 'batch/v1',
        kind: 'Job',
        metadata: meta('once'),
        spec: { template: { spec: { ...goodPod(), containers: [noProbes(goodContainer())] } } },
      },
      {
        apiVersion: 'networking.istio.io/v1',
        kind: 'VirtualService',
        metadata: meta('web'),
        spec: {
          http: [
            {
              name: 'web',
              match: [{ uri: { prefix: '/web/' } }, { uri: { exact: '/web' } }],
              rewrite: { uri: '/' },
              route: [
                { destination: { host: 'web.apps.svc.cluster.local', port: { number: 8080 } } },
              ],
            },
          ],
        },
      },
      {
        apiVersion: 'security.istio.io/v1',
        kind: 'AuthorizationPolicy',
        metadata: meta('ext-authz'),
        spec: { action: 'CUSTOM', provider: { name: 'opa-ext-authz' } },
      },
      {
        apiVersion: 'argoproj.io/v1alpha1',
        kind: 'Application',
        metadata: meta('chart', { namespace: 'argocd' }),
        spec: { source: { chart: 'redis', targetRevision: '1.2.3' } },
      },
    ];
    expect(broken(...objects)).toEqual([]);
    expect(() =>
      assertValid(
        objects.map((o) => at(o)),
        ctx,
      ),
    ).not.toThrow();
  });
});

function noProbes(c: any) {
  delete c.readinessProbe;
  delete c.livenessProbe;
  return c;
}

describe('namespace-set and no-secret', () => {
  it.each([
    'Namespace',
    'ClusterRole',
    'ClusterRoleBinding',
    'CustomResourceDefinition',
    'StorageClass',
    'PersistentVolume',
    'ValidatingWebhookConfiguration',
    'MutatingWebhookConfiguration',
  ])('a cluster-scoped %s needs no namespace', (kind) => {
    expect(broken({ apiVersion: 'v1', kind, metadata: { name: 'x' } })).toEqual([]);
  });

  it('a namespaced object without a namespace breaks namespace-set', () => {
    expect(broken({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'cm' } })).toEqual([
      'namespace-set ConfigMap/-/cm: no metadata.namespace',
    ]);
    expect(
      broken({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'cm', namespace: '' } }),
    ).toEqual(['namespace-set ConfigMap//cm: no metadata.namespace']);
  });

  it('a Secret breaks no-secret', () => {
    expect(broken({ apiVersion: 'v1', kind: 'Secret', metadata: meta('s') })).toEqual([
      'no-secret Secret/apps/s: a Secret object',
    ]);
  });

  it('names the file of each violation', () => {
    const [v] = checkObjects(
      [at({ apiVersion: 'v1', kind: 'Secret', metadata: meta('s') }, 'deploy/x/s.yaml')],
      ctx,
    );
    expect(v).toEqual({
      file: 'deploy/x/s.yaml',
      object: 'Secret/apps/s',
      rule: 'no-secret',
      message: 'a Secret object',
    });
  });
});

describe('service-cluster-ip and service-port-protocol', () => {
  it.each(['NodePort', 'LoadBalancer', 'ExternalName'])('type %s is refused', (type) => {
    expect(broken(service({ type }))).toEqual([
      `service-cluster-ip Service/apps/web: type ${type}`,
    ]);
  });

  it('an explicit ClusterIP is accepted, and so is a headless Service', () => {
    expect(broken(service({ type: 'ClusterIP', clusterIP: 'None' }))).toEqual([]);
  });

  it('external IPs are refused', () => {
    expect(broken(service({ externalIPs: ['10.0.0.1'] }))).toEqual([
      'service-cluster-ip Service/apps/web: externalIPs set',
    ]);
    expect(broken(service({ externalIPs: [] }))).toEqual([]);
  });

  const prefixes = ['http', 'http2', 'https', 'grpc', 'grpc-web', 'tcp', 'tls', 'mongo', 'mysql'];
  it.each([...prefixes, 'redis', 'udp'].flatMap((p) => [p, `${p}-a`, `${p}-api`, `${p}-a1-b2`]))(
    'port name %s carries a protocol prefix',
    (name) => {
      expect(broken(service({ ports: [{ name, port: 80 }] }))).toEqual([]);
    },
  );

  it.each(['web', 'xhttp', 'httpx', 'http-', 'http--a', 'http-a-', 'http-API', 'HTTP', 'h', ''])(
    'port name %j has none',
    (name) => {
      expect(broken(service({ ports: [{ name, port: 80 }] }))).toEqual([
        `service-port-protocol Service/apps/web: port ${name} has no protocol prefix`,
      ]);
    },
  );

  it('a port name that is not a string is refused, even one whose text has a prefix', () => {
    expect(broken(service({ ports: [{ name: ['http'], port: 80 }] }))).toEqual([
      'service-port-protocol Service/apps/web: port http has no protocol prefix',
    ]);
  });

  it('an unnamed port is named by its number', () => {
    expect(broken(service({ ports: [{ port: 9090 }] }))).toEqual([
      'service-port-protocol Service/apps/web: port 9090 has no protocol prefix',
    ]);
  });

  it('a port without prefix but with an appProtocol is accepted', () => {
    expect(broken(service({ ports: [{ name: 'web', port: 80, appProtocol: 'http' }] }))).toEqual(
      [],
    );
  });

  it('checks every port', () => {
    expect(
      broken(
        service({
          ports: [
            { name: 'http', port: 80 },
            { name: 'metrics', port: 9090 },
          ],
        }),
      ),
    ).toEqual(['service-port-protocol Service/apps/web: port metrics has no protocol prefix']);
  });
});

describe('label-syntax', () => {
  const labelled = (labels: Record<string, unknown>, where: 'object' | 'template' = 'object') =>
    deployment((d) => {
      if (where === 'object') d.metadata.labels = labels;
      else d.spec.template.metadata.labels = labels;
    });
  const n = (c: string, k: number) => c.repeat(k);

  it.each([
    ['app', 'web'],
    ['app.kubernetes.io/name', 'orion'],
    ['a', ''],
    ['a_b.c-d', 'A_b.c-9'],
    [n('a', 63), n('b', 63)],
    [`${n('p', 253)}/x`, 'v'],
    ['x.y/z', '1'],
  ])('key %s with value %j is valid', (key, value) => {
    expect(broken(labelled({ [key]: value }))).toEqual([]);
  });

  it.each([
    'bad key',
    n('a', 64),
    '-a',
    'a-',
    'Example.com/x',
    'ex_ample.com/x',
    '-ex.com/x',
    'ex.com-/x',
    'ex..com/x',
    `${n('p', 254)}/x`,
    'ex.com/',
    '/x',
  ])('key %s is refused', (key) => {
    expect(broken(labelled({ [key]: 'v' }))).toEqual([
      `label-syntax Deployment/apps/web: metadata.labels: invalid key ${JSON.stringify(key)}`,
    ]);
  });

  it.each([n('v', 64), '-v', 'v-', 'a b', 'v/'])('value %j is refused', (value) => {
    expect(broken(labelled({ app: value }))).toEqual([
      `label-syntax Deployment/apps/web: metadata.labels: invalid value ${JSON.stringify(value)} for app`,
    ]);
  });

  it('a value that is not a string is refused', () => {
    expect(broken(labelled({ replicas: 3 }))).toEqual([
      'label-syntax Deployment/apps/web: metadata.labels: invalid value 3 for replicas',
    ]);
  });

  it('a bad key and a bad value are two violations', () => {
    expect(broken(labelled({ 'a b': '-' }))).toEqual([
      'label-syntax Deployment/apps/web: metadata.labels: invalid key "a b"',
      'label-syntax Deployment/apps/web: metadata.labels: invalid value "-" for a b',
    ]);
  });

  it("checks the pod template's labels too", () => {
    expect(broken(labelled({ 'a b': 'v' }, 'template'))).toEqual([
      'label-syntax Deployment/apps/web: pod template labels: invalid key "a b"',
    ]);
  });
});

describe('the workload rules', () => {
  it.each<[string, (d: any) => void, string[]]>([
    [
      'an image on latest',
      (d) => (containerOf(d).image = 'example.org/app:latest'),
      [
        'image-pinned Deployment/apps/web: container app: image example.org/app:latest is not pinned',
        'image-from-config Deployment/apps/web: container app: image example.org/app:latest is not pinned in the platform config',
      ],
    ],
    [
      'no image',
      (d) => delete containerOf(d).image,
      [
        'image-pinned Deployment/apps/web: container app: image  is not pinned',
        'image-from-config Deployment/apps/web: container app: image  is not pinned in the platform config',
      ],
    ],
    [
      'a pinned image the config does not pin',
      (d) => (containerOf(d).image = 'example.org/app:1.2.4'),
      [
        'image-from-config Deployment/apps/web: container app: image example.org/app:1.2.4 is not pinned in the platform config',
      ],
    ],
    [
      'no CPU request',
      (d) => delete containerOf(d).resources.requests.cpu,
      ['resources-set Deployment/apps/web: container app: no cpu requests'],
    ],
    [
      'no memory request',
      (d) => delete containerOf(d).resources.requests.memory,
      ['resources-set Deployment/apps/web: container app: no memory requests'],
    ],
    [
      'no CPU limit',
      (d) => delete containerOf(d).resources.limits.cpu,
      ['resources-set Deployment/apps/web: container app: no cpu limits'],
    ],
    [
      'no memory limit',
      (d) => delete containerOf(d).resources.limits.memory,
      ['resources-set Deployment/apps/web: container app: no memory limits'],
    ],
    [
      'no resources',
      (d) => delete containerOf(d).resources,
      ['cpu requests', 'memory requests', 'cpu limits', 'memory limits'].map(
        (w) => `resources-set Deployment/apps/web: container app: no ${w}`,
      ),
    ],
    [
      'no readiness probe',
      (d) => delete containerOf(d).readinessProbe,
      ['probes-set Deployment/apps/web: container app: no readinessProbe'],
    ],
    [
      'no liveness probe',
      (d) => delete containerOf(d).livenessProbe,
      ['probes-set Deployment/apps/web: container app: no livenessProbe'],
    ],
    [
      'runAsNonRoot unset in container and pod',
      (d) => delete containerOf(d).securityContext.runAsNonRoot,
      ['run-as-non-root Deployment/apps/web: container app: runAsNonRoot is not true'],
    ],
    [
      'runAsNonRoot false in the container, true in the pod',
      (d) => {
        containerOf(d).securityContext.runAsNonRoot = false;
        podOf(d).securityContext = { runAsNonRoot: true };
      },
      ['run-as-non-root Deployment/apps/web: container app: runAsNonRoot is not true'],
    ],
    [
      'runAsUser 0 in the container',
      (d) => (containerOf(d).securityContext.runAsUser = 0),
      ['run-as-non-root Deployment/apps/web: container app: runAsUser 0'],
    ],
    [
      'runAsUser 0 in the pod',
      (d) => (podOf(d).securityContext = { runAsUser: 0 }),
      ['run-as-non-root Deployment/apps/web: pod runAsUser 0'],
    ],
    [
      'allowPrivilegeEscalation unset',
      (d) => delete containerOf(d).securityContext.allowPrivilegeEscalation,
      [
        'no-privilege-escalation Deployment/apps/web: container app: allowPrivilegeEscalation is not false',
      ],
    ],
    [
      'allowPrivilegeEscalation true',
      (d) => (containerOf(d).securityContext.allowPrivilegeEscalation = true),
      [
        'no-privilege-escalation Deployment/apps/web: container app: allowPrivilegeEscalation is not false',
      ],
    ],
    [
      'privileged',
      (d) => (containerOf(d).securityContext.privileged = true),
      ['no-privilege-escalation Deployment/apps/web: container app: privileged'],
    ],
    [
      'no capabilities dropped',
      (d) => delete containerOf(d).securityContext.capabilities,
      ['drop-all-capabilities Deployment/apps/web: container app: does not drop ALL'],
    ],
    [
      'some capabilities dropped, not ALL',
      (d) => (containerOf(d).securityContext.capabilities.drop = ['NET_RAW']),
      ['drop-all-capabilities Deployment/apps/web: container app: does not drop ALL'],
    ],
    [
      'a capability added',
      (d) => (containerOf(d).securityContext.capabilities.add = ['NET_ADMIN']),
      ['drop-all-capabilities Deployment/apps/web: container app: adds capabilities'],
    ],
    [
      'seccomp unset',
      (d) => delete containerOf(d).securityContext.seccompProfile,
      ['seccomp-runtime-default Deployment/apps/web: container app: seccomp profile unset'],
    ],
    [
      'seccomp Unconfined',
      (d) => (containerOf(d).securityContext.seccompProfile = { type: 'Unconfined' }),
      ['seccomp-runtime-default Deployment/apps/web: container app: seccomp profile Unconfined'],
    ],
    [
      'seccomp Unconfined in the container over RuntimeDefault in the pod',
      (d) => {
        containerOf(d).securityContext.seccompProfile = { type: 'Unconfined' };
        podOf(d).securityContext = { seccompProfile: { type: 'RuntimeDefault' } };
      },
      ['seccomp-runtime-default Deployment/apps/web: container app: seccomp profile Unconfined'],
    ],
    [
      'readOnlyRootFilesystem omitted',
      (d) => delete containerOf(d).securityContext.readOnlyRootFilesystem,
      [
        'read-only-root Deployment/apps/web: container app: readOnlyRootFilesystem is not true and no exception is declared',
      ],
    ],
    [
      'readOnlyRootFilesystem false',
      (d) => (containerOf(d).securityContext.readOnlyRootFilesystem = false),
      [
        'read-only-root Deployment/apps/web: container app: readOnlyRootFilesystem is not true and no exception is declared',
      ],
    ],
    [
      'host network',
      (d) => (podOf(d).hostNetwork = true),
      ['no-host-access Deployment/apps/web: host namespace shared'],
    ],
    [
      'host PID',
      (d) => (podOf(d).hostPID = true),
      ['no-host-access Deployment/apps/web: host namespace shared'],
    ],
    [
      'host IPC',
      (d) => (podOf(d).hostIPC = true),
      ['no-host-access Deployment/apps/web: host namespace shared'],
    ],
    [
      'a hostPath volume',
      (d) =>
        (podOf(d).volumes = [
          { name: 'tmp', emptyDir: {} },
          { name: 'data', hostPath: { path: '/var/lib' } },
        ]),
      ['no-host-access Deployment/apps/web: hostPath volume data'],
    ],
    [
      'the API token mounted by default',
      (d) => delete podOf(d).automountServiceAccountToken,
      [
        'no-api-token Deployment/apps/web: automountServiceAccountToken is not false and no exception is declared',
      ],
    ],
    [
      'the API token mounted on purpose without an exception',
      (d) => (podOf(d).automountServiceAccountToken = true),
      [
        'no-api-token Deployment/apps/web: automountServiceAccountToken is not false and no exception is declared',
      ],
    ],
  ])('%s', (_what, change, expected) => {
    expect(brokenDeployment(change)).toEqual(expected);
  });

  it.each<[string, (d: any) => void]>([
    [
      'runAsNonRoot only in the pod',
      (d) => {
        delete containerOf(d).securityContext.runAsNonRoot;
        podOf(d).securityContext = { runAsNonRoot: true };
      },
    ],
    [
      'seccomp only in the pod',
      (d) => {
        delete containerOf(d).securityContext.seccompProfile;
        podOf(d).securityContext = { seccompProfile: { type: 'RuntimeDefault' } };
      },
    ],
    [
      'a Localhost seccomp profile',
      (d) => {
        containerOf(d).securityContext.seccompProfile = {
          type: 'Localhost',
          localhostProfile: 'p.json',
        };
      },
    ],
    [
      'host namespaces set to false',
      (d) => {
        Object.assign(podOf(d), { hostNetwork: false, hostPID: false, hostIPC: false });
      },
    ],
    [
      'runAsUser 1000',
      (d) => {
        podOf(d).securityContext = { runAsUser: 1000 };
        containerOf(d).securityContext.runAsUser = 1000;
      },
    ],
    ['privileged false', (d) => (containerOf(d).securityContext.privileged = false)],
    ['an empty add list', (d) => (containerOf(d).securityContext.capabilities.add = [])],
  ])('accepts %s', (_what, change) => {
    expect(brokenDeployment(change)).toEqual([]);
  });

  it('checks init containers too, but asks them for no probes', () => {
    const violations = brokenDeployment((d) => {
      const init = noProbes(goodContainer('setup'));
      init.image = 'example.org/init:2.0';
      delete init.securityContext.capabilities;
      podOf(d).initContainers = [init];
    });
    expect(violations).toEqual([
      'drop-all-capabilities Deployment/apps/web: container setup: does not drop ALL',
    ]);
  });

  it('checks every container', () => {
    const violations = brokenDeployment((d) => {
      const second = goodContainer('sidecar');
      second.securityContext.privileged = true;
      podOf(d).containers.push(second);
    });
    expect(violations).toEqual([
      'no-privilege-escalation Deployment/apps/web: container sidecar: privileged',
    ]);
  });

  describe('declared exceptions', () => {
    const excuse = (e: PolicyException[]) => (d: any) =>
      (d.metadata.annotations = { [EXCEPTIONS_ANNOTATION]: encodeExceptions(e) });
    const readOnly = (container: string): PolicyException => ({
      container,
      rule: 'readOnlyRootFilesystem',
      reason: 'the image writes its state under /opt',
    });

    it('excuse the named container from read-only-root', () => {
      expect(
        brokenDeployment((d) => {
          excuse([readOnly('app')])(d);
          containerOf(d).securityContext.readOnlyRootFilesystem = false;
        }),
      ).toEqual([]);
    });

    it('excuse one container of several, and only that one', () => {
      expect(
        brokenDeployment((d) => {
          excuse([readOnly('app')])(d);
          containerOf(d).securityContext.readOnlyRootFilesystem = false;
          podOf(d).containers.push(goodContainer('sidecar'));
        }),
      ).toEqual([]);
      expect(
        brokenDeployment((d) => {
          excuse([readOnly('app')])(d);
          const sidecar = goodContainer('sidecar');
          sidecar.securityContext.readOnlyRootFilesystem = false;
          podOf(d).containers.push(sidecar);
        }),
      ).toEqual([
        'read-only-root Deployment/apps/web: container sidecar: readOnlyRootFilesystem is not true and no exception is declared',
      ]);
    });

    it('excuse no other container, and an exception for an unknown container is itself refused', () => {
      expect(
        brokenDeployment((d) => {
          excuse([readOnly('other')])(d);
          containerOf(d).securityContext.readOnlyRootFilesystem = false;
        }),
      ).toEqual([
        'read-only-root Deployment/apps/web: container app: readOnlyRootFilesystem is not true and no exception is declared',
        'read-only-root Deployment/apps/web: exception for unknown container other',
      ]);
    });

    it('an exception names the rule it excuses: a token exception is no read-only exception', () => {
      expect(
        brokenDeployment((d) => {
          excuse([
            {
              container: 'app',
              rule: 'automountServiceAccountToken',
              reason: 'the operator calls the Kubernetes API',
            },
          ])(d);
          containerOf(d).securityContext.readOnlyRootFilesystem = false;
          podOf(d).automountServiceAccountToken = true;
        }),
      ).toEqual([
        'read-only-root Deployment/apps/web: container app: readOnlyRootFilesystem is not true and no exception is declared',
      ]);
    });

    it('a read-only exception is no token exception', () => {
      expect(
        brokenDeployment((d) => {
          excuse([readOnly('app')])(d);
          podOf(d).automountServiceAccountToken = true;
        }),
      ).toEqual([
        'no-api-token Deployment/apps/web: automountServiceAccountToken is not false and no exception is declared',
      ]);
    });
  });
});

describe('podSpecOf and the kinds that run pods', () => {
  const pod = goodPod();
  it.each([
    ['Pod', pod],
    ['Deployment', { template: { spec: pod } }],
    ['StatefulSet', { template: { spec: pod } }],
    ['DaemonSet', { template: { spec: pod } }],
    ['ReplicaSet', { template: { spec: pod } }],
    ['Job', { template: { spec: pod } }],
    ['CronJob', { jobTemplate: { spec: { template: { spec: pod } } } }],
  ])('finds the pod spec of a %s', (kind, spec) => {
    expect(podSpecOf({ kind, spec })).toBe(pod);
  });

  it.each(['Service', 'ConfigMap', 'Application'])('a %s has none', (kind) => {
    expect(podSpecOf({ kind, spec: { template: { spec: pod } } })).toBeUndefined();
  });

  it.each([
    ['Pod', (p: any) => ({ kind: 'Pod', spec: p })],
    ['StatefulSet', (p: any) => ({ kind: 'StatefulSet', spec: { template: { spec: p } } })],
    ['DaemonSet', (p: any) => ({ kind: 'DaemonSet', spec: { template: { spec: p } } })],
    ['ReplicaSet', (p: any) => ({ kind: 'ReplicaSet', spec: { template: { spec: p } } })],
  ])('a %s is checked like a Deployment, probes included', (kind, wrap) => {
    const p = goodPod();
    delete p.containers[0].livenessProbe;
    const object = { apiVersion: 'v1', metadata: meta('w'), ...wrap(p) } as KubeObject;
    expect(broken(object)).toEqual([`probes-set ${kind}/apps/w: container app: no livenessProbe`]);
  });

  it.each([
    ['Job', (p: any) => ({ kind: 'Job', spec: { template: { spec: p } } })],
    [
      'CronJob',
      (p: any) => ({ kind: 'CronJob', spec: { jobTemplate: { spec: { template: { spec: p } } } } }),
    ],
  ])('a %s runs to completion: no probes, but every other rule', (kind, wrap) => {
    const p = goodPod();
    noProbes(p.containers[0]);
    p.containers[0].securityContext.privileged = true;
    const object = { apiVersion: 'batch/v1', metadata: meta('j'), ...wrap(p) } as KubeObject;
    expect(broken(object)).toEqual([
      `no-privilege-escalation ${kind}/apps/j: container app: privileged`,
    ]);
  });
});

describe('custom-provider', () => {
  const policy = (spec: Record<string, unknown>): KubeObject => ({
    apiVersion: 'security.istio.io/v1',
    kind: 'AuthorizationPolicy',
    metadata: meta('authz'),
    spec,
  });

  it.each([
    [{ action: 'CUSTOM' }, 'CUSTOM without provider.name'],
    [{ action: 'CUSTOM', provider: {} }, 'CUSTOM without provider.name'],
    [{ action: 'CUSTOM', provider: { name: '' } }, 'CUSTOM without provider.name'],
    [{ action: 'CUSTOM', provider: { name: 7 } }, 'CUSTOM without provider.name'],
    [
      { action: 'CUSTOM', provider: { name: 'other-authz' } },
      "provider other-authz is not declared in istiod's meshConfig.extensionProviders",
    ],
  ])('%j is refused', (spec, message) => {
    expect(broken(policy(spec))).toEqual([
      `custom-provider AuthorizationPolicy/apps/authz: ${message}`,
    ]);
  });

  it('other actions need no provider', () => {
    expect(broken(policy({ action: 'ALLOW' }), policy({ action: 'DENY' }), policy({}))).toEqual([]);
  });
});

describe('helm-chart-pinned', () => {
  const app = (source: Record<string, unknown>): KubeObject => ({
    apiVersion: 'argoproj.io/v1alpha1',
    kind: 'Application',
    metadata: meta('app', { namespace: 'argocd' }),
    spec: { source },
  });

  it.each(['1.2.3', 'v1.2.3', '10.20.30-rc.1'])('chart version %s is exact', (v) => {
    expect(broken(app({ chart: 'redis', targetRevision: v }))).toEqual([]);
  });

  it.each(['1.2', '^1.2.3', '1.x', '*', '1.2.3 ', 'latest', undefined])(
    'chart version %j is not',
    (v) => {
      expect(broken(app({ chart: 'redis', targetRevision: v }))).toEqual([
        `helm-chart-pinned Application/argocd/app: chart redis at ${JSON.stringify(v)}`,
      ]);
    },
  );

  it('a git source may follow a branch', () => {
    expect(broken(app({ repoURL: 'https://git.example/x', targetRevision: 'HEAD' }))).toEqual([]);
  });
});

describe('route-backend and route-rewrite', () => {
  const vs = (http: unknown[]): KubeObject => ({
    apiVersion: 'networking.istio.io/v1',
    kind: 'VirtualService',
    metadata: meta('routes'),
    spec: { http },
  });
  const to = (host: string, port: number) => [{ destination: { host, port: { number: port } } }];

  it('a route to a Service port that exists, or to a chart’s Service, is fine', () => {
    expect(
      broken(
        service({
          ports: [
            { name: 'http', port: 8080 },
            { name: 'grpc', port: 9090 },
          ],
        }),
        vs([
          { name: 'a', route: to('web.apps.svc.cluster.local', 9090) },
          { name: 'b', route: to('argocd-server.argocd.svc.cluster.local', 80) },
        ]),
      ),
    ).toEqual([]);
  });

  it('a route to a port or a Service that does not exist is refused', () => {
    expect(
      broken(
        service({}),
        vs([
          { name: 'a', route: to('web.apps.svc.cluster.local', 9090) },
          { route: to('web.other.svc.cluster.local', 8080) },
        ]),
      ),
    ).toEqual([
      'route-backend VirtualService/apps/routes: route a goes to web.apps.svc.cluster.local:9090, which no Service serves',
      'route-backend VirtualService/apps/routes: route (unnamed) goes to web.other.svc.cluster.local:8080, which no Service serves',
    ]);
  });

  it('the Services of the same set count, whatever their order', () => {
    const routes = vs([{ name: 'a', route: to('web.apps.svc.cluster.local', 8080) }]);
    expect(broken(routes, service({}))).toEqual([]);
    expect(broken(routes)).toHaveLength(1);
  });

  it('a rewrite to / of a prefix without a trailing slash is refused', () => {
    expect(
      broken(
        service({}),
        vs([
          {
            name: 'api',
            match: [
              { uri: { prefix: '/api' } },
              { uri: { prefix: '/v2/' } },
              { uri: { exact: '/x' } },
            ],
            rewrite: { uri: '/' },
            route: to('web.apps.svc.cluster.local', 8080),
          },
        ]),
      ),
    ).toEqual([
      'route-rewrite VirtualService/apps/routes: route api rewrites prefix /api to /, which turns /api/x into //x',
    ]);
  });

  it('a rewrite to another path may match any prefix', () => {
    expect(
      broken(
        service({}),
        vs([
          {
            name: 'api',
            match: [{ uri: { prefix: '/api' } }],
            rewrite: { uri: '/v2' },
            route: to('web.apps.svc.cluster.local', 8080),
          },
        ]),
      ),
    ).toEqual([]);
  });
});

describe('each rule looks at its own kinds only', () => {
  it('another kind carrying the same fields breaks none of them', () => {
    const other = (kind: string, spec: Record<string, unknown>): KubeObject => ({
      apiVersion: 'example.com/v1',
      kind,
      metadata: meta(kind.toLowerCase()),
      spec,
    });
    expect(
      broken(
        // An Istio ServiceEntry names its ports by protocol, not by prefix.
        other('ServiceEntry', { type: 'NodePort', ports: [{ number: 80, name: 'web' }] }),
        other('RequestAuthentication', { action: 'CUSTOM' }),
        other('Gateway', {
          http: [{ route: [{ destination: { host: 'x', port: { number: 1 } } }] }],
        }),
        other('ApplicationSet', { source: { chart: 'redis', targetRevision: 'main' } }),
      ),
    ).toEqual([]);
  });

  it('only a Service serves a route: another kind with the same name and ports does not', () => {
    const endpoints: KubeObject = {
      apiVersion: 'v1',
      kind: 'Endpoints',
      metadata: meta('web'),
      spec: { ports: [{ port: 9090 }] },
    };
    const routes: KubeObject = {
      apiVersion: 'networking.istio.io/v1',
      kind: 'VirtualService',
      metadata: meta('routes'),
      spec: {
        http: [
          {
            name: 'a',
            route: [
              { destination: { host: 'web.apps.svc.cluster.local', port: { number: 9090 } } },
            ],
          },
        ],
      },
    };
    expect(broken(endpoints, routes)).toEqual([
      'route-backend VirtualService/apps/routes: route a goes to web.apps.svc.cluster.local:9090, which no Service serves',
    ]);
  });

  it('an object without a spec is checked, not a crash', () => {
    expect(
      broken(
        { apiVersion: 'v1', kind: 'Service', metadata: meta('bare') },
        { apiVersion: 'v1', kind: 'Service', metadata: meta('null'), spec: null },
        { apiVersion: 'networking.istio.io/v1', kind: 'VirtualService', metadata: meta('vs') },
        { apiVersion: 'security.istio.io/v1', kind: 'AuthorizationPolicy', metadata: meta('ap') },
        { apiVersion: 'argoproj.io/v1alpha1', kind: 'Application', metadata: meta('app') },
        { apiVersion: 'apps/v1', kind: 'Deployment', metadata: meta('empty') },
      ),
    ).toEqual([
      'no-api-token Deployment/apps/empty: automountServiceAccountToken is not false and no exception is declared',
    ]);
  });

  it('fields of the wrong shape count as absent', () => {
    expect(
      broken(
        service({ ports: 'http' }),
        deployment((d) => {
          podOf(d).volumes = { data: { hostPath: { path: '/' } } };
          containerOf(d).securityContext.capabilities = ['ALL'];
        }),
      ),
    ).toEqual(['drop-all-capabilities Deployment/apps/web: container app: does not drop ALL']);
  });
});

describe('the error synth throws', () => {
  it('lists every violation with its file, object and rule, and says what to do', () => {
    const objects = [
      at({ apiVersion: 'v1', kind: 'Secret', metadata: meta('s') }, 'deploy/a.yaml'),
      at({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'c' } }, 'deploy/b.yaml'),
    ];
    let error: unknown;
    try {
      assertValid(objects, ctx);
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(ManifestValidationError);
    const e = error as ManifestValidationError;
    expect(e.name).toBe('ManifestValidationError');
    expect(e.code).toBe('ERR_MANIFEST_INVALID');
    expect(e.message).toBe(
      [
        'synthesized manifests break 2 rule(s):',
        '  deploy/a.yaml Secret/apps/s: [no-secret] a Secret object',
        '  deploy/b.yaml ConfigMap/-/c: [namespace-set] no metadata.namespace',
      ].join('\n'),
    );
    expect(e.violations.map((v) => v.rule)).toEqual(['no-secret', 'namespace-set']);
    expect(e.fix).toMatch(/fix the construct that produced the object/);
    expect(e.fix).toMatch(/declare an exception with its reason/);
  });
});

describe('RULES', () => {
  it('says what each rule protects, for the docs and the error', () => {
    for (const [id, what] of Object.entries(RULES)) {
      expect(id).toMatch(/^[a-z]+(-[a-z]+)+$/);
      expect(what.length).toBeGreaterThan(30);
    }
  });

  it('has an entry for every rule a check can break', () => {
    const seen = new Set<RuleId>();
    const all: KubeObject[] = [
      { apiVersion: 'v1', kind: 'Secret', metadata: { name: 's', labels: { 'a b': 'c' } } },
      service({ type: 'NodePort', ports: [{ name: 'web', port: 1 }] }),
      deployment((d) => {
        podOf(d).hostNetwork = true;
        delete podOf(d).automountServiceAccountToken;
        const c = containerOf(d);
        c.image = 'x:latest';
        delete c.resources;
        delete c.readinessProbe;
        c.securityContext = {};
      }),
      {
        apiVersion: 'security.istio.io/v1',
        kind: 'AuthorizationPolicy',
        metadata: meta('p'),
        spec: { action: 'CUSTOM' },
      },
      {
        apiVersion: 'argoproj.io/v1alpha1',
        kind: 'Application',
        metadata: meta('a'),
        spec: { source: { chart: 'c', targetRevision: '1' } },
      },
      {
        apiVersion: 'networking.istio.io/v1',
        kind: 'VirtualService',
        metadata: meta('v'),
        spec: {
          http: [
            { match: [{ uri: { prefix: '/a' } }], rewrite: { uri: '/' }, route: [] },
            { route: [{ destination: { host: 'x', port: { number: 1 } } }] },
          ],
        },
      },
    ];
    for (const v of checkObjects(
      all.map((o) => at(o)),
      ctx,
    ))
      seen.add(v.rule);
    expect([...seen].sort()).toEqual(Object.keys(RULES).sort());
  });
});
