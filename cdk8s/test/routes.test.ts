import { ROUTE_ERRORS, RouteTableError, validateRoutes } from '../../platform/routes.js';
import type { RouteErrorCode } from '../../platform/routes.js';
import type { RouteSpec } from '../../platform/routes.js';
import { ROUTES } from '../../platform/routes.js';
import { exactPublicPaths } from '../../platform/routes.js';
import { routeAtIngress } from '../../testing/istio/ingress.js';
import {
  changedObjects,
  find,
  opaPolicyConfigMap,
  opaPolicyData,
  policyConfigMapOf,
  provisioningPolicyConfigMap,
  synth,
} from '../../testing/support/synth.js';

const notPathsOf = (out: ReturnType<typeof synth>) =>
  find(out, 'AuthorizationPolicy', 'opa-ext-authz').spec.rules[0].to[0].operation
    .notPaths as string[];
const policyDataOf = opaPolicyData;

describe('the gateway routes', () => {
  const out = synth();

  it.each([
    ['/orion/v2/entities', 'orion.fiware.svc.cluster.local', 1026, '/v2/entities'],
    [
      '/orion/v2/entities?type=Bot&limit=5',
      'orion.fiware.svc.cluster.local',
      1026,
      '/v2/entities?type=Bot&limit=5',
    ],
    ['/orion/version', 'orion.fiware.svc.cluster.local', 1026, '/version'],
    ['/orion', 'orion.fiware.svc.cluster.local', 1026, '/'],
    ['/orion/', 'orion.fiware.svc.cluster.local', 1026, '/'],
    [
      '/quantumleap/v2/entities/urn:ngsi:bot:1',
      'quantumleap.fiware.svc.cluster.local',
      8668,
      '/v2/entities/urn:ngsi:bot:1',
    ],
    ['/iota-north/iot/services', 'iotagent-ul.fiware.svc.cluster.local', 4041, '/iot/services'],
    [
      '/iota-south/iot/d?k=3z4w&i=foodev',
      'iotagent-ul.fiware.svc.cluster.local',
      7896,
      '/iot/d?k=3z4w&i=foodev',
    ],
    ['/auth/realms/kitt4sme', 'keycloak.identity.svc.cluster.local', 8080, '/auth/realms/kitt4sme'],
    ['/grafana/d/x', 'grafana.fiware.svc.cluster.local', 3000, '/grafana/d/x'],
    ['/kiali', 'kiali.istio-system.svc.cluster.local', 20001, '/kiali'],
    ['/argocd/applications', 'argocd-server.argocd.svc.cluster.local', 80, '/argocd/applications'],
    [
      '/provisioning/devices?limit=5',
      'provisioning.fiware.svc.cluster.local',
      8080,
      '/provisioning/devices?limit=5',
    ],
    [
      '/provisioning/openapi.json',
      'provisioning.fiware.svc.cluster.local',
      8080,
      '/provisioning/openapi.json',
    ],
  ])('sends %s to %s:%d as %s', (path, host, port, backendPath) => {
    expect(routeAtIngress(out, path)).toMatchObject({ host, port, path: backendPath });
  });

  it('never hands a backend a path starting with //', () => {
    for (const r of ROUTES) {
      for (const suffix of ['', '/', '/x', '/x/y', '/?q=1']) {
        const routed = routeAtIngress(out, `${r.prefix}${suffix}`);
        expect(routed?.path.startsWith('//')).toBe(false);
      }
    }
  });

  it('does not route a path that only starts like a prefix', () => {
    expect(routeAtIngress(out, '/orionX/v2/entities')).toBeUndefined();
    expect(routeAtIngress(out, '/authentication')).toBeUndefined();
    expect(routeAtIngress(out, '/')).toBeUndefined();
  });

  it('exempts from OPA exactly the public paths and the SSO applications', () => {
    expect(notPathsOf(out)).toEqual([
      '/orion/version',
      '/quantumleap/version',
      '/iota-north/iot/about',
      '/iota-json-north/iot/about',
      '/provisioning/openapi.json',
      '/fleet/openapi.json',
      '/monitor/openapi.json',
      '/auth',
      '/auth/*',
      '/grafana',
      '/grafana/*',
      '/console',
      '/console/*',
      '/kiali',
      '/kiali/*',
      '/argocd',
      '/argocd/*',
    ]);
  });
});

describe('adding a route', () => {
  const base = synth();
  const extra: RouteSpec = {
    prefix: '/ql-admin',
    backend: { service: 'quantumleap', port: 'api' },
    stripPrefix: true,
    access: 'tenant',
    publicPaths: ['/health'],
    rights: { 'platform-admin': ['GET'] },
    description: 'test route',
  };

  it('appears in the VirtualService, the public paths (of OPA and of the header guard), the policy data (of OPA and of the provisioning service), and nowhere else', () => {
    const out = synth({ routes: [...ROUTES, extra] });
    expect(routeAtIngress(out, '/ql-admin/v2/types')).toMatchObject({
      host: 'quantumleap.fiware.svc.cluster.local',
      path: '/v2/types',
    });
    // Exact public paths of tenant routes come first, in route order; sso prefixes after.
    const tenantPublic = exactPublicPaths(ROUTES).length;
    expect(notPathsOf(out)).toEqual([
      ...notPathsOf(base).slice(0, tenantPublic),
      '/ql-admin/health',
      ...notPathsOf(base).slice(tenantPublic),
    ]);
    expect(policyDataOf(out).routes.map((r: { prefix: string }) => r.prefix)).toContain(
      '/ql-admin',
    );
    expect(policyDataOf(out).public_paths).toContain('/ql-admin/health');
    const opaConfigMapOf = (o: typeof out) => opaPolicyConfigMap(o).metadata.name;
    const provisioningConfigMapOf = (o: typeof out) => provisioningPolicyConfigMap(o).metadata.name;
    const fleetConfigMapOf = (o: typeof out) => policyConfigMapOf(o, 'fleet').metadata.name;
    const monitorConfigMapOf = (o: typeof out) => policyConfigMapOf(o, 'monitor').metadata.name;
    expect(changedObjects(base, out)).toEqual(
      [
        'AuthorizationPolicy/istio-system/opa-ext-authz',
        'AuthorizationPolicy/istio-system/platform-headers-from-clients',
        `ConfigMap/fiware/${opaConfigMapOf(base)}`,
        `ConfigMap/fiware/${opaConfigMapOf(out)}`,
        'Deployment/fiware/opa',
        // The provisioning service's in-process policy data is the same document as OPA's.
        `ConfigMap/fiware/${provisioningConfigMapOf(base)}`,
        `ConfigMap/fiware/${provisioningConfigMapOf(out)}`,
        'Deployment/fiware/provisioning',
        // So is the fleet service's.
        `ConfigMap/fiware/${fleetConfigMapOf(base)}`,
        `ConfigMap/fiware/${fleetConfigMapOf(out)}`,
        'Deployment/fiware/fleet',
        // And the monitor's.
        `ConfigMap/fiware/${monitorConfigMapOf(base)}`,
        `ConfigMap/fiware/${monitorConfigMapOf(out)}`,
        'Deployment/fiware/monitor',
        'VirtualService/istio-system/kitt4sme-routes',
      ].sort(),
    );
  });

  it('is not public when it lists no public paths', () => {
    const out = synth({ routes: [...ROUTES, { ...extra, publicPaths: [] }] });
    expect(notPathsOf(out)).toEqual(notPathsOf(base));
    expect(changedObjects(base, out)).not.toContain(
      'AuthorizationPolicy/istio-system/opa-ext-authz',
    );
  });

  it('to a new backend port grants the gateway that port and no other', () => {
    const out = synth({
      routes: [
        ...ROUTES,
        {
          ...extra,
          prefix: '/crate',
          backend: { service: 'cratedb', port: 'api' },
          publicPaths: [],
        },
      ],
    });
    const rules = find(out, 'AuthorizationPolicy', 'cratedb-allow').spec.rules;
    const gatewayRules = rules.filter((r: any) =>
      r.from[0].source.principals[0].endsWith('/sa/istio-ingressgateway'),
    );
    expect(gatewayRules).toEqual([
      {
        from: [
          { source: { principals: ['cluster.local/ns/istio-system/sa/istio-ingressgateway'] } },
        ],
        to: [{ operation: { ports: ['4200'] } }],
      },
    ]);
  });
});

describe('route table validation', () => {
  const bad = (change: Partial<RouteSpec>, index = 0): RouteSpec[] =>
    ROUTES.map((r, i) => (i === index ? ({ ...r, ...change } as RouteSpec) : r));
  const auth = ROUTES.findIndex((r) => r.prefix === '/auth');

  const cases: [RouteErrorCode, RouteSpec[]][] = [
    ['ERR_ROUTE_PREFIX', bad({ prefix: '/Orion' as `/${string}` })],
    ['ERR_ROUTE_PREFIX', bad({ prefix: '/orion/' as `/${string}` })],
    ['ERR_ROUTE_OVERLAP', [...ROUTES, { ...ROUTES[0]!, prefix: '/orion/v2' }]],
    ['ERR_ROUTE_OVERLAP', [...ROUTES, ROUTES[1]!]],
    ['ERR_ROUTE_PUBLIC_PATH', bad({ publicPaths: ['/version/../v2/entities'] })],
    ['ERR_ROUTE_PUBLIC_PATH', bad({ publicPaths: ['/v2/*'] })],
    ['ERR_ROUTE_PUBLIC_PATH', bad({ publicPaths: ['/version/'] })],
    ['ERR_ROUTE_PUBLIC_PATH', bad({ publicPaths: ['/v2%2Fentities'] })],
    ['ERR_ROUTE_PUBLIC_PATH', bad({ publicPaths: ['//version'] })],
    ['ERR_ROUTE_PUBLIC_PATH', bad({ publicPaths: ['/version?x=1'] })],
    ['ERR_ROUTE_PUBLIC_PATH', bad({ blockedPaths: ['/admin/*'] }, auth)],
    ['ERR_ROUTE_ACCESS', bad({ rights: {} })],
    ['ERR_ROUTE_ACCESS', bad({ rights: { viewer: ['GET'] } }, auth)],
    ['ERR_ROUTE_BACKEND', bad({ backend: { service: 'orion', port: 'north' } as never })],
    ['ERR_ROUTE_BACKEND', bad({ backend: { service: 'context-broker', port: 'api' } as never })],
    // A route is HTTP: MongoDB's wire protocol is not.
    ['ERR_ROUTE_BACKEND', bad({ backend: { service: 'mongodb', port: 'db' } as never })],
  ];

  it.each(cases)('fails with %s', (code, routes) => {
    try {
      validateRoutes(routes);
      throw new Error('expected the route table to be rejected');
    } catch (err) {
      expect(err).toBeInstanceOf(RouteTableError);
      const e = err as RouteTableError;
      expect(e.code).toBe('ERR_ROUTE_INVALID');
      expect(e.issues.map((i) => i.code)).toContain(code);
      expect(e.message).toContain(`Fix: ${ROUTE_ERRORS[code].fix}. [${code}]`);
    }
  });

  it('covers every documented route error with a failing case', () => {
    expect([...new Set(cases.map(([c]) => c))].sort()).toEqual(Object.keys(ROUTE_ERRORS).sort());
  });

  it('stops synth before anything is built', () => {
    expect(() => synth({ routes: bad({ publicPaths: ['/v2/*'] }) })).toThrow(RouteTableError);
  });
});
