/**
 * Our chart values meet the real charts: for every chart Application of deploy/ whose chart
 * can be had here, the real `helm template` (the helm Argo CD renders with, built by `npm run
 * setup`) renders the chart with exactly the values synth wrote, every value key path we set
 * is one the chart defines, and the rendered objects carry what the values promise. The
 * charts that cannot be had are listed, and the list is held exact.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

import { CHARTS } from '../../platform/components.js';
import { toKubeResources } from '../../platform/config/profiles.js';
import { loadPlatformContext } from '../../platform/context.js';
import { readDeployObjects } from '../../services/ops/src/deploy.js';
import { TEST_TOOL_PINS, argoCdVersion, goModuleDir } from '../../toolchain/tools.js';
import {
  UNREACHABLE_CHART_APPS,
  chartApps,
  checkChartValues,
  reachableChart,
  unknownKeyPaths,
} from '../support/helm-charts.js';
import type { ChartApp, ChartCheck } from '../support/helm-charts.js';

const ctx = loadPlatformContext();
const apps = chartApps(readDeployObjects());
const app = (name: string) => {
  const found = apps.find((a) => a.name === name);
  if (!found) throw new Error(`deploy/ has no chart Application ${name}`);
  return found;
};
const reachable = apps.filter((a) => reachableChart(a) !== undefined);

/** Each reachable chart checked once, with deploy/'s values. */
const checks = new Map<string, ChartCheck>();
beforeAll(() => {
  for (const a of reachable) checks.set(a.name, checkChartValues(a, reachableChart(a)!));
});
const rendered = (name: string) => checks.get(name)!.objects;
const find = (name: string, kind: string, objectName: string) => {
  const o = rendered(name).find((x) => x.kind === kind && x.metadata?.name === objectName);
  if (!o) throw new Error(`${name} rendered no ${kind} ${objectName}`);
  return o;
};
const containers = (o: Record<string, any>): Record<string, any>[] =>
  o.spec.template.spec.containers;

/** `app` with one value changed: the values are deploy/'s, deep-copied. */
function withValues(a: ChartApp, change: (v: Record<string, any>) => void): ChartApp {
  const values = structuredClone(a.values) as Record<string, any>;
  change(values);
  return { ...a, values };
}

describe('the chart Applications of deploy/', () => {
  it('are each either checked against a reachable chart or listed as unreachable', () => {
    const unreachable = apps.filter((a) => reachableChart(a) === undefined).map((a) => a.name);
    expect(unreachable).toEqual(Object.keys(UNREACHABLE_CHART_APPS).sort());
    expect(reachable.map((a) => a.name)).toEqual([
      'istio-base',
      'istio-cni',
      'istio-ingressgateway',
      'istiod',
    ]);
    for (const name of unreachable)
      process.stderr.write(`helm-charts: not checked: ${name} (${UNREACHABLE_CHART_APPS[name]})\n`);
  });

  it('are rendered with the helm Argo CD renders them with', () => {
    // argo-cd ships the helm of its hack/tool-versions.sh in its image. NOTE (5) of toolchain/tools.ts
    const dir = goModuleDir('github.com/argoproj/argo-cd/v3', argoCdVersion(), 'Argo CD');
    const versions = readFileSync(join(dir, 'hack', 'tool-versions.sh'), 'utf8');
    expect(`v${/^helm4_version=(\S+)$/m.exec(versions)?.[1]}`).toBe(TEST_TOOL_PINS.helm.version);
  });
});

describe.each(['istio-base', 'istio-cni', 'istio-ingressgateway', 'istiod'])('%s', (name) => {
  it('renders with the values synth generates, each key path defined by the chart', () => {
    expect(checks.get(name)!.problems).toEqual([]);
    expect(rendered(name).length).toBeGreaterThan(0);
  });
});

describe('the rendered Istio charts', () => {
  const hub = CHARTS.istio.imageHub;
  const tag = CHARTS.istio.version;

  it('run istiod from the pinned image with the sized resources', () => {
    const istiod = find('istiod', 'Deployment', 'istiod');
    expect(containers(istiod).map((c) => c.image)).toEqual([`${hub}/pilot:${tag}`]);
    expect(containers(istiod)[0]!.resources).toEqual(toKubeResources(ctx.size('istiod').resources));
    expect(istiod.spec.replicas).toBe(ctx.size('istiod').replicas);
  });

  it('inject the pinned proxy image and the sidecar resources', () => {
    const injector = find('istiod', 'ConfigMap', 'istio-sidecar-injector');
    const values = JSON.parse(injector.data.values as string);
    expect(values.global.hub).toBe(hub);
    expect(values.global.tag).toBe(tag);
    expect(values.global.proxy.image).toBe('proxyv2');
    expect(values.global.proxy.resources).toEqual(toKubeResources(ctx.profile.sidecar));
  });

  it('carry the mesh config synth generates', () => {
    const mesh = find('istiod', 'ConfigMap', 'istio').data.mesh as string;
    expect(mesh).toContain('name: opa-ext-authz');
    expect(mesh).toContain('mode: REGISTRY_ONLY');
    expect(mesh).toContain('normalization: DECODE_AND_MERGE_SLASHES');
  });

  it('run the CNI agent from the pinned image with the sized resources', () => {
    const cni = find('istio-cni', 'DaemonSet', 'istio-cni-node');
    expect(containers(cni).map((c) => c.image)).toEqual([`${hub}/install-cni:${tag}`]);
    expect(containers(cni)[0]!.resources).toEqual(toKubeResources(ctx.size('istioCni').resources));
  });

  it('give the ingress gateway its release name, service type and resources', () => {
    const gw = find('istio-ingressgateway', 'Deployment', 'istio-ingressgateway');
    // `auto`: istiod's injector puts the pinned proxy image in (checked above).
    expect(containers(gw).map((c) => c.image)).toEqual(['auto']);
    expect(containers(gw)[0]!.resources).toEqual(
      toKubeResources(ctx.size('istioIngressGateway').resources),
    );
    expect(gw.spec.template.metadata.labels.istio).toBe('ingressgateway');
    const svc = find('istio-ingressgateway', 'Service', 'istio-ingressgateway');
    expect(svc.spec.type).toBe(ctx.config.profile === 'laptop' ? 'NodePort' : 'LoadBalancer');
  });
});

describe('the chart check', () => {
  it('fails on a value key the chart does not define, naming the chart and the key path', () => {
    const check = checkChartValues(
      withValues(app('istiod'), (v) => (v.global.proxy.resourcez = { limits: { cpu: '1' } })),
      reachableChart(app('istiod'))!,
    );
    expect(check.problems).toHaveLength(1);
    expect(check.problems[0]).toMatch(
      /^istiod \(chart istiod 1\.31\.1, checked against istio\.io\/istio@v0\.0\.0-\S+ .*\): value key path global\.proxy\.resourcez is not defined by the chart/,
    );
  });

  it('fails on a misspelt key inside a map the chart defines', () => {
    const base = app('istio-cni');
    const check = checkChartValues(
      withValues(base, (v) => (v.global.logging = { level: 'info', lvel: 'debug' })),
      reachableChart(base)!,
    );
    expect(check.problems.map((p) => p.replace(/^.*value key path (\S+) .*$/s, '$1'))).toEqual([
      'global.logging.lvel',
    ]);
  });

  it('fails on a mesh config field that Istio’s MeshConfig does not have, down into list items', () => {
    const check = checkChartValues(
      withValues(app('istiod'), (v) => {
        v.meshConfig.outboundTrafficPolicy.mod = 'ALLOW_ANY';
        v.meshConfig.extensionProviders[0].envoyExtAuthzGrpc.failopen = true;
      }),
      reachableChart(app('istiod'))!,
    );
    expect(
      check.problems.map((p) => p.replace(/^.*value key path (\S+) .*$/s, '$1')).sort(),
    ).toEqual([
      'meshConfig.extensionProviders[0].envoyExtAuthzGrpc.failopen',
      'meshConfig.outboundTrafficPolicy.mod',
    ]);
    expect(check.problems[1]).toContain(
      `not a field of the MeshConfig message of istio.io/api@v${CHARTS.istio.version}`,
    );
  });

  it('fails on a value the chart’s values.schema.json rejects, naming the chart and the key', () => {
    const gw = app('istio-ingressgateway');
    const check = checkChartValues(
      withValues(gw, (v) => (v.service.type = 42)),
      reachableChart(gw)!,
    );
    expect(check.objects).toEqual([]);
    expect(check.problems).toHaveLength(1);
    expect(check.problems[0]).toMatch(/^istio-ingressgateway \(chart gateway 1\.31\.1, /);
    expect(check.problems[0]).toContain('helm template failed');
    expect(check.problems[0]).toMatch(/\/service\/type/);
  });

  it('fails on a key the schema forbids though the chart’s values.yaml lacks it too', () => {
    const gw = app('istio-ingressgateway');
    const check = checkChartValues(
      withValues(gw, (v) => (v.replicas = 2)),
      reachableChart(gw)!,
    );
    expect(check.problems.some((p) => p.includes('value key path replicas is not defined'))).toBe(
      true,
    );
    expect(check.problems.some((p) => p.includes('helm template failed'))).toBe(true);
  });

  it('reads key paths through the schema: declared properties and free-form maps pass', () => {
    const schema = {
      $ref: '#/$defs/v',
      $defs: {
        v: {
          type: 'object',
          additionalProperties: false,
          properties: {
            service: { type: 'object', properties: { type: { type: 'string' } } },
            labels: { type: 'object', additionalProperties: { type: 'string' } },
          },
        },
      },
    };
    expect(
      unknownKeyPaths(
        { service: { type: 'NodePort', typo: 1 }, labels: { any: 'x' }, extra: { a: 1 } },
        {},
        schema,
        {},
      ),
    ).toEqual(['service.typo', 'extra']);
    expect(unknownKeyPaths({ extra: { a: 1 } }, {}, schema, { extra: 'why' })).toEqual([]);
  });
});
