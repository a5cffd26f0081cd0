import { Testing } from 'cdk8s';

import { ROUTES } from '../config/routes.js';
import { parsePlatformConfig } from '../config/schema.js';
import { PlatformContext } from '../lib/context.js';
import { ExternalIdentity, Workload, httpProbe } from '../lib/workload.js';
import { configInput, find, synth } from './support/synth.js';

const ctx = () => new PlatformContext(parsePlatformConfig(configInput()), ROUTES);

/** A minimal workload for grant tests. */
function workload(
  chart: ReturnType<typeof Testing.chart>,
  id: 'orion' | 'mongodb' | 'quantumleap',
) {
  const port = { orion: 1026, mongodb: 27017, quantumleap: 8668 }[id];
  const key = id === 'mongodb' ? 'db' : 'api';
  return new Workload(chart, id, {
    context: ctx(),
    service: id,
    size: id,
    kind: 'Deployment',
    runAs: { user: 1000, group: 1000 },
    containers: [
      {
        name: id,
        image: id,
        ports: [key as never],
        readinessProbe: httpProbe('/', port),
        livenessProbe: httpProbe('/', port),
      },
    ],
  });
}

const policyOf = (chart: ReturnType<typeof Testing.chart>, name: string) =>
  Testing.synth(chart).find((o) => o.kind === 'AuthorizationPolicy' && o.metadata.name === name);

describe('Workload', () => {
  describe('grantAccess', () => {
    it('creates no policy until something is granted', () => {
      const chart = Testing.chart();
      workload(chart, 'orion');
      expect(policyOf(chart, 'orion-allow')).toBeUndefined();
    });

    it('allows the caller principal on the target port, selecting the target pods', () => {
      const chart = Testing.chart();
      const orion = workload(chart, 'orion');
      const ql = workload(chart, 'quantumleap');
      ql.grantAccess(orion, { methods: ['POST'], paths: ['/v2/notify'] });
      expect(policyOf(chart, 'quantumleap-allow')).toEqual({
        apiVersion: 'security.istio.io/v1',
        kind: 'AuthorizationPolicy',
        metadata: expect.objectContaining({ name: 'quantumleap-allow', namespace: 'fiware' }),
        spec: {
          selector: { matchLabels: { app: 'quantumleap' } },
          action: 'ALLOW',
          rules: [
            {
              from: [{ source: { principals: ['cluster.local/ns/fiware/sa/orion'] } }],
              to: [{ operation: { ports: ['8668'], methods: ['POST'], paths: ['/v2/notify'] } }],
            },
          ],
        },
      });
    });

    it('renders the same policy whatever the order of grants, and merges duplicates', () => {
      const render = (order: 'ab' | 'ba') => {
        const chart = Testing.chart();
        const orion = workload(chart, 'orion');
        const db = workload(chart, 'mongodb');
        const gw = new ExternalIdentity('istio-system', 'istio-ingressgateway', 'gw');
        if (order === 'ab') {
          db.grantAccess(orion);
          db.grantAccess(gw);
        } else {
          db.grantAccess(gw);
          db.grantAccess(orion);
          db.grantAccess(gw);
        }
        return policyOf(chart, 'mongodb-allow');
      };
      expect(render('ba')).toEqual(render('ab'));
      expect(render('ab').spec.rules).toHaveLength(2);
    });

    it('fails when methods or paths are given for a TCP port, which Istio would never match', () => {
      const chart = Testing.chart();
      const orion = workload(chart, 'orion');
      const db = workload(chart, 'mongodb');
      expect(() => db.grantAccess(orion, { methods: ['GET'] })).toThrow(
        /need an HTTP port, but db is mongo/,
      );
    });

    it('fails on a port the workload does not have', () => {
      const chart = Testing.chart();
      const orion = workload(chart, 'orion');
      expect(() => orion.grantPort(orion, 'north')).toThrow(/has no port north/);
    });
  });
});

describe('the platform mesh', () => {
  const out = synth();
  const rules = (name: string) => find(out, 'AuthorizationPolicy', name).spec.rules as any[];
  const callers = (name: string) =>
    rules(name)
      .map((r) => r.from[0].source.principals[0].split('/sa/')[1])
      .sort();

  it('enforces STRICT mTLS and default-deny in every meshed namespace', () => {
    for (const ns of ['fiware', 'identity']) {
      expect(find(out, 'PeerAuthentication', 'default', ns).spec).toEqual({
        mtls: { mode: 'STRICT' },
      });
      expect(find(out, 'AuthorizationPolicy', 'default-deny', ns).spec).toEqual({
        action: 'ALLOW',
      });
    }
  });

  it('lets each workload be reached only by the callers it needs', () => {
    expect(callers('mongodb-allow')).toEqual(['iotagent-ul', 'orion']);
    expect(callers('orion-allow')).toEqual(['iotagent-ul', 'istio-ingressgateway']);
    expect(callers('quantumleap-allow')).toEqual(['istio-ingressgateway', 'orion']);
    expect(callers('cratedb-allow')).toEqual(['grafana', 'quantumleap']);
    expect(callers('keycloak-postgres-allow')).toEqual(['keycloak']);
    expect(callers('keycloak-allow')).toEqual(['istio-ingressgateway']);
    expect(callers('opa-allow')).toEqual(['istio-ingressgateway']);
    expect(callers('grafana-allow')).toEqual(['istio-ingressgateway']);
    expect(callers('iotagent-ul-allow')).toEqual(['istio-ingressgateway']);
  });

  it('lets Orion only POST notifications to QuantumLeap', () => {
    const fromOrion = rules('quantumleap-allow').find((r) =>
      r.from[0].source.principals[0].endsWith('/sa/orion'),
    );
    expect(fromOrion.to).toEqual([
      { operation: { ports: ['8668'], methods: ['POST'], paths: ['/v2/notify'] } },
    ]);
  });

  it('lets Grafana reach CrateDB on the PostgreSQL port only', () => {
    const fromGrafana = rules('cratedb-allow').find((r) =>
      r.from[0].source.principals[0].endsWith('/sa/grafana'),
    );
    expect(fromGrafana.to).toEqual([{ operation: { ports: ['5432'] } }]);
  });

  it('gives the gateway the routed ports and OPA, nothing else', () => {
    const gw = (name: string) =>
      rules(name)
        .filter((r) => r.from[0].source.principals[0].endsWith('/sa/istio-ingressgateway'))
        .flatMap((r) => r.to[0].operation.ports);
    expect(gw('iotagent-ul-allow').sort()).toEqual(['4041', '7896']);
    expect(gw('opa-allow')).toEqual(['9191']);
    expect(gw('keycloak-allow')).toEqual(['8080']);
    expect(
      rules('mongodb-allow').some((r) => r.from[0].source.principals[0].includes('ingressgateway')),
    ).toBe(false);
  });

  it('clusters CrateDB and Keycloak with themselves only in production', () => {
    const prod = synth({ config: (c) => void (c.profile = 'production') });
    const prodRules = (name: string) => find(prod, 'AuthorizationPolicy', name).spec.rules as any[];
    expect(prodRules('cratedb-allow').map((r) => r.from[0].source.principals[0])).toContain(
      'cluster.local/ns/fiware/sa/cratedb',
    );
    expect(prodRules('keycloak-allow').some((r) => r.to[0].operation.ports[0] === '7800')).toBe(
      true,
    );
    expect(callers('cratedb-allow')).not.toContain('cratedb');
  });

  it('authenticates Keycloak tokens at the gateway and passes them on to OPA', () => {
    const ra = find(out, 'RequestAuthentication', 'keycloak-jwt', 'istio-system').spec;
    expect(ra.jwtRules).toEqual([
      {
        issuer: 'https://kitt4sme.localhost/auth/realms/kitt4sme',
        jwksUri:
          'http://keycloak.identity.svc.cluster.local:8080/auth/realms/kitt4sme/protocol/openid-connect/certs',
        forwardOriginalToken: true,
      },
    ]);
    expect(ra.selector).toEqual({ matchLabels: { istio: 'ingressgateway' } });
  });

  it('declares the OPA provider, path normalisation and fail-closed ext_authz in istiod', () => {
    const istiod = find(out, 'Application', 'istiod').spec.source.helm.valuesObject;
    expect(istiod.meshConfig.extensionProviders[0]).toEqual({
      name: 'opa-ext-authz',
      envoyExtAuthzGrpc: {
        service: 'opa.fiware.svc.cluster.local',
        port: 9191,
        timeout: '1s',
        failOpen: false,
        statusOnError: '503',
      },
    });
    expect(istiod.meshConfig.pathNormalization).toEqual({
      normalization: 'DECODE_AND_MERGE_SLASHES',
    });
    expect(istiod.meshConfig.outboundTrafficPolicy).toEqual({ mode: 'REGISTRY_ONLY' });
    expect(istiod.cni).toEqual({ enabled: true });
  });

  it('serves the host over HTTPS with the bootstrap certificate, redirecting HTTP', () => {
    const gw = find(out, 'Gateway', 'kitt4sme-gateway').spec;
    expect(gw.servers).toEqual([
      {
        port: { number: 80, name: 'http', protocol: 'HTTP' },
        hosts: ['kitt4sme.localhost'],
        tls: { httpsRedirect: true },
      },
      {
        port: { number: 443, name: 'https', protocol: 'HTTPS' },
        hosts: ['kitt4sme.localhost'],
        tls: {
          mode: 'SIMPLE',
          credentialName: 'kitt4sme-ingress-tls',
          minProtocolVersion: 'TLSV1_2',
        },
      },
    ]);
    const plain = synth({ config: (c) => void (c.ingress.tls = false) });
    expect(find(plain, 'Gateway', 'kitt4sme-gateway').spec.servers).toEqual([
      { port: { number: 80, name: 'http', protocol: 'HTTP' }, hosts: ['kitt4sme.localhost'] },
    ]);
    expect(find(plain, 'RequestAuthentication', 'keycloak-jwt').spec.jwtRules[0].issuer).toBe(
      'http://kitt4sme.localhost/auth/realms/kitt4sme',
    );
  });

  it('labels meshed namespaces for injection and restricted Pod Security', () => {
    const ns = (name: string) => find(out, 'Namespace', name).metadata.labels;
    expect(ns('fiware')).toMatchObject({
      'istio-injection': 'enabled',
      'pod-security.kubernetes.io/enforce': 'restricted',
    });
    expect(ns('identity')).toMatchObject({
      'istio-injection': 'enabled',
      'pod-security.kubernetes.io/enforce': 'restricted',
    });
    expect(ns('istio-system')['istio-injection']).toBeUndefined();
    expect(ns('istio-system')['pod-security.kubernetes.io/enforce']).toBe('baseline');
    expect(
      find(out, 'Namespace', 'fiware').metadata.annotations['argocd.argoproj.io/sync-options'],
    ).toBe('Prune=false,Delete=false');
  });
});
