/**
 * Test support: the upstream Helm charts of deploy/'s chart Applications that the tests can
 * reach, and a check of the values synth generates against them with the real `helm
 * template`.
 *
 * Reachable here: the Istio charts (base, istiod, gateway, cni), from the istio.io/istio Go
 * module snapshot that `npm run setup` fetches (toolchain/tools.ts, NOTE 6). The other charts
 * live only in Helm repositories the tests cannot reach ({@link UNREACHABLE_CHART_APPS}).
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { parse, parseAllDocuments } from 'yaml';

import { loadPlatformContext } from '../../platform/context.js';
import type { DeployObject } from '../../services/ops/src/deploy.js';
import {
  ISTIO_CHART_DIRS,
  TEST_TOOL_PINS,
  ensureHelm,
  goModuleDir,
  istioChartsModuleDir,
} from '../../toolchain/tools.js';
import { protoSchema } from './proto-schema.js';
import type { SchemaNode } from './proto-schema.js';

/** Helm values: a JSON object. */
export type Values = Record<string, unknown>;

/** A chart Application of deploy/: an Argo CD Application with a Helm chart source. */
export interface ChartApp {
  /** The Application's name. */
  readonly name: string;
  /** The file under deploy/ it was read from. */
  readonly file: string;
  /** The chart's name in its repository (`spec.source.chart`). */
  readonly chart: string;
  readonly repoURL: string;
  /** The pinned chart version (`spec.source.targetRevision`). */
  readonly version: string;
  readonly releaseName: string;
  /** The destination namespace: the release's namespace. */
  readonly namespace: string;
  /** `spec.source.helm.valuesObject`, exactly as synth wrote it. */
  readonly values: Values;
}

/**
 * The Applications of deploy/ whose source is a Helm chart, with their values as generated.
 * @throws TypeError when a chart Application carries values in a form the checks do not read
 *   (values as a string, valueFiles, parameters): the checks would miss them.
 */
export function chartApps(objects: readonly DeployObject[]): ChartApp[] {
  return objects
    .filter(
      (o) => o.object.kind === 'Application' && o.object.apiVersion?.startsWith('argoproj.io/'),
    )
    .flatMap(({ file, object }) => {
      const spec = (object as unknown as { spec: AppSpec }).spec;
      const source = spec.source;
      if (!source?.chart) return [];
      const helm = source.helm ?? {};
      const other = (['values', 'valueFiles', 'parameters', 'fileParameters'] as const).filter(
        (k) => helm[k] !== undefined,
      );
      if (other.length > 0)
        throw new TypeError(
          `${file}: the chart Application ${object.metadata.name} sets helm.${other.join(', helm.')}; the chart checks read only helm.valuesObject`,
        );
      return [
        {
          name: object.metadata.name,
          file,
          chart: source.chart,
          repoURL: source.repoURL,
          version: source.targetRevision,
          releaseName: helm.releaseName ?? object.metadata.name,
          namespace: spec.destination.namespace,
          values: (helm.valuesObject ?? {}) as Values,
        },
      ];
    })
    .sort((a, b) => a.name.localeCompare(b.name));
}

interface AppSpec {
  destination: { namespace: string };
  source?: {
    chart?: string;
    repoURL: string;
    targetRevision: string;
    helm?: {
      releaseName?: string;
      valuesObject?: unknown;
      values?: unknown;
      valueFiles?: unknown;
      parameters?: unknown;
      fileParameters?: unknown;
    };
  };
}

/** Where a reachable chart comes from and how its values are read. */
export interface ReachableChart {
  /** The chart directory. */
  readonly dir: string;
  /** What the chart is a snapshot of, for messages and docs. */
  readonly snapshot: string;
  /**
   * Where the chart's values.yaml keeps its defaults: the Istio charts nest them under
   * `_internal_defaults_do_not_set` (their templates merge that key into the values).
   */
  readonly defaultsKey?: string;
  /**
   * Key paths (dot-separated) whose content the chart passes through as a whole: free-form
   * maps by design and Kubernetes types rendered with `toYaml`. Nothing under them is
   * checked against values.yaml. Each entry says why.
   */
  readonly freeForm: Readonly<Record<string, string>>;
  /**
   * Key paths the chart passes through whole as an upstream message, checked against that
   * message's fields instead of values.yaml: `what` names the message and where it is read.
   */
  readonly messages?: Readonly<
    Record<string, { readonly what: string; readonly schema: SchemaNode }>
  >;
}

/** Free-form key paths shared by the Istio charts. */
const ISTIO_FREE_FORM = {
  resources:
    'a Kubernetes ResourceRequirements, rendered with toYaml (values.yaml gives requests only)',
} as const;

let istioChartsLoaded: Record<keyof typeof ISTIO_CHART_DIRS, ReachableChart> | undefined;
/** The Istio charts by their name in the repository, loaded once: all from one module. */
function istioCharts(): Record<keyof typeof ISTIO_CHART_DIRS, ReachableChart> {
  return (istioChartsLoaded ??= loadIstioCharts());
}
function loadIstioCharts(): Record<keyof typeof ISTIO_CHART_DIRS, ReachableChart> {
  const dir = istioChartsModuleDir();
  const snapshot = `${TEST_TOOL_PINS.istioCharts.module}@${TEST_TOOL_PINS.istioCharts.version} (release-1.31 branch, chart version 1.0.0)`;
  const chart = (name: keyof typeof ISTIO_CHART_DIRS, freeForm: Record<string, string>) => ({
    dir: join(dir, ISTIO_CHART_DIRS[name]),
    snapshot,
    defaultsKey: '_internal_defaults_do_not_set',
    freeForm,
  });
  const istiod = chart('istiod', {
    ...ISTIO_FREE_FORM,
    'global.proxy.resources':
      'the sidecars’ Kubernetes ResourceRequirements, rendered with toYaml into the injection template',
    env: 'istiod’s environment variables, a free-form map (values.yaml: env: {})',
  });
  return {
    base: chart('base', {}),
    cni: chart('cni', ISTIO_FREE_FORM),
    gateway: chart('gateway', ISTIO_FREE_FORM),
    istiod: { ...istiod, messages: { meshConfig: meshConfigSchema() } },
  };
}

/**
 * Istio's MeshConfig message at the pinned Istio release (istio.io/api, whose CRDs setup
 * fetches already): the chart renders `meshConfig` whole into the `istio` ConfigMap, and
 * istiod reads it as that message.
 */
function meshConfigSchema(): { what: string; schema: SchemaNode } {
  const version = `v${loadPlatformContext().chart('istio').version}`;
  const dir = join(goModuleDir('istio.io/api', version, 'the Istio API'), 'mesh', 'v1alpha1');
  return {
    what: `the MeshConfig message of istio.io/api@${version}`,
    schema: protoSchema(
      [join(dir, 'config.proto'), join(dir, 'proxy.proto')],
      'istio.mesh.v1alpha1.MeshConfig',
    ),
  };
}

/**
 * The chart Applications of deploy/ whose chart cannot be had here, and why. The chart test
 * fails when deploy/ gains or loses a chart Application, so this list stays exact.
 */
export const UNREACHABLE_CHART_APPS: Readonly<Record<string, string>> = {
  'argo-cd':
    'argo-helm chart argo-cd: only in its Helm repository; argo-helm is not a Go module, and the argo-cd module carries no chart',
  jaeger:
    'Jaeger chart jaeger: only in its Helm repository; jaegertracing/helm-charts is not a Go module',
  kiali:
    'Kiali chart kiali-server: only in its Helm repository; kiali/helm-charts is not a Go module',
  prometheus:
    'prometheus-community chart prometheus: only in its Helm repository; prometheus-community/helm-charts is not a Go module',
  'sealed-secrets':
    'Sealed Secrets chart sealed-secrets 2.19.3: its Helm repository is not reachable; the github.com/bitnami-labs/sealed-secrets module at the pinned v0.39.1 carries chart 2.19.2, not the pinned chart (toolchain/tools.ts, NOTE 8)',
};

/**
 * The reachable chart of a chart Application, or undefined when it is not reachable here.
 * @throws PlatformError ERR_TOOL_MISSING when the Istio charts cannot be fetched.
 */
export function reachableChart(app: ChartApp): ReachableChart | undefined {
  // The Istio chart repository: its charts are the ones the tests can reach.
  if (app.repoURL !== loadPlatformContext().chart('istio').repoURL) return undefined;
  const charts = istioCharts();
  return app.chart in charts ? charts[app.chart as keyof typeof charts] : undefined;
}

/** What the chart check found. */
export interface ChartCheck {
  /** Problems, each naming the Application, the chart and the key path; empty when none. */
  readonly problems: string[];
  /** The rendered objects (empty when helm failed). */
  readonly objects: Record<string, any>[];
}

const isMap = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);

/** Follows local `$ref`s (`#/$defs/x`) of `root`. */
function resolve(root: SchemaNode, node: SchemaNode | undefined): SchemaNode | undefined {
  let n = node;
  for (let i = 0; n?.$ref !== undefined && i < 10; i++) {
    if (!n.$ref.startsWith('#/')) return undefined;
    n = n.$ref
      .slice(2)
      .split('/')
      .reduce<any>((o, k) => o?.[k], root) as SchemaNode | undefined;
  }
  return n;
}

/** Where a key path's definition is looked up: the chart's defaults and a schema node. */
interface Scope {
  readonly defaults: Record<string, unknown> | undefined;
  /** The schema node and the root its `$ref`s point into. */
  readonly node: SchemaNode | undefined;
  readonly root: SchemaNode;
}

/**
 * The key paths of `values` that the chart does not define: present neither in its defaults
 * (values.yaml) nor in its schema's `properties` (or in the upstream message a path is
 * checked against, `messages`), and not under a free-form path. A map in our values where
 * the chart's default is empty or a scalar is unknown below that point, unless listed
 * free-form. Arrays are leaves, except where a schema gives their items' properties: then each
 * item is checked (`path[i].key`).
 */
export function unknownKeyPaths(
  values: Values,
  defaults: Values,
  schema: SchemaNode | undefined,
  freeForm: Readonly<Record<string, string>>,
  messages: Readonly<Record<string, { readonly schema: SchemaNode }>> = {},
): string[] {
  const found: string[] = [];
  const walk = (ours: Record<string, unknown>, scope: Scope, path: string) => {
    for (const [key, value] of Object.entries(ours)) {
      const name = path === '' ? key : `${path}.${key}`;
      if (name in freeForm) continue;
      const theirs = scope.defaults;
      const inDefaults = theirs !== undefined && Object.hasOwn(theirs, key);
      const below = inDefaults && isMap(theirs[key]) ? (theirs[key] as Values) : undefined;
      const message = messages[name];
      let child: Scope;
      if (message !== undefined) {
        child = {
          defaults: below,
          node: resolve(message.schema, message.schema),
          root: message.schema,
        };
      } else {
        const declared = resolve(scope.root, scope.node?.properties?.[key]);
        // A map the schema declares free-form (additionalProperties: a schema) allows any key.
        const extra = scope.node?.additionalProperties;
        if (declared === undefined && isMap(extra)) continue;
        if (!inDefaults && declared === undefined) {
          found.push(name);
          continue;
        }
        child = { defaults: below, node: declared, root: scope.root };
      }
      if (isMap(value)) walk(value, child, name);
      else if (Array.isArray(value)) {
        const items = resolve(child.root, child.node?.items);
        if (items?.properties === undefined) continue;
        value.forEach((item, i) => {
          if (isMap(item))
            walk(item, { defaults: undefined, node: items, root: child.root }, `${name}[${i}]`);
        });
      }
    }
  };
  const root = schema ?? {};
  walk(values, { defaults, node: resolve(root, root), root }, '');
  return found;
}

/** The defaults of a chart: its values.yaml, under {@link ReachableChart.defaultsKey}. */
function chartDefaults(chart: ReachableChart): Values {
  const all = (parse(readFileSync(join(chart.dir, 'values.yaml'), 'utf8')) ?? {}) as Values;
  if (!chart.defaultsKey) return all;
  const nested = all[chart.defaultsKey];
  if (!isMap(nested))
    throw new TypeError(`${chart.dir}/values.yaml has no map ${chart.defaultsKey}`);
  return nested;
}

/** The chart's values.schema.json, when it has one. */
function chartSchema(chart: ReachableChart): SchemaNode | undefined {
  const path = join(chart.dir, 'values.schema.json');
  return existsSync(path) ? (JSON.parse(readFileSync(path, 'utf8')) as SchemaNode) : undefined;
}

/**
 * Checks `app`'s values against `chart`: every key path must be defined by the chart (see
 * {@link unknownKeyPaths}), and the real `helm template` must render them (which also applies
 * the chart's values.schema.json). The values are passed to helm exactly as generated.
 */
export function checkChartValues(app: ChartApp, chart: ReachableChart): ChartCheck {
  const where = `${app.name} (chart ${app.chart} ${app.version}, checked against ${chart.snapshot})`;
  const schema = chartSchema(chart);
  const messages = chart.messages ?? {};
  const problems = unknownKeyPaths(
    app.values,
    chartDefaults(chart),
    schema,
    chart.freeForm,
    messages,
  ).map((path) => {
    const message = Object.keys(messages).find(
      (m) => path.startsWith(`${m}.`) || path.startsWith(`${m}[`),
    );
    const source =
      message !== undefined
        ? `not a field of ${messages[message]!.what}, which the chart passes ${message} through as`
        : `not in its values.yaml${schema ? ' nor in its values.schema.json' : ''}`;
    return `${where}: value key path ${path} is not defined by the chart (${source}); remove or rename it in cdk8s/lib/gitops/chart-values.ts, or, if the chart passes that map through whole, list it as free-form in testing/support/helm-charts.ts with the reason`;
  });
  const dir = mkdtempSync(join(tmpdir(), 'helm-values-'));
  try {
    const valuesFile = join(dir, 'values.json');
    writeFileSync(valuesFile, JSON.stringify(app.values));
    const r = spawnSync(
      ensureHelm(),
      [
        'template',
        app.releaseName,
        chart.dir,
        '--namespace',
        app.namespace,
        '--values',
        valuesFile,
      ],
      {
        encoding: 'utf8',
        maxBuffer: 64 * 1024 * 1024,
        env: { ...process.env, HELM_CACHE_HOME: dir, HELM_CONFIG_HOME: dir, HELM_DATA_HOME: dir },
      },
    );
    if (r.error || r.status !== 0) {
      problems.push(`${where}: helm template failed: ${(r.error?.message ?? r.stderr).trim()}`);
      return { problems, objects: [] };
    }
    const objects = parseAllDocuments(r.stdout)
      .map((d) => d.toJS() as Record<string, any> | null)
      .filter((o): o is Record<string, any> => isMap(o));
    return { problems, objects };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
