/**
 * An IoT Agent (iotagent-node-lib based: Ultralight 2.0, JSON): devices send measurements to
 * its south port (HTTP transport), operators provision service groups and devices on its north
 * port, and it writes the resulting entities to Orion. Which protocol, resource and device
 * registry are its registry entry's (`iotAgent` in platform/components.ts).
 */
import type { Construct } from 'constructs';

import type { IotAgentId } from '../../../platform/components.js';
import { COMPONENTS } from '../../../platform/components.js';
import type { PlatformContext } from '../../../platform/context.js';
import { AGENT_DEFAULT_KEY } from '../../../platform/tenancy.js';
import { Workload, env, httpProbe, secretEnv } from '../workload.js';

/** Props of {@link IotAgent}. */
export interface IotAgentProps {
  readonly context: PlatformContext;
  /** The registry entry of the agent, e.g. `iotAgentUl`. */
  readonly component: IotAgentId;
}

/** An IoT Agent with a MongoDB device registry of its own. */
export class IotAgent extends Workload<IotAgentId> {
  constructor(scope: Construct, id: string, props: IotAgentProps) {
    const ctx = props.context;
    const c = props.component;
    const { resource, registry } = COMPONENTS[c].iotAgent;
    const north = ctx.port(c, 'north');
    const south = ctx.port(c, 'south');
    super(scope, id, {
      context: ctx,
      service: c,
      kind: 'Deployment',
      runAs: { user: 65534, group: 65534 },
      // The agent serves /metrics (OpenMetrics) on its north port; Istio merges it. NOTE (1)
      podAnnotations: {
        'prometheus.io/scrape': 'true',
        'prometheus.io/port': String(north),
        'prometheus.io/path': '/metrics',
      },
      containers: [
        {
          name: COMPONENTS[c].service.name,
          image: c,
          env: [
            env('IOTA_CB_HOST', ctx.serviceHost('orion')),
            env('IOTA_CB_PORT', ctx.port('orion', 'api')),
            env('IOTA_CB_NGSI_VERSION', 'v2'),
            env('IOTA_NORTH_PORT', north),
            env('IOTA_HTTP_PORT', south),
            env('IOTA_PROVIDER_URL', ctx.serviceUrl(c, 'north')),
            env('IOTA_DEFAULT_RESOURCE', resource),
            // A key no device route admits. NOTE (3)
            env('IOTA_DEFAULT_KEY', AGENT_DEFAULT_KEY),
            env('IOTA_REGISTRY_TYPE', 'mongodb'),
            secretEnv('IOTAGENT_DB_PASSWORD', 'mongodb', registry.passwordKey),
            env(
              'IOTA_MONGO_URI',
              `mongodb://${registry.user}:$(IOTAGENT_DB_PASSWORD)@${ctx.serviceHost('mongodb')}:${ctx.port('mongodb', 'db')}/${registry.database}?authSource=admin`,
            ),
            // Measurements get a TimeInstant, which QuantumLeap indexes and liveness reads.
            env('IOTA_TIMESTAMP', true),
            // Only the HTTP transport is deployed; the agent must not dial brokers that do not exist.
            env('IOTA_MQTT_DISABLED', true),
            env('IOTA_AMQP_DISABLED', true),
            env('IOTA_LOG_LEVEL', 'INFO'),
            // NOTE (2)
          ],
          ports: ['north', 'south'],
          livenessProbe: httpProbe('/iot/about', north, { periodSeconds: 15, failureThreshold: 4 }),
          readinessProbe: httpProbe('/iot/about', north, { periodSeconds: 10 }),
          startupProbe: httpProbe('/iot/about', north, { periodSeconds: 2, failureThreshold: 60 }),
        },
      ],
    });
  }
}

// NOTE
// 1. Metrics through the sidecar. With STRICT mTLS Prometheus cannot scrape the app port
//    in plaintext; Istio's metrics merging rewrites these annotations to the agent's
//    :15020/stats/prometheus, which serves the app's metrics next to Envoy's.
//    See https://istio.io/latest/docs/ops/integrations/prometheus/#option-1-metrics-merging
// 2. No IOTA_AUTOCAST. iotagent-node-lib 4.0 removed autocast and its variable (#1498), so
//    setting it would be dead configuration. In 4.x a measure keeps its wire form unless the
//    provisioned attribute has an expression (JEXL sees measures parsed as numbers), which
//    makes typing a provisioning concern. See the library's Changelog, 4.0.0.
// 3. The default key. With the key a device sends equal to the agent's default key
//    (iotagent-json's config.js: 1234), the agent looks the device up by id across every tenant
//    (iotaUtils.retrieveDevice), so a tenant holding a group with that key could write into
//    another tenant's device of a known id. The default is set to a text outside the API-key
//    characters: the policy never admits it on a device route, and the provisioning service
//    never accepts it as a group's key.
