/**
 * Test support: synthesize the platform from the repository's inputs, or from modified ones.
 */
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { CHARTS, COMPONENTS } from '../../platform/components.js';
import { platform } from '../../platform/config/platform.js';
import type { RouteSpec } from '../../platform/routes.js';
import type { PlatformConfigInput } from '../../platform/config/schema.js';
import type { PolicyFile } from '../../platform/policy-data.js';
import { POLICY_DATA_PATH, readPolicyFiles } from '../../platform/policy-data.js';
import type { KubeObject, SynthOutput } from '../../cdk8s/lib/synth.js';
import { synthesize } from '../../cdk8s/lib/synth.js';
import type { Build } from '../../generate/index.js';
import { build as buildAll } from '../../generate/index.js';
import { loadPlatformContext } from '../../platform/context.js';

/** The repository root. */
export const ROOT = fileURLToPath(new URL('../..', import.meta.url));

/** A deep copy of the repository's platform config, to modify in a test. */
export function configInput(): PlatformConfigInput {
  return structuredClone(platform) as PlatformConfigInput;
}

/**
 * The repository's platform config with every pin of the registry written out as an override
 * (`images`, `charts`), so a test can change one pin the way a fork's config would.
 */
export function pinnedConfigInput(): any {
  return {
    ...configInput(),
    images: structuredClone(
      Object.fromEntries(
        Object.entries(COMPONENTS).flatMap(([id, c]) => ('image' in c ? [[id, c.image]] : [])),
      ),
    ),
    charts: structuredClone(CHARTS),
  };
}

/** The repository's policy files. */
export function policyFiles(): PolicyFile[] {
  return readPolicyFiles(join(ROOT, 'policies'));
}

/** Changes to the repository's inputs, for a test. */
export interface InputChanges {
  readonly config?: (c: PlatformConfigInput) => void;
  readonly routes?: readonly RouteSpec[];
  readonly policies?: readonly PolicyFile[];
}

/** The inputs of a synth: the repository's, with optional changes. */
export function inputs(changes: InputChanges = {}) {
  const input = configInput();
  changes.config?.(input);
  return {
    context: loadPlatformContext({
      config: input,
      ...(changes.routes ? { routes: changes.routes } : {}),
    }),
    policies: changes.policies ?? policyFiles(),
  };
}

/**
 * A container's securityContext under the restricted Pod Security profile, as the tests expect
 * it: written out here, not taken from the constructs, so a construct that drifts fails.
 */
export const RESTRICTED_CONTAINER = {
  runAsNonRoot: true,
  allowPrivilegeEscalation: false,
  privileged: false,
  readOnlyRootFilesystem: true,
  capabilities: { drop: ['ALL'] },
  seccompProfile: { type: 'RuntimeDefault' },
} as const;

/** Synthesizes (the manifests) from the repository's inputs, with optional changes. */
export function synth(changes: InputChanges = {}): SynthOutput {
  return synthesize(inputs(changes));
}

/** What `npm run synth` writes (manifests and generated files), with optional changes. */
export function build(changes: InputChanges = {}): Build {
  return buildAll(inputs(changes));
}

/** `Kind/namespace/name` of an object. */
export function keyOf(o: KubeObject): string {
  return `${o.kind}/${o.metadata.namespace ?? '-'}/${o.metadata.name}`;
}

/** The one object with this kind and name (and namespace, if given). */
export function find<T = Record<string, any>>(
  out: SynthOutput,
  kind: string,
  name: string,
  namespace?: string,
): T {
  const hits = out.objects.filter(
    ({ object: o }) =>
      o.kind === kind &&
      o.metadata.name === name &&
      (namespace === undefined || o.metadata.namespace === namespace),
  );
  if (hits.length !== 1) throw new Error(`expected one ${kind} ${name}, found ${hits.length}`);
  return hits[0]!.object as T;
}

/** Objects whose YAML differs between two synths, including added and removed ones, sorted. */
export function changedObjects(a: SynthOutput, b: SynthOutput): string[] {
  const index = (out: SynthOutput) =>
    new Map(out.objects.map(({ object }) => [keyOf(object), JSON.stringify(object)]));
  const ia = index(a);
  const ib = index(b);
  const keys = new Set([...ia.keys(), ...ib.keys()]);
  return [...keys].filter((k) => ia.get(k) !== ib.get(k)).sort();
}

/** The content-addressed OPA policy ConfigMap. */
export function opaPolicyConfigMap(out: SynthOutput): Record<string, any> {
  const hit = out.objects.find(
    (o) => o.object.kind === 'ConfigMap' && o.object.metadata.name.startsWith('opa-policy-'),
  );
  if (!hit) throw new Error('no OPA policy ConfigMap');
  return hit.object as Record<string, any>;
}

/** The content-addressed policy-data ConfigMap of the provisioning service. */
export function provisioningPolicyConfigMap(out: SynthOutput): Record<string, any> {
  return policyConfigMapOf(out, 'provisioning');
}

/** The one policy data ConfigMap of a service that decides in-process (`<service>-policy-*`). */
export function policyConfigMapOf(out: SynthOutput, service: string): Record<string, any> {
  const hits = out.objects.filter(
    (o) => o.object.kind === 'ConfigMap' && o.object.metadata.name.startsWith(`${service}-policy-`),
  );
  if (hits.length !== 1)
    throw new Error(`expected one ${service} policy ConfigMap, found ${hits.length}`);
  return hits[0]!.object as Record<string, any>;
}

/** The generated OPA data document. */
export function opaPolicyData(out: SynthOutput): Record<string, any> {
  return JSON.parse(opaPolicyConfigMap(out).data[POLICY_DATA_PATH.replaceAll('/', '.')]);
}
