/**
 * The fleet, rendered: the resolved records (platform/fleet/) as Kubernetes objects.
 *
 * Per tenant: the namespace `agents-<tenant>` (restricted Pod Security, sidecars, STRICT mTLS,
 * default-deny, an L3 fence, a ResourceQuota and LimitRange from the config). Per agent: a
 * ServiceAccount (its own mesh identity), a Service when it listens, a headless Service naming
 * each instance's pod (for the monitor's nudge, which alone may POST /announce), and one Deployment per
 * agent × host (pinned: that host; group: every host of the group; floating: one, anywhere
 * untainted), each pod template carrying the agent's revision. Needs become environment and
 * grants on the platform services, limited to the agent's tenant; pipeline connections become
 * the downstream's address in the upstream's environment and the only ALLOW rule to the
 * downstream's port.
 *
 * `npm run synth` writes this into the git-ignored preview (deploy-preview/fleet/) and
 * `npm run agents -- plan` diffs it against HEAD's; in the cluster Argo CD renders the same
 * records with the same code: the Config Management Plugin of the repo-server runs
 * `npm run fleet:render` (cdk8s/bin/fleet-render.ts), which prints {@link RenderedFleet.stream}.
 */
import { ApiObject, App, Chart } from 'cdk8s';
import { k8s } from 'cdk8s-plus-33';
import { Construct } from 'constructs';

import { SERVICES } from '../../../platform/components.js';
import type { ServiceId } from '../../../platform/components.js';
import type { PlatformContext } from '../../../platform/context.js';
import type {
  Fleet,
  ResolvedAgent,
  ResolvedHost,
  ResolvedSealedSecret,
} from '../../../platform/fleet/resolve.js';
import {
  agentObjectName,
  agentSecretName,
  agentsNamespace,
  configFor,
  instanceOn,
} from '../../../platform/fleet/resolve.js';
import {
  AGENT_ANNOUNCE_PATH,
  AGENT_CLIENT_SECRET_KEYS,
  AGENT_ENV,
  AGENT_KIT_PORT,
  FLEET_LABELS,
  agentAnnounceUrl,
  agentClientId,
  agentClientSecretName,
  agentInstanceEntityId,
  agentInstanceName,
  agentPodHostname,
  agentPodsServiceName,
} from '../../../platform/fleet/identity.js';
import { SPECIALISED_TAINT } from '../../../platform/fleet/hosts.js';
import { NEEDS } from '../../../platform/fleet/records.js';
import {
  CLIENT_CLAIM,
  HEARTBEAT_GRANT,
  SERVICE_PATH_HEADER,
  heartbeatUpdatePath,
  agentInstanceNames,
} from '../../../platform/fleet/rights.js';
import { meshPrincipal } from '../../../platform/mesh.js';
import { AuthorizationPolicy, PeerAuthentication } from '../../imports/istio.js';
import { monitor } from '../mesh/identities.js';
import { NetworkPolicy, modelObject } from '../model.js';
import type { KubeObject } from '../objects.js';
import { toYaml } from '../yaml.js';
import type { MeshCaller } from '../workload.js';
import { ExternalIdentity, PART_OF, hardenedSecurityContext, kubeResources } from '../workload.js';
import { MeshTarget } from './grants.js';
import {
  AGENT_CLIENTS_JOB,
  AGENT_DEPLOYMENT_WAVE,
  AgentClientsJob,
  grantTokenEndpoint,
} from './identity.js';

/** Where `npm run synth` writes the rendered fleet (git-ignored). */
export const FLEET_PREVIEW_DIR = 'deploy-preview/fleet';

/** The first line of every preview file. */
export const FLEET_PREVIEW_HEADER =
  '# Rendered by `npm run synth` / `npm run agents -- plan` from fleet/. Not applied from here: Argo CD renders the records itself.\n';

/** Labels and annotations of the fleet's objects. */
export { FLEET_LABELS };

/** The taint of a specialised host: only agents placed on it run there. */
export { SPECIALISED_TAINT };

/** The host label the pinned Deployments select (set by the kubelet). */
const HOSTNAME_LABEL = 'kubernetes.io/hostname';

/** The rendered fleet. */
export interface RenderedFleet {
  readonly objects: readonly KubeObject[];
  /** The preview files, by path relative to the repository root, sorted. */
  readonly files: ReadonlyMap<string, string>;
  /**
   * What the Config Management Plugin prints (`npm run fleet:render`): the documents of the
   * preview files, in their order, as one YAML stream, without the files' header comments.
   */
  readonly stream: string;
}

/** Renders the fleet: one chart (and preview file) per tenant, and the agents' clients' job. */
export function renderFleet(ctx: PlatformContext, fleet: Fleet): RenderedFleet {
  const app = new App();
  const charts: [string, Chart][] = [];
  const identity = new Chart(app, AGENT_CLIENTS_JOB, { disableResourceNameHashes: true });
  const clients = new AgentClientsJob(identity, 'AgentClients', {
    context: ctx,
    agents: fleet.agents,
  });
  charts.push([`${FLEET_PREVIEW_DIR}/${AGENT_CLIENTS_JOB}.yaml`, identity]);
  for (const t of ctx.config.tenants) {
    const chart = new Chart(app, agentsNamespace(t.name), { disableResourceNameHashes: true });
    new TenantAgents(chart, 'Agents', {
      context: ctx,
      tenant: t.name,
      agents: fleet.agents.filter((a) => a.tenant === t.name),
      sealedSecrets: (fleet.sealedSecrets ?? []).filter(
        (s) => s.record.metadata.namespace === agentsNamespace(t.name),
      ),
      agentClients: clients,
    });
    charts.push([`${FLEET_PREVIEW_DIR}/${agentsNamespace(t.name)}.yaml`, chart]);
  }
  const objects: KubeObject[] = [];
  const bodies = new Map<string, string>();
  for (const [file, chart] of charts) {
    const docs = chart.toJson() as KubeObject[];
    objects.push(...docs);
    bodies.set(file, docs.map(toYaml).join('---\n'));
  }
  const sorted = [...bodies].sort(([a], [b]) => a.localeCompare(b));
  return {
    objects,
    files: new Map(sorted.map(([file, body]) => [file, FLEET_PREVIEW_HEADER + body])),
    stream: sorted.map(([, body]) => body).join('---\n'),
  };
}

/** Props of {@link TenantAgents}. */
export interface TenantAgentsProps {
  readonly context: PlatformContext;
  readonly tenant: string;
  /** The tenant's agents and modules. */
  readonly agents: readonly ResolvedAgent[];
  /** The SealedSecrets of the tenant's agents, as kubeseal wrote them. @default none */
  readonly sealedSecrets?: readonly ResolvedSealedSecret[];
  /** The job that writes the agents' client credentials: granted the namespace's Secrets. @default none */
  readonly agentClients?: AgentClientsJob;
}

/** A tenant's agents namespace and its agents. */
export class TenantAgents extends Construct {
  constructor(scope: Construct, id: string, props: TenantAgentsProps) {
    super(scope, id);
    const ctx = props.context;
    const ns = agentsNamespace(props.tenant);
    const labels = { 'app.kubernetes.io/part-of': PART_OF, [FLEET_LABELS.tenant]: props.tenant };
    const q = ctx.config.agents.quota;
    const d = ctx.config.agents.defaultResources;

    new k8s.KubeNamespace(this, 'Namespace', {
      metadata: {
        name: ns,
        labels: {
          ...labels,
          'pod-security.kubernetes.io/enforce': 'restricted',
          'pod-security.kubernetes.io/warn': 'restricted',
          'pod-security.kubernetes.io/audit': 'restricted',
          'istio-injection': 'enabled',
        },
      },
    });
    new k8s.KubeResourceQuota(this, 'Quota', {
      metadata: { name: 'agents', namespace: ns, labels },
      spec: {
        hard: {
          'requests.cpu': k8s.Quantity.fromString(`${q.requestsCpuMilli}m`),
          'requests.memory': k8s.Quantity.fromString(`${q.requestsMemoryMi}Mi`),
          'limits.cpu': k8s.Quantity.fromString(`${q.limitsCpuMilli}m`),
          'limits.memory': k8s.Quantity.fromString(`${q.limitsMemoryMi}Mi`),
          pods: k8s.Quantity.fromNumber(q.pods),
        },
      },
    });
    new k8s.KubeLimitRange(this, 'Limits', {
      metadata: { name: 'agents', namespace: ns, labels },
      spec: {
        limits: [
          {
            type: 'Container',
            defaultRequest: {
              cpu: k8s.Quantity.fromString(`${d.cpuRequestMilli}m`),
              memory: k8s.Quantity.fromString(`${d.memoryRequestMi}Mi`),
            },
            default: {
              cpu: k8s.Quantity.fromString(`${d.cpuLimitMilli}m`),
              memory: k8s.Quantity.fromString(`${d.memoryLimitMi}Mi`),
            },
          },
        ],
      },
    });
    modelObject(
      this,
      'Mtls',
      PeerAuthentication({
        metadata: { name: 'default', namespace: ns, labels },
        spec: { mtls: { mode: 'STRICT' } },
      }),
    );
    // An ALLOW policy without rules denies every request to every agent of the namespace; the
    // pipeline connections (and Orion's notifications) are the only ways in.
    modelObject(
      this,
      'DefaultDeny',
      AuthorizationPolicy({
        metadata: { name: 'default-deny', namespace: ns, labels },
        spec: { action: 'ALLOW' },
      }),
    );
    const platformNs = ctx.namespace('platform');
    modelObject(
      this,
      'Fence',
      NetworkPolicy({
        metadata: { name: 'mesh-peers-only', namespace: ns, labels },
        spec: {
          podSelector: {},
          policyTypes: ['Ingress'],
          ingress: [
            {
              from: [...new Set([ns, platformNs, ctx.namespace('mesh')])].sort().map((peer) => ({
                namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': peer } },
              })),
            },
          ],
        },
      }),
    );

    // Sealed values, as committed: the controller unseals each into its agent's Secret.
    for (const s of props.sealedSecrets ?? [])
      new ApiObject(this, `Sealed-${s.agent}`, {
        ...s.record,
        metadata: {
          ...s.record.metadata,
          labels: { ...labels, [FLEET_LABELS.agentId]: s.agent },
        },
      });

    const agents = new Map<string, AgentWorkload>();
    for (const a of props.agents)
      agents.set(a.id, new AgentWorkload(this, a.id, { context: ctx, agent: a }));

    // Identity: the job writes the agents' client credentials here; the agents ask Keycloak
    // for their tokens with them.
    props.agentClients?.grantSecrets(this, ns);
    grantTokenEndpoint(this, ctx, props.tenant, [...agents.values()]);

    // Needs: a grant on each platform service, bound to the tenant's fiware-service header and
    // to the agent's own token (its client is the token's azp): the mesh identity alone, which
    // any process of the agent's pods holds, is not enough. NOTE (2)
    const targets = new Map<ServiceId, MeshTarget>();
    const target = (service: ServiceId) => {
      let t = targets.get(service);
      if (!t) {
        t = new MeshTarget(this, `Grants-${service}`, {
          name: `${ns}-${SERVICES[service].name}`,
          namespace: ctx.componentNamespace(service),
          selector: { app: SERVICES[service].name },
        });
        targets.set(service, t);
      }
      return t;
    };
    for (const a of props.agents) {
      const w = agents.get(a.id)!;
      const ownToken = { [CLIENT_CLAIM]: [agentClientId(a.id)] };
      for (const need of a.needs) {
        const spec = NEEDS[need];
        for (const g of spec.grants)
          target(g.service).grantAccess(w, {
            ports: [ctx.port(g.service, g.port as never)],
            methods: g.methods,
            paths: g.paths,
            tenant: props.tenant,
            claims: ownToken,
          });
        if ('callback' in spec && a.ports.length > 0) {
          const svc = spec.callback.service;
          w.grantAccess(
            new ExternalIdentity(
              ctx.componentNamespace(svc),
              SERVICES[svc].name,
              SERVICES[svc].name,
            ),
            a.ports,
          );
        }
      }
      // The heartbeat, needed or not: its own instances' entities, created in the heartbeat
      // service path only. NOTE (3)
      const hb = HEARTBEAT_GRANT;
      const heartbeat = {
        ports: [ctx.port(hb.service, hb.port)],
        tenant: props.tenant,
        headers: { [SERVICE_PATH_HEADER]: [hb.servicePath] },
        claims: ownToken,
      };
      target(hb.service).grantAccess(w, {
        ...heartbeat,
        methods: hb.update.methods,
        paths: agentInstanceNames(a).map(heartbeatUpdatePath),
      });
      target(hb.service).grantAccess(w, {
        ...heartbeat,
        methods: hb.create.methods,
        paths: [hb.create.path],
      });
      // Pipeline connections: only the upstream reaches the downstream's port.
      for (const c of a.connections) agents.get(c.to)!.grantAccess(w, [c.port]);
    }
  }
}

/** Props of {@link AgentWorkload}. */
export interface AgentWorkloadProps {
  readonly context: PlatformContext;
  readonly agent: ResolvedAgent;
}

/** One agent: its identity, its Service, one Deployment per host and who may reach it. */
export class AgentWorkload extends Construct implements MeshCaller {
  /** Name of its ServiceAccount, Service and policy (from its id: stable across renames). */
  readonly objectName: string;
  readonly namespace: string;
  readonly meshPrincipal: string;
  readonly displayName: string;
  private readonly policy: MeshTarget;

  constructor(scope: Construct, id: string, props: AgentWorkloadProps) {
    super(scope, id);
    const { agent: a, context: ctx } = props;
    this.objectName = agentObjectName(a.id);
    this.namespace = agentsNamespace(a.tenant);
    this.meshPrincipal = meshPrincipal(this.namespace, this.objectName);
    this.displayName = a.name;
    const labels = {
      'app.kubernetes.io/part-of': PART_OF,
      app: this.objectName,
      [FLEET_LABELS.agentId]: a.id,
      [FLEET_LABELS.agent]: a.name,
      [FLEET_LABELS.tenant]: a.tenant,
    };
    const meta = (name = this.objectName, extra: Record<string, string> = {}) => ({
      name,
      namespace: this.namespace,
      labels: { ...labels, ...extra },
    });
    this.policy = new MeshTarget(this, 'Allow', {
      name: `${this.objectName}-allow`,
      namespace: this.namespace,
      selector: { app: this.objectName },
    });

    new k8s.KubeServiceAccount(this, 'ServiceAccount', {
      metadata: meta(),
      automountServiceAccountToken: false,
    });
    if (a.ports.length > 0)
      new k8s.KubeService(this, 'Service', {
        metadata: meta(),
        spec: {
          type: 'ClusterIP',
          selector: { app: this.objectName },
          ports: a.ports.map((p) => ({
            name: `http-${p}`,
            port: p,
            targetPort: k8s.IntOrString.fromNumber(p),
          })),
        },
      });

    // Every instance's pod by name (<hostname>.<object name>-pods.<namespace>.svc.cluster.local),
    // for the monitor's nudge, which must reach one instance, not any. NOTE (4)
    new k8s.KubeService(this, 'Pods', {
      metadata: meta(agentPodsServiceName(a.id)),
      spec: {
        clusterIp: 'None',
        publishNotReadyAddresses: true,
        selector: { app: this.objectName },
        ports: [
          {
            name: 'http-agent',
            port: AGENT_KIT_PORT,
            targetPort: k8s.IntOrString.fromNumber(AGENT_KIT_PORT),
          },
        ],
      },
    });
    // The monitor may ask any instance to re-announce itself, and nothing else.
    this.policy.grantAccess(monitor(ctx), {
      ports: [AGENT_KIT_PORT],
      methods: ['POST'],
      paths: [AGENT_ANNOUNCE_PATH],
    });

    const env = this.environment(ctx, a);
    // The instances of agentInstanceNames() (platform/fleet/rights.ts), which the heartbeat
    // grants name: one per host, or one floating.
    const instances: (ResolvedHost | undefined)[] =
      a.placement.mode === 'floating' ? [undefined] : [...a.placement.hosts];
    for (const host of instances) {
      // What git wants on this host: nothing when undeployed or not yet reached by a deploying
      // rollout; the rollout's `from` on a host an upgrade has not reached.
      const instance = instanceOn(a, host?.name ?? '');
      if (!instance) continue;
      const name = agentInstanceName(a.id, host?.name);
      const instanceLabels = {
        [FLEET_LABELS.instance]: name,
        [FLEET_LABELS.host]: host?.name ?? 'floating',
      };
      const hostEnv: k8s.EnvVar[] = [
        host
          ? { name: AGENT_ENV.host, value: host.name }
          : { name: AGENT_ENV.host, valueFrom: { fieldRef: { fieldPath: 'spec.nodeName' } } },
        { name: AGENT_ENV.instance, value: name },
        { name: AGENT_ENV.entityId, value: agentInstanceEntityId(name) },
        { name: AGENT_ENV.config, value: JSON.stringify(configFor(a, host?.name ?? '')) },
        { name: AGENT_ENV.revision, value: instance.revision },
        { name: AGENT_ENV.announceUrl, value: agentAnnounceUrl(a.id, a.tenant, host?.name) },
      ];
      new k8s.KubeDeployment(this, host ? `Host-${host.name}` : 'Floating', {
        metadata: {
          ...meta(name, instanceLabels),
          annotations: {
            [FLEET_LABELS.revision]: instance.revision,
            // After the hook that writes its client credentials (./identity.ts, NOTE 1).
            'argocd.argoproj.io/sync-wave': String(AGENT_DEPLOYMENT_WAVE),
          },
        },
        spec: {
          replicas: a.state === 'running' ? 1 : 0,
          revisionHistoryLimit: 3,
          // One instance per host at a time: never two copies writing for one agent.
          strategy: { type: 'Recreate' },
          selector: { matchLabels: { app: this.objectName, [FLEET_LABELS.instance]: name } },
          template: {
            metadata: {
              labels: { ...labels, ...instanceLabels },
              annotations: { [FLEET_LABELS.revision]: instance.revision },
            },
            spec: {
              hostname: agentPodHostname(host?.name),
              subdomain: agentPodsServiceName(a.id),
              serviceAccountName: this.objectName,
              automountServiceAccountToken: false,
              enableServiceLinks: false,
              nodeSelector: host ? { [HOSTNAME_LABEL]: host.name } : undefined,
              tolerations: host ? pinnedTolerations(host) : undefined,
              securityContext: {
                runAsNonRoot: true,
                runAsUser: a.runAs.user,
                runAsGroup: a.runAs.group,
                fsGroup: a.runAs.group,
                seccompProfile: { type: 'RuntimeDefault' },
              },
              containers: [
                {
                  name: 'agent',
                  image: instance.image,
                  imagePullPolicy: 'IfNotPresent',
                  env: [...env, ...hostEnv],
                  ports: a.ports.map((p) => ({
                    name: `http-${p}`,
                    containerPort: p,
                    protocol: 'TCP',
                  })),
                  resources: kubeResources(a.resources),
                  securityContext: hardenedSecurityContext(true),
                  readinessProbe: a.health ? probe(a.health) : undefined,
                  livenessProbe: a.health ? probe(a.health, 6) : undefined,
                  volumeMounts: [{ name: 'tmp', mountPath: '/tmp' }],
                },
              ],
              volumes: [{ name: 'tmp', emptyDir: { sizeLimit: k8s.Quantity.fromString('64Mi') } }],
            },
          },
        },
      });
    }
  }

  /** Lets `caller` reach these ports of the agent. */
  grantAccess(caller: MeshCaller, ports: readonly number[]): void {
    this.policy.grantAccess(caller, { ports });
  }

  /** The agent's environment, the same on every host. */
  private environment(ctx: PlatformContext, a: ResolvedAgent): k8s.EnvVar[] {
    const env = new Map<string, k8s.EnvVar>();
    const set = (name: string, value: string) => env.set(name, { name, value });
    set(AGENT_ENV.id, a.id);
    set(AGENT_ENV.name, a.name);
    set(AGENT_ENV.tenant, a.tenant);
    set(AGENT_ENV.fiwareService, a.tenant);
    set(AGENT_ENV.heartbeatSeconds, String(a.heartbeatSeconds));
    // Every agent heartbeats through Orion, whatever it declared.
    set('ORION_URL', ctx.serviceUrl('orion', 'api'));
    // Its own Keycloak client: the id and secret the realm reconciliation writes after each
    // sync into a Secret of the agent's namespace (platform/fleet/identity.ts).
    set(
      AGENT_ENV.tokenUrl,
      `${ctx.serviceUrl('keycloak', 'web')}${ctx.realmEndpointPath('token')}`,
    );
    for (const [variable, key] of [
      [AGENT_ENV.clientId, AGENT_CLIENT_SECRET_KEYS.clientId],
      [AGENT_ENV.clientSecret, AGENT_CLIENT_SECRET_KEYS.clientSecret],
    ] as const)
      env.set(variable, {
        name: variable,
        valueFrom: { secretKeyRef: { name: agentClientSecretName(a.id), key } },
      });
    for (const need of a.needs)
      for (const [name, s] of Object.entries(NEEDS[need].env))
        set(name, ctx.serviceUrl(s.service, s.port as never));
    // DOWNSTREAM_<NAME>_URL, with the port in the name when one downstream has two.
    for (const c of a.connections) {
      const twice = a.connections.filter((x) => x.to === c.to).length > 1;
      const name = c.name.toUpperCase().replaceAll('-', '_');
      set(
        `DOWNSTREAM_${name}${twice ? `_${c.port}` : ''}_URL`,
        `http://${agentObjectName(c.to)}.${this.namespace}.svc.cluster.local:${c.port}`,
      );
    }
    for (const s of a.secrets)
      env.set(s.env, {
        name: s.env,
        valueFrom: { secretKeyRef: { name: agentSecretName(a.id), key: s.key } },
      });
    return [...env.values()];
  }
}

/**
 * What a pod pinned to `host` tolerates: the host's specialised taint, and the taints of an
 * unreachable or not-ready node without a time limit, so a WAN outage never evicts it. NOTE (1)
 */
function pinnedTolerations(host: ResolvedHost): k8s.Toleration[] {
  return [
    ...(host.specialised
      ? [{ key: SPECIALISED_TAINT, operator: 'Exists', effect: 'NoSchedule' }]
      : []),
    { key: 'node.kubernetes.io/unreachable', operator: 'Exists', effect: 'NoExecute' },
    { key: 'node.kubernetes.io/not-ready', operator: 'Exists', effect: 'NoExecute' },
  ];
}

function probe(h: { path: string; port: number }, failureThreshold = 3): k8s.Probe {
  return {
    httpGet: { path: h.path, port: k8s.IntOrString.fromNumber(h.port) },
    periodSeconds: 10,
    timeoutSeconds: 3,
    failureThreshold,
  };
}

// NOTE
// 1. WAN outage. When a factory host loses the platform, the node controller marks its node
//    NotReady/Unreachable and taints it node.kubernetes.io/unreachable:NoExecute; pods that do
//    not tolerate the taint are evicted after their tolerationSeconds (300 s, added by the
//    DefaultTolerationSeconds admission plugin). A pinned agent must keep running on its host
//    (the kubelet keeps running pods while it cannot reach the API server), and an eviction
//    would only leave a Pending replacement bound to the same unreachable host. A toleration
//    without tolerationSeconds tolerates the taint forever, so the pod object is never
//    deleted. Floating agents keep the default and are rescheduled elsewhere.
//    See https://kubernetes.io/docs/concepts/scheduling-eviction/taint-and-toleration/#taint-based-evictions
// 2. The agent's own token at the mesh. A need's ALLOW rule names the agent's mesh identity
//    (its ServiceAccount's SPIFFE principal) and, with `request.auth.claims[azp]`, its Keycloak
//    client: the call must carry a token issued to that client, which the target's sidecar
//    verifies (the RequestAuthentication of cdk8s/lib/mesh/security.ts selects every service a
//    need reaches). A call without a token, or with another agent's or a person's token, is
//    refused before it reaches Orion or QuantumLeap, whatever the pod it comes from. The
//    tenancy policy at the gateway gives the same token the same rights (policy data
//    `agents`, from the same NEEDS). See
//    https://istio.io/latest/docs/reference/config/security/conditions/
// 3. Heartbeat at the mesh. The update rule lists the exact entity paths of the agent's
//    instances; the creation rule allows POST /v2/entities in fiware-servicepath /agents only.
//    Istio's rules see neither the body (the id of the entity created) nor the query string,
//    so at the mesh an agent may create entities of any id in its tenant's /agents path, and
//    its `options=upsert` is not refused there; the policy at the gateway refuses both
//    (another agent's entity id, upsert). What an agent can reach this way is its own tenant's
//    heartbeat path, nothing of the tenant's data.
// 4. The nudge's address. The monitor asks one silent instance to beat (POST /announce, the
//    agent kit's port): a ClusterIP Service would balance over the agent's instances, so each
//    pod gets a `hostname` (a DNS label of its host) and, as `subdomain`, a headless Service
//    of the agent's pods, whose DNS gives every pod `<hostname>.<service>.<ns>.svc.cluster.local`.
//    publishNotReadyAddresses: an instance failing its readiness probe is exactly one the monitor
//    may need to reach. The URL is rendered into AGENT_ANNOUNCE_URL, which the heartbeat reports;
//    the monitor calls a reported URL only if announceUrlAllowed (platform/fleet/identity.ts)
//    says it is an agent pod of the agent's own tenant, so an agent cannot aim it elsewhere.
//    See https://kubernetes.io/docs/concepts/services-networking/dns-pod-service/#pod-s-hostname-and-subdomain-fields
