/**
 * The component registry and the context loaded from it: what is derived from the entries,
 * what a bad entry gives, and that a context only comes validated.
 */
import type { ComponentSpec } from '../components.js';
import {
  CHARTS,
  CHART_IDS,
  COMPONENTS,
  COMPONENT_ERRORS,
  ComponentRegistryError,
  IMAGE_IDS,
  PLATFORM_COMPONENT_IDS,
  SERVICES,
  validateComponents,
} from '../components.js';
import type { ComponentErrorCode } from '../components.js';
import { ConfigError, registryPinIssues } from '../config/schema.js';
import { PlatformContext, loadPlatformContext } from '../context.js';
import { ROUTES, RouteTableError } from '../routes.js';
import { configInput } from '../../testing/support/synth.js';

const registry = () => structuredClone(COMPONENTS) as unknown as Record<string, ComponentSpec>;

/** The registry error a modified registry gives. */
function registryError(change: (r: Record<string, any>) => void): ComponentRegistryError {
  const r = registry();
  change(r);
  try {
    validateComponents(r);
  } catch (err) {
    if (err instanceof ComponentRegistryError) return err;
    throw err;
  }
  throw new Error('expected the registry to be refused');
}

describe('the component registry', () => {
  it('is consistent', () => {
    expect(() => validateComponents()).not.toThrow();
  });

  it('derives the Services from the entries that have one, with their ports', () => {
    for (const [id, c] of Object.entries(COMPONENTS) as [string, ComponentSpec][]) {
      expect((SERVICES as Record<string, unknown>)[id]).toBe(c.service);
    }
    expect(Object.keys(SERVICES)).toContain('orion');
    expect(Object.keys(SERVICES)).not.toContain('istiod');
  });

  it('derives the pinned images and charts, so the config can only override what exists', () => {
    expect(IMAGE_IDS).toEqual(
      Object.entries(COMPONENTS)
        .filter(([, c]) => 'image' in c)
        .map(([id]) => id),
    );
    expect(CHART_IDS).toEqual(Object.keys(CHARTS));
    // Every platform component runs an image of its own; upstream charts pin theirs.
    for (const id of PLATFORM_COMPONENT_IDS) expect(IMAGE_IDS).toContain(id);
  });

  it('derives the route table: the tenant routes, then the sso routes, each in registry order', () => {
    const declared = Object.entries(COMPONENTS).flatMap(([id, c]) =>
      ((c as ComponentSpec).routes ?? []).map((r) => ({ id, ...r })),
    );
    expect(ROUTES.map((r) => r.prefix)).toEqual([
      ...declared.filter((r) => r.access === 'tenant').map((r) => r.prefix),
      ...declared.filter((r) => r.access === 'sso').map((r) => r.prefix),
    ]);
    for (const r of ROUTES) {
      const own = declared.find((d) => d.prefix === r.prefix)!;
      expect(r.backend).toEqual({ service: own.id, port: own.port });
    }
  });

  const cases: [ComponentErrorCode, string, (r: Record<string, any>) => void][] = [
    ['ERR_COMPONENT_SOURCE', 'orion', (r) => delete r.orion.layer],
    ['ERR_COMPONENT_SOURCE', 'orion', (r) => delete r.orion.image],
    ['ERR_COMPONENT_SOURCE', 'kiali', (r) => (r.kiali.chart = 'kiali-server')],
    ['ERR_COMPONENT_CALL', 'orion', (r) => r.orion.calls.push({ to: 'nowhere' })],
    ['ERR_COMPONENT_CALL', 'orion', (r) => r.orion.calls.push({ to: 'istiod' })],
    ['ERR_COMPONENT_CALL', 'orion', (r) => r.orion.calls.push({ to: 'mongodb', ports: ['web'] })],
    ['ERR_COMPONENT_CALL', 'orion', (r) => r.orion.calls.push({ to: 'mongodb', methods: ['GET'] })],
    // An empty list is no restriction to Istio: each would open the callee wide.
    ['ERR_COMPONENT_CALL', 'orion', (r) => r.orion.calls.push({ to: 'mongodb', ports: [] })],
    ['ERR_COMPONENT_CALL', 'orion', (r) => r.orion.calls.push({ to: 'quantumleap', methods: [] })],
    ['ERR_COMPONENT_CALL', 'orion', (r) => r.orion.calls.push({ to: 'quantumleap', paths: [] })],
    [
      'ERR_COMPONENT_CALL',
      'orion',
      (r) => r.orion.calls.push({ to: 'keycloak', ports: ['web'], realmPaths: [] }),
    ],
    // A chart's workload has a Service but its chart owns its policies.
    ['ERR_COMPONENT_CALL', 'orion', (r) => r.orion.calls.push({ to: 'kiali' })],
    // A chart's workload calls as its ServiceAccount, which the callee's policy names.
    ['ERR_COMPONENT_CALL', 'alertmanager', (r) => delete r.alertmanager.serviceAccount],
    // A sidecar label is for a chart's pod outside the meshed namespaces.
    ['ERR_COMPONENT_SOURCE', 'orion', (r) => (r.orion.sidecar = true)],
    ['ERR_COMPONENT_SOURCE', 'alertmanager', (r) => (r.alertmanager.namespace = 'platform')],
    // Realm paths are Keycloak's.
    [
      'ERR_COMPONENT_CALL',
      'orion',
      (r) => r.orion.calls.push({ to: 'quantumleap', realmPaths: ['jwks'] }),
    ],
    [
      'ERR_COMPONENT_IOT_AGENT',
      'iotAgentJson',
      (r) => (r.iotAgentJson.iotAgent.registry.database = 'iotagentul'),
    ],
    [
      'ERR_COMPONENT_IOT_AGENT',
      'iotAgentJson',
      (r) => (r.iotAgentJson.iotAgent.protocol = 'ultralight'),
    ],
    ['ERR_COMPONENT_IOT_AGENT', 'iotAgentJson', (r) => delete r.iotAgentJson.service.ports.south],
    // The default protocol is said, not implied by the order of the registry: one, not two.
    [
      'ERR_COMPONENT_IOT_AGENT',
      'iotAgentUl, iotAgentJson',
      (r) => (r.iotAgentJson.iotAgent.default = true),
    ],
    [
      'ERR_COMPONENT_IOT_AGENT',
      'iotAgentUl, iotAgentJson',
      (r) => delete r.iotAgentUl.iotAgent.default,
    ],
  ];

  it.each(cases)('fails with %s for %s', (code, component, change) => {
    const err = registryError(change);
    expect(err.code).toBe('ERR_COMPONENT_INVALID');
    expect(err.issues).toEqual([expect.objectContaining({ code, component })]);
    expect(err.message).toContain(`${component}: ${COMPONENT_ERRORS[code].problem}`);
    expect(err.message).toContain(`Fix: ${COMPONENT_ERRORS[code].fix}. [${code}]`);
  });

  it('covers every documented registry error with a failing case', () => {
    expect([...new Set(cases.map(([c]) => c))].sort()).toEqual(
      Object.keys(COMPONENT_ERRORS).sort(),
    );
  });

  it('checks its pins by the rules of the config', () => {
    expect(registryPinIssues({ opa: COMPONENTS.opa.image }, CHARTS)).toEqual([]);
    const issues = registryPinIssues(
      { opa: { ...COMPONENTS.opa.image, tag: 'latest' } },
      { ...CHARTS, kiali: { ...CHARTS.kiali, version: '^2' } },
    );
    expect(issues.map((i) => [i.code, i.path])).toEqual([
      ['ERR_CONFIG_IMAGE_TAG', 'COMPONENTS.opa.image.tag'],
      ['ERR_CONFIG_CHART_VERSION', 'CHARTS.kiali.version'],
    ]);
    expect(new ConfigError(issues).message).toContain('COMPONENTS.opa.image.tag:');
  });
});

describe('loadPlatformContext', () => {
  it('loads the repository config with the registry pins', () => {
    const ctx = loadPlatformContext();
    expect(ctx.image('orion')).toBe(
      `${COMPONENTS.orion.image.repository}:${COMPONENTS.orion.image.tag}`,
    );
    expect(ctx.chart('istio')).toBe(CHARTS.istio);
    expect(ctx.routes).toBe(ROUTES);
    expect(ctx.size('cratedb')).toEqual(COMPONENTS.cratedb.sizes[ctx.config.profile]);
  });

  it("takes the config's overrides of an image and a chart over the registry's pins", () => {
    const own = { repository: 'ghcr.io/fork/provisioning', tag: '1.2.3', why: 'our own build' };
    const mirror = { ...CHARTS.kiali, repoURL: 'https://charts.example.org/kiali' };
    const ctx = loadPlatformContext({
      config: { ...configInput(), images: { provisioning: own }, charts: { kiali: mirror } },
    });
    expect(ctx.image('provisioning')).toBe('ghcr.io/fork/provisioning:1.2.3');
    expect(ctx.imageSpec('provisioning')).toEqual(own);
    expect(ctx.image('orion')).toContain(COMPONENTS.orion.image.tag);
    expect(ctx.chart('kiali').repoURL).toBe('https://charts.example.org/kiali');
  });

  it('sizes every component by the chosen profile', () => {
    const production = loadPlatformContext({ config: { ...configInput(), profile: 'production' } });
    expect(production.size('cratedb').replicas).toBe(COMPONENTS.cratedb.sizes.production.replicas);
    expect(production.profile.crateHeapMi).toBeGreaterThan(
      loadPlatformContext().profile.crateHeapMi,
    );
  });

  it('fails on a bad config, a bad override and a bad route table, before anything is built', () => {
    expect(() => loadPlatformContext({ config: { ...configInput(), profile: 'huge' } })).toThrow(
      ConfigError,
    );
    expect(() =>
      loadPlatformContext({
        config: {
          ...configInput(),
          images: { orion: { ...COMPONENTS.orion.image, tag: 'latest' } },
        },
      }),
    ).toThrow(/images\.orion\.tag: .*\[ERR_CONFIG_IMAGE_TAG\]/);
    expect(() =>
      loadPlatformContext({ routes: [...ROUTES, { ...ROUTES[0]!, prefix: '/orion/v3' }] }),
    ).toThrow(RouteTableError);
  });

  it('is the only way to a context', () => {
    const ctx = loadPlatformContext();
    const Ctor = PlatformContext as unknown as new (...args: unknown[]) => PlatformContext;
    expect(() => new Ctor(undefined, ctx.config, ctx.routes, {}, {})).toThrow(
      'get a PlatformContext from loadPlatformContext()',
    );
  });

  it('derives the realm paths from the gateway route of Keycloak', () => {
    const ctx = loadPlatformContext();
    const prefix = ROUTES.find((r) => r.backend.service === 'keycloak')!.prefix;
    expect(ctx.realmPath).toBe(`${prefix}/realms/${ctx.config.identity.realm}`);
    expect(ctx.jwksPath).toBe(`${ctx.realmPath}/protocol/openid-connect/certs`);
    expect(ctx.realmEndpointPath('token')).toBe(`${ctx.realmPath}/protocol/openid-connect/token`);
  });
});
