/**
 * OPA with the Envoy ext_authz plugin: the ingress gateway asks it about every non-public
 * request (Istio CUSTOM authorization).
 */
import { k8s } from 'cdk8s-plus-33';
import type { Construct } from 'constructs';

import type { PlatformContext } from '../../../platform/context.js';
import type { PolicyFile } from '../../../platform/policy-data.js';
import {
  DECISION_PATH,
  apiKeyBundleFlags,
  POLICY_DATA_PATH,
  policyData,
} from '../../../platform/policy-data.js';
import { checksum } from '../util.js';
import { Workload, httpProbe } from '../workload.js';

const POLICY_DIR = '/policy';
const DIAGNOSTICS_PORT = 8282;

/** Props of {@link Opa}. */
export interface OpaProps {
  readonly context: PlatformContext;
  /** The Rego files of policies/ (tests excluded); the data document is generated. */
  readonly policies: readonly PolicyFile[];
}

/** OPA as the ext_authz decision point, its policy in a content-addressed ConfigMap. */
export class Opa extends Workload<'opa'> {
  constructor(scope: Construct, id: string, props: OpaProps) {
    const ctx = props.context;
    const files: { path: string; content: string }[] = [
      ...props.policies,
      { path: POLICY_DATA_PATH, content: `${JSON.stringify(policyData(ctx), null, 2)}\n` },
    ].sort((a, b) => a.path.localeCompare(b.path));
    // ConfigMap keys cannot hold '/'; the volume maps each key back to its path.
    const key = (path: string) => path.replaceAll('/', '.');
    const keys = new Set(files.map((f) => key(f.path)));
    if (keys.size !== files.length) {
      throw new TypeError(
        `two policy files map to one ConfigMap key: ${files.map((f) => f.path).join(', ')}`,
      );
    }
    const hash = checksum(...files.flatMap((f) => [f.path, f.content])).slice(0, 10);
    const configMapName = `opa-policy-${hash}`; // NOTE (1)
    const grpc = ctx.port('opa', 'extauthz');
    super(scope, id, {
      context: ctx,
      service: 'opa',
      kind: 'Deployment',
      runAs: { user: 1000, group: 1000 },
      podAnnotations: {
        'prometheus.io/scrape': 'true',
        'prometheus.io/port': String(DIAGNOSTICS_PORT),
        'prometheus.io/path': '/metrics',
      },
      volumes: [
        {
          name: 'policy',
          configMap: {
            name: configMapName,
            items: files.map((f) => ({ key: key(f.path), path: f.path })),
          },
        },
      ],
      containers: [
        {
          name: 'opa',
          image: 'opa',
          args: [
            'run',
            '--server',
            // The REST API (policy and data writes) is reachable from inside the pod only.
            '--addr=localhost:8181',
            `--diagnostic-addr=0.0.0.0:${DIAGNOSTICS_PORT}`,
            `--set=plugins.envoy_ext_authz_grpc.addr=:${grpc}`,
            `--set=plugins.envoy_ext_authz_grpc.path=${DECISION_PATH}`,
            '--set=plugins.envoy_ext_authz_grpc.enable-reflection=false',
            // The tenants' API-key digests, polled from the provisioning service. NOTE (3)
            ...apiKeyBundleFlags(ctx.serviceUrl('provisioning', 'api')),
            '--set=decision_logs.console=true',
            '--log-format=json',
            '--log-level=info',
            // Kubernetes mounts ConfigMaps through ..data symlinks; load each file once. NOTE (2)
            '--ignore=.*',
            POLICY_DIR,
          ],
          ports: ['extauthz'],
          livenessProbe: httpProbe('/health', DIAGNOSTICS_PORT, { periodSeconds: 10 }),
          // Ready only once the ext_authz plugin listens: /health?plugins checks every plugin.
          // Ready without the bundle: until it comes, only device routes are refused (503).
          readinessProbe: httpProbe('/health?plugins&exclude-plugin=bundle', DIAGNOSTICS_PORT, {
            periodSeconds: 5,
          }),
          volumeMounts: [{ name: 'policy', mountPath: POLICY_DIR, readOnly: true }],
        },
      ],
    });
    new k8s.KubeConfigMap(this, 'Policy', {
      metadata: { name: configMapName, namespace: this.namespace, labels: { app: this.name } },
      data: Object.fromEntries(files.map((f) => [key(f.path), f.content])),
    });
  }
}

// NOTE
// 1. Content-addressed policy. The ConfigMap's name carries a hash of the policy and its
//    data, and the Deployment mounts it by that name, so any change to policies/, the route
//    table or the tenants changes the pod template and rolls OPA; Argo CD prunes the old
//    ConfigMap. (Kustomize's configMapGenerator does the same; the demo cluster re-created a
//    Secret by hand.)
// 2. --ignore=.* keeps OPA from also loading the timestamped ..2026_... directory behind
//    ConfigMap mounts, which would define every rule twice.
//    See https://www.openpolicyagent.org/docs/envoy/tutorial-istio
// 3. The API-key bundle claims only kitt4sme/apikeys, so it sits beside the policy and config
//    loaded from files (OPA refuses overlapping roots). OPA keeps the last bundle it activated
//    when a poll fails; until the first one, the policy refuses device routes with 503.
//    See https://www.openpolicyagent.org/docs/management-bundles
