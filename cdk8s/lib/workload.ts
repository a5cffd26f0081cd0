/**
 * A hardened, mesh-aware workload: the building block of every component.
 *
 * One `Workload` is a ServiceAccount, a Service (from {@link SERVICES}), a Deployment or a
 * StatefulSet and, with more than one replica, a PodDisruptionBudget. Containers get the
 * restricted Pod Security posture by default (non-root, no privilege escalation, no
 * capabilities, RuntimeDefault seccomp, read-only root filesystem); a container that cannot
 * meet a rule declares the exception with a reason. Probes and resources are required.
 *
 * East-west access is declared with {@link Workload.grantAccess}: the target owns one ALLOW
 * AuthorizationPolicy, each grant adds one rule for the caller's mesh identity, and with the
 * namespace's default-deny nothing else can reach it.
 */
import { ApiObject, Lazy } from 'cdk8s';
import { k8s } from 'cdk8s-plus-33';
import { Construct } from 'constructs';

import type { ComputeResources } from '../../platform/config/profiles.js';
import { toKubeResources } from '../../platform/config/profiles.js';
import type { HttpMethod } from '../../platform/roles.js';
import type { ImageId, PortKey, ServiceId, ServicePortSpec } from '../../platform/components.js';
import { HTTP_PROTOCOLS, SERVICES, servicePortName } from '../../platform/components.js';
import type { PlatformContext } from '../../platform/context.js';
import { TENANT_API_LABEL } from '../../platform/mesh.js';
import { AGENT_REACHED_SERVICES } from '../../platform/fleet/rights.js';
import { meshPrincipal } from '../../platform/mesh.js';
import { SHUTDOWN, shutdownSeconds } from '../../platform/shutdown.js';
import type { ExceptionRule, PolicyException } from './policy-exceptions.js';
import type { BootstrapSecretId, SecretKey } from '../../platform/secrets.js';
import { BOOTSTRAP_SECRETS } from '../../platform/secrets.js';
import { EXCEPTIONS_ANNOTATION, encodeExceptions } from './policy-exceptions.js';

/** Labels every object of the platform carries. */
export const PART_OF = 'kitt4sme-platform';

/** Anything that can call a workload through the mesh: a workload or an external identity. */
export interface MeshCaller {
  /** Istio source principal, e.g. `cluster.local/ns/fiware/sa/iotagent-ul`. */
  readonly meshPrincipal: string;
  /** Short name for diagrams and rule ordering. */
  readonly displayName: string;
}

/** A mesh identity that is not one of our workloads (the ingress gateway, Prometheus...). */
export class ExternalIdentity implements MeshCaller {
  readonly meshPrincipal: string;
  constructor(
    readonly namespace: string,
    readonly serviceAccount: string,
    readonly displayName: string,
  ) {
    this.meshPrincipal = meshPrincipal(namespace, serviceAccount);
  }
}

/** Options of {@link Workload.grantAccess}. */
export interface GrantOptions<S extends ServiceId> {
  /** Ports the caller may reach. @default every port of the target's service */
  readonly ports?: readonly PortKey<S>[];
  /** HTTP methods the caller may use; only for HTTP ports. @default any */
  readonly methods?: readonly HttpMethod[];
  /** Paths (Istio exact, `prefix*` or `*suffix`); only for HTTP ports. @default any */
  readonly paths?: readonly string[];
}

/** One container of a workload. */
export interface ContainerSpec<S extends ServiceId> {
  readonly name: string;
  readonly image: ImageId;
  readonly command?: readonly string[];
  readonly args?: readonly string[];
  readonly env?: readonly k8s.EnvVar[];
  /** The service ports this container listens on. @default none */
  readonly ports?: readonly PortKey<S>[];
  readonly readinessProbe: k8s.Probe;
  readonly livenessProbe: k8s.Probe;
  /** For slow starters, so liveness does not kill them while they boot. @default none */
  readonly startupProbe?: k8s.Probe;
  readonly volumeMounts?: readonly k8s.VolumeMount[];
  /** @default the workload's size in the chosen profile (main container only) */
  readonly resources?: ComputeResources;
  /** Mount a small emptyDir at /tmp, for images that write temporary files. @default false */
  readonly writableTmp?: boolean;
  /** Rules this container cannot meet, each with its reason. @default none */
  readonly exceptions?: readonly { readonly rule: ExceptionRule; readonly reason: string }[];
}

/** A short-lived container that prepares the pod (same hardening, no probes). */
export interface InitContainerSpec {
  readonly name: string;
  readonly image: ImageId;
  readonly command: readonly string[];
  readonly env?: readonly k8s.EnvVar[];
  readonly volumeMounts?: readonly k8s.VolumeMount[];
  readonly resources: ComputeResources;
}

/** A persistent volume of a StatefulSet, one claim per replica. */
export interface PersistentVolumeSpec {
  readonly name: string;
  /** Binary quantity from the platform config, e.g. `10Gi`. */
  readonly size: string;
}

/** Props of {@link Workload}. */
export interface WorkloadProps<S extends ServiceId> {
  readonly context: PlatformContext;
  /** The service entry this workload serves; gives its name, namespace and ports. */
  readonly service: S;
  /** The component whose size in the chosen profile sizes it. @default the service */
  readonly size?: ServiceId;
  /** Deployment for stateless workloads, StatefulSet for those with persistent volumes. */
  readonly kind: 'Deployment' | 'StatefulSet';
  /** The user and group the pod runs as; images document theirs. */
  readonly runAs: { readonly user: number; readonly group: number };
  readonly containers: readonly [ContainerSpec<S>, ...ContainerSpec<S>[]];
  readonly initContainers?: readonly InitContainerSpec[];
  readonly volumes?: readonly k8s.Volume[];
  /** StatefulSet only. @default none */
  readonly persistentVolumes?: readonly PersistentVolumeSpec[];
  /** Extra pod annotations, e.g. a config checksum that rolls the pods. @default none */
  readonly podAnnotations?: Readonly<Record<string, string>>;
  /** Extra pod labels, e.g. the label a RequestAuthentication selects. @default none */
  readonly podLabels?: Readonly<Record<string, string>>;
  /**
   * Seconds between the pod's deletion and SIGKILL; they include the `preStop` pause, so they
   * must be at least a service's whole stop ({@link shutdownSeconds}).
   * @default SHUTDOWN.gracePeriodSeconds (platform/shutdown.ts)
   */
  readonly terminationGracePeriodSeconds?: number;
  /**
   * Deployment only: `Recreate` stops the old pod before the new one starts, for a single
   * writer of a ReadWriteOnce volume. @default RollingUpdate (one surge, none unavailable)
   */
  readonly strategy?: 'RollingUpdate' | 'Recreate';

  /**
   * A headless Service beside the ClusterIP one, so replicas can address each other by pod
   * (clustering). StatefulSets always get one. @default false
   */
  readonly headlessService?: boolean;
}

/** Upper bound of the emptyDir mounted at /tmp. */
const TMP_SIZE_LIMIT = '64Mi';

/** A hardened Deployment or StatefulSet with its ServiceAccount, Service and mesh grants. */
export class Workload<S extends ServiceId = ServiceId> extends Construct implements MeshCaller {
  /** Kubernetes name of the Service, workload and ServiceAccount. */
  readonly name: string;
  readonly namespace: string;
  readonly serviceAccountName: string;
  readonly meshPrincipal: string;
  readonly displayName: string;
  /** Pod labels the Service and policies select on. */
  readonly selectorLabels: Readonly<Record<string, string>>;
  readonly replicas: number;
  /** Declared exceptions of this workload's containers. */
  readonly exceptions: readonly PolicyException[];
  /**
   * Whether a `tenant` route of the route table ends here or agents' tokens reach it
   * (platform/fleet/rights.ts); its sidecar then verifies tokens.
   */
  readonly servesTenantApi: boolean;
  /** The user and group its pods run as. */
  readonly runAs: { readonly user: number; readonly group: number };
  /** Whether its serving containers pause before SIGTERM (platform/shutdown.ts). */
  readonly pausesBeforeStop: boolean;

  private readonly serviceId: S;
  private readonly grants: { caller: MeshCaller; options: GrantOptions<S> }[] = [];
  private allowPolicy?: ApiObject;

  constructor(scope: Construct, id: string, props: WorkloadProps<S>) {
    super(scope, id);
    const ctx = props.context;
    const svc = SERVICES[props.service];
    this.serviceId = props.service;
    this.name = svc.name;
    this.displayName = svc.name;
    this.namespace = ctx.componentNamespace(props.service);
    this.serviceAccountName = svc.name;
    this.meshPrincipal = meshPrincipal(this.namespace, this.serviceAccountName);
    this.selectorLabels = { app: svc.name };
    const size = ctx.size(props.size ?? props.service);
    this.replicas = size.replicas;
    this.runAs = props.runAs;

    if (props.kind === 'Deployment' && props.persistentVolumes?.length) {
      throw new TypeError(`${this.name}: persistent volumes need kind StatefulSet`);
    }
    if (props.kind === 'StatefulSet' && props.strategy) {
      throw new TypeError(`${this.name}: strategy is for a Deployment; leave it out`);
    }
    const gracePeriod = props.terminationGracePeriodSeconds ?? SHUTDOWN.gracePeriodSeconds;
    if (!Number.isInteger(gracePeriod) || gracePeriod < shutdownSeconds()) {
      throw new TypeError(
        `${this.name}: terminationGracePeriodSeconds ${gracePeriod} leaves too little time to ` +
          `stop: the preStop pause, a drain, a close and the exit take up to ` +
          `${shutdownSeconds()} s (platform/shutdown.ts); give at least that many whole ` +
          `seconds, or leave it out for ${SHUTDOWN.gracePeriodSeconds}`,
      );
    }
    // The preStop pause (platform/shutdown.ts), where another pod can answer meanwhile: a
    // rolling Deployment's new pod, or another replica. A recreated Deployment or a lone
    // StatefulSet pod has none; its replacement waits for it, so the pause would only
    // lengthen every restart.
    this.pausesBeforeStop =
      size.replicas > 1 || (props.kind === 'Deployment' && props.strategy !== 'Recreate');

    this.exceptions = props.containers.flatMap((c) =>
      (c.exceptions ?? []).map((e) => ({ container: c.name, rule: e.rule, reason: e.reason })),
    );
    const labels = { ...this.selectorLabels, 'app.kubernetes.io/part-of': PART_OF };
    const metadata = (extra: Record<string, string> = {}): k8s.ObjectMeta => ({
      name: this.name,
      namespace: this.namespace,
      labels: { ...labels, ...extra },
    });

    new k8s.KubeServiceAccount(this, 'ServiceAccount', {
      metadata: metadata(),
      automountServiceAccountToken: false,
    });

    const ports = Object.entries(svc.ports as Record<string, ServicePortSpec>).map(([key, p]) => ({
      name: servicePortName(p, key),
      port: p.port,
      targetPort: k8s.IntOrString.fromNumber(p.port),
    }));
    new k8s.KubeService(this, 'Service', {
      metadata: metadata(),
      spec: { type: 'ClusterIP', selector: this.selectorLabels, ports },
    });
    if (props.kind === 'StatefulSet' || props.headlessService) {
      // NOTE (1)
      new k8s.KubeService(this, 'Headless', {
        metadata: { ...metadata(), name: `${this.name}-headless` },
        spec: {
          clusterIp: 'None',
          publishNotReadyAddresses: true,
          selector: this.selectorLabels,
          ports,
        },
      });
    }

    /**
     * Whether the route table sends tenant API traffic here, or agents' tokens reach it (their
     * grants need the claims the sidecar verifies): derived, never declared.
     */
    const servesTenantApi =
      ctx.routes.some((r) => r.access === 'tenant' && r.backend.service === props.service) ||
      AGENT_REACHED_SERVICES.includes(props.service);
    this.servesTenantApi = servesTenantApi;

    const volumes: k8s.Volume[] = [...(props.volumes ?? [])];
    if (props.containers.some((c) => c.writableTmp)) {
      volumes.push({
        name: 'tmp',
        emptyDir: { sizeLimit: k8s.Quantity.fromString(TMP_SIZE_LIMIT) },
      });
    }

    const template: k8s.PodTemplateSpec = {
      metadata: {
        labels: {
          ...labels,
          ...(servesTenantApi ? { [TENANT_API_LABEL.key]: TENANT_API_LABEL.value } : {}),
          ...props.podLabels,
          version: versionLabel(ctx.imageSpec(props.containers[0].image).tag),
        },
        annotations: {
          // The Istio sidecar as a native sidecar, whatever the mesh-wide default: the kubelet
          // starts it before the app and stops it after, so a stopping service can still
          // answer and call out (platform/shutdown.ts). Inert where nothing is injected.
          'sidecar.istio.io/nativeSidecar': 'true',
          ...props.podAnnotations,
        },
      },
      spec: {
        serviceAccountName: this.serviceAccountName,
        // A pod gets its ServiceAccount's token only when a container declares it needs one
        // (it calls the Kubernetes API with the rights its RBAC grants), with the reason.
        automountServiceAccountToken: this.exceptions.some(
          (e) => e.rule === 'automountServiceAccountToken',
        ),
        enableServiceLinks: false, // NOTE (2)
        terminationGracePeriodSeconds: gracePeriod,
        securityContext: {
          runAsNonRoot: true,
          runAsUser: props.runAs.user,
          runAsGroup: props.runAs.group,
          fsGroup: props.runAs.group,
          fsGroupChangePolicy: 'OnRootMismatch',
          seccompProfile: { type: 'RuntimeDefault' },
        },
        topologySpreadConstraints:
          size.replicas > 1
            ? [
                {
                  maxSkew: 1,
                  topologyKey: 'kubernetes.io/hostname',
                  whenUnsatisfiable: 'ScheduleAnyway',
                  labelSelector: { matchLabels: this.selectorLabels },
                },
              ]
            : undefined,
        initContainers: props.initContainers?.map((c) => this.initContainer(ctx, c)),
        containers: props.containers.map((c, i) =>
          this.container(ctx, c, i === 0 ? (c.resources ?? size.resources) : c.resources),
        ),
        volumes: volumes.length > 0 ? volumes : undefined,
      },
    };

    const workloadMeta: k8s.ObjectMeta = {
      ...metadata(),
      ...(this.exceptions.length > 0
        ? { annotations: { [EXCEPTIONS_ANNOTATION]: encodeExceptions(this.exceptions) } }
        : {}),
    };
    if (props.kind === 'Deployment') {
      new k8s.KubeDeployment(this, 'Resource', {
        metadata: workloadMeta,
        spec: {
          replicas: size.replicas,
          revisionHistoryLimit: 3,
          selector: { matchLabels: this.selectorLabels },
          strategy:
            props.strategy === 'Recreate'
              ? { type: 'Recreate' }
              : {
                  type: 'RollingUpdate',
                  rollingUpdate: {
                    maxSurge: k8s.IntOrString.fromNumber(1),
                    maxUnavailable: k8s.IntOrString.fromNumber(0),
                  },
                },
          template,
        },
      });
    } else {
      new k8s.KubeStatefulSet(this, 'Resource', {
        metadata: workloadMeta,
        spec: {
          replicas: size.replicas,
          revisionHistoryLimit: 3,
          serviceName: `${this.name}-headless`,
          podManagementPolicy: 'Parallel',
          selector: { matchLabels: this.selectorLabels },
          updateStrategy: { type: 'RollingUpdate' },
          persistentVolumeClaimRetentionPolicy: { whenDeleted: 'Retain', whenScaled: 'Retain' },
          template,
          volumeClaimTemplates: props.persistentVolumes?.map((v) => ({
            metadata: { name: v.name, labels },
            spec: {
              accessModes: ['ReadWriteOnce'],
              storageClassName: ctx.config.storage.storageClass ?? undefined,
              resources: { requests: { storage: k8s.Quantity.fromString(v.size) } },
            },
          })),
        },
      });
    }

    if (size.replicas > 1) {
      new k8s.KubePodDisruptionBudget(this, 'DisruptionBudget', {
        metadata: metadata(),
        spec: {
          maxUnavailable: k8s.IntOrString.fromNumber(1),
          selector: { matchLabels: this.selectorLabels },
        },
      });
    }
  }

  /** The port number of one of this workload's service ports. */
  port(key: PortKey<S>): number {
    return this.portSpec(key).port;
  }

  /**
   * Lets `caller` reach this workload through the mesh.
   *
   * Adds one rule to this workload's ALLOW AuthorizationPolicy (created on the first grant).
   * Without a grant nothing reaches the workload: its namespace denies by default.
   *
   * @throws TypeError when methods or paths are given for a port that is not HTTP, since
   *   Istio would silently never match such a rule.
   */
  grantAccess(caller: MeshCaller, options: GrantOptions<S> = {}): void {
    // Istio reads an empty list as an unset field: `ports: []` would open every port.
    for (const [field, list] of Object.entries(options) as [string, readonly unknown[]][])
      if (list.length === 0)
        throw new TypeError(
          `${this.name}.grantAccess(${caller.displayName}): ${field} is an empty list, which Istio reads as any; leave it out for any, or list what the caller may use`,
        );
    const keys = options.ports ?? (Object.keys(SERVICES[this.serviceId].ports) as PortKey<S>[]);
    if (options.methods || options.paths) {
      for (const key of keys) {
        const spec = this.portSpec(key);
        if (!HTTP_PROTOCOLS.includes(spec.protocol)) {
          throw new TypeError(
            `${this.name}.grantAccess(${caller.displayName}): methods and paths need an HTTP port, ` +
              `but ${key} is ${spec.protocol}; grant that port without methods or paths`,
          );
        }
      }
    }
    this.grants.push({ caller, options: { ...options, ports: keys } });
    this.allowPolicy ??= new ApiObject(this, 'AllowPolicy', {
      apiVersion: 'security.istio.io/v1',
      kind: 'AuthorizationPolicy',
      metadata: {
        name: `${this.name}-allow`,
        namespace: this.namespace,
        labels: { ...this.selectorLabels, 'app.kubernetes.io/part-of': PART_OF },
      },
      spec: {
        selector: { matchLabels: this.selectorLabels },
        action: 'ALLOW',
        rules: Lazy.any({ produce: () => this.renderRules() }),
      },
    });
  }

  /**
   * Grants one port named at run time, e.g. from the route table.
   * @throws TypeError when the workload has no such port.
   */
  grantPort(caller: MeshCaller, port: string): void {
    this.portSpec(port);
    this.grantAccess(caller, { ports: [port as PortKey<S>] });
  }

  /** Who may call this workload, for the diagram. */
  get callers(): readonly { caller: MeshCaller; ports: readonly number[] }[] {
    return this.grants.map((g) => ({
      caller: g.caller,
      ports: (g.options.ports ?? []).map((k) => this.port(k)),
    }));
  }

  private renderRules(): unknown[] {
    // One rule per caller and method/path set, with the union of its ports: grants may be
    // declared in any order and more than once (two routes to one port), and the manifest
    // depends on neither.
    const merged = new Map<
      string,
      {
        principal: string;
        methods?: readonly string[];
        paths?: readonly string[];
        ports: Set<string>;
      }
    >();
    for (const { caller, options } of this.grants) {
      const key = JSON.stringify([
        caller.meshPrincipal,
        options.methods ?? null,
        options.paths ?? null,
      ]);
      const entry = merged.get(key) ?? {
        principal: caller.meshPrincipal,
        methods: options.methods,
        paths: options.paths,
        ports: new Set<string>(),
      };
      for (const k of options.ports ?? []) entry.ports.add(String(this.port(k)));
      merged.set(key, entry);
    }
    return [...merged]
      .sort(([a], [b]) => a.localeCompare(b))
      .map(([, g]) => {
        const operation: Record<string, unknown> = { ports: [...g.ports].sort() };
        if (g.methods) operation.methods = [...g.methods];
        if (g.paths) operation.paths = [...g.paths];
        return { from: [{ source: { principals: [g.principal] } }], to: [{ operation }] };
      });
  }

  private portSpec(key: string): ServicePortSpec {
    const spec = (SERVICES[this.serviceId].ports as Record<string, ServicePortSpec>)[key];
    if (!spec) throw new TypeError(`${this.name} has no port ${key}`);
    return spec;
  }

  private container(
    ctx: PlatformContext,
    c: ContainerSpec<S>,
    resources: ComputeResources | undefined,
  ): k8s.Container {
    if (!resources)
      throw new TypeError(`${this.name}/${c.name}: a sidecar container needs explicit resources`);
    const readOnlyRoot = !(c.exceptions ?? []).some((e) => e.rule === 'readOnlyRootFilesystem');
    const mounts = [...(c.volumeMounts ?? [])];
    if (c.writableTmp) mounts.push({ name: 'tmp', mountPath: '/tmp' });
    return {
      name: c.name,
      image: ctx.image(c.image),
      imagePullPolicy: 'IfNotPresent',
      command: c.command ? [...c.command] : undefined,
      args: c.args ? [...c.args] : undefined,
      env: c.env?.length ? [...c.env] : undefined,
      ports: c.ports?.map((key) => {
        const spec = this.portSpec(key);
        return { name: containerPortName(spec, key), containerPort: spec.port, protocol: 'TCP' };
      }),
      readinessProbe: c.readinessProbe,
      livenessProbe: c.livenessProbe,
      startupProbe: c.startupProbe,
      // A container that serves keeps serving while its endpoints are removed, then gets
      // SIGTERM. The kubelet sleeps: the image needs no `sleep`.
      lifecycle:
        this.pausesBeforeStop && c.ports?.length
          ? { preStop: { sleep: { seconds: SHUTDOWN.preStopSeconds } } }
          : undefined,
      resources: kubeResources(resources),
      securityContext: hardenedSecurityContext(readOnlyRoot),
      volumeMounts: mounts.length > 0 ? mounts : undefined,
    };
  }

  private initContainer(ctx: PlatformContext, c: InitContainerSpec): k8s.Container {
    return {
      name: c.name,
      image: ctx.image(c.image),
      imagePullPolicy: 'IfNotPresent',
      command: [...c.command],
      env: c.env?.length ? [...c.env] : undefined,
      resources: kubeResources(c.resources),
      securityContext: hardenedSecurityContext(true),
      volumeMounts: c.volumeMounts?.length ? [...c.volumeMounts] : undefined,
    };
  }
}

/** The restricted Pod Security container context. */
export function hardenedSecurityContext(readOnlyRootFilesystem: boolean): k8s.SecurityContext {
  return {
    runAsNonRoot: true,
    allowPrivilegeEscalation: false,
    privileged: false,
    readOnlyRootFilesystem,
    capabilities: { drop: ['ALL'] },
    seccompProfile: { type: 'RuntimeDefault' },
  };
}

/** Container port names are limited to 15 characters (IANA service names). */
function containerPortName(spec: ServicePortSpec, key: string): string {
  const name = servicePortName(spec, key);
  if (name.length > 15)
    throw new TypeError(`container port name ${name} is longer than 15 characters`);
  return name;
}

/** L1 `resources` for a {@link ComputeResources}. */
export function kubeResources(res: ComputeResources): k8s.ResourceRequirements {
  const r = toKubeResources(res);
  const q = (x: { cpu: string; memory: string }) => ({
    cpu: k8s.Quantity.fromString(x.cpu),
    memory: k8s.Quantity.fromString(x.memory),
  });
  return { requests: q(r.requests), limits: q(r.limits) };
}

/**
 * The `version` pod label (Kiali groups by it) of an image tag. Label values are at most
 * 63 characters of [A-Za-z0-9._-], so a digest is shortened to `sha256-<12 hex>`.
 */
export function versionLabel(tag: string): string {
  return tag.startsWith('sha256:')
    ? `sha256-${tag.slice(7, 19)}`
    : tag.replace(/[^A-Za-z0-9._-]/g, '_').slice(0, 63);
}

/** An HTTP GET probe. */
export function httpProbe(
  path: string,
  port: number,
  opts: {
    periodSeconds?: number;
    failureThreshold?: number;
    timeoutSeconds?: number;
    initialDelaySeconds?: number;
  } = {},
): k8s.Probe {
  return {
    httpGet: { path, port: k8s.IntOrString.fromNumber(port) },
    periodSeconds: opts.periodSeconds ?? 10,
    timeoutSeconds: opts.timeoutSeconds ?? 3,
    failureThreshold: opts.failureThreshold ?? 3,
    initialDelaySeconds: opts.initialDelaySeconds,
  };
}

/** A command probe. */
export function execProbe(
  command: readonly string[],
  opts: { periodSeconds?: number; failureThreshold?: number; timeoutSeconds?: number } = {},
): k8s.Probe {
  return {
    exec: { command: [...command] },
    periodSeconds: opts.periodSeconds ?? 10,
    timeoutSeconds: opts.timeoutSeconds ?? 5,
    failureThreshold: opts.failureThreshold ?? 3,
  };
}

/** A TCP connect probe. */
export function tcpProbe(
  port: number,
  opts: { periodSeconds?: number; failureThreshold?: number } = {},
): k8s.Probe {
  return {
    tcpSocket: { port: k8s.IntOrString.fromNumber(port) },
    periodSeconds: opts.periodSeconds ?? 10,
    timeoutSeconds: 3,
    failureThreshold: opts.failureThreshold ?? 3,
  };
}

/** An env var from a key of a bootstrap Secret (created at bootstrap, never in git). */
export function secretEnv<S extends BootstrapSecretId>(
  name: string,
  secret: S,
  key: SecretKey<S>,
): k8s.EnvVar {
  return { name, valueFrom: { secretKeyRef: { name: BOOTSTRAP_SECRETS[secret].name, key } } };
}

/** A plain env var. */
export function env(name: string, value: string | number | boolean): k8s.EnvVar {
  return { name, value: String(value) };
}

// NOTE
// 1. Headless Service beside the ClusterIP one. A StatefulSet needs a governing headless
//    Service for stable pod DNS names (cratedb-0.cratedb-headless...), which clustered
//    databases use for discovery; clients keep using the load-balanced ClusterIP name.
//    publishNotReadyAddresses lets peers find each other before they are ready, which a
//    forming cluster needs.
// 2. Service links off. Kubernetes injects `<SERVICE>_PORT=tcp://<ip>:<port>` and friends for
//    every Service in the namespace. Orion reads `ORION_*` variables as its options, so a
//    Service named `orion` would set ORION_PORT to a URL unless overridden (Orion's own env
//    does override it, but every new option is another trap); links are off for every
//    workload, which only ever uses DNS names.
//    See https://kubernetes.io/docs/tutorials/services/connect-applications-service/#environment-variables
