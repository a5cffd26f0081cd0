/**
 * The project's rules for synthesized objects: what the Kubernetes and Istio schemas do not
 * check but a manifest of this platform must satisfy.
 *
 * Synth runs them and refuses to write a manifest that breaks one; the validation tests run
 * them too, together with the schema checks. A container may be excused from the
 * read-only-root rule only by a declared exception (see policy-exceptions.ts).
 */
import { PlatformError } from '../../../platform/errors.js';
import { EXACT_SEMVER, isPinnedImage } from '../../../platform/config/schema.js';

import { decodeExceptions } from '../policy-exceptions.js';
import type { SynthObject } from '../objects.js';

/** Every rule, with what it protects. */
export const RULES = {
  'namespace-set':
    'every namespaced object names its namespace, so no object lands in `default` by accident',
  'no-secret': 'no Secret in deploy/: secrets are generated at bootstrap and never committed',
  'service-cluster-ip':
    'Services are ClusterIP: no NodePort or LoadBalancer bypasses the ingress gateway',
  'service-port-protocol':
    'Service port names carry an Istio protocol prefix (http-, grpc-, tcp-, mongo-...)',
  'image-pinned': 'every image has a pinned tag or digest (never latest, never a floating tag)',
  'image-from-config': 'every image is one the platform config pins, so versions live in one place',
  'resources-set': 'every container requests and limits both CPU and memory',
  'probes-set':
    'every long-running container has a readiness and a liveness probe (a Job or CronJob runs to completion and has none)',
  'run-as-non-root': 'pods run as a non-root user (runAsNonRoot, and never runAsUser 0)',
  'no-privilege-escalation':
    'every container sets allowPrivilegeEscalation: false and is not privileged',
  'drop-all-capabilities': 'every container drops ALL capabilities and adds none',
  'seccomp-runtime-default': 'every container runs with the RuntimeDefault seccomp profile',
  'read-only-root':
    'every container has a read-only root filesystem, unless an exception is declared',
  'no-host-access': 'no host network, PID or IPC namespace and no hostPath volume',
  'no-api-token': 'pods do not mount a Kubernetes API token they do not need',
  'custom-provider': 'a CUSTOM AuthorizationPolicy names a provider that istiod declares',
  'helm-chart-pinned': 'Argo CD Applications of Helm charts pin an exact chart version',
  'route-backend': 'every VirtualService route goes to a Service port that exists',
  'route-rewrite':
    'a route that rewrites to / matches prefixes ending in / (or exact paths), so no // reaches a backend',
  'label-syntax':
    'label keys and values are valid Kubernetes labels (at most 63 characters of [A-Za-z0-9._-])',
} as const;

export type RuleId = keyof typeof RULES;

/** One broken rule. */
export interface Violation {
  readonly file: string;
  /** `Kind/namespace/name`. */
  readonly object: string;
  readonly rule: RuleId;
  readonly message: string;
}

/** What the rules compare against. */
export interface RuleContext {
  /** Every `repository:tag` the config pins. */
  readonly images: ReadonlySet<string>;
  /** Extension providers istiod declares. */
  readonly extensionProviders: ReadonlySet<string>;
  /** `host:port` of Services that upstream charts create (routes may point at them). */
  readonly externalServicePorts: ReadonlySet<string>;
}

/** Thrown by synth when a synthesized object breaks a rule. */
export class ManifestValidationError extends PlatformError {
  constructor(readonly violations: readonly Violation[]) {
    super(
      'ERR_MANIFEST_INVALID',
      `synthesized manifests break ${violations.length} rule(s):\n${violations
        .map((v) => `  ${v.file} ${v.object}: [${v.rule}] ${v.message}`)
        .join('\n')}`,
      'fix the construct that produced the object; for a read-only root filesystem an image cannot have, declare an exception with its reason',
    );
    this.name = 'ManifestValidationError';
  }
}

const CLUSTER_SCOPED = new Set([
  'Namespace',
  'ClusterRole',
  'ClusterRoleBinding',
  'CustomResourceDefinition',
  'StorageClass',
  'PersistentVolume',
  'ValidatingWebhookConfiguration',
  'MutatingWebhookConfiguration',
]);

const ISTIO_PORT_NAME =
  /^(http|http2|https|grpc|grpc-web|tcp|tls|mongo|mysql|redis|udp)(-[a-z0-9]([-a-z0-9]*[a-z0-9])?)?$/;

/** Kinds whose pods run to completion: no readiness or liveness to probe. */
const RUN_TO_COMPLETION = new Set(['Job', 'CronJob']);

type Json = Record<string, unknown>;
const obj = (v: unknown): Json =>
  v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as Json) : {};
const arr = (v: unknown): Json[] => (Array.isArray(v) ? (v as Json[]) : []);

/** Checks every object; returns the violations (empty when all is well). */
export function checkObjects(objects: readonly SynthObject[], rc: RuleContext): Violation[] {
  const out: Violation[] = [];
  const servicePorts = new Set(rc.externalServicePorts);
  for (const { object } of objects) {
    if (object.kind !== 'Service') continue;
    const host = `${object.metadata.name}.${object.metadata.namespace}.svc.cluster.local`;
    for (const p of arr(obj(object.spec).ports)) servicePorts.add(`${host}:${String(p.port)}`);
  }
  for (const { file, object } of objects) {
    const id = `${object.kind}/${object.metadata.namespace ?? '-'}/${object.metadata.name}`;
    const fail = (rule: RuleId, message: string) => out.push({ file, object: id, rule, message });

    checkLabels(object.metadata.labels, 'metadata.labels', fail);
    const template = obj(obj(object.spec).template);
    checkLabels(
      obj(template.metadata).labels as Record<string, string> | undefined,
      'pod template labels',
      fail,
    );
    if (!CLUSTER_SCOPED.has(object.kind) && !object.metadata.namespace) {
      fail('namespace-set', 'no metadata.namespace');
    }
    if (object.kind === 'Secret') fail('no-secret', 'a Secret object');
    if (object.kind === 'Service') checkService(obj(object.spec), fail);
    const pod = podSpecOf(object);
    if (pod) checkPod(pod, object, rc, fail);
    if (object.kind === 'AuthorizationPolicy') {
      const spec = obj(object.spec);
      if (spec.action === 'CUSTOM') {
        const provider = obj(spec.provider).name;
        if (typeof provider !== 'string' || provider === '')
          fail('custom-provider', 'CUSTOM without provider.name');
        else if (!rc.extensionProviders.has(provider)) {
          fail(
            'custom-provider',
            `provider ${provider} is not declared in istiod's meshConfig.extensionProviders`,
          );
        }
      }
    }
    if (object.kind === 'VirtualService') checkRoutes(obj(object.spec), servicePorts, fail);
    if (object.kind === 'Application') {
      const source = obj(obj(object.spec).source);
      if (typeof source.chart === 'string' && !EXACT_SEMVER.test(String(source.targetRevision))) {
        fail(
          'helm-chart-pinned',
          `chart ${source.chart} at ${JSON.stringify(source.targetRevision)}`,
        );
      }
    }
  }
  return out;
}

/** Throws a {@link ManifestValidationError} if any object breaks a rule. */
export function assertValid(objects: readonly SynthObject[], rc: RuleContext): void {
  const violations = checkObjects(objects, rc);
  if (violations.length > 0) throw new ManifestValidationError(violations);
}

function checkService(spec: Json, fail: (rule: RuleId, message: string) => void): void {
  const type = spec.type ?? 'ClusterIP';
  if (type !== 'ClusterIP') fail('service-cluster-ip', `type ${String(type)}`);
  if (arr(spec.externalIPs).length > 0) fail('service-cluster-ip', 'externalIPs set');
  for (const p of arr(spec.ports)) {
    const name = p.name;
    if (typeof name !== 'string' || !ISTIO_PORT_NAME.test(name)) {
      if (typeof p.appProtocol !== 'string')
        fail('service-port-protocol', `port ${String(name ?? p.port)} has no protocol prefix`);
    }
  }
}

const LABEL_NAME = /^([A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)$/;
const LABEL_VALUE = /^(([A-Za-z0-9][-A-Za-z0-9_.]{0,61})?[A-Za-z0-9])?$/;
const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

function checkLabels(
  labels: Record<string, string> | undefined,
  where: string,
  fail: (rule: RuleId, message: string) => void,
): void {
  for (const [key, value] of Object.entries(labels ?? {})) {
    const slash = key.lastIndexOf('/');
    const prefix = slash < 0 ? undefined : key.slice(0, slash);
    const name = key.slice(slash + 1);
    const keyOk =
      LABEL_NAME.test(name) &&
      (prefix === undefined || (prefix.length <= 253 && DNS_SUBDOMAIN.test(prefix)));
    if (!keyOk) fail('label-syntax', `${where}: invalid key ${JSON.stringify(key)}`);
    if (typeof value !== 'string' || !LABEL_VALUE.test(value)) {
      fail('label-syntax', `${where}: invalid value ${JSON.stringify(value)} for ${key}`);
    }
  }
}

function checkRoutes(
  spec: Json,
  servicePorts: ReadonlySet<string>,
  fail: (rule: RuleId, message: string) => void,
): void {
  for (const route of arr(spec.http)) {
    const name = String(route.name ?? '(unnamed)');
    for (const r of arr(route.route)) {
      const d = obj(r.destination);
      const target = `${String(d.host)}:${String(obj(d.port).number)}`;
      if (!servicePorts.has(target))
        fail('route-backend', `route ${name} goes to ${target}, which no Service serves`);
    }
    if (obj(route.rewrite).uri === '/') {
      for (const m of arr(route.match)) {
        const prefix = obj(m.uri).prefix;
        if (typeof prefix === 'string' && !prefix.endsWith('/')) {
          fail(
            'route-rewrite',
            `route ${name} rewrites prefix ${prefix} to /, which turns ${prefix}/x into //x`,
          );
        }
      }
    }
  }
}

/** The pod spec of a workload object, or undefined for other kinds. */
export function podSpecOf(object: { kind: string; [k: string]: unknown }): Json | undefined {
  const spec = obj(object.spec);
  switch (object.kind) {
    case 'Pod':
      return spec;
    case 'Deployment':
    case 'StatefulSet':
    case 'DaemonSet':
    case 'ReplicaSet':
    case 'Job':
      return obj(obj(spec.template).spec);
    case 'CronJob':
      return obj(obj(obj(obj(spec.jobTemplate).spec).template).spec);
    default:
      return undefined;
  }
}

function checkPod(
  pod: Json,
  object: SynthObject['object'],
  rc: RuleContext,
  fail: (rule: RuleId, message: string) => void,
): void {
  const podSec = obj(pod.securityContext);
  const exceptions = decodeExceptions(object.metadata.annotations);
  if (pod.hostNetwork === true || pod.hostPID === true || pod.hostIPC === true) {
    fail('no-host-access', 'host namespace shared');
  }
  for (const v of arr(pod.volumes))
    if (v.hostPath) fail('no-host-access', `hostPath volume ${String(v.name)}`);
  if (
    pod.automountServiceAccountToken !== false &&
    !exceptions.some((e) => e.rule === 'automountServiceAccountToken')
  )
    fail('no-api-token', 'automountServiceAccountToken is not false and no exception is declared');
  if (podSec.runAsUser === 0) fail('run-as-non-root', 'pod runAsUser 0');

  const containers = [
    ...arr(pod.initContainers).map((c) => ({ c, init: true })),
    ...arr(pod.containers).map((c) => ({ c, init: false })),
  ];
  for (const { c, init } of containers) {
    const name = String(c.name);
    const where = `container ${name}`;
    const sec = obj(c.securityContext);
    const image = String(c.image ?? '');
    if (!isPinnedImage(image)) fail('image-pinned', `${where}: image ${image} is not pinned`);
    if (!rc.images.has(image))
      fail('image-from-config', `${where}: image ${image} is not pinned in the platform config`);
    const res = obj(c.resources);
    for (const kind of ['requests', 'limits'] as const) {
      for (const r of ['cpu', 'memory'] as const) {
        if (obj(res[kind])[r] === undefined) fail('resources-set', `${where}: no ${r} ${kind}`);
      }
    }
    if (!init && !RUN_TO_COMPLETION.has(object.kind)) {
      if (!c.readinessProbe) fail('probes-set', `${where}: no readinessProbe`);
      if (!c.livenessProbe) fail('probes-set', `${where}: no livenessProbe`);
    }
    const nonRoot = sec.runAsNonRoot ?? podSec.runAsNonRoot;
    if (nonRoot !== true) fail('run-as-non-root', `${where}: runAsNonRoot is not true`);
    if (sec.runAsUser === 0) fail('run-as-non-root', `${where}: runAsUser 0`);
    if (sec.allowPrivilegeEscalation !== false)
      fail('no-privilege-escalation', `${where}: allowPrivilegeEscalation is not false`);
    if (sec.privileged === true) fail('no-privilege-escalation', `${where}: privileged`);
    const caps = obj(sec.capabilities);
    if (!arr(caps.drop).includes('ALL' as never))
      fail('drop-all-capabilities', `${where}: does not drop ALL`);
    if (arr(caps.add).length > 0) fail('drop-all-capabilities', `${where}: adds capabilities`);
    const seccomp = obj(sec.seccompProfile).type ?? obj(podSec.seccompProfile).type;
    if (seccomp !== 'RuntimeDefault' && seccomp !== 'Localhost') {
      fail('seccomp-runtime-default', `${where}: seccomp profile ${String(seccomp ?? 'unset')}`);
    }
    const excused = exceptions.some(
      (e) => e.container === name && e.rule === 'readOnlyRootFilesystem',
    );
    if (sec.readOnlyRootFilesystem !== true && !excused) {
      fail(
        'read-only-root',
        `${where}: readOnlyRootFilesystem is not true and no exception is declared`,
      );
    }
  }
  for (const e of exceptions) {
    if (!containers.some(({ c }) => c.name === e.container)) {
      fail('read-only-root', `exception for unknown container ${e.container}`);
    }
  }
}
