/**
 * Grafana: dashboards of the tenants' device measurements, provisioned as code.
 */
import { k8s } from 'cdk8s-plus-33';
import type { Construct } from 'constructs';
import { stringify } from 'yaml';

import type { PlatformContext } from '../../../platform/context.js';
import { Workload, env, httpProbe, secretEnv } from '../workload.js';
import { checksum } from '../util.js';
import { GRAFANA_CLIENT_SECRET, grafanaOAuthEnv } from '../identity/sso.js';
import { dashboardProvidersFile, datasourcesFile, tenantDashboard } from './grafana-dashboards.js';

/** Where the provisioned dashboards are mounted. */
const DASHBOARDS_PATH = '/etc/grafana/dashboards';

/** Props of {@link Grafana}. */
export interface GrafanaProps {
  readonly context: PlatformContext;
}

/** Grafana with one CrateDB datasource and one measurements dashboard per tenant. */
export class Grafana extends Workload<'grafana'> {
  constructor(scope: Construct, id: string, props: GrafanaProps) {
    const ctx = props.context;
    const ui = ctx.port('grafana', 'ui');
    const tenants = ctx.config.tenants;
    // JSON is YAML, and serializes a hundred tenants' datasources many times faster.
    const datasources = `${JSON.stringify(
      datasourcesFile(tenants, `${ctx.serviceHost('cratedb')}:${ctx.port('cratedb', 'postgres')}`),
      null,
      2,
    )}\n`;
    const providers = stringify(dashboardProvidersFile(DASHBOARDS_PATH));
    const dashboards = Object.fromEntries(
      tenants.map((t) => [`${t.name}.json`, `${JSON.stringify(tenantDashboard(t), null, 2)}\n`]),
    );
    super(scope, id, {
      context: ctx,
      service: 'grafana',
      kind: 'StatefulSet',
      runAs: { user: 472, group: 472 },
      persistentVolumes: [{ name: 'data', size: ctx.config.storage.sizes.grafana }],
      podAnnotations: {
        // Datasources are read at start only: a changed file must restart Grafana.
        'kitt4sme.io/provisioning-checksum': checksum(
          datasources,
          providers,
          ...Object.values(dashboards),
        ),
        'prometheus.io/scrape': 'true',
        'prometheus.io/port': String(ui),
        'prometheus.io/path': '/metrics',
      },
      volumes: [
        { name: 'datasources', configMap: { name: 'grafana-datasources' } },
        { name: 'providers', configMap: { name: 'grafana-dashboard-providers' } },
        {
          name: 'dashboards',
          configMap: {
            name: 'grafana-dashboards',
            // One directory per tenant: the provider turns each into a folder.
            items: tenants.map((t) => ({
              key: `${t.name}.json`,
              path: `${t.name}/measurements.json`,
            })),
          },
        },
      ],
      containers: [
        {
          name: 'grafana',
          image: 'grafana',
          env: [
            env('GF_SERVER_ROOT_URL', `${ctx.publicUrl}${ctx.routePrefix('grafana')}/`),
            env('GF_SERVER_SERVE_FROM_SUB_PATH', true),
            env('GF_SECURITY_ADMIN_USER', 'admin'),
            secretEnv('GF_SECURITY_ADMIN_PASSWORD', 'grafanaAdmin', 'password'),
            env('GF_SECURITY_COOKIE_SECURE', ctx.config.ingress.tls),
            env('GF_SECURITY_DISABLE_GRAVATAR', true),
            env('GF_AUTH_ANONYMOUS_ENABLED', false),
            env('GF_USERS_ALLOW_SIGN_UP', false),
            // No calls home: the mesh allows no egress, and a platform should not need any.
            env('GF_ANALYTICS_REPORTING_ENABLED', false),
            env('GF_ANALYTICS_CHECK_FOR_UPDATES', false),
            env('GF_ANALYTICS_CHECK_FOR_PLUGIN_UPDATES', false),
            env('GF_NEWS_NEWS_FEED_ENABLED', false),
            env('GF_PLUGINS_PREINSTALL_DISABLED', true),
            env('GF_LOG_MODE', 'console'),
            env('GF_LOG_CONSOLE_FORMAT', 'json'),
            // People log in through Keycloak; the local admin is break-glass.
            ...Object.entries(grafanaOAuthEnv(ctx)).map(([k, v]) => env(k, v)),
            secretEnv(
              GRAFANA_CLIENT_SECRET.env,
              GRAFANA_CLIENT_SECRET.secret,
              GRAFANA_CLIENT_SECRET.key,
            ),
          ],
          ports: ['ui'],
          // Grafana answers /api/health on any prefix, sub-path or not.
          readinessProbe: httpProbe('/api/health', ui, { periodSeconds: 10 }),
          livenessProbe: httpProbe('/api/health', ui, { periodSeconds: 20, failureThreshold: 6 }),
          startupProbe: httpProbe('/api/health', ui, { periodSeconds: 3, failureThreshold: 60 }),
          writableTmp: true,
          volumeMounts: [
            { name: 'data', mountPath: '/var/lib/grafana' },
            {
              name: 'datasources',
              mountPath: '/etc/grafana/provisioning/datasources',
              readOnly: true,
            },
            {
              name: 'providers',
              mountPath: '/etc/grafana/provisioning/dashboards',
              readOnly: true,
            },
            { name: 'dashboards', mountPath: DASHBOARDS_PATH, readOnly: true },
          ],
        },
      ],
    });

    const meta = (name: string) => ({
      name,
      namespace: this.namespace,
      labels: { app: this.name },
    });
    new k8s.KubeConfigMap(this, 'Datasources', {
      metadata: meta('grafana-datasources'),
      data: { 'cratedb.yaml': datasources },
    });
    new k8s.KubeConfigMap(this, 'DashboardProviders', {
      metadata: meta('grafana-dashboard-providers'),
      data: { 'tenants.yaml': providers },
    });
    new k8s.KubeConfigMap(this, 'Dashboards', {
      metadata: meta('grafana-dashboards'),
      data: dashboards,
    });
  }
}
