/**
 * The Istio interpreter (testing/istio): Istio's routing and authorization semantics on small
 * hand-written objects, then the mesh the platform synthesizes, east-west, module by module.
 */
import type { MeshObject, MeshWorkload } from '../istio/mesh.js';
import { IstioMesh } from '../istio/mesh.js';
import { istioMatches, normalizePath } from '../istio/paths.js';
import { ingressOf } from '../istio/ingress.js';
import { meshPrincipal } from '../../platform/mesh.js';
import { synth } from '../support/synth.js';

const vs = (name: string, gateways: string[], http: unknown[]): MeshObject => ({
  apiVersion: 'networking.istio.io/v1',
  kind: 'VirtualService',
  metadata: { name, namespace: 'istio-system' },
  spec: { gateways, http },
});
const policy = (name: string, namespace: string, spec: Record<string, unknown>): MeshObject => ({
  apiVersion: 'security.istio.io/v1',
  kind: 'AuthorizationPolicy',
  metadata: { name, namespace },
  spec,
});
const dest = (host: string, number: number) => [{ destination: { host, port: { number } } }];

describe('IstioMesh routing', () => {
  const mesh = new IstioMesh([
    vs(
      'a',
      ['istio-system/gw'],
      [
        { name: 'exact', match: [{ uri: { exact: '/x' } }], route: dest('x', 1) },
        {
          name: 'strip',
          match: [{ uri: { prefix: '/x/' } }],
          rewrite: { uri: '/' },
          route: dest('x', 2),
        },
        { name: 'keep', match: [{ uri: { prefix: '/y' } }], route: dest('y', 3) },
      ],
    ),
    vs('other', ['istio-system/elsewhere'], [{ name: 'all', route: dest('z', 9) }]),
  ]);

  it('takes the first route that matches, and keeps the query through a rewrite', () => {
    expect(mesh.route('istio-system/gw', '/x')).toEqual({
      route: 'exact',
      host: 'x',
      port: 1,
      path: '/x',
    });
    expect(mesh.route('istio-system/gw', '/x/v2/e?q=1')).toEqual({
      route: 'strip',
      host: 'x',
      port: 2,
      path: '/v2/e?q=1',
    });
    expect(mesh.route('istio-system/gw', '/yes/please')?.path).toBe('/yes/please');
  });

  it('routes only through the VirtualServices bound to the gateway', () => {
    expect(mesh.route('istio-system/gw', '/nowhere')).toBeUndefined();
    expect(mesh.route('istio-system/elsewhere', '/nowhere')?.host).toBe('z');
    expect(mesh.route('mesh', '/x')).toBeUndefined();
  });
});

describe('IstioMesh authorization', () => {
  const app: MeshWorkload = { namespace: 'apps', labels: { app: 'api' } };
  const caller = meshPrincipal('apps', 'client');
  const req = (o: Partial<Parameters<IstioMesh['authorize']>[1]> = {}) => ({
    principal: caller,
    port: 8080,
    method: 'GET',
    path: '/v1/things',
    ...o,
  });
  const allowClient = policy('api-allow', 'apps', {
    selector: { matchLabels: { app: 'api' } },
    action: 'ALLOW',
    rules: [
      {
        from: [{ source: { principals: [caller] } }],
        to: [{ operation: { ports: ['8080'], methods: ['GET'], paths: ['/v1/*'] } }],
      },
    ],
  });

  it('allows anything when no policy applies', () => {
    expect(new IstioMesh([]).authorize(app, req()).action).toBe('allow');
  });

  it('denies everything under an ALLOW policy without rules (default deny)', () => {
    const mesh = new IstioMesh([policy('default-deny', 'apps', { action: 'ALLOW' })]);
    expect(mesh.authorize(app, req())).toEqual({ action: 'deny', policy: 'default-deny' });
  });

  it('allows exactly what an ALLOW rule names: principal, port, method and path', () => {
    const mesh = new IstioMesh([allowClient]);
    expect(mesh.authorize(app, req())).toEqual({ action: 'allow', policy: 'api-allow' });
    for (const other of [
      req({ principal: meshPrincipal('apps', 'intruder') }),
      req({ principal: undefined }),
      req({ port: 9090 }),
      req({ method: 'POST' }),
      req({ path: '/v2/things' }),
    ])
      expect(mesh.authorize(app, other).action).toBe('deny');
  });

  it('applies a policy only to the workloads its selector and namespace name', () => {
    const mesh = new IstioMesh([allowClient]);
    expect(mesh.authorize({ namespace: 'apps', labels: { app: 'db' } }, req()).action).toBe(
      'allow',
    );
    expect(mesh.authorize({ namespace: 'other', labels: { app: 'api' } }, req()).action).toBe(
      'allow',
    );
    const rootWide = new IstioMesh([
      policy('deny-all', 'istio-system', { action: 'DENY', rules: [{}] }),
    ]);
    expect(rootWide.authorize({ namespace: 'other', labels: {} }, req()).action).toBe('deny');
  });

  it('lets DENY win over ALLOW, and honours not-fields', () => {
    const mesh = new IstioMesh([
      allowClient,
      policy('no-admin', 'apps', {
        action: 'DENY',
        rules: [
          { to: [{ operation: { paths: ['/v1/admin', '/v1/admin/*'], notMethods: ['HEAD'] } }] },
        ],
      }),
    ]);
    expect(mesh.authorize(app, req({ path: '/v1/admin/x' }))).toEqual({
      action: 'deny',
      policy: 'no-admin',
    });
    expect(mesh.authorize(app, req({ path: '/v1/administrators' })).action).toBe('allow');
  });

  it('hands a matching CUSTOM policy to its provider first, then applies DENY', () => {
    const mesh = new IstioMesh([
      policy('ext', 'apps', {
        action: 'CUSTOM',
        provider: { name: 'opa' },
        rules: [{ to: [{ operation: { notPaths: ['/public'] } }] }],
      }),
      policy('guard', 'apps', {
        action: 'DENY',
        rules: [
          {
            to: [{ operation: { paths: ['/public'] } }],
            when: [{ key: 'request.headers[X-Tenant]', values: ['*'] }],
          },
        ],
      }),
    ]);
    expect(mesh.authorize(app, req())).toEqual({
      action: 'custom',
      provider: 'opa',
      policy: 'ext',
    });
    expect(mesh.authorize(app, req({ path: '/public' })).action).toBe('allow');
    expect(mesh.authorize(app, req({ path: '/public', headers: { 'x-tenant': '' } }))).toEqual({
      action: 'deny',
      policy: 'guard',
    });
    expect(
      mesh.authorizeAfterCustom(app, req({ path: '/public', headers: { 'x-tenant': 'a' } })).action,
    ).toBe('deny');
  });

  it.each([
    [
      'a source field it does not model',
      { rules: [{ from: [{ source: { ipBlocks: ['10.0.0.0/8'] } }] }] },
    ],
    [
      'an operation field it does not model',
      { rules: [{ to: [{ operation: { hosts: ['x'] } }] }] },
    ],
    [
      'a condition key it does not model',
      { rules: [{ when: [{ key: 'source.ip', values: ['1.2.3.4'] }] }] },
    ],
    ['a path template', { rules: [{ to: [{ operation: { paths: ['/a/{*}/b'] } }] }] }],
    ['a policy field it does not model', { targetRefs: [{ kind: 'Service', name: 'x' }] }],
  ])('refuses a policy with %s instead of ignoring it', (_, spec) => {
    expect(() => new IstioMesh([policy('p', 'apps', spec)])).toThrow(/Istio interpreter/);
  });

  it.each([
    ['ports', { rules: [{ to: [{ operation: { ports: [] } }] }] }],
    ['principals', { rules: [{ from: [{ source: { principals: [] } }] }] }],
    ['values', { rules: [{ when: [{ key: 'request.headers[x]', values: [] }] }] }],
  ])('refuses an empty %s list: Istio reads it as unset, which matches anything', (field, spec) => {
    expect(() => new IstioMesh([policy('p', 'apps', spec)])).toThrow(
      new RegExp(`${field} are empty lists, which Istio reads as unset`),
    );
  });

  it('matches values exactly, by prefix, by suffix or by presence', () => {
    expect(istioMatches('/a', '/a')).toBe(true);
    expect(istioMatches('/a', '/a/')).toBe(false);
    expect(istioMatches('/a/*', '/a/b/c')).toBe(true);
    expect(istioMatches('*/c', '/a/b/c')).toBe(true);
    expect(istioMatches('*', '')).toBe(true);
    expect(() => istioMatches('/a*b', '/ab')).toThrow(/cannot match/);
  });

  it('normalises paths as DECODE_AND_MERGE_SLASHES does', () => {
    expect(normalizePath('/a/%2e%2e/b//c%2Fd')).toBe('/b/c/d');
    expect(normalizePath('/a%252F')).toBe('/a%252F');
    expect(normalizePath('/a#frag')).toBeUndefined();
    expect(normalizePath('/a%00')).toBeUndefined();
    expect(normalizePath('a')).toBeUndefined();
  });
});

describe('IstioMesh request.auth.claims', () => {
  const app: MeshWorkload = { namespace: 'apps', labels: { app: 'api' } };
  const issuer = 'https://idp.example/realms/r';
  const jwtAuth: MeshObject = {
    apiVersion: 'security.istio.io/v1',
    kind: 'RequestAuthentication',
    metadata: { name: 'jwt', namespace: 'apps' },
    spec: { selector: { matchLabels: { app: 'api' } }, jwtRules: [{ issuer, jwksUri: 'x' }] },
  };
  const onlyWhen = (...when: unknown[]) =>
    policy('api-allow', 'apps', {
      selector: { matchLabels: { app: 'api' } },
      action: 'ALLOW',
      rules: [{ to: [{ operation: { methods: ['GET'] } }], when }],
    });
  const req = (jwt?: Record<string, unknown>) => ({
    port: 8080,
    method: 'GET',
    path: '/v1/things',
    ...(jwt ? { jwt: { iss: issuer, ...jwt } } : {}),
  });
  const azpIs = (v: string) => ({ key: 'request.auth.claims[azp]', values: [v] });

  it("allows only a token whose claim has the rule's value", () => {
    const mesh = new IstioMesh([jwtAuth, onlyWhen(azpIs('agent-1'))]);
    expect(mesh.authorize(app, req({ azp: 'agent-1' }))).toEqual({
      action: 'allow',
      policy: 'api-allow',
    });
    expect(mesh.authorize(app, req({ azp: 'agent-2' })).action).toBe('deny');
    expect(mesh.authorize(app, req({ azp: ['agent-1'] })).action).toBe('allow');
    expect(mesh.authorize(app, req({ azp: 7 })).action).toBe('deny');
    expect(mesh.authorize(app, req({})).action).toBe('deny');
    expect(mesh.authorize(app, req()).action).toBe('deny');
  });

  it('believes claims only where a RequestAuthentication verifies their issuer', () => {
    // No RequestAuthentication for the workload: the token is not verified, its claims unknown.
    expect(
      new IstioMesh([onlyWhen(azpIs('agent-1'))]).authorize(app, req({ azp: 'agent-1' })),
    ).toEqual({ action: 'deny', policy: 'api-allow' });
    // One applies, but not for this issuer: the sidecar refuses the request.
    const mesh = new IstioMesh([jwtAuth, onlyWhen(azpIs('agent-1'))]);
    expect(
      mesh.authorize(app, { ...req(), jwt: { iss: 'https://evil.example', azp: 'agent-1' } }),
    ).toEqual({ action: 'deny', policy: 'jwt' });
    expect(mesh.authorizeAfterCustom(app, { ...req(), jwt: { iss: 'x', azp: 'agent-1' } })).toEqual(
      { action: 'deny', policy: 'jwt' },
    );
  });

  it('matches a list claim by any of its strings, and nested claims by member', () => {
    const mesh = new IstioMesh([
      jwtAuth,
      onlyWhen(
        { key: 'request.auth.claims[tenants]', values: ['manu*'] },
        { key: 'request.auth.claims[realm_access][roles]', values: ['viewer'] },
      ),
    ]);
    const nested = { realm_access: { roles: ['admin', 'viewer'] } };
    expect(mesh.authorize(app, req({ tenants: ['x', 'manufracture'], ...nested })).action).toBe(
      'allow',
    );
    expect(mesh.authorize(app, req({ tenants: 'manufracture', ...nested })).action).toBe('allow');
    expect(mesh.authorize(app, req({ tenants: ['smithereens'], ...nested })).action).toBe('deny');
    expect(
      mesh.authorize(app, req({ tenants: ['manufracture'], realm_access: { roles: ['admin'] } }))
        .action,
    ).toBe('deny');
    expect(
      mesh.authorize(app, req({ tenants: ['manufracture'], realm_access: 'viewer' })).action,
    ).toBe('deny');
  });

  it('passes notValues when the claim is missing, and refuses a listed value', () => {
    const mesh = new IstioMesh([
      jwtAuth,
      onlyWhen({ key: 'request.auth.claims[azp]', notValues: ['agent-2'] }),
    ]);
    expect(mesh.authorize(app, req()).action).toBe('allow');
    expect(mesh.authorize(app, req({ azp: 'agent-1' })).action).toBe('allow');
    expect(mesh.authorize(app, req({ azp: ['agent-1', 'agent-2'] })).action).toBe('deny');
  });

  it('refuses to read a condition key it does not model', () => {
    expect(
      () => new IstioMesh([onlyWhen({ key: 'request.auth.presenter', values: ['x'] })]),
    ).toThrow(/does not model the key request.auth.presenter/);
  });
});

describe('the synthesized mesh, east-west', () => {
  const out = synth();
  const ctx = out.platform.context;
  const objects = out.objects.map((o) => o.object);
  const mesh = new IstioMesh(objects);
  const ns = ctx.namespace('platform');
  const idNs = ctx.namespace('identity');

  /** The pods of a workload, as the synthesized Deployment or StatefulSet labels them. */
  const workload = (name: string): MeshWorkload => {
    const w = objects.find(
      (o) => (o.kind === 'Deployment' || o.kind === 'StatefulSet') && o.metadata.name === name,
    ) as unknown as {
      metadata: { namespace: string };
      spec: { template: { metadata: { labels: Record<string, string> } } };
    };
    return { namespace: w.metadata.namespace, labels: w.spec.template.metadata.labels };
  };
  const from = (namespace: string, sa: string) => meshPrincipal(namespace, sa);
  const decide = (target: string, principal: string, port: number, method = 'GET', path = '/') =>
    mesh.authorize(workload(target), { principal, port, method, path }).action;

  it('lets the provisioning service read entities and manage subscriptions on Orion, never write entities', () => {
    const p = from(ns, 'provisioning');
    expect(decide('orion', p, 1026, 'GET', '/v2/entities')).toBe('allow');
    expect(decide('orion', p, 1026, 'DELETE', '/v2/entities/urn:x')).toBe('allow');
    expect(decide('orion', p, 1026, 'POST', '/v2/subscriptions')).toBe('allow');
    expect(decide('orion', p, 1026, 'POST', '/v2/entities')).toBe('deny');
    expect(decide('orion', p, 1026, 'PATCH', '/v2/entities/urn:x/attrs')).toBe('deny');
  });

  it('lets the IoT Agent write to Orion and its registry, and Orion call back only its context-provider paths', () => {
    const agent = from(ns, 'iotagent-ul');
    expect(decide('orion', agent, 1026, 'POST', '/v2/entities')).toBe('allow');
    expect(decide('mongodb', agent, 27017)).toBe('allow');
    const orion = from(ns, 'orion');
    expect(decide('iotagent-ul', orion, 4041, 'POST', '/v2/op/update')).toBe('allow');
    expect(decide('iotagent-ul', orion, 4041, 'GET', '/iot/devices')).toBe('deny');
    expect(decide('iotagent-ul', orion, 7896, 'POST', '/iot/d')).toBe('deny');
    expect(decide('quantumleap', orion, 8668, 'POST', '/v2/notify')).toBe('allow');
    expect(decide('quantumleap', orion, 8668, 'GET', '/v2/entities')).toBe('deny');
  });

  it('refuses callers nothing granted: another workload, another namespace, no identity', () => {
    expect(decide('orion', from(ns, 'grafana'), 1026, 'GET', '/v2/entities')).toBe('deny');
    expect(decide('orion', from('default', 'provisioning'), 1026, 'GET', '/v2/entities')).toBe(
      'deny',
    );
    expect(
      mesh.authorize(workload('orion'), { port: 1026, method: 'GET', path: '/version' }).action,
    ).toBe('deny');
    expect(decide('mongodb', from(ns, 'provisioning'), 27017)).toBe('deny');
    expect(decide('cratedb', from(ns, 'grafana'), 4200)).toBe('deny');
    expect(decide('cratedb', from(ns, 'grafana'), 5432)).toBe('allow');
  });

  it('lets the gateway reach the route backends and OPA, nothing else', () => {
    const gw = from(ctx.componentNamespace('istioIngressGateway'), 'istio-ingressgateway');
    expect(decide('orion', gw, 1026, 'GET', '/v2/entities')).toBe('allow');
    expect(decide('iotagent-ul', gw, 7896, 'POST', '/iot/d')).toBe('allow');
    expect(decide('opa', gw, 9191)).toBe('allow');
    expect(decide('mongodb', gw, 27017)).toBe('deny');
    expect(decide('keycloak-postgres', gw, 5432)).toBe('deny');
  });

  it("lets verifiers fetch the realm's keys, and only Grafana redeem codes", () => {
    const jwks = ctx.jwksPath;
    const token = ctx.realmEndpointPath('token');
    expect(decide('keycloak', from(ns, 'provisioning'), 8080, 'GET', jwks)).toBe('allow');
    expect(decide('keycloak', from(ns, 'opa'), 8080, 'GET', jwks)).toBe('allow');
    expect(decide('keycloak', from(ns, 'provisioning'), 8080, 'POST', token)).toBe('deny');
    expect(decide('keycloak', from(ns, 'grafana'), 8080, 'POST', token)).toBe('allow');
    expect(decide('keycloak-postgres', from(idNs, 'keycloak'), 5432)).toBe('allow');
  });

  it('reads the ingress gateway: the blocked consoles and the ext_authz of the APIs', () => {
    const ingress = ingressOf(ctx, objects);
    const at = (path: string, headers = {}) =>
      ingress.mesh.authorize(ingress.workload, { port: 80, method: 'GET', path, headers });
    expect(at('/orion/v2/entities')).toMatchObject({ action: 'custom', policy: 'opa-ext-authz' });
    expect(at('/orion/version').action).toBe('allow');
    expect(at('/auth/admin/master/console')).toEqual({ action: 'deny', policy: 'blocked-paths' });
    expect(at('/grafana/', { 'x-kitt4sme-tenant': 'a' })).toEqual({
      action: 'deny',
      policy: 'platform-headers-from-clients',
    });
    expect(ingress.mesh.route(ingress.gateway, '/orion/v2/entities?q=1')).toMatchObject({
      host: ctx.serviceHost('orion'),
      port: 1026,
      path: '/v2/entities?q=1',
    });
  });
});
