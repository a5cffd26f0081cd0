/**
 * The liveness monitor as a platform component (cdk8s/lib/components/monitor.ts) and the
 * Alertmanager that routes to it (the prometheus chart's values): one replica writing its state
 * to a volume of its own, restricted Pod Security, every URL from the registry, its route
 * behind the tenancy policy, exactly the calls its registry entry names, and its internal
 * events port that only provisioning, the fleet service and Alertmanager reach, each on its
 * own path.
 */
import { ALERTMANAGER_RECEIVER_PATH, EVENTS_INGEST_PATH } from '../../platform/events.js';
import { meshPrincipal } from '../../platform/mesh.js';
import { routeAtIngress } from '../../testing/istio/ingress.js';
import { IstioMesh } from '../../testing/istio/mesh.js';
import type { MeshObject } from '../../testing/istio/mesh.js';
import {
  RESTRICTED_CONTAINER,
  find,
  opaPolicyData,
  policyConfigMapOf,
  synth,
} from '../../testing/support/synth.js';
import type { SynthOutput } from '../lib/synth.js';
import { MONITOR_STATE_FILE, WEBHOOK_DENIED_RANGES } from '../lib/components/monitor.js';

const PRINCIPAL = 'cluster.local/ns/fiware/sa/monitor';
const GATEWAY = 'cluster.local/ns/istio-system/sa/istio-ingressgateway';
const ALERTMANAGER = 'cluster.local/ns/istio-system/sa/prometheus-alertmanager';
const PROVISIONING = 'cluster.local/ns/fiware/sa/provisioning';
const FLEET = 'cluster.local/ns/fiware/sa/fleet';

const objectsOf = (out: SynthOutput, kind: string): any[] =>
  out.objects.filter((o) => o.object.kind === kind).map((o) => o.object as any);
const deployment = (out: SynthOutput) => find(out, 'Deployment', 'monitor', 'fiware');
const podOf = (out: SynthOutput) => deployment(out).spec.template.spec;
const envOf = (out: SynthOutput): Record<string, string> =>
  Object.fromEntries(podOf(out).containers[0].env.map((e: any) => [e.name, e.value]));
const alertmanagerValues = (out: SynthOutput) =>
  find(out, 'Application', 'prometheus').spec.source.helm.valuesObject.alertmanager;

describe('the monitor', () => {
  const out = synth();
  const ctx = out.platform.context;

  it('runs one replica under restricted Pod Security, recreated so one pod writes the state', () => {
    const d = deployment(out);
    expect(d.spec.replicas).toBe(1);
    expect(d.spec.strategy).toEqual({ type: 'Recreate' });
    // One replica in every profile, production included.
    expect(synth({ config: (c) => (c.profile = 'production') }).objects).toEqual(
      expect.arrayContaining([
        expect.objectContaining({
          object: expect.objectContaining({
            kind: 'Deployment',
            metadata: expect.objectContaining({ name: 'monitor' }),
            spec: expect.objectContaining({ replicas: 1, strategy: { type: 'Recreate' } }),
          }),
        }),
      ]),
    );
    const pod = podOf(out);
    expect(pod.securityContext).toMatchObject({
      runAsNonRoot: true,
      runAsUser: 65532,
      seccompProfile: { type: 'RuntimeDefault' },
    });
    expect(pod.automountServiceAccountToken).toBe(false);
    expect(pod.containers).toHaveLength(1);
    expect(pod.containers[0].securityContext).toEqual(RESTRICTED_CONTAINER);
    expect(pod.volumes.filter((v: any) => v.hostPath)).toEqual([]);
    expect(objectsOf(out, 'PodDisruptionBudget').map((p) => p.metadata.name)).not.toContain(
      'monitor',
    );
  });

  it('keeps its state file on a ReadWriteOnce claim sized by the config', () => {
    const pod = podOf(out);
    const mounts = Object.fromEntries(
      pod.containers[0].volumeMounts.map((m: any) => [m.mountPath, m]),
    );
    const volume = pod.volumes.find((v: any) => v.name === mounts['/var/lib/monitor'].name);
    const claim = find(out, 'PersistentVolumeClaim', volume.persistentVolumeClaim.claimName);
    expect(claim.metadata.namespace).toBe('fiware');
    expect(claim.spec).toEqual({
      accessModes: ['ReadWriteOnce'],
      storageClassName: 'standard',
      resources: { requests: { storage: '1Gi' } },
    });
    expect(envOf(out).MONITOR_STATE_FILE).toBe(MONITOR_STATE_FILE);
    expect(MONITOR_STATE_FILE.startsWith('/var/lib/monitor/')).toBe(true);
    const resized = synth({ config: (c) => (c.storage.sizes.monitor = '256Mi') });
    expect(find(resized, 'PersistentVolumeClaim', 'monitor-state').spec.resources).toEqual({
      requests: { storage: '256Mi' },
    });
  });

  it('fails synth on a state volume below the minimum, naming the key', () => {
    expect(() => synth({ config: (c) => (c.storage.sizes.monitor = '16Mi') })).toThrow(
      /storage\.sizes\.monitor.*16Mi.*64Mi/s,
    );
  });

  it('takes every URL and port from the registry, and the policy data of OPA', () => {
    expect(envOf(out)).toEqual({
      MONITOR_PORT: '8080',
      MONITOR_EVENTS_PORT: '8081',
      IOTA_NORTH_URL: ctx.serviceUrl('iotAgentUl', 'north'),
      IOTA_JSON_NORTH_URL: ctx.serviceUrl('iotAgentJson', 'north'),
      ORION_URL: ctx.serviceUrl('orion', 'api'),
      KEYCLOAK_JWKS_URL: ctx.jwksUri,
      POLICY_DATA_FILE: '/etc/kitt4sme/policy-data.json',
      MONITOR_STATE_FILE,
      LOG_LEVEL: 'info',
      UPSTREAM_TIMEOUT_MS: '5000',
    });
    expect(envOf(out).ORION_URL).toBe('http://orion.fiware.svc.cluster.local:1026');
    const ports = podOf(out).containers[0].ports.map((p: any) => [p.name, p.containerPort]);
    expect(ports).toEqual([
      ['http-api', 8080],
      ['http-events', 8081],
    ]);
    const service = find(out, 'Service', 'monitor', 'fiware').spec;
    expect(service.ports.map((p: any) => [p.name, p.port])).toEqual([
      ['http-api', 8080],
      ['http-events', 8081],
    ]);
    const data = JSON.parse(policyConfigMapOf(out, 'monitor').data['policy-data.json'] as string);
    expect(data).toEqual(opaPolicyData(out));
  });

  it('gives provisioning and the fleet service the events port’s URL', () => {
    const url = 'http://monitor.fiware.svc.cluster.local:8081';
    for (const name of ['provisioning', 'fleet']) {
      const env = find(out, 'Deployment', name, 'fiware').spec.template.spec.containers[0].env;
      expect(env.find((e: any) => e.name === 'PLATFORM_EVENTS_URL')?.value).toBe(url);
    }
  });

  it('probes /healthz and /readyz, and is scraped on /metrics through the sidecar', () => {
    const c = podOf(out).containers[0];
    expect(c.startupProbe.httpGet).toMatchObject({ path: '/healthz', port: 8080 });
    expect(c.livenessProbe.httpGet).toMatchObject({ path: '/healthz', port: 8080 });
    expect(c.readinessProbe.httpGet).toMatchObject({ path: '/readyz', port: 8080 });
    expect(deployment(out).spec.template.metadata.annotations).toEqual({
      'prometheus.io/scrape': 'true',
      'prometheus.io/port': '8080',
      'prometheus.io/path': '/metrics',
      'sidecar.istio.io/nativeSidecar': 'true',
    });
  });

  it('admits the gateway on its API, and on the events port exactly its producers and Alertmanager, each on its path', () => {
    const allow = find(out, 'AuthorizationPolicy', 'monitor-allow', 'fiware').spec;
    const rules = allow.rules.map((r: any) => [r.from[0].source.principals[0], r.to[0].operation]);
    expect(rules).toEqual(
      expect.arrayContaining([
        [GATEWAY, { ports: ['8080'] }],
        [PROVISIONING, { ports: ['8081'], methods: ['POST'], paths: [EVENTS_INGEST_PATH] }],
        [FLEET, { ports: ['8081'], methods: ['POST'], paths: [EVENTS_INGEST_PATH] }],
        [ALERTMANAGER, { ports: ['8081'], methods: ['POST'], paths: [ALERTMANAGER_RECEIVER_PATH] }],
      ]),
    );
    expect(rules).toHaveLength(4);
  });

  it('decides, by Istio’s authorization semantics, that no other identity reaches the events port', () => {
    const mesh = new IstioMesh(out.objects.map((o) => o.object as unknown as MeshObject));
    const labels = deployment(out).spec.template.metadata.labels;
    const decide = (principal: string, method: string, path: string, port = 8081) =>
      mesh.authorize({ namespace: 'fiware', labels }, { port, method, path, principal }).action;
    const identities = [
      ...new Set([
        ...objectsOf(out, 'ServiceAccount').map((a) =>
          meshPrincipal(a.metadata.namespace, a.metadata.name),
        ),
        GATEWAY,
        ALERTMANAGER,
        'cluster.local/ns/agents-manufracture/sa/default',
      ]),
    ].sort();
    expect(identities.length).toBeGreaterThan(10);
    const admitted = (method: string, path: string) =>
      identities.filter((p) => decide(p, method, path) === 'allow');
    expect(admitted('POST', EVENTS_INGEST_PATH)).toEqual([FLEET, PROVISIONING].sort());
    expect(admitted('POST', ALERTMANAGER_RECEIVER_PATH)).toEqual([ALERTMANAGER]);
    // Nothing else on that port: no read, no other path, not the gateway.
    expect(admitted('GET', EVENTS_INGEST_PATH)).toEqual([]);
    expect(admitted('POST', '/internal/v1/events/x')).toEqual([]);
    expect(admitted('POST', '/monitor/v1/subscriptions')).toEqual([]);
    // And the events port is no route at the gateway.
    expect(routeAtIngress(out, EVENTS_INGEST_PATH)).toBeUndefined();
    expect(routeAtIngress(out, ALERTMANAGER_RECEIVER_PATH)).toBeUndefined();
  });

  it('calls exactly the agents’ registries (GET), Orion’s reads, batch updates and attribute patches, and Keycloak’s JWKS', () => {
    const grants = objectsOf(out, 'AuthorizationPolicy').flatMap((p) =>
      (p.spec.rules ?? [])
        .filter((r: any) => r.from?.some((f: any) => f.source.principals?.includes(PRINCIPAL)))
        .map((r: any) => {
          const { ports, methods, paths } = r.to[0].operation;
          return `${p.metadata.name}: ${JSON.stringify({ ports, methods, paths })}`;
        }),
    );
    expect(grants.sort()).toEqual(
      [
        'iotagent-json-allow: {"ports":["4041"],"methods":["GET"],"paths":["/iot/services","/iot/devices"]}',
        'iotagent-ul-allow: {"ports":["4041"],"methods":["GET"],"paths":["/iot/services","/iot/devices"]}',
        'keycloak-allow: {"ports":["8080"],"methods":["GET"],"paths":["/auth/realms/kitt4sme/protocol/openid-connect/certs"]}',
        'orion-allow: {"ports":["1026"],"methods":["GET"],"paths":["/v2/entities"]}',
        'orion-allow: {"ports":["1026"],"methods":["PATCH"],"paths":["/v2/entities/*"]}',
        'orion-allow: {"ports":["1026"],"methods":["POST"],"paths":["/v2/op/update"]}',
      ].sort(),
    );
  });

  it('is routed at /monitor unchanged, behind the tenancy policy but for its OpenAPI document', () => {
    expect(routeAtIngress(out, '/monitor/v1/targets')).toMatchObject({
      host: 'monitor.fiware.svc.cluster.local',
      port: 8080,
      path: '/monitor/v1/targets',
    });
    const notPaths: string[] = find(out, 'AuthorizationPolicy', 'opa-ext-authz').spec.rules[0].to[0]
      .operation.notPaths;
    expect(notPaths.filter((p) => p.startsWith('/monitor'))).toEqual(['/monitor/openapi.json']);
    const data = JSON.parse(
      policyConfigMapOf(out, 'monitor').data['policy-data.json'] as string,
    ) as { routes: { prefix: string; rights: Record<string, string[]> }[] };
    expect(data.routes.find((r) => r.prefix === '/monitor')?.rights).toEqual({
      viewer: ['GET', 'HEAD'],
      operator: ['GET', 'HEAD'],
      'tenant-admin': ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE'],
      'platform-admin': ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE'],
    });
  });

  it('passes webhooks through its own sidecar only, and fences its pod off private and link-local addresses', () => {
    const sidecars = objectsOf(out, 'Sidecar').filter((s) => s.spec.outboundTrafficPolicy);
    expect(sidecars.map((s) => `${s.metadata.namespace}/${s.metadata.name}`)).toEqual([
      'fiware/monitor',
    ]);
    expect(sidecars[0].spec).toEqual({
      workloadSelector: { labels: { app: 'monitor' } },
      egress: [{ hosts: ['*/*.cluster.local'] }],
      outboundTrafficPolicy: { mode: 'ALLOW_ANY' },
    });
    const fence = find(out, 'NetworkPolicy', 'monitor-egress', 'fiware').spec;
    expect(fence.podSelector).toEqual({ matchLabels: { app: 'monitor' } });
    expect(fence.policyTypes).toEqual(['Egress']);
    const blocks = fence.egress.flatMap((r: any) => (r.to ?? []).filter((t: any) => t.ipBlock));
    expect(blocks).toEqual([
      { ipBlock: { cidr: '0.0.0.0/0', except: [...WEBHOOK_DENIED_RANGES] } },
    ]);
    for (const range of ['10.0.0.0/8', '169.254.0.0/16', '127.0.0.0/8', '192.168.0.0/16'])
      expect(WEBHOOK_DENIED_RANGES).toContain(range);
    const namespaces = fence.egress.flatMap((r: any) =>
      (r.to ?? []).flatMap((t: any) =>
        t.namespaceSelector && !t.podSelector
          ? [t.namespaceSelector.matchLabels['kubernetes.io/metadata.name']]
          : [],
      ),
    );
    expect(namespaces).toEqual(['fiware', 'identity', 'istio-system']);
  });

  it('has a layer of its own, synced by an Application of the platform project after the FIWARE layer', () => {
    const files = [
      ...new Set(
        out.objects.filter((o) => o.object.metadata.labels?.app === 'monitor').map((o) => o.file),
      ),
    ];
    expect(files).toEqual(['deploy/monitor/monitor.yaml']);
    const apps = objectsOf(out, 'Application').filter(
      (a) => a.spec.source?.path === 'deploy/monitor',
    );
    expect(apps).toHaveLength(1);
    expect(apps[0].spec.project).toBe('platform');
    const wave = (a: any) => Number(a.metadata.annotations['argocd.argoproj.io/sync-wave']);
    const fiware = objectsOf(out, 'Application').find(
      (a) => a.spec.source?.path === 'deploy/fiware',
    );
    expect(wave(apps[0])).toBeGreaterThan(wave(fiware));
  });
});

describe('Alertmanager (the prometheus chart’s)', () => {
  const out = synth();
  const ctx = out.platform.context;
  const values = alertmanagerValues(out);

  it('runs the registry’s pinned image, one replica, sized by the profile', () => {
    expect(values.enabled).toBe(true);
    expect(values.image).toEqual({
      repository: ctx.imageSpec('alertmanager').repository,
      tag: ctx.imageSpec('alertmanager').tag,
    });
    expect(values.image.tag).toMatch(/^v\d+\.\d+\.\d+$/);
    expect(values.replicaCount).toBe(1);
    expect(values.resources).toEqual({
      requests: { cpu: '10m', memory: '32Mi' },
      limits: { cpu: '200m', memory: '128Mi' },
    });
  });

  it('runs under restricted Pod Security with no API token and the smallest volume', () => {
    expect(values.podSecurityContext).toMatchObject({
      runAsNonRoot: true,
      seccompProfile: { type: 'RuntimeDefault' },
    });
    expect(values.securityContext).toMatchObject({
      allowPrivilegeEscalation: false,
      readOnlyRootFilesystem: true,
      capabilities: { drop: ['ALL'] },
      runAsNonRoot: true,
      seccompProfile: { type: 'RuntimeDefault' },
    });
    expect(values.automountServiceAccountToken).toBe(false);
    expect(values.persistence).toEqual({ enabled: true, size: '50Mi', storageClass: 'standard' });
  });

  it('gets a sidecar, so its webhook reaches the monitor with its mesh identity', () => {
    expect(values.podLabels).toEqual({ 'sidecar.istio.io/inject': 'true' });
  });

  it('posts every alert, firing and resolved, to the monitor’s receiver path, one notification per target', () => {
    const config = values.config;
    expect(config.route).toMatchObject({
      receiver: 'monitor',
      group_by: ['alertname', 'tenant', 'kind', 'id'],
    });
    expect(config.route.routes).toBeUndefined();
    expect(config.receivers).toEqual([
      {
        name: 'monitor',
        webhook_configs: [
          {
            url: `http://monitor.fiware.svc.cluster.local:8081${ALERTMANAGER_RECEIVER_PATH}`,
            send_resolved: true,
          },
        ],
      },
    ]);
    expect(config.receivers[0].webhook_configs[0].url).toBe(
      `${ctx.serviceUrl('monitor', 'events')}${ALERTMANAGER_RECEIVER_PATH}`,
    );
  });

  it('follows the platform namespace into the receiver URL', () => {
    const moved = synth({ config: (c) => (c.namespaces.platform = 'factory') });
    expect(alertmanagerValues(moved).config.receivers[0].webhook_configs[0].url).toBe(
      `http://monitor.factory.svc.cluster.local:8081${ALERTMANAGER_RECEIVER_PATH}`,
    );
  });
});
