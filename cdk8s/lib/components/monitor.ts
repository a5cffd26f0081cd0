/**
 * The liveness monitor (services/monitor): it watches the tenants' devices (the IoT Agents'
 * registries and Orion's last measurements) and agent instances (their heartbeat entities),
 * nudges the silent ones through Orion, writes their health back to Orion, raises `offline`
 * and `recovered` events and delivers the platform's events to the tenants' webhooks as signed
 * CloudEvents. It is also the platform's one receiver of events: its internal events port takes
 * the producers' events and Alertmanager's webhook, and only the callers its registry entry's
 * grants name reach it (platform/components.ts, `calls` to `monitor`).
 *
 * One replica with its state file on a volume of its own; its API is behind the gateway at
 * /monitor with the tenancy policy (its registry entry's route), enforced in-process too.
 */
import { k8s } from 'cdk8s-plus-33';
import type { Construct } from 'constructs';

import { COMPONENTS, IOT_AGENT_IDS } from '../../../platform/components.js';
import type { PlatformContext } from '../../../platform/context.js';
import { EVENTS_PORT_KEY } from '../../../platform/events.js';
import { Sidecar } from '../../imports/istio.js';
import { NetworkPolicy, modelObject } from '../model.js';
import { PART_OF, Workload, env, httpProbe } from '../workload.js';
import { addPolicyDataConfigMap, policyDataFile } from './policy-data.js';

/** Where the state volume is mounted. */
export const MONITOR_DATA_DIR = '/var/lib/monitor';
/** The state file (MONITOR_STATE_FILE of services/monitor/src/config.ts), on that volume. */
export const MONITOR_STATE_FILE = `${MONITOR_DATA_DIR}/state.json`;
/** The variable that gives the monitor its events port (the registry's, never a literal). */
export const MONITOR_EVENTS_PORT_ENV = 'MONITOR_EVENTS_PORT';

/**
 * Address ranges no webhook may reach, whatever its name resolves to: private, shared
 * (carrier-grade NAT), loopback, link-local (cloud metadata endpoints) and unspecified. NOTE (3)
 */
export const WEBHOOK_DENIED_RANGES = [
  '0.0.0.0/8',
  '10.0.0.0/8',
  '100.64.0.0/10',
  '127.0.0.0/8',
  '169.254.0.0/16',
  '172.16.0.0/12',
  '192.168.0.0/16',
] as const;

/** Props of {@link Monitor}. */
export interface MonitorProps {
  readonly context: PlatformContext;
}

/** The liveness monitor, its state volume, its policy data and its way out to webhooks. */
export class Monitor extends Workload<'monitor'> {
  /** Name of the PersistentVolumeClaim of the state file. */
  readonly stateClaimName: string;

  constructor(scope: Construct, id: string, props: MonitorProps) {
    const ctx = props.context;
    const port = ctx.port('monitor', 'api');
    const eventsPort = ctx.port('monitor', EVENTS_PORT_KEY);
    const policy = policyDataFile(ctx, 'monitor');
    const stateClaimName = `${COMPONENTS.monitor.service.name}-state`;
    super(scope, id, {
      context: ctx,
      service: 'monitor',
      kind: 'Deployment',
      // One writer of the state file: the old pod stops before the new one mounts it. NOTE (1)
      strategy: 'Recreate',
      // services/monitor/Dockerfile: USER 65532:65532.
      runAs: { user: 65532, group: 65532 },
      // The service serves Prometheus text on /metrics; Istio merges it (provisioning.ts NOTE 2).
      podAnnotations: {
        'prometheus.io/scrape': 'true',
        'prometheus.io/port': String(port),
        'prometheus.io/path': '/metrics',
      },
      volumes: [
        policy.volume,
        { name: 'state', persistentVolumeClaim: { claimName: stateClaimName } },
      ],
      containers: [
        {
          name: 'monitor',
          image: 'monitor',
          env: [
            env('MONITOR_PORT', port),
            env(MONITOR_EVENTS_PORT_ENV, eventsPort),
            // One north (provisioning) API per device protocol: the devices to watch.
            ...IOT_AGENT_IDS.map((a) =>
              env(COMPONENTS[a].iotAgent.northUrlEnv, ctx.serviceUrl(a, 'north')),
            ),
            env('ORION_URL', ctx.serviceUrl('orion', 'api')),
            env('KEYCLOAK_JWKS_URL', ctx.jwksUri),
            policy.envVar,
            env('MONITOR_STATE_FILE', MONITOR_STATE_FILE),
            env('LOG_LEVEL', 'info'),
            env('UPSTREAM_TIMEOUT_MS', 5000),
          ],
          ports: ['api', EVENTS_PORT_KEY],
          // /healthz: the process serves; /readyz: the state and the policy are loaded, whatever
          // the upstreams' health (provisioning.ts NOTE 3).
          startupProbe: httpProbe('/healthz', port, { periodSeconds: 2, failureThreshold: 30 }),
          livenessProbe: httpProbe('/healthz', port, { periodSeconds: 15, failureThreshold: 4 }),
          readinessProbe: httpProbe('/readyz', port, { periodSeconds: 10 }),
          volumeMounts: [policy.mount, { name: 'state', mountPath: MONITOR_DATA_DIR }],
        },
      ],
    });
    this.stateClaimName = stateClaimName;
    addPolicyDataConfigMap(this, policy, this.namespace, this.name);
    const labels = { ...this.selectorLabels, 'app.kubernetes.io/part-of': PART_OF };
    const storageClass = ctx.config.storage.storageClass;
    new k8s.KubePersistentVolumeClaim(this, 'State', {
      metadata: { name: stateClaimName, namespace: this.namespace, labels },
      spec: {
        accessModes: ['ReadWriteOnce'],
        ...(storageClass ? { storageClassName: storageClass } : {}),
        resources: {
          requests: { storage: k8s.Quantity.fromString(ctx.config.storage.sizes.monitor) },
        },
      },
    });
    this.addWebhookEgress(ctx);
  }

  /**
   * The tenants' webhooks: hosts outside the cluster that no registry lists, reached by this
   * workload's sidecar only, and never a private, loopback or link-local address. NOTE (2)
   */
  private addWebhookEgress(ctx: PlatformContext): void {
    const labels = { ...this.selectorLabels, 'app.kubernetes.io/part-of': PART_OF };
    modelObject(
      this,
      'Egress',
      Sidecar({
        metadata: { name: this.name, namespace: this.namespace, labels },
        spec: {
          workloadSelector: { labels: { ...this.selectorLabels } },
          egress: [{ hosts: ['*/*.cluster.local'] }],
          outboundTrafficPolicy: { mode: 'ALLOW_ANY' },
        },
      }),
    );
    const peers = [
      ...new Set([
        ctx.namespace('platform'),
        ctx.componentNamespace('keycloak'),
        // istiod (the sidecar's configuration and certificates).
        ctx.namespace('mesh'),
      ]),
    ].sort();
    modelObject(
      this,
      'EgressFence',
      NetworkPolicy({
        metadata: { name: `${this.name}-egress`, namespace: this.namespace, labels },
        spec: {
          podSelector: { matchLabels: { ...this.selectorLabels } },
          policyTypes: ['Egress'],
          egress: [
            // The platform's own services, through the mesh.
            {
              to: peers.map((peer) => ({
                namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': peer } },
              })),
            },
            // Cluster DNS.
            {
              to: [
                {
                  namespaceSelector: {
                    matchLabels: { 'kubernetes.io/metadata.name': 'kube-system' },
                  },
                  podSelector: { matchLabels: { 'k8s-app': 'kube-dns' } },
                },
              ],
              ports: [
                { protocol: 'UDP', port: 53 },
                { protocol: 'TCP', port: 53 },
              ],
            },
            // Webhooks: public addresses only, on the ports URLs name.
            {
              to: [{ ipBlock: { cidr: '0.0.0.0/0', except: [...WEBHOOK_DENIED_RANGES] } }],
            },
          ],
        },
      }),
    );
  }
}

// NOTE
// 1. One replica, Recreate. The state file (journals, deliveries, nudges, the last judgement of
//    every target) has exactly one writer: two monitors would nudge every device and raise
//    every event twice, and would overwrite each other's file. So the registry sizes it at one
//    replica in every profile, and a rollout stops the old pod before the new one mounts the
//    ReadWriteOnce volume (a RollingUpdate's surge pod would wait for the volume, or on a
//    single node mount it beside the old writer). The cost is a gap of one restart, which the
//    state bridges: the next pass picks up where the file left off.
// 2. Webhook egress. The mesh's outboundTrafficPolicy is REGISTRY_ONLY (istiod's meshConfig,
//    cdk8s/lib/gitops/chart-values.ts), and a tenant's webhook host is chosen at run time, so no
//    ServiceEntry can list it (the fleet's git host can: fleet.ts NOTE 3). This workload's own
//    Sidecar keeps the cluster's services in its view and sets ALLOW_ANY for itself alone: an
//    unknown host passes through its sidecar; every other sidecar still refuses it. In-cluster
//    services remain behind STRICT mTLS and their ALLOW policies, which admit the monitor only
//    where its registry entry's calls say. The service refuses internal names and IP literals
//    itself (platform/outbound.ts); the NetworkPolicy of NOTE (3) covers a public name that
//    resolves to an internal address.
//    See https://istio.io/latest/docs/reference/config/networking/sidecar/#OutboundTrafficPolicy
// 3. The egress fence. Where the CNI enforces NetworkPolicy (as for the namespaces' ingress
//    fences, cdk8s/lib/mesh/security.ts NOTE 3), the monitor's pod may open connections to the
//    platform's namespaces (its mesh peers and istiod), the cluster DNS, and public addresses:
//    never a private, shared, loopback or link-local one (169.254.169.254 is a cloud's metadata
//    service), whatever a webhook's name resolves to. Rules are additive, so the namespace
//    peers stay reachable though their pod addresses are private.
