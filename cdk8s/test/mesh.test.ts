import { Testing } from 'cdk8s';

import { ExternalIdentity, Workload, httpProbe } from '../lib/workload.js';
import { allowedEdges, requiredEdges } from '../../testing/support/edges.js';
import { configInput, find, inputs, opaPolicyData, synth } from '../../testing/support/synth.js';
import { loadPlatformContext } from '../../platform/context.js';
import { SHUTDOWN, shutdownSeconds } from '../../platform/shutdown.js';

const ctx = () => loadPlatformContext({ config: configInput() });

/** A minimal workload for grant tests. */
function workload(
  chart: ReturnType<typeof Testing.chart>,
  id: 'orion' | 'mongodb' | 'quantumleap',
  extra: Partial<ConstructorParameters<typeof Workload>[2]> = {},
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
    ...extra,
  });
}

const policyOf = (chart: ReturnType<typeof Testing.chart>, name: string) =>
  Testing.synth(chart).find((o) => o.kind === 'AuthorizationPolicy' && o.metadata.name === name);

describe('Workload', () => {
  describe('stopping (platform/shutdown.ts)', () => {
    const podOf = (chart: ReturnType<typeof Testing.chart>, kind = 'Deployment') =>
      Testing.synth(chart).find((o) => o.kind === kind)!.spec.template;
    const probe = httpProbe('/', 1026);
    const helper = {
      name: 'helper',
      image: 'orion' as const,
      ports: [] as never[],
      readinessProbe: probe,
      livenessProbe: probe,
      resources: {
        cpuRequestMilli: 10,
        cpuLimitMilli: 100,
        memoryRequestMi: 16,
        memoryLimitMi: 32,
      },
    };
    const PAUSE = { preStop: { sleep: { seconds: 5 } } };

    it('pauses a rolled serving container before SIGTERM, not one without ports, as a native sidecar pod', () => {
      const chart = Testing.chart();
      const w = workload(chart, 'orion', {
        containers: [
          {
            name: 'orion',
            image: 'orion',
            ports: ['api'],
            readinessProbe: probe,
            livenessProbe: probe,
          },
          helper,
        ],
      });
      const pod = podOf(chart);
      expect(pod.spec.containers.map((c: any) => [c.name, c.lifecycle])).toEqual([
        ['orion', PAUSE],
        ['helper', undefined],
      ]);
      expect(w.pausesBeforeStop).toBe(true);
      expect(pod.spec.terminationGracePeriodSeconds).toBe(30);
      expect(pod.metadata.annotations).toEqual({ 'sidecar.istio.io/nativeSidecar': 'true' });
      expect([SHUTDOWN.preStopSeconds, shutdownSeconds()]).toEqual([5, 30]);
    });

    it('does not pause a pod that no other pod stands in for: recreated, or a lone StatefulSet pod', () => {
      const recreated = Testing.chart();
      workload(recreated, 'orion', { strategy: 'Recreate' });
      expect(podOf(recreated).spec.containers[0].lifecycle).toBeUndefined();
      const lone = Testing.chart();
      const db = workload(lone, 'mongodb', { kind: 'StatefulSet' });
      expect(db.replicas).toBe(1);
      expect(podOf(lone, 'StatefulSet').spec.containers[0].lifecycle).toBeUndefined();
      // Another replica stands in: a StatefulSet of three pauses.
      const three = Testing.chart();
      const replicated = workload(three, 'mongodb', {
        kind: 'StatefulSet',
        context: inputs({ config: (c) => void (c.profile = 'production') }).context,
        size: 'cratedb',
      });
      expect(replicated.replicas).toBe(3);
      expect(podOf(three, 'StatefulSet').spec.containers[0].lifecycle).toEqual(PAUSE);
    });

    it('keeps a longer grace period it is given, and the annotations it is given', () => {
      const chart = Testing.chart();
      workload(chart, 'orion', { terminationGracePeriodSeconds: 45, podAnnotations: { a: 'b' } });
      expect(podOf(chart).spec.terminationGracePeriodSeconds).toBe(45);
      expect(podOf(chart).metadata.annotations).toEqual({
        'sidecar.istio.io/nativeSidecar': 'true',
        a: 'b',
      });
    });

    it.each([[29], [5], [0], [30.5]])(
      'refuses a grace period of %s s, which leaves too little time to stop',
      (seconds) => {
        const chart = Testing.chart();
        expect(() => workload(chart, 'orion', { terminationGracePeriodSeconds: seconds })).toThrow(
          `orion: terminationGracePeriodSeconds ${seconds} leaves too little time to stop: the ` +
            'preStop pause, a drain, a close and the exit take up to 30 s (platform/shutdown.ts); ' +
            'give at least that many whole seconds, or leave it out for 30',
        );
      },
    );

    it('rounds a drain and close of part of a second up', () => {
      expect(
        shutdownSeconds({
          preStopSeconds: 2,
          drainMs: 10_001,
          closeMs: 0,
          exitSeconds: 1,
          gracePeriodSeconds: 30,
        }),
      ).toBe(14);
    });
  });

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

    it.each([['ports'], ['methods'], ['paths']] as const)(
      'refuses an empty %s list, which Istio would read as any',
      (field) => {
        const chart = Testing.chart();
        const orion = workload(chart, 'orion');
        const ql = workload(chart, 'quantumleap');
        expect(() => ql.grantAccess(orion, { [field]: [] })).toThrow(
          new RegExp(`${field} is an empty list, which Istio reads as any`),
        );
        expect(policyOf(chart, 'quantumleap-allow')).toBeUndefined();
      },
    );

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
        /need an HTTP port, but db is tcp/,
      );
    });

    it('fails on a port the workload does not have', () => {
      const chart = Testing.chart();
      const orion = workload(chart, 'orion');
      expect(() => orion.grantPort(orion, 'north')).toThrow(/has no port north/);
    });
  });
});

describe("the platform's workloads stop gracefully", () => {
  const podsOf = (o: ReturnType<typeof synth>) =>
    o.objects
      .filter((x) => x.object.kind === 'Deployment' || x.object.kind === 'StatefulSet')
      .map((x) => ({ name: x.object.metadata.name, template: (x.object as any).spec.template }));
  const paused = (o: ReturnType<typeof synth>) =>
    podsOf(o)
      .filter((p) => p.template.spec.containers.some((c: any) => c.lifecycle))
      .map((p) => p.name)
      .sort();

  it('pauses the rolled serving pods before SIGTERM; every grace period holds the stop', () => {
    const out = synth();
    // Review any change here. Not paused: the recreated monitor, the lone StatefulSet pods
    // (MongoDB, CrateDB, Keycloak's PostgreSQL, Grafana) and the in-cluster git server (not a
    // Workload: one recreated replica, cdk8s/lib/gitops/local-git.ts).
    expect(paused(out)).toEqual([
      'console',
      'fleet',
      'iotagent-json',
      'iotagent-ul',
      'keycloak',
      'opa',
      'orion',
      'provisioning',
      'quantumleap',
    ]);
    for (const p of podsOf(out)) {
      for (const c of p.template.spec.containers) {
        // Only serving containers pause, each for the same time.
        if (c.lifecycle)
          expect([p.name, c.ports?.length > 0, c.lifecycle]).toEqual([
            p.name,
            true,
            { preStop: { sleep: { seconds: SHUTDOWN.preStopSeconds } } },
          ]);
      }
      // Left out, it is Kubernetes' default, 30 s.
      const grace = p.template.spec.terminationGracePeriodSeconds ?? 30;
      expect([p.name, grace >= shutdownSeconds()]).toEqual([p.name, true]);
      if (p.name !== 'gitops-repo')
        expect([p.name, p.template.metadata.annotations['sidecar.istio.io/nativeSidecar']]).toEqual(
          [p.name, 'true'],
        );
    }
  });

  it('pauses the replicated StatefulSets of the production profile too', () => {
    const prod = synth({ config: (c) => void (c.profile = 'production') });
    expect(paused(prod)).toEqual(expect.arrayContaining(['cratedb', 'keycloak', 'orion']));
    expect(paused(prod)).not.toContain('monitor');
  });
});

describe('the platform mesh', () => {
  const out = synth();
  const rules = (name: string) => find(out, 'AuthorizationPolicy', name).spec.rules as any[];

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

  it('allows every connection the configuration implies', () => {
    const allowed = allowedEdges(out);
    const missing = [...requiredEdges(out)].filter((e) => !allowed.has(e));
    expect(missing).toEqual([]);
  });

  it('allows no connection the configuration does not imply', () => {
    const required = requiredEdges(out);
    const extra = [...allowedEdges(out)].filter((e) => !required.has(e));
    expect(extra).toEqual([]);
    // The derivation is not vacuous: it finds the FIWARE data path and the control paths.
    expect([...required]).toEqual(
      expect.arrayContaining([
        'iotagent-ul -> orion',
        'iotagent-ul -> mongodb',
        'orion -> iotagent-ul',
        'orion -> quantumleap',
        'quantumleap -> cratedb',
        'grafana -> cratedb',
        'keycloak -> keycloak-postgres',
        'orion -> keycloak',
        'istio-ingressgateway -> opa',
        'provisioning -> orion',
        'provisioning -> iotagent-ul',
        'provisioning -> keycloak',
      ]),
    );
  });

  it('lets Orion call the IoT Agent only to forward commands and lazy queries', () => {
    const fromOrion = rules('iotagent-ul-allow').find((r) =>
      r.from[0].source.principals[0].endsWith('/sa/orion'),
    );
    expect(fromOrion.to).toEqual([
      {
        operation: { ports: ['4041'], methods: ['POST'], paths: ['/v2/op/update', '/v2/op/query'] },
      },
    ]);
  });

  it('lets Grafana redeem login codes and read userinfo on Keycloak, and nothing else', () => {
    const fromGrafana = rules('keycloak-allow').filter((r) =>
      r.from[0].source.principals[0].endsWith('/sa/grafana'),
    );
    expect(fromGrafana.map((r) => r.to)).toEqual([
      [
        {
          operation: {
            ports: ['8080'],
            methods: ['POST', 'GET'],
            paths: [
              '/auth/realms/kitt4sme/protocol/openid-connect/token',
              '/auth/realms/kitt4sme/protocol/openid-connect/userinfo',
            ],
          },
        },
      ],
    ]);
  });

  it('lets OPA and the tenant API sidecars fetch only the realm keys from Keycloak', () => {
    const jwks = rules('keycloak-allow').filter(
      (r) =>
        !r.from[0].source.principals[0].endsWith('/sa/istio-ingressgateway') &&
        !r.from[0].source.principals[0].endsWith('/sa/grafana'),
    );
    expect(jwks.map((r) => r.from[0].source.principals[0].split('/sa/')[1]).sort()).toEqual([
      'fleet',
      'iotagent-json',
      'iotagent-ul',
      'monitor',
      'opa',
      'orion',
      'provisioning',
      'quantumleap',
    ]);
    for (const r of jwks) {
      expect(r.to).toEqual([
        {
          operation: {
            ports: ['8080'],
            methods: ['GET'],
            paths: ['/auth/realms/kitt4sme/protocol/openid-connect/certs'],
          },
        },
      ]);
    }
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
    const self = (name: string, sa: string) =>
      prodRules(name).find((r) => r.from[0].source.principals[0] === `cluster.local/ns/${sa}`);
    expect(self('cratedb-allow', 'fiware/sa/cratedb').to[0].operation.ports).toEqual(['4300']);
    expect(self('keycloak-allow', 'identity/sa/keycloak').to[0].operation.ports).toEqual([
      '57800',
      '7800',
    ]);
    // Pod-to-pod JGroups traffic needs a headless Service to be meshed.
    expect(find(prod, 'Service', 'keycloak-headless').spec.clusterIP).toBe('None');
    expect(allowedEdges(out).has('cratedb -> cratedb')).toBe(false);
    expect(allowedEdges(out).has('keycloak -> keycloak')).toBe(false);
  });

  it('verifies Keycloak tokens in the tenant API sidecars, not at the gateway', () => {
    const ra = find(out, 'RequestAuthentication', 'keycloak-jwt', 'fiware').spec;
    expect(ra.jwtRules).toEqual([
      {
        issuer: 'https://kitt4sme.localhost/auth/realms/kitt4sme',
        jwksUri:
          'http://keycloak.identity.svc.cluster.local:8080/auth/realms/kitt4sme/protocol/openid-connect/certs',
        fromHeaders: [{ name: 'Authorization', prefix: 'Bearer ' }],
        forwardOriginalToken: true,
      },
    ]);
    expect(ra.selector).toEqual({ matchLabels: { 'kitt4sme.io/tenant-api': 'true' } });
    const labelled = out.objects
      .filter((o) => ['Deployment', 'StatefulSet'].includes(o.object.kind))
      .filter(
        (o) => (o.object.spec as any).template.metadata.labels['kitt4sme.io/tenant-api'] === 'true',
      )
      .map((o) => o.object.metadata.name)
      .sort();
    expect(labelled).toEqual([
      'fleet',
      'iotagent-json',
      'iotagent-ul',
      'monitor',
      'orion',
      'provisioning',
      'quantumleap',
    ]);
    expect(out.objects.filter((o) => o.object.kind === 'RequestAuthentication')).toHaveLength(1);
  });

  it('refuses the blocked consoles at the gateway, before anything else', () => {
    const deny = find(out, 'AuthorizationPolicy', 'blocked-paths', 'istio-system').spec;
    expect(deny.action).toBe('DENY');
    expect(deny.rules).toEqual([
      {
        to: [
          {
            operation: {
              paths: [
                '/auth/admin',
                '/auth/admin/*',
                '/auth/realms/master',
                '/auth/realms/master/*',
              ],
            },
          },
        ],
      },
    ]);
  });

  it('refuses a client-set tenant header on exactly the paths OPA does not decide', () => {
    const custom = find(out, 'AuthorizationPolicy', 'opa-ext-authz', 'istio-system').spec;
    const deny = find(out, 'AuthorizationPolicy', 'platform-headers-from-clients', 'istio-system');
    expect(deny.spec.action).toBe('DENY');
    expect(deny.spec.selector).toEqual(custom.selector);
    const exempt = custom.rules[0].to[0].operation.notPaths;
    expect(exempt).toEqual(expect.arrayContaining(['/orion/version', '/grafana', '/grafana/*']));
    const header = opaPolicyData(out).tenant_header;
    expect(header).toBe('x-kitt4sme-tenant');
    expect(deny.spec.rules).toEqual([
      {
        to: [{ operation: { paths: exempt } }],
        when: [{ key: `request.headers[${header}]`, values: ['*'] }],
      },
    ]);
  });

  it("fences each meshed namespace to mesh peers at the network layer (and the platform and Keycloak's namespaces to the agents too)", () => {
    const agents = ['agents-manufracture', 'agents-smithereens'];
    const peers: Record<string, string[]> = {
      fiware: [...agents, 'fiware', 'identity', 'istio-system'],
      // The agents ask Keycloak for their tokens.
      identity: [...agents, 'fiware', 'identity', 'istio-system'],
    };
    for (const [ns, expected] of Object.entries(peers)) {
      const np = find(out, 'NetworkPolicy', 'mesh-peers-only', ns).spec;
      expect(np.podSelector).toEqual({});
      expect(np.policyTypes).toEqual(['Ingress']);
      expect(
        np.ingress[0].from.map(
          (f: any) => f.namespaceSelector.matchLabels['kubernetes.io/metadata.name'],
        ),
      ).toEqual(expected);
    }
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

  it('logs each request as JSON with the ids to follow it, and never its query string', () => {
    const istiod = find(out, 'Application', 'istiod').spec.source.helm.valuesObject;
    expect(istiod.meshConfig.accessLogEncoding).toBe('JSON');
    const format = JSON.parse(istiod.meshConfig.accessLogFormat);
    expect(format).toMatchObject({
      path: '%REQ_WITHOUT_QUERY(X-ENVOY-ORIGINAL-PATH?:PATH)%',
      fiware_service: '%REQ(FIWARE-SERVICE)%',
      fiware_correlator: '%REQ(FIWARE-CORRELATOR)%',
      fiware_correlator_reply: '%RESP(FIWARE-CORRELATOR)%',
      request_id: '%REQ(X-REQUEST-ID)%',
    });
    // Nothing that may hold a credential or a query string.
    expect(JSON.stringify(format)).not.toMatch(/AUTHORIZATION|COOKIE|%REQ\(:PATH\)%/i);
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
