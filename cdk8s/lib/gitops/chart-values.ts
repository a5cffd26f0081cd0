/**
 * Helm values of the upstream charts Argo CD installs, generated from the platform config
 * and the size profile. Keys follow each chart's values.yaml at the pinned version.
 */
import { livenessAlertRules } from '../../../platform/liveness.js';
import type { ChartId, ComponentId } from '../../../platform/components.js';
import { component } from '../../../platform/components.js';
import { toKubeResources } from '../../../platform/config/profiles.js';
import type { PlatformContext } from '../../../platform/context.js';
import { argoCdOidc, kialiAuth } from '../identity/sso.js';
import { fleetPluginChartValues } from './fleet-plugin.js';
import {
  INGRESS_GATEWAY_RELEASE,
  OPA_EXT_AUTHZ_PROVIDER,
  TRACING_PROVIDER,
} from '../../../platform/mesh.js';
import { SEALED_SECRETS_CONTROLLER } from '../../../platform/fleet/sealed.js';
import { ALERTMANAGER_RECEIVER_PATH, EVENTS_PORT_KEY } from '../../../platform/events.js';

/** Helm values: a JSON object. */
export type HelmValues = Record<string, unknown>;

/** One upstream Helm release, as an Argo CD Application installs it. */
export interface HelmRelease {
  /** Application name; also the Helm release name unless `releaseName` differs. */
  readonly name: string;
  readonly chartId: ChartId;
  /** Chart name in its repository. */
  readonly chart: string;
  readonly releaseName: string;
  readonly namespace: string;
  readonly wave: number;
  readonly values: HelmValues;
  readonly description: string;
}

/** Kubernetes resources and replicas of a sized workload in the chosen profile. */
function sizing(ctx: PlatformContext) {
  return {
    res: (w: ComponentId) => toKubeResources(ctx.size(w).resources),
    replicas: (w: ComponentId) => ctx.size(w).replicas,
  };
}

/** Names of the Jaeger and Prometheus releases, which Kiali and istiod point at. */
const JAEGER_RELEASE = 'jaeger';
const PROMETHEUS_RELEASE = 'prometheus';

/** Every upstream release of the platform, in sync-wave order. */
export function helmReleases(ctx: PlatformContext): HelmRelease[] {
  const mesh = ctx.namespace('mesh');
  const laptop = ctx.config.profile === 'laptop';
  const { res, replicas } = sizing(ctx);
  const jaegerHost = `${JAEGER_RELEASE}.${mesh}.svc.cluster.local`;
  const opaHost = ctx.serviceHost('opa');
  const istioImages = chartImages(ctx, 'istio');

  return [
    {
      name: 'argo-cd',
      chartId: 'argoCd',
      chart: 'argo-cd',
      releaseName: 'argocd',
      namespace: ctx.namespace('argocd'),
      wave: -20,
      values: argoCdValues(ctx),
      description: 'Argo CD itself: the bootstrap install, then managed from git',
    },
    {
      name: 'istio-base',
      chartId: 'istio',
      chart: 'base',
      releaseName: 'istio-base',
      namespace: mesh,
      wave: -9,
      values: { defaultRevision: 'default', global: { istioNamespace: mesh } },
      description: 'Istio CRDs and the default revision validator',
    },
    {
      name: 'istio-cni',
      chartId: 'istio',
      chart: 'cni',
      releaseName: 'istio-cni',
      // NOTE (1)
      namespace: 'kube-system',
      wave: -8,
      values: {
        // The cni chart reads no global.istioNamespace: its agent runs in its own namespace.
        global: { ...istioImages, logAsJson: true },
        resources: res('istioCni'),
        excludeNamespaces: ['istio-system', 'kube-system'],
      },
      description:
        'Istio CNI node agent: sets up sidecar traffic capture so pods need no NET_ADMIN',
    },
    {
      name: 'istiod',
      chartId: 'istio',
      chart: 'istiod',
      releaseName: 'istiod',
      namespace: mesh,
      wave: -8,
      values: {
        global: {
          // Also the sidecars' and the gateway's proxy image (injected by istiod).
          ...istioImages,
          istioNamespace: mesh,
          logAsJson: true,
          proxy: { resources: toKubeResources(ctx.profile.sidecar) },
        },
        // Pods need no istio-init container with NET_ADMIN: the CNI agent does its job.
        cni: { enabled: true },
        autoscaleEnabled: false,
        replicaCount: replicas('istiod'),
        resources: res('istiod'),
        env: {
          // The gateway's Envoy fetches the realm's JWKS itself, through the mesh. NOTE (2)
          PILOT_JWT_ENABLE_REMOTE_JWKS: 'envoy',
        },
        meshConfig: {
          accessLogFile: '/dev/stdout',
          accessLogEncoding: 'JSON',
          // Never the query string: device API keys travel in it (/iota-south/iot/d?k=...).
          accessLogFormat: ACCESS_LOG_FORMAT,
          defaultConfig: {
            // Applications that connect at boot (Orion, Keycloak) wait for their sidecar.
            holdApplicationUntilProxyStarts: true,
          },
          enablePrometheusMerge: true,
          enableTracing: true,
          // Only services known to the mesh are reachable from sidecars: no silent egress.
          outboundTrafficPolicy: { mode: 'REGISTRY_ONLY' },
          // Decode %2F and merge // before routing and authorization. NOTE (3)
          pathNormalization: { normalization: 'DECODE_AND_MERGE_SLASHES' },
          extensionProviders: [
            {
              name: OPA_EXT_AUTHZ_PROVIDER,
              envoyExtAuthzGrpc: {
                service: opaHost,
                port: 9191,
                timeout: '1s',
                // OPA down or slow: deny (503), never allow.
                failOpen: false,
                statusOnError: '503',
              },
            },
            { name: TRACING_PROVIDER, opentelemetry: { service: jaegerHost, port: 4317 } },
          ],
        },
      },
      description:
        'Istio control plane, with the OPA ext_authz and Jaeger providers declared in meshConfig',
    },
    {
      name: 'istio-ingressgateway',
      chartId: 'istio',
      chart: 'gateway',
      releaseName: INGRESS_GATEWAY_RELEASE,
      namespace: mesh,
      wave: -7,
      values: {
        replicaCount: replicas('istioIngressGateway'),
        autoscaling: { enabled: false },
        resources: res('istioIngressGateway'),
        // minikube has no load balancer; a node port is the gateway's own front door.
        service: { type: laptop ? 'NodePort' : 'LoadBalancer' },
        ...(replicas('istioIngressGateway') > 1
          ? { podDisruptionBudget: { maxUnavailable: 1 } }
          : {}),
      },
      description: 'The ingress gateway: the only way into the cluster',
    },
    {
      name: 'prometheus',
      chartId: 'prometheus',
      chart: 'prometheus',
      releaseName: PROMETHEUS_RELEASE,
      namespace: mesh,
      wave: -5,
      values: {
        // Routes the rule file's alerts to the monitor's events port; the chart points
        // Prometheus at it when enabled. NOTE (8)
        alertmanager: alertmanagerValues(ctx),
        // The liveness monitor's `offline` alert (platform/liveness.ts), in the chart's rule file.
        serverFiles: { 'alerting_rules.yml': livenessAlertRules() },
        'prometheus-pushgateway': { enabled: false },
        'prometheus-node-exporter': { enabled: false },
        'kube-state-metrics': { enabled: false },
        configmapReload: { prometheus: { resources: res('prometheusConfigReload') } },
        server: {
          replicaCount: 1,
          retention: laptop ? '2d' : '15d',
          resources: res('prometheus'),
          global: { scrape_interval: '30s' },
          persistentVolume: {
            enabled: true,
            size: ctx.config.storage.sizes.prometheus,
            ...(ctx.config.storage.storageClass
              ? { storageClass: ctx.config.storage.storageClass }
              : {}),
          },
        },
      },
      description: 'Prometheus: mesh and application metrics (scraped through the sidecars)',
    },
    {
      name: 'jaeger',
      chartId: 'jaeger',
      chart: 'jaeger',
      releaseName: JAEGER_RELEASE,
      namespace: mesh,
      wave: -5,
      values: {
        jaeger: {
          resources: res('jaeger'),
          podSecurityContext: {
            runAsNonRoot: true,
            runAsUser: 10001,
            seccompProfile: { type: 'RuntimeDefault' },
          },
          securityContext: {
            allowPrivilegeEscalation: false,
            readOnlyRootFilesystem: true,
            capabilities: { drop: ['ALL'] },
          },
        },
      },
      description: 'Jaeger v2 all-in-one (in-memory): traces of every request through the mesh',
    },
    {
      name: 'kiali',
      chartId: 'kiali',
      chart: 'kiali-server',
      releaseName: 'kiali',
      namespace: mesh,
      wave: -5,
      values: {
        istio_namespace: mesh,
        // Keycloak SSO (cdk8s/lib/identity/sso.ts); never anonymous. NOTE (4)
        auth: kialiAuth(ctx),
        // Pod logs carry tenant data (entity ids, service names); Kiali is for the mesh.
        kiali_feature_flags: { disabled_features: ['logs-tab'] },
        deployment: {
          // Kiali acts with its own service account (no RBAC per user): look, never touch.
          view_only_mode: true,
          replicas: replicas('kiali'),
          resources: res('kiali'),
          cluster_wide_access: true,
        },
        server: {
          web_root: ctx.routePrefix('kiali'),
          web_fqdn: ctx.config.ingress.host,
          web_schema: ctx.config.ingress.tls ? 'https' : 'http',
        },
        external_services: {
          prometheus: { url: `http://${PROMETHEUS_RELEASE}-server.${mesh}.svc.cluster.local:80` },
          tracing: {
            enabled: true,
            provider: 'jaeger',
            use_grpc: true,
            internal_url: `http://${jaegerHost}:16685`,
          },
          grafana: { enabled: false },
        },
      },
      description: 'Kiali: the mesh topology, traffic and mTLS status',
    },
    {
      name: 'sealed-secrets',
      chartId: 'sealedSecrets',
      chart: 'sealed-secrets',
      releaseName: SEALED_SECRETS_CONTROLLER.name,
      // kubeseal's default controller namespace and name, so the upstream tooling finds it.
      namespace: SEALED_SECRETS_CONTROLLER.namespace,
      // Before the agents (whose SealedSecrets need the CRD and the controller). NOTE (7)
      wave: -5,
      values: {
        fullnameOverride: SEALED_SECRETS_CONTROLLER.name,
        image: {
          registry: 'docker.io',
          repository: 'bitnami/sealed-secrets-controller',
          tag: ctx.chart('sealedSecrets').appVersion?.replace(/^v/, ''),
        },
        // One small controller; its key pair is a Secret in its namespace (back it up).
        resources: {
          requests: { cpu: '10m', memory: '32Mi' },
          limits: { cpu: '200m', memory: '128Mi' },
        },
        // Restricted Pod Security: the chart's defaults, stated so a chart change cannot drop them.
        podSecurityContext: {
          enabled: true,
          fsGroup: 65534,
          seccompProfile: { type: 'RuntimeDefault' },
        },
        containerSecurityContext: {
          enabled: true,
          readOnlyRootFilesystem: true,
          runAsNonRoot: true,
          runAsUser: 1001,
          allowPrivilegeEscalation: false,
          capabilities: { drop: ['ALL'] },
        },
        // Only the certificate is public (kubeseal --fetch-cert); no ingress to the controller.
        ingress: { enabled: false },
        metrics: { serviceMonitor: { enabled: false } },
      },
      description:
        "Sealed Secrets: unseals the agents' SealedSecrets (committed encrypted to its key) into Secrets",
    },
  ];
}

/** The Alertmanager release's name: the prometheus chart's subchart, `<release>-alertmanager`. */
export const ALERTMANAGER_RELEASE = `${PROMETHEUS_RELEASE}-alertmanager`;
/** The one receiver of the generated Alertmanager config: the monitor's events port. */
export const ALERTMANAGER_RECEIVER = 'monitor';
/**
 * The labels Alertmanager groups by: one notification per target (the liveness rule's labels,
 * platform/liveness.ts), never a batch of several tenants' targets.
 */
export const ALERTMANAGER_GROUP_BY = ['alertname', 'tenant', 'kind', 'id'] as const;
/**
 * The subchart's smallest volume (its values.yaml default): silences and the notification log
 * of one receiver take kilobytes.
 */
export const ALERTMANAGER_STORAGE = '50Mi';

/**
 * Alertmanager's values in the prometheus chart (its `alertmanager` subchart's values.yaml):
 * the pinned image, restricted Pod Security, a sidecar of its own so its webhook reaches the
 * monitor with its mesh identity, and the config of {@link alertmanagerConfig}. NOTE (8)
 */
export function alertmanagerValues(ctx: PlatformContext): HelmValues {
  const { res } = sizing(ctx);
  const image = ctx.imageSpec('alertmanager');
  const storageClass = ctx.config.storage.storageClass;
  const user = 65534; // `nobody`, the image's user
  return {
    enabled: true,
    image: { repository: image.repository, tag: image.tag },
    replicaCount: 1,
    resources: res('alertmanager'),
    // It calls no Kubernetes API.
    automountServiceAccountToken: false,
    // The registry's `sidecar: true`, which the budget counts.
    podLabels: { 'sidecar.istio.io/inject': String(component('alertmanager').sidecar === true) },
    podSecurityContext: {
      runAsNonRoot: true,
      runAsUser: user,
      runAsGroup: user,
      fsGroup: user,
      seccompProfile: { type: 'RuntimeDefault' },
    },
    securityContext: {
      runAsNonRoot: true,
      runAsUser: user,
      runAsGroup: user,
      allowPrivilegeEscalation: false,
      readOnlyRootFilesystem: true,
      capabilities: { drop: ['ALL'] },
      seccompProfile: { type: 'RuntimeDefault' },
    },
    persistence: {
      enabled: true,
      size: ALERTMANAGER_STORAGE,
      ...(storageClass ? { storageClass } : {}),
    },
    config: alertmanagerConfig(ctx),
  };
}

/**
 * Alertmanager's configuration (alertmanager.yml): every alert to one webhook receiver, the
 * monitor's {@link ALERTMANAGER_RECEIVER_PATH} on its events port, grouped per target, with
 * the resolved notifications too (the monitor pairs them with the firing ones).
 * @see https://prometheus.io/docs/alerting/latest/configuration/#webhook_config
 */
export function alertmanagerConfig(ctx: PlatformContext): HelmValues {
  return {
    global: {},
    templates: [],
    route: {
      receiver: ALERTMANAGER_RECEIVER,
      group_by: [...ALERTMANAGER_GROUP_BY],
      // The monitor already waited (three nudges) before the rule fires, and a group is one
      // target: little to batch. A change of the group (its resolution) follows within
      // group_interval.
      group_wait: '10s',
      group_interval: '30s',
      // A firing target is notified again twice a day; the monitor dedupes on the alert.
      repeat_interval: '12h',
    },
    receivers: [
      {
        name: ALERTMANAGER_RECEIVER,
        webhook_configs: [
          {
            url: `${ctx.serviceUrl('monitor', EVENTS_PORT_KEY)}${ALERTMANAGER_RECEIVER_PATH}`,
            send_resolved: true,
          },
        ],
      },
    ],
  };
}

/**
 * `hub` and `tag` of a chart's images from its pin (`imageHub`; the tag is its appVersion,
 * else its version), or nothing when the pin leaves them to the chart. NOTE (6)
 */
function chartImages(ctx: PlatformContext, id: ChartId): { hub?: string; tag?: string } {
  const spec = ctx.chart(id);
  return spec.imageHub === undefined
    ? {}
    : { hub: spec.imageHub, tag: spec.appVersion ?? spec.version };
}

/** Argo CD's own values; the bootstrap `helm install` uses the same. */
export function argoCdValues(ctx: PlatformContext): HelmValues {
  const { res, replicas } = sizing(ctx);
  const fleetPlugin = fleetPluginChartValues(ctx);
  return {
    global: { domain: ctx.config.ingress.host },
    crds: { install: true, keep: true },
    configs: {
      cm: {
        url: `${ctx.publicUrl}${ctx.routePrefix('argocdServer')}`,
        'application.resourceTrackingMethod': 'annotation',
        'exec.enabled': false,
        // The local admin stays as break-glass; people log in through Keycloak.
        'admin.enabled': true,
        'oidc.config': argoCdOidc(ctx)['oidc.config'],
        'timeout.reconciliation': '180s',
        // Let app-of-apps sync waves wait for child Applications to be healthy. NOTE (5)
        'resource.customizations.health.argoproj.io_Application': APPLICATION_HEALTH_LUA,
      },
      params: {
        // TLS ends at the Istio gateway; Argo CD is served under /argocd.
        'server.insecure': true,
        'server.basehref': ctx.routePrefix('argocdServer'),
        'server.rootpath': ctx.routePrefix('argocdServer'),
      },
      rbac: argoCdOidc(ctx).rbac,
      // The fleet's Config Management Plugin configuration (ConfigMap argocd-cmp-cm).
      cmp: fleetPlugin.cmp,
    },
    dex: { enabled: false },
    notifications: { enabled: false },
    // The chart always deploys the ApplicationSet controller (argo-helm#2688): size it.
    applicationSet: {
      replicas: replicas('argocdApplicationSet'),
      resources: res('argocdApplicationSet'),
    },
    controller: { replicas: replicas('argocdController'), resources: res('argocdController') },
    server: { replicas: replicas('argocdServer'), resources: res('argocdServer') },
    repoServer: {
      replicas: replicas('argocdRepoServer'),
      resources: res('argocdRepoServer'),
      // The fleet plugin's sidecar, which renders fleet/ (fleet-plugin.ts).
      extraContainers: fleetPlugin.extraContainers,
      volumes: fleetPlugin.volumes,
    },
    redis: { resources: res('argocdRedis') },
  };
}

/**
 * Envoy access log fields (JSON): request, tenant and correlator, no query string. The
 * correlator is the client's, else the one the backend answered with (Orion and the
 * provisioning service give every request one), as the local stack's gateway logs it.
 */
const ACCESS_LOG_FORMAT = `${JSON.stringify({
  start_time: '%START_TIME%',
  method: '%REQ(:METHOD)%',
  path: '%REQ_WITHOUT_QUERY(X-ENVOY-ORIGINAL-PATH?:PATH)%',
  protocol: '%PROTOCOL%',
  response_code: '%RESPONSE_CODE%',
  response_flags: '%RESPONSE_FLAGS%',
  bytes_received: '%BYTES_RECEIVED%',
  bytes_sent: '%BYTES_SENT%',
  duration_ms: '%DURATION%',
  upstream_cluster: '%UPSTREAM_CLUSTER%',
  authority: '%REQ(:AUTHORITY)%',
  fiware_service: '%REQ(FIWARE-SERVICE)%',
  fiware_correlator: '%REQ(FIWARE-CORRELATOR)%',
  fiware_correlator_reply: '%RESP(FIWARE-CORRELATOR)%',
  request_id: '%REQ(X-REQUEST-ID)%',
  user_agent: '%REQ(USER-AGENT)%',
})}\n`;

/** Health of child Applications, as Argo CD assessed it before v1.8. */
const APPLICATION_HEALTH_LUA = [
  'hs = {}',
  'hs.status = "Progressing"',
  'hs.message = ""',
  'if obj.status ~= nil then',
  '  if obj.status.health ~= nil then',
  '    hs.status = obj.status.health.status',
  '    if obj.status.health.message ~= nil then',
  '      hs.message = obj.status.health.message',
  '    end',
  '  end',
  'end',
  'return hs',
  '',
].join('\n');

// NOTE
// 1. istio-cni in kube-system. The CNI node agent writes the node's CNI configuration and
//    enters pod network namespaces, so it runs as root with NET_ADMIN and SYS_ADMIN. That is
//    the one privileged workload of the platform, and it exists so that no application pod
//    needs the istio-init container's NET_ADMIN: the platform namespaces can then enforce
//    the restricted Pod Security level. kube-system is privileged by convention, so the
//    agent does not widen istio-system's level.
//    See https://istio.io/latest/docs/setup/additional-setup/cni/
// 2. Remote JWKS through Envoy. istiod would fetch the JWKS from Keycloak's Service in
//    plaintext, which STRICT mTLS in the identity namespace refuses. With `envoy` the
//    gateway's proxy fetches it over the mesh, as an ordinary mTLS client of Keycloak.
//    See https://istio.io/latest/docs/reference/commands/pilot-discovery/ (PILOT_JWT_ENABLE_REMOTE_JWKS)
// 3. Path normalisation. DECODE_AND_MERGE_SLASHES decodes %2F and %5C and merges repeated
//    slashes before routing and authorization, so encoded or doubled slashes cannot make a
//    protected path look like a public one (the default BASE only resolves . and ..).
//    See https://istio.io/latest/docs/reference/config/security/normalization/
// 4. Kiali signing key. The kiali-server chart generates a random session signing key at
//    every render when none is given; the key must not be in git, so the Application
//    ignores that Secret's data after the first sync (ignoreDifferences) instead.
// 5. Application health. Argo CD stopped assessing the health of Application resources in
//    1.8, so sync waves of an app-of-apps would not wait for a child to be healthy; this is
//    the documented customization that restores it.
//    See https://argo-cd.readthedocs.io/en/stable/operator-manual/upgrading/1.7-1.8/
// 6. Istio image hub and tag. The released charts default to docker.io/istio and their own
//    release, but the charts' sources (and any build but a release build) default to the
//    testing hub registry.istio.io/testing with tag `latest`; setting both from the pin keeps
//    the images pinned in one place whatever chart build renders them, and is what lets
//    testing/test/helm-charts.test.ts check the rendered images against the pin.
// 7. Sealed Secrets in kube-system, wave -5. kubeseal and the controller default to
//    kube-system/sealed-secrets-controller; keeping them means `kubeseal --fetch-cert` works
//    without flags. The infrastructure project already allows kube-system (istio-cni). The
//    controller must be running before an agent's Deployment references the Secret it unseals;
//    the agents are rendered after every layer, so wave -5 (with the mesh add-ons) is early
//    enough. See docs/agents-as-code.md for the key's backup and rotation.
// 8. Alertmanager. It comes with the prometheus chart (its `alertmanager` subchart, values
//    checked against the subchart's values.yaml and the chart's templates/cm.yaml): enabled,
//    the chart adds an `alerting` section that finds its pod (role pod, the release's
//    namespace and instance, port 9093), so Prometheus sends the rule file's alerts there in
//    plaintext (the mesh namespace is not STRICT). Its one receiver is the monitor's events
//    port, a meshed workload behind STRICT mTLS and an ALLOW policy, so Alertmanager needs a
//    mesh identity: a pod label asks istiod for a sidecar (as the local git server does,
//    local-git.ts NOTE 1), and the monitor's policy admits its ServiceAccount
//    (`prometheus-alertmanager`, the registry's `serviceAccount`) on that one path
//    (platform/components.ts, `calls` of `alertmanager`). One replica: no gossip cluster, no
//    second notification. Its volume is the subchart's smallest, 50Mi.
//    See https://prometheus.io/docs/alerting/latest/configuration/
