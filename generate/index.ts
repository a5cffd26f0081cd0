/**
 * The generate step: every file the repository generates besides the manifests, from the
 * synthesized platform (synth's output), the registry and the catalogues.
 *
 * `npm run synth` runs synthesis (cdk8s/lib/synth.ts: the construct tree, validated, as
 * manifests) and then this step; `npm run synth -- --check` compares both with what is
 * committed. A generated file is one entry of {@link GENERATED}: its path, what it is for, and
 * how it is rendered.
 */
import { buildOpenApi as buildFleetOpenApi } from '../services/fleet/src/openapi.js';
import { buildOpenApi as buildMonitorOpenApi } from '../services/monitor/src/openapi.js';
import { DEFAULT_MAX_BATCH } from '../services/provisioning/src/config.js';
import { devicesFileJsonSchema } from '../services/provisioning/src/devices-file.js';
import { buildOpenApi } from '../services/provisioning/src/openapi.js';
import { renderBudget } from '../cdk8s/lib/budget.js';
import { argoCdValues } from '../cdk8s/lib/gitops/chart-values.js';
import type { PlatformInputs } from '../cdk8s/lib/platform.js';
import type { SynthOutput } from '../cdk8s/lib/synth.js';
import { GENERATED_HEADER, synthesize, toYaml } from '../cdk8s/lib/synth.js';
import { fleetRecordJsonSchema } from '../platform/fleet/records.js';
import { policyExampleData } from '../platform/policy-data.js';
import { renderClusterEnv } from './cluster-env.js';
import {
  renderErrorsDoc,
  renderArchitectureSection,
  renderEventsDoc,
  renderFleetReference,
} from './docs.js';

/** One generated file. */
export interface GeneratedFile {
  /** Path relative to the repository root. */
  readonly path: string;
  /** Who reads it. */
  readonly purpose: string;
  readonly render: (out: SynthOutput) => string;
}

const json = (value: unknown) => `${JSON.stringify(value, null, 2)}\n`;

/** Every generated file besides the manifests and docs/architecture.md's section. */
export const GENERATED: readonly GeneratedFile[] = [
  {
    path: 'deploy/bootstrap/argocd-values.yaml',
    purpose: 'the values of the first `helm install` of Argo CD (argocd/bootstrap.sh)',
    render: (out) =>
      `${GENERATED_HEADER}# Values of the first \`helm install\` of Argo CD; the argo-cd Application then manages the same release.\n${toYaml(argoCdValues(out.platform.context))}`,
  },
  {
    path: 'deploy/bootstrap/cluster.env',
    purpose: 'what minikube/up.sh and argocd/bootstrap.sh read from the config',
    render: (out) => GENERATED_HEADER + renderClusterEnv(out.platform.context),
  },
  {
    path: 'deploy/bootstrap/budget.txt',
    purpose: 'the resource budget of the synthesized profile (npm run budget)',
    render: (out) => GENERATED_HEADER + renderBudget(out.platform.context, out.objects),
  },
  {
    path: 'docs/errors.md',
    purpose: 'every error code, its meaning and its fix',
    render: () => renderErrorsDoc(),
  },
  {
    path: 'docs/devices.schema.json',
    purpose: 'the JSON Schema of devices-as-code files (docs/devices-as-code.md)',
    render: () => json(devicesFileJsonSchema()),
  },
  {
    path: 'docs/fleet.schema.json',
    purpose: 'the JSON Schema of the fleet records (docs/agents-as-code.md)',
    render: () => json(fleetRecordJsonSchema()),
  },
  {
    path: 'docs/events.md',
    purpose: "every type of the platform's events, its subject, pair and data (docs/monitor.md)",
    render: () => renderEventsDoc(),
  },
  {
    path: 'docs/fleet-reference.md',
    purpose: 'every field of the fleet records and what each need grants',
    render: (out) => renderFleetReference(out.platform.context),
  },
  {
    path: 'docs/provisioning.openapi.json',
    purpose: "the provisioning service's OpenAPI document, as it serves it",
    render: () => json(buildOpenApi({ maxBatch: DEFAULT_MAX_BATCH })),
  },
  {
    path: 'docs/fleet.openapi.json',
    purpose: "the fleet service's OpenAPI document, as it serves it (docs/fleet.md)",
    render: () => json(buildFleetOpenApi()),
  },
  {
    path: 'docs/monitor.openapi.json',
    purpose: "the monitor's OpenAPI document, as it serves it (docs/monitor.md)",
    render: () => json(buildMonitorOpenApi()),
  },
  {
    path: 'policies/examples/data.json',
    purpose: 'the policy data as OPA sees it, for `opa eval` by hand (policies/README.md)',
    render: (out) => json(policyExampleData(out.platform.context)),
  },
];

/** Everything one run of `npm run synth` produces. */
export interface Build {
  readonly synth: SynthOutput;
  /** The manifests and the generated files, by path relative to the repository root, sorted. */
  readonly files: ReadonlyMap<string, string>;
  /** The generated section of docs/architecture.md: diagram, routes, rights, layers, versions, exceptions. */
  readonly architectureSection: string;
}

/** Runs the generate step over a synthesized platform. */
export function generate(synth: SynthOutput): Build {
  const files = new Map(synth.manifests);
  for (const g of GENERATED) {
    if (files.has(g.path)) throw new TypeError(`two outputs write ${g.path}`);
    files.set(g.path, g.render(synth));
  }
  return {
    synth,
    files: new Map([...files].sort(([a], [b]) => a.localeCompare(b))),
    architectureSection: renderArchitectureSection(synth.platform),
  };
}

/** Synthesis, then the generate step: what `npm run synth` writes. */
export function build(inputs: PlatformInputs): Build {
  return generate(synthesize(inputs));
}
