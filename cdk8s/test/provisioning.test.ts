import { readFileSync } from 'node:fs';
import { join } from 'node:path';

import { policyData } from '../../platform/policy-data.js';
import { routeAtIngress } from '../../testing/istio/ingress.js';
import {
  ROOT,
  changedObjects,
  configInput,
  find,
  opaPolicyData,
  provisioningPolicyConfigMap,
  synth,
  RESTRICTED_CONTAINER,
} from '../../testing/support/synth.js';
import { loadPlatformContext } from '../../platform/context.js';

type Out = ReturnType<typeof synth>;

const deployment = (out: Out, namespace = 'fiware') =>
  find(out, 'Deployment', 'provisioning', namespace);
const container = (out: Out, namespace?: string) =>
  deployment(out, namespace).spec.template.spec.containers[0];
const envOf = (out: Out, namespace?: string): Record<string, string> =>
  Object.fromEntries(container(out, namespace).env.map((e: any) => [e.name, e.value]));
const PRINCIPAL = 'cluster.local/ns/fiware/sa/provisioning';
/** The `to` of every rule of `policy` whose source is the provisioning service. */
const grantsTo = (out: Out, policy: string) =>
  (find(out, 'AuthorizationPolicy', policy).spec.rules as any[])
    .filter((r) => r.from[0].source.principals.includes(PRINCIPAL))
    .map((r) => r.to);

describe('Provisioning', () => {
  const out = synth();

  it('is written to deploy/fiware/provisioning.yaml, from the pinned image', () => {
    const files = out.objects
      .filter((o) => o.object.metadata.name.startsWith('provisioning'))
      .map((o) => `${o.file} ${o.object.kind}`);
    expect(files).toEqual(
      expect.arrayContaining([
        'deploy/fiware/provisioning.yaml Deployment',
        'deploy/fiware/provisioning.yaml Service',
        'deploy/fiware/provisioning.yaml ServiceAccount',
        'deploy/fiware/provisioning.yaml ConfigMap',
        'deploy/fiware/provisioning.yaml AuthorizationPolicy',
      ]),
    );
    // The image is built at the package.json version (services/provisioning/Dockerfile): a
    // change to the service's API or its environment is a new version and a new pin.
    const { version } = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as {
      version: string;
    };
    expect(container(out).image).toBe(`ghcr.io/kitt4sme/provisioning:${version}`);
    expect(deployment(out).spec.template.metadata.labels.version).toBe(version);
    expect(find(out, 'Service', 'provisioning').spec.ports).toEqual([
      { name: 'http-api', port: 8080, targetPort: 8080 },
    ]);
  });

  describe('environment', () => {
    it('takes every URL from the platform context', () => {
      const ctx = out.platform.context;
      expect(envOf(out)).toEqual({
        PROVISIONING_PORT: '8080',
        IOTA_NORTH_URL: ctx.serviceUrl('iotAgentUl', 'north'),
        IOTA_JSON_NORTH_URL: ctx.serviceUrl('iotAgentJson', 'north'),
        ORION_URL: ctx.serviceUrl('orion', 'api'),
        QUANTUMLEAP_NOTIFY_URL: `${ctx.serviceUrl('quantumleap', 'api')}/v2/notify`,
        KEYCLOAK_ISSUER: ctx.issuer,
        KEYCLOAK_JWKS_URL: ctx.jwksUri,
        POLICY_DATA_FILE: '/etc/kitt4sme/policy-data.json',
        PLATFORM_EVENTS_URL: ctx.serviceUrl('monitor', 'events'),
        LOG_LEVEL: 'info',
        UPSTREAM_TIMEOUT_MS: '5000',
      });
      expect(envOf(out)).toMatchObject({
        IOTA_NORTH_URL: 'http://iotagent-ul.fiware.svc.cluster.local:4041',
        IOTA_JSON_NORTH_URL: 'http://iotagent-json.fiware.svc.cluster.local:4041',
        ORION_URL: 'http://orion.fiware.svc.cluster.local:1026',
        QUANTUMLEAP_NOTIFY_URL: 'http://quantumleap.fiware.svc.cluster.local:8668/v2/notify',
        KEYCLOAK_ISSUER: 'https://kitt4sme.localhost/auth/realms/kitt4sme',
        KEYCLOAK_JWKS_URL:
          'http://keycloak.identity.svc.cluster.local:8080/auth/realms/kitt4sme/protocol/openid-connect/certs',
      });
    });

    it('follows the namespaces, the host and the realm of the config', () => {
      const moved = synth({
        config: (c) => {
          c.namespaces.platform = 'factory';
          c.namespaces.identity = 'sso';
          c.ingress.host = 'platform.example.com';
          c.identity.realm = 'acme';
        },
      });
      expect(envOf(moved, 'factory')).toMatchObject({
        IOTA_NORTH_URL: 'http://iotagent-ul.factory.svc.cluster.local:4041',
        ORION_URL: 'http://orion.factory.svc.cluster.local:1026',
        QUANTUMLEAP_NOTIFY_URL: 'http://quantumleap.factory.svc.cluster.local:8668/v2/notify',
        KEYCLOAK_ISSUER: 'https://platform.example.com/auth/realms/acme',
        KEYCLOAK_JWKS_URL:
          'http://keycloak.sso.svc.cluster.local:8080/auth/realms/acme/protocol/openid-connect/certs',
      });
    });
  });

  describe('policy data', () => {
    it('mounts policyData(ctx) at POLICY_DATA_FILE, read-only', () => {
      const cm = provisioningPolicyConfigMap(out);
      const pod = deployment(out).spec.template.spec;
      const volume = pod.volumes.find((v: any) => v.configMap?.name === cm.metadata.name);
      expect(volume.configMap.items).toEqual([
        { key: 'policy-data.json', path: 'policy-data.json' },
      ]);
      const mount = container(out).volumeMounts.find((m: any) => m.name === volume.name);
      expect(mount).toEqual({ name: volume.name, mountPath: '/etc/kitt4sme', readOnly: true });
      expect(`${mount.mountPath}/policy-data.json`).toBe(envOf(out).POLICY_DATA_FILE);
      expect(cm.metadata.namespace).toBe('fiware');
      expect(Object.keys(cm.data)).toEqual(['policy-data.json']);
      expect(JSON.parse(cm.data['policy-data.json'])).toEqual(
        policyData(loadPlatformContext({ config: configInput() })),
      );
    });

    it('is the document the gateway’s OPA decides with', () => {
      expect(JSON.parse(provisioningPolicyConfigMap(out).data['policy-data.json'])).toEqual(
        opaPolicyData(out),
      );
    });

    it('rolls the pods when a tenant is added, and is stable otherwise', () => {
      const added = synth({ config: (c) => void c.tenants.push({ name: 'acme_works' }) });
      const name = (o: Out) => provisioningPolicyConfigMap(o).metadata.name;
      expect(name(added)).not.toBe(name(out));
      expect(name(added)).toMatch(/^provisioning-policy-[0-9a-f]{10}$/);
      expect(
        JSON.parse(provisioningPolicyConfigMap(added).data['policy-data.json']).tenants,
      ).toEqual(['manufracture', 'smithereens', 'acme_works']);
      expect(changedObjects(out, added)).toContain('Deployment/fiware/provisioning');
      expect(name(synth())).toBe(name(out));
    });
  });

  describe('at the gateway', () => {
    const vs = find(out, 'VirtualService', 'kitt4sme-routes').spec;

    it('routes /provisioning/ with the prefix kept', () => {
      const route = vs.http.find((r: any) => r.name === 'provisioning');
      expect(route.rewrite).toBeUndefined();
      expect(route.match).toEqual([
        { uri: { prefix: '/provisioning/' } },
        { uri: { exact: '/provisioning' } },
      ]);
      expect(routeAtIngress(out, '/provisioning/devices/foodev')).toMatchObject({
        host: 'provisioning.fiware.svc.cluster.local',
        port: 8080,
        path: '/provisioning/devices/foodev',
      });
    });

    it('never routes the health, readiness and metrics endpoints', () => {
      for (const p of ['/healthz', '/readyz', '/metrics'])
        expect(routeAtIngress(out, p)).toBeUndefined();
    });

    it('exempts exactly the OpenAPI document from OPA', () => {
      const notPaths: string[] = find(out, 'AuthorizationPolicy', 'opa-ext-authz').spec.rules[0]
        .to[0].operation.notPaths;
      expect(notPaths.filter((p) => p.startsWith('/provisioning'))).toEqual([
        '/provisioning/openapi.json',
      ]);
    });

    it('is a tenant API: OPA decides it with the route rights, and its sidecar verifies tokens', () => {
      expect(opaPolicyData(out).routes.find((r: any) => r.prefix === '/provisioning')).toEqual({
        prefix: '/provisioning',
        rights: {
          operator: ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE'],
          viewer: ['GET', 'HEAD'],
          'tenant-admin': ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE'],
          'platform-admin': ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE'],
        },
      });
      expect(deployment(out).spec.template.metadata.labels['kitt4sme.io/tenant-api']).toBe('true');
    });

    it('lets only the gateway call the service, on its API port, and OPA fetch the API-key bundle', () => {
      expect(find(out, 'AuthorizationPolicy', 'provisioning-allow').spec).toEqual({
        selector: { matchLabels: { app: 'provisioning' } },
        action: 'ALLOW',
        rules: [
          {
            from: [{ source: { principals: ['cluster.local/ns/fiware/sa/opa'] } }],
            to: [{ operation: { ports: ['8080'], methods: ['GET'], paths: ['/bundles/*'] } }],
          },
          {
            from: [
              { source: { principals: ['cluster.local/ns/istio-system/sa/istio-ingressgateway'] } },
            ],
            to: [{ operation: { ports: ['8080'] } }],
          },
        ],
      });
    });
  });

  describe('mesh grants', () => {
    it('may provision on the IoT Agent north API, and nothing else there', () => {
      expect(grantsTo(out, 'iotagent-ul-allow')).toEqual([
        [
          {
            operation: {
              ports: ['4041'],
              methods: ['GET', 'POST', 'DELETE'],
              paths: ['/iot/services*', '/iot/devices*'],
            },
          },
        ],
      ]);
    });

    it('may read Orion, delete entities and manage subscriptions, but never write entities', () => {
      const grants = grantsTo(out, 'orion-allow').map((to) => to[0].operation);
      expect(grants).toHaveLength(3);
      expect(grants).toEqual(
        expect.arrayContaining([
          { ports: ['1026'], methods: ['GET'], paths: ['/version', '/v2/entities*'] },
          { ports: ['1026'], methods: ['DELETE'], paths: ['/v2/entities/*'] },
          { ports: ['1026'], methods: ['GET', 'POST', 'DELETE'], paths: ['/v2/subscriptions*'] },
        ]),
      );
      const entityWrites = grants.filter(
        (g) =>
          g.paths.some((p: string) => p.startsWith('/v2/entities')) &&
          g.methods.some((m: string) => ['POST', 'PUT', 'PATCH'].includes(m)),
      );
      expect(entityWrites).toEqual([]);
    });

    it('may fetch only the realm keys from Keycloak', () => {
      expect(grantsTo(out, 'keycloak-allow')).toEqual([
        [
          {
            operation: {
              ports: ['8080'],
              methods: ['GET'],
              paths: ['/auth/realms/kitt4sme/protocol/openid-connect/certs'],
            },
          },
        ],
      ]);
    });

    it('never calls QuantumLeap or a database: Orion sends the notifications', () => {
      for (const policy of ['quantumleap-allow', 'mongodb-allow', 'cratedb-allow'])
        expect(grantsTo(out, policy)).toEqual([]);
    });
  });

  describe('pod', () => {
    it('is probed on /healthz (startup, liveness) and /readyz (readiness), on the API port', () => {
      const c = container(out);
      expect(c.startupProbe.httpGet).toEqual({ path: '/healthz', port: 8080 });
      expect(c.startupProbe.periodSeconds * c.startupProbe.failureThreshold).toBe(60);
      expect(c.livenessProbe.httpGet).toEqual({ path: '/healthz', port: 8080 });
      expect(c.readinessProbe.httpGet).toEqual({ path: '/readyz', port: 8080 });
    });

    it('is scraped by Prometheus on /metrics of the API port', () => {
      expect(deployment(out).spec.template.metadata.annotations).toEqual({
        'prometheus.io/scrape': 'true',
        'prometheus.io/port': '8080',
        'prometheus.io/path': '/metrics',
        'sidecar.istio.io/nativeSidecar': 'true',
      });
    });

    it('runs as 65532, read-only, without capabilities or a Kubernetes API token', () => {
      const pod = deployment(out).spec.template.spec;
      expect(pod.securityContext).toMatchObject({
        runAsNonRoot: true,
        runAsUser: 65532,
        runAsGroup: 65532,
        seccompProfile: { type: 'RuntimeDefault' },
      });
      expect(pod.automountServiceAccountToken).toBe(false);
      expect(container(out).securityContext).toEqual(RESTRICTED_CONTAINER);
      expect(deployment(out).metadata.annotations).toBeUndefined();
    });

    it('is sized by the profile: one replica on a laptop, two and a disruption budget in production', () => {
      expect(deployment(out).spec.replicas).toBe(1);
      expect(container(out).resources).toEqual({
        requests: { cpu: '50m', memory: '96Mi' },
        limits: { cpu: '500m', memory: '256Mi' },
      });
      const prod = synth({ config: (c) => void (c.profile = 'production') });
      expect(find(prod, 'Deployment', 'provisioning').spec.replicas).toBe(2);
      expect(find(prod, 'PodDisruptionBudget', 'provisioning').spec.maxUnavailable).toBe(1);
    });
  });
});
