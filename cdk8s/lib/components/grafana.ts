/**
 * Grafana: dashboards of the tenants' device measurements, provisioned as code, one
 * organisation per tenant.
 */
import { k8s } from 'cdk8s-plus-33';
import type { Construct } from 'constructs';
import { stringify } from 'yaml';

import type { Tenant } from '../../../platform/config/schema.js';
import type { PlatformContext } from '../../../platform/context.js';
import { crateDbReaderPasswordKey } from '../../../platform/secrets.js';
import { Workload, env, httpProbe, secretEnv } from '../workload.js';
import { checksum } from '../util.js';
import { GRAFANA_CLIENT_SECRET, grafanaOAuthEnv, grafanaOrgName } from '../identity/sso.js';
import { crateDbPasswordEnv } from './cratedb-users.js';
import type { OrgRefs } from './grafana-dashboards.js';
import {
  dashboardProvidersFile,
  datasourcesFile,
  tenantDashboard,
  tenantDashboardsDir,
} from './grafana-dashboards.js';

/** Where the provisioned dashboards are mounted. */
const DASHBOARDS_PATH = '/etc/grafana/dashboards';

/** Where the `orgs` init container leaves each tenant organisation's id, one file per tenant. */
export const ORG_IDS_PATH = '/var/run/kitt4sme/grafana-orgs';

/** The env var holding a tenant's CrateDB reader password in Grafana's container. */
export function crateDbPasswordVar(tenant: Pick<Tenant, 'name'>): string {
  return `CRATEDB_PASSWORD_${tenant.name.toUpperCase()}`;
}

/** How provisioning finds a tenant's organisation and password at run time. */
export const GRAFANA_ORG_REFS: OrgRefs = {
  orgId: (t) => `$__file{${ORG_IDS_PATH}/${t.name}}`,
  password: (t) => `$__env{${crateDbPasswordVar(t)}}`,
};

/** Where the temporary Grafana of the `orgs` init container listens (loopback only). */
const ORGS_INIT_PORT = 3001;

/**
 * The `orgs` init container's script: start Grafana on loopback without provisioning, make
 * sure every tenant's organisation exists (created when missing, never renamed or deleted),
 * write each one's id to a file named after it in `orgIdsPath`, stop. NOTE (1)
 */
export function orgsInitScript(orgs: readonly string[], orgIdsPath: string = ORG_IDS_PATH): string {
  for (const org of orgs)
    if (!/^[a-z][a-z0-9_]*$/.test(org))
      throw new TypeError(`Grafana organisation '${org}' is not a tenant name`);
  const base = `http://127.0.0.1:${ORGS_INIT_PORT}`;
  return String.raw`set -eu
base=${base}
auth="Authorization: Basic $(printf '%s:%s' "$GF_SECURITY_ADMIN_USER" "$GF_SECURITY_ADMIN_PASSWORD" | base64 | tr -d '\n')"
mkdir -p /tmp/orgs-init/provisioning
grafana server --homepath="$GF_PATHS_HOME" --config="$GF_PATHS_CONFIG" \
  cfg:server.http_addr=127.0.0.1 cfg:server.http_port=${ORGS_INIT_PORT} \
  cfg:paths.provisioning=/tmp/orgs-init/provisioning >/tmp/orgs-init/grafana.log 2>&1 &
pid=$!
trap 'kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true' EXIT
tries=0
until wget -q -O /dev/null "$base/api/health"; do
  tries=$((tries + 1))
  if [ "$tries" -gt 180 ] || ! kill -0 "$pid" 2>/dev/null; then
    echo "orgs: Grafana did not start; its log:" >&2; tail -n 40 /tmp/orgs-init/grafana.log >&2; exit 1
  fi
  sleep 1
done
org_id() {
  wget -q -O - --header "$auth" "$base/api/orgs/name/$1" 2>/dev/null | sed -n 's/^{"id":\([0-9][0-9]*\),.*/\1/p'
}
for org in ${orgs.join(' ')}; do
  id=$(org_id "$org")
  if [ -z "$id" ]; then
    if ! wget -q -O /dev/null --header "$auth" --header 'Content-Type: application/json' \
      --post-data "{\"name\":\"$org\"}" "$base/api/orgs"; then
      echo "orgs: cannot create organisation $org; is the grafana-admin Secret's password still the admin's?" >&2; exit 1
    fi
    id=$(org_id "$org")
    echo "orgs: created organisation $org (id $id)"
  fi
  if [ -z "$id" ]; then echo "orgs: no id for organisation $org" >&2; exit 1; fi
  printf '%s' "$id" >"${orgIdsPath}/$org"
done
echo "orgs: ${orgs.length} organisations ready"
`;
}

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
    const crate = `${ctx.serviceHost('cratedb')}:${ctx.port('cratedb', 'postgres')}`;
    // JSON is YAML, and serializes a hundred tenants' datasources many times faster.
    const datasources = `${JSON.stringify(datasourcesFile(tenants, crate, GRAFANA_ORG_REFS), null, 2)}\n`;
    const providers = stringify(dashboardProvidersFile(tenants, DASHBOARDS_PATH, GRAFANA_ORG_REFS));
    const dashboards = Object.fromEntries(
      tenants.map((t) => [`${t.name}.json`, `${JSON.stringify(tenantDashboard(t), null, 2)}\n`]),
    );
    const orgsScript = orgsInitScript(tenants.map(grafanaOrgName));
    const admin = [
      env('GF_SECURITY_ADMIN_USER', 'admin'),
      secretEnv('GF_SECURITY_ADMIN_PASSWORD', 'grafanaAdmin', 'password'),
    ];
    // No calls home: the mesh allows no egress, and a platform should not need any.
    const offline = [
      env('GF_ANALYTICS_REPORTING_ENABLED', false),
      env('GF_ANALYTICS_CHECK_FOR_UPDATES', false),
      env('GF_ANALYTICS_CHECK_FOR_PLUGIN_UPDATES', false),
      env('GF_NEWS_NEWS_FEED_ENABLED', false),
      env('GF_PLUGINS_PREINSTALL_DISABLED', true),
    ];
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
          orgsScript,
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
            // One directory per tenant, each its organisation's provider's.
            items: tenants.map((t) => ({
              key: `${t.name}.json`,
              path: `${tenantDashboardsDir(t)}/measurements.json`,
            })),
          },
        },
        { name: 'org-ids', emptyDir: { sizeLimit: k8s.Quantity.fromString('1Mi') } },
      ],
      initContainers: [
        {
          // Every tenant's organisation exists before Grafana reads org_mapping. NOTE (1)
          name: 'orgs',
          image: 'grafana',
          command: ['sh', '-c', orgsScript],
          env: [...admin, ...offline, env('GF_LOG_MODE', 'console')],
          resources: ctx.size('grafana').resources,
          volumeMounts: [
            { name: 'data', mountPath: '/var/lib/grafana' },
            { name: 'org-ids', mountPath: ORG_IDS_PATH },
            { name: 'tmp', mountPath: '/tmp' },
          ],
        },
      ],
      containers: [
        {
          name: 'grafana',
          image: 'grafana',
          env: [
            env('GF_SERVER_ROOT_URL', `${ctx.publicUrl}${ctx.routePrefix('grafana')}/`),
            env('GF_SERVER_SERVE_FROM_SUB_PATH', true),
            ...admin,
            env('GF_SECURITY_COOKIE_SECURE', ctx.config.ingress.tls),
            env('GF_SECURITY_DISABLE_GRAVATAR', true),
            env('GF_AUTH_ANONYMOUS_ENABLED', false),
            env('GF_USERS_ALLOW_SIGN_UP', false),
            ...offline,
            env('GF_LOG_MODE', 'console'),
            env('GF_LOG_CONSOLE_FORMAT', 'json'),
            // People log in through Keycloak; the local admin is break-glass.
            ...Object.entries(grafanaOAuthEnv(ctx)).map(([k, v]) => env(k, v)),
            secretEnv(
              GRAFANA_CLIENT_SECRET.env,
              GRAFANA_CLIENT_SECRET.secret,
              GRAFANA_CLIENT_SECRET.key,
            ),
            // Each tenant datasource's password ($__env in the provisioning file).
            ...tenants.map((t) =>
              crateDbPasswordEnv(crateDbPasswordVar(t), crateDbReaderPasswordKey(t.name)),
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
            { name: 'org-ids', mountPath: ORG_IDS_PATH, readOnly: true },
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

// NOTE
// 1. Organisations before Grafana. Grafana 12 provisions datasources and dashboards into an
//    organisation by its numeric id (orgId), refuses to start when that organisation does not
//    exist, and cannot provision organisations themselves (grafana/grafana#12119); generic
//    OAuth's org_mapping resolves organisation names once, when it starts (sso.ts, NOTE 2).
//    So the `orgs` init container runs this pod's own Grafana (the pinned image, same
//    database) on loopback with provisioning off, asks its HTTP API as the local admin for
//    each tenant's organisation by name (GET /api/orgs/name/<tenant>), creates the missing
//    ones (POST /api/orgs), writes each id to a file, and stops it; the provisioning files
//    name each organisation as `$__file{<that file>}`, which Grafana expands in provisioning
//    values (pkg/services/provisioning/values). Ids are looked up by name on every start,
//    never assumed from creation order, so a tenant's datasource cannot land in another
//    tenant's organisation. Idempotent: an existing organisation is only looked up. A new
//    tenant changes the provisioning checksum, so the pod restarts and its organisation is
//    created first. A removed tenant's organisation stays (with its people); its datasource
//    goes (prune). The admin's password is the grafana-admin Secret's: if someone changed
//    it in Grafana, the init container fails with that message rather than skip.
