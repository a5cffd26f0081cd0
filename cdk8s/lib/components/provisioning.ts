/**
 * The device provisioning service (services/provisioning): one tenant-scoped API that
 * provisions a device with its IoT Agent service group and the Orion subscription that feeds
 * QuantumLeap. It enforces the tenancy policy in-process (the same wasm policy and data as the
 * gateway's OPA) and calls the FIWARE components over the mesh with least privilege (the
 * calls of its registry entry, platform/components.ts).
 */
import type { Construct } from 'constructs';

import {
  COMPONENTS,
  IOT_AGENT_IDS,
  QUANTUMLEAP_NOTIFY_PATH,
} from '../../../platform/components.js';
import type { PlatformContext } from '../../../platform/context.js';
import { EVENTS_PORT_KEY, PLATFORM_EVENTS_URL_ENV } from '../../../platform/events.js';
import { Workload, env, httpProbe } from '../workload.js';
import { addPolicyDataConfigMap, policyDataFile } from './policy-data.js';

/** Props of {@link Provisioning}. */
export interface ProvisioningProps {
  readonly context: PlatformContext;
}

/** The device provisioning service, its policy data in a content-addressed ConfigMap. */
export class Provisioning extends Workload<'provisioning'> {
  /** Name of the ConfigMap with the policy data; it changes whenever the data does. */
  readonly policyDataConfigMapName: string;

  constructor(scope: Construct, id: string, props: ProvisioningProps) {
    const ctx = props.context;
    const port = ctx.port('provisioning', 'api');
    const policy = policyDataFile(ctx, 'provisioning'); // NOTE (1)
    super(scope, id, {
      context: ctx,
      service: 'provisioning',
      kind: 'Deployment',
      // services/provisioning/Dockerfile: USER 65532:65532.
      runAs: { user: 65532, group: 65532 },
      // The service serves Prometheus text on /metrics; Istio merges it. NOTE (2)
      podAnnotations: {
        'prometheus.io/scrape': 'true',
        'prometheus.io/port': String(port),
        'prometheus.io/path': '/metrics',
      },
      volumes: [policy.volume],
      containers: [
        {
          name: 'provisioning',
          image: 'provisioning',
          env: [
            env('PROVISIONING_PORT', port),
            // One north (provisioning) API per device protocol.
            ...IOT_AGENT_IDS.map((a) =>
              env(COMPONENTS[a].iotAgent.northUrlEnv, ctx.serviceUrl(a, 'north')),
            ),
            env('ORION_URL', ctx.serviceUrl('orion', 'api')),
            // Handed to Orion in subscriptions: Orion notifies QuantumLeap in the mesh.
            env(
              'QUANTUMLEAP_NOTIFY_URL',
              `${ctx.serviceUrl('quantumleap', 'api')}${QUANTUMLEAP_NOTIFY_PATH}`,
            ),
            // Its events go to the monitor's events port (platform/events.ts).
            env(PLATFORM_EVENTS_URL_ENV, ctx.serviceUrl('monitor', EVENTS_PORT_KEY)),
            env('KEYCLOAK_ISSUER', ctx.issuer),
            env('KEYCLOAK_JWKS_URL', ctx.jwksUri),
            policy.envVar,
            env('LOG_LEVEL', 'info'),
            env('UPSTREAM_TIMEOUT_MS', 5000),
          ],
          ports: ['api'],
          // /healthz: the process serves; /readyz: policy and realm keys are loaded, whatever
          // the upstreams' health, so an Orion outage never empties this Service. NOTE (3)
          startupProbe: httpProbe('/healthz', port, { periodSeconds: 2, failureThreshold: 30 }),
          livenessProbe: httpProbe('/healthz', port, { periodSeconds: 15, failureThreshold: 4 }),
          readinessProbe: httpProbe('/readyz', port, { periodSeconds: 10 }),
          volumeMounts: [policy.mount],
        },
      ],
    });
    this.policyDataConfigMapName = policy.configMapName;
    addPolicyDataConfigMap(this, policy, this.namespace, this.name);
  }
}

// NOTE
// 1. Content-addressed policy data, as OPA's policy (opa.ts, NOTE (1)). The service reads the
//    file once at start; a hash of the data in the ConfigMap's name changes the pod template
//    whenever the route table, the tenants or the issuer change, so the pods roll and the
//    in-process decisions never lag the gateway's. Argo CD prunes the old ConfigMap.
// 2. Metrics through the sidecar, as for the IoT Agent (iot-agent.ts, NOTE (1)): with STRICT
//    mTLS Prometheus cannot scrape :8080 in plaintext, so Istio's metrics merging serves the
//    app's /metrics on the sidecar's :15020. The gateway routes only /provisioning/ to the
//    pod, so /metrics, /healthz and /readyz are not reachable from outside.
//    See https://istio.io/latest/docs/ops/integrations/prometheus/#option-1-metrics-merging
// 3. Readiness without upstreams. Every API call needs Orion or the IoT Agent, but if
//    readiness followed them, an Orion outage would take every replica out of the Service:
//    callers would get the gateway's bare 503 instead of the service's own problem answer,
//    the public OpenAPI document would vanish too, and the pods would flap with the upstream.
//    QuantumLeap's readiness follows CrateDB because QuantumLeap cannot answer anything
//    without it; this service can. Kubelet probes go through Istio's probe rewrite (the
//    sidecar's :15020), so no mesh grant is needed for them.
//    See https://istio.io/latest/docs/ops/configuration/mesh/app-health-check/
