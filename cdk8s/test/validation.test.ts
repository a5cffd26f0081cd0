/**
 * Every synthesized object against its schema and the project's rules, and proof that each
 * rule catches what it is meant to catch: the tests break a probe, a tag, a security
 * context, a Service and a route, and expect the named rule to fail.
 */
import { COMPONENTS } from '../../platform/components.js';
import { agentsNamespace } from '../../platform/fleet/resolve.js';
import { platformExceptions } from '../lib/exceptions.js';
import { POD_SECURITY } from '../lib/namespaces.js';
import {
  decodeExceptions,
  encodeExceptions,
  EXCEPTIONS_ANNOTATION,
} from '../lib/policy-exceptions.js';
import type { KubeObject, SynthObject, SynthOutput } from '../lib/synth.js';
import { ruleContext } from '../lib/synth.js';
import type { RuleId } from '../lib/validate/rules.js';
import {
  ManifestValidationError,
  RULES,
  assertValid,
  checkObjects,
  podSpecOf,
} from '../lib/validate/rules.js';
import { startKubeApiserver } from '../../testing/real/kube-apiserver.js';
import type { KubeApiserver } from '../../testing/real/kube-apiserver.js';
import { validateOnServer } from '../../testing/support/server-validate.js';
import { keyOf, synth } from '../../testing/support/synth.js';

let out: SynthOutput;
beforeAll(() => {
  out = synth();
});

/** A deep copy of the synthesized objects with one object changed. */
function mutate(kind: string, name: string, change: (o: any) => void): SynthObject[] {
  const copy = structuredClone(out.objects) as SynthObject[];
  const target = copy.find((o) => o.object.kind === kind && o.object.metadata.name === name);
  if (!target) throw new Error(`no ${kind} ${name}`);
  change(target.object);
  return copy;
}

/** The rules a set of objects breaks, as `rule: object`. */
function broken(objects: readonly SynthObject[]): string[] {
  return checkObjects(objects, ruleContext(out.platform.context)).map(
    (v) => `${v.rule}: ${v.object}`,
  );
}

const pod = (o: any): any => podSpecOf(o);
const container = (o: any, i = 0) => pod(o).containers[i];

describe('schemas, checked by a real kube-apiserver with the upstream CRDs', () => {
  let server: KubeApiserver;
  beforeAll(async () => {
    server = await startKubeApiserver();
  }, 180_000);
  afterAll(async () => {
    await server?.stop();
  });

  // The agents' namespaces come with the fleet Application (its renderer), which syncs before
  // the fleet service's layer puts its Roles there.
  const agentNamespaces = () =>
    out.platform.context.config.tenants.map((t) => ({
      apiVersion: 'v1',
      kind: 'Namespace',
      metadata: { name: agentsNamespace(t.name) },
    }));
  const issues = async (objects: readonly SynthObject[]) =>
    (await validateOnServer(server, [...agentNamespaces(), ...objects.map((o) => o.object)])).map(
      (i) => `${i.object}: ${i.status} ${i.message}`,
    );

  it('accepts every synthesized object, strictly (no unknown field anywhere)', async () => {
    expect(await issues(out.objects)).toEqual([]);
  });

  it('finds a schema violation (wrong type) in a broken object', async () => {
    const broken = mutate('Deployment', 'orion', (o) => (o.spec.replicas = 'two'));
    expect(await issues(broken)).toEqual([
      expect.stringMatching(/^Deployment\/fiware\/orion: 400 .*replicas/),
    ]);
  });

  it('rejects an unknown field at any depth, in core and custom resources', async () => {
    const broken = [
      ...mutate(
        'Deployment',
        'orion',
        (o) => (container(o).livenessProbe.httpGet.pth = '/version'),
      ),
      ...mutate('VirtualService', 'kitt4sme-routes', (o) => (o.spec.http[0].rewrite.url = '/')),
      ...mutate('Application', 'istiod', (o) => (o.spec.syncPolicy.automatic = {})),
    ];
    expect(await issues(broken)).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/^Deployment\/fiware\/orion: 400 .*unknown field .*pth/),
        expect.stringMatching(
          /^VirtualService\/istio-system\/kitt4sme-routes: 400 .*unknown field .*rewrite\.url/,
        ),
        expect.stringMatching(
          /^Application\/argocd\/istiod: 400 .*unknown field .*syncPolicy\.automatic/,
        ),
      ]),
    );
  });

  it('refuses a value a CRD enum does not allow', async () => {
    const broken = mutate('PeerAuthentication', 'default', (o) => (o.spec.mtls.mode = 'STRICTER'));
    expect(await issues(broken)).toEqual([
      expect.stringMatching(/^PeerAuthentication\/[^:]+: 422 .*spec\.mtls\.mode.*STRICTER/),
    ]);
  });

  it('names a kind the server does not serve', async () => {
    const widget = {
      id: 'widget',
      object: { apiVersion: 'example.com/v1', kind: 'Widget', metadata: { name: 'w' } },
    } as unknown as SynthObject;
    expect(await issues([widget])).toEqual([
      'Widget/-/w: 404 the server serves no example.com/v1 Widget',
    ]);
  });
});

describe('project rules', () => {
  it('the synthesized platform breaks none', () => {
    expect(broken(out.objects)).toEqual([]);
  });

  // Each case breaks one thing and expects exactly the rule that guards it.
  const cases: [string, RuleId | RuleId[], () => SynthObject[]][] = [
    [
      'a missing readiness probe',
      'probes-set',
      () => mutate('Deployment', 'orion', (o) => delete container(o).readinessProbe),
    ],
    [
      'a missing liveness probe',
      'probes-set',
      () => mutate('StatefulSet', 'cratedb', (o) => delete container(o).livenessProbe),
    ],
    [
      'an image on latest',
      ['image-pinned', 'image-from-config'],
      () =>
        mutate(
          'Deployment',
          'quantumleap',
          (o) => (container(o).image = 'orchestracities/quantumleap:latest'),
        ),
    ],
    [
      'an image without tag',
      ['image-pinned', 'image-from-config'],
      () => mutate('Deployment', 'opa', (o) => (container(o).image = 'openpolicyagent/opa')),
    ],
    [
      'an image not in the config',
      'image-from-config',
      () => mutate('Deployment', 'orion', (o) => (container(o).image = 'fiware/orion:4.4.0')),
    ],
    [
      'no memory limit',
      'resources-set',
      () => mutate('Deployment', 'keycloak', (o) => delete container(o).resources.limits.memory),
    ],
    [
      'no CPU request',
      'resources-set',
      () => mutate('StatefulSet', 'mongodb', (o) => delete container(o).resources.requests.cpu),
    ],
    [
      'privilege escalation allowed',
      'no-privilege-escalation',
      () =>
        mutate(
          'Deployment',
          'orion',
          (o) => (container(o).securityContext.allowPrivilegeEscalation = true),
        ),
    ],
    [
      'a privileged container',
      'no-privilege-escalation',
      () => mutate('Deployment', 'opa', (o) => (container(o).securityContext.privileged = true)),
    ],
    [
      'runAsNonRoot removed everywhere',
      'run-as-non-root',
      () =>
        mutate('Deployment', 'orion', (o) => {
          delete container(o).securityContext.runAsNonRoot;
          delete pod(o).securityContext.runAsNonRoot;
        }),
    ],
    [
      'a container running as root',
      'run-as-non-root',
      () => mutate('StatefulSet', 'grafana', (o) => (container(o).securityContext.runAsUser = 0)),
    ],
    [
      'a capability added',
      'drop-all-capabilities',
      () =>
        mutate(
          'Deployment',
          'iotagent-ul',
          (o) => (container(o).securityContext.capabilities.add = ['NET_RAW']),
        ),
    ],
    [
      'capabilities not dropped',
      'drop-all-capabilities',
      () =>
        mutate(
          'Deployment',
          'iotagent-ul',
          (o) => (container(o).securityContext.capabilities.drop = []),
        ),
    ],
    [
      'seccomp unconfined',
      'seccomp-runtime-default',
      () =>
        mutate('StatefulSet', 'keycloak-postgres', (o) => {
          container(o).securityContext.seccompProfile.type = 'Unconfined';
        }),
    ],
    [
      'a writable root without exception',
      'read-only-root',
      () =>
        mutate(
          'Deployment',
          'keycloak',
          (o) => (container(o).securityContext.readOnlyRootFilesystem = false),
        ),
    ],
    [
      'a root filesystem left writable by omitting the field',
      'read-only-root',
      () =>
        mutate('Deployment', 'keycloak', (o) => {
          delete container(o).securityContext.readOnlyRootFilesystem;
        }),
    ],
    [
      'host networking',
      'no-host-access',
      () => mutate('Deployment', 'orion', (o) => (pod(o).hostNetwork = true)),
    ],
    [
      'a hostPath volume',
      'no-host-access',
      () =>
        mutate('Deployment', 'orion', (o) =>
          pod(o).volumes.push({ name: 'h', hostPath: { path: '/' } }),
        ),
    ],
    [
      'an API token mounted',
      'no-api-token',
      () => mutate('Deployment', 'quantumleap', (o) => delete pod(o).automountServiceAccountToken),
    ],
    [
      'a NodePort Service',
      'service-cluster-ip',
      () => mutate('Service', 'orion', (o) => (o.spec.type = 'NodePort')),
    ],
    [
      'a LoadBalancer Service',
      'service-cluster-ip',
      () => mutate('Service', 'grafana', (o) => (o.spec.type = 'LoadBalancer')),
    ],
    [
      'a Service with external IPs',
      'service-cluster-ip',
      () => mutate('Service', 'orion', (o) => (o.spec.externalIPs = ['203.0.113.7'])),
    ],
    [
      'a port name without protocol',
      'service-port-protocol',
      () => mutate('Service', 'iotagent-ul', (o) => (o.spec.ports[0].name = 'iota-north')),
    ],
    [
      'an object without namespace',
      'namespace-set',
      () => mutate('ConfigMap', 'mongodb-init', (o) => delete o.metadata.namespace),
    ],
    [
      'a CUSTOM policy without provider',
      'custom-provider',
      () => mutate('AuthorizationPolicy', 'opa-ext-authz', (o) => delete o.spec.provider),
    ],
    [
      'a CUSTOM policy with an undeclared provider',
      'custom-provider',
      () =>
        mutate(
          'AuthorizationPolicy',
          'opa-ext-authz',
          (o) => (o.spec.provider.name = 'opa.default'),
        ),
    ],
    [
      'a floating chart version',
      'helm-chart-pinned',
      () => mutate('Application', 'kiali', (o) => (o.spec.source.targetRevision = '2.*')),
    ],
    [
      'a route to a port nothing serves',
      'route-backend',
      () =>
        mutate(
          'VirtualService',
          'kitt4sme-routes',
          (o) => (o.spec.http[0].route[0].destination.port.number = 1027),
        ),
    ],
    [
      'a route to a service that does not exist',
      'route-backend',
      () =>
        mutate(
          'VirtualService',
          'kitt4sme-routes',
          (o) => (o.spec.http[1].route[0].destination.host = 'ql.fiware.svc.cluster.local'),
        ),
    ],
    [
      'a route that would produce //',
      'route-rewrite',
      () =>
        mutate(
          'VirtualService',
          'kitt4sme-routes',
          (o) => (o.spec.http[0].match[0].uri.prefix = '/orion'),
        ),
    ],
    [
      'a label value with a colon (a digest as version)',
      'label-syntax',
      () =>
        mutate('Deployment', 'opa', (o) => {
          o.spec.template.metadata.labels.version = `sha256:${'a'.repeat(64)}`;
        }),
    ],
    [
      'a label key with spaces',
      'label-syntax',
      () => mutate('Service', 'orion', (o) => (o.metadata.labels['part of'] = 'x')),
    ],
  ];

  it.each(cases)('fails on %s (%s)', (_what, rule, objects) => {
    const rules = broken(objects()).map((v) => v.split(':')[0]);
    expect(rules.length).toBeGreaterThan(0);
    expect(new Set(rules)).toEqual(new Set([rule].flat()));
  });

  it('has a failing case for every rule', () => {
    const covered = new Set([...cases.flatMap(([, rule]) => [rule].flat()), 'no-secret' as RuleId]);
    expect([...covered].sort()).toEqual(Object.keys(RULES).sort());
  });

  it('fails on any Secret in deploy/, literal data or not', () => {
    const secret: KubeObject = {
      apiVersion: 'v1',
      kind: 'Secret',
      metadata: { name: 'oops', namespace: 'fiware' },
      stringData: { password: 'hunter2' },
    };
    expect(broken([...out.objects, { file: 'deploy/data/oops.yaml', object: secret }])).toEqual([
      'no-secret: Secret/fiware/oops',
    ]);
  });

  it('accepts an image pinned by digest, with a valid version label', () => {
    const digest = `sha256:${'a'.repeat(64)}`;
    const pinned = synth({
      config: (c) => void (c.images = { opa: { ...COMPONENTS.opa.image, tag: digest } }),
    });
    const opa = pinned.objects.find(
      (o) => o.object.kind === 'Deployment' && o.object.metadata.name === 'opa',
    )!.object as any;
    expect(container(opa).image).toBe(`openpolicyagent/opa@${digest}`);
    expect(opa.spec.template.metadata.labels.version).toBe('sha256-aaaaaaaaaaaa');
    expect(checkObjects(pinned.objects, ruleContext(pinned.platform.context))).toEqual([]);
  });

  it('accepts a port name without protocol prefix when the port declares appProtocol', () => {
    const objects = mutate('Service', 'iotagent-ul', (o) => {
      o.spec.ports[0].name = 'iota-north';
      o.spec.ports[0].appProtocol = 'http';
    });
    expect(broken(objects)).toEqual([]);
  });

  it('names the Service type, external IPs and the port without protocol in its messages', () => {
    const objects = mutate('Service', 'iotagent-ul', (o) => {
      o.spec.type = 'NodePort';
      o.spec.externalIPs = ['203.0.113.7'];
      o.spec.ports[0].name = 'iota-north';
    });
    const messages = checkObjects(objects, ruleContext(out.platform.context)).map(
      (v) => `${v.rule}: ${v.message}`,
    );
    expect(messages).toEqual([
      'service-cluster-ip: type NodePort',
      'service-cluster-ip: externalIPs set',
      'service-port-protocol: port iota-north has no protocol prefix',
    ]);
  });

  it('names an unnamed port by its number', () => {
    const objects = mutate('Service', 'iotagent-ul', (o) => delete o.spec.ports[0].name);
    const port = (
      objects.find((o) => o.object.metadata.name === 'iotagent-ul' && o.object.kind === 'Service')!
        .object as any
    ).spec.ports[0].port;
    expect(
      checkObjects(objects, ruleContext(out.platform.context)).map((v) => v.message),
    ).toContain(`port ${port} has no protocol prefix`);
  });

  it('makes synth fail closed with every violation listed', () => {
    const objects = mutate('Deployment', 'orion', (o) => {
      delete container(o).readinessProbe;
      container(o).image = 'telefonicaiot/fiware-orion:latest';
    });
    expect(() => assertValid(objects, ruleContext(out.platform.context))).toThrow(
      ManifestValidationError,
    );
    try {
      assertValid(objects, ruleContext(out.platform.context));
    } catch (err) {
      const e = err as ManifestValidationError;
      expect(e.code).toBe('ERR_MANIFEST_INVALID');
      expect(e.message).toContain('deploy/fiware/orion.yaml Deployment/fiware/orion: [probes-set]');
      expect(e.message).toContain('[image-pinned]');
    }
  });
});

describe('declared exceptions', () => {
  const declared = () =>
    out.objects.flatMap(({ object }) =>
      decodeExceptions(object.metadata.annotations).map(
        (e) => `${keyOf(object)} ${e.container}: ${e.rule}: ${e.reason}`,
      ),
    );

  it('lists every exception the platform declares (review any change here)', () => {
    // Every container has a read-only root filesystem (Keycloak's writable lib/quarkus and
    // every other writable path are emptyDirs); only the fleet service holds an API token, to
    // read what runs (cdk8s/lib/components/fleet.ts, RBAC of get, list and watch).
    expect(declared()).toEqual([
      "Deployment/fiware/fleet fleet: automountServiceAccountToken: it reads nodes, node leases, the agents' Deployments and pods and Argo CD's Applications with its ServiceAccount's token (get, list and watch only)",
    ]);
  });

  it('lists every platform-level exception with its reason (review any change here)', () => {
    const listed = platformExceptions(out.platform.context).map((e) => `${e.subject}: ${e.rule}`);
    expect(listed).toEqual([
      'namespace argocd: Pod Security baseline, not restricted',
      'namespace istio-system: Pod Security baseline, not restricted',
      'upstream chart workloads (argocd, istio-base, istio-cni, istiod, istio-ingressgateway, prometheus, jaeger, kiali, sealed-secrets-controller): manifest rules (probes, security context, read-only root) not checked',
      'istio-cni in kube-system: privileged: runs as root with NET_ADMIN, SYS_ADMIN and host paths',
      'Service istio-ingressgateway: type NodePort, not ClusterIP',
    ]);
    for (const e of platformExceptions(out.platform.context))
      expect(e.reason.length).toBeGreaterThan(40);
    // The production profile adds the node sysctl a CrateDB cluster needs.
    const prod = synth({ config: (c) => void (c.profile = 'production') });
    expect(platformExceptions(prod.platform.context).map((e) => e.subject)).toContain(
      'cratedb (multi-node)',
    );
    // The one privileged workload, the Istio CNI node agent, lives outside every platform namespace.
    const cni = out.objects.find(
      (o) => o.object.kind === 'Application' && o.object.metadata.name === 'istio-cni',
    )!.object as any;
    expect(cni.spec.destination.namespace).toBe('kube-system');
    expect(POD_SECURITY.platform.level).toBe('restricted');
    expect(POD_SECURITY.identity.level).toBe('restricted');
  });

  it('excuses exactly the declared container from the read-only-root rule', () => {
    const annotate = (o: any) => {
      container(o).securityContext.readOnlyRootFilesystem = false;
      o.metadata.annotations = {
        [EXCEPTIONS_ANNOTATION]: encodeExceptions([
          {
            container: 'orion',
            rule: 'readOnlyRootFilesystem',
            reason: 'a test image that writes its own logs to /var/log',
          },
        ]),
      };
    };
    expect(broken(mutate('Deployment', 'orion', annotate))).toEqual([]);
    // The same exception for another container name excuses nothing.
    const wrongContainer = mutate('Deployment', 'orion', (o) => {
      annotate(o);
      o.metadata.annotations[EXCEPTIONS_ANNOTATION] = o.metadata.annotations[
        EXCEPTIONS_ANNOTATION
      ].replace('"orion"', '"sidecar"');
    });
    expect(broken(wrongContainer)).toEqual(
      expect.arrayContaining(['read-only-root: Deployment/fiware/orion']),
    );
  });

  it('rejects an exception without a real reason', () => {
    expect(() =>
      decodeExceptions({
        [EXCEPTIONS_ANNOTATION]: JSON.stringify([
          { container: 'x', rule: 'readOnlyRootFilesystem', reason: 'needed' },
        ]),
      }),
    ).toThrow(/malformed exception/);
    expect(() =>
      decodeExceptions({
        [EXCEPTIONS_ANNOTATION]: JSON.stringify([
          { container: 'x', rule: 'privileged', reason: 'x'.repeat(40) },
        ]),
      }),
    ).toThrow(/malformed exception/);
  });
});
