/**
 * Grafana provisioning as code: an organisation per tenant, holding that tenant's CrateDB
 * datasource (connecting as the tenant's read-only CrateDB user) and its measurements dashboard.
 *
 * QuantumLeap writes a tenant's entities of type T to the CrateDB table `mt<tenant>.et<t>`
 * (lower-cased) with `entity_id`, `time_index` and one column per attribute; the dashboard
 * discovers types, numeric attributes and devices from CrateDB's information schema, so it
 * works for any device model without being regenerated.
 */
import type { Tenant } from '../../../platform/config/schema.js';
import {
  DEVICE_HEALTH_ATTRIBUTE,
  LIVENESS_STATES,
  LIVENESS_VALUE,
} from '../../../platform/liveness.js';
import { dashboardUid as platformDashboardUid } from '../../../platform/grafana.js';
import { checksum } from '../util.js';
import { readerUser, tenantSchema } from './cratedb-users.js';

/** Grafana uids are limited to 40 characters; tenant names to 50, hence a hash. */
export function datasourceUid(tenant: Tenant): string {
  return `crate-${checksum('datasource', tenant.name)}`;
}

/** The uid of a tenant's measurements dashboard (platform/grafana.ts: the console links to it). */
export function dashboardUid(tenant: Tenant): string {
  return platformDashboardUid(tenant.name);
}

/**
 * Where a tenant's organisation is found at run time: Grafana assigns organisation ids, so the
 * provisioning names each by a file the `orgs` init container writes (grafana.ts, NOTE 1).
 */
export interface OrgRefs {
  /** The provisioning value of a tenant's organisation id, e.g. `$__file{...}`. */
  readonly orgId: (tenant: Tenant) => string;
  /** The provisioning value of a tenant's CrateDB password, e.g. `$__env{...}`. */
  readonly password: (tenant: Tenant) => string;
}

/** A provisioned Grafana datasource (file format of provisioning/datasources). */
export interface DatasourceFile {
  readonly apiVersion: 1;
  readonly prune: true;
  readonly datasources: readonly Record<string, unknown>[];
}

/**
 * The datasources file: one CrateDB datasource (PostgreSQL wire protocol) per tenant, in the
 * tenant's organisation, as the tenant's read-only user.
 */
export function datasourcesFile(
  tenants: readonly Tenant[],
  crateHostPort: string,
  refs: OrgRefs,
): DatasourceFile {
  return {
    apiVersion: 1,
    // Removes provisioned datasources of tenants that left the config.
    prune: true,
    datasources: tenants.map((t) => ({
      name: `CrateDB ${t.displayName ?? t.name}`,
      uid: datasourceUid(t),
      orgId: refs.orgId(t),
      type: 'grafana-postgresql-datasource',
      access: 'proxy',
      url: crateHostPort,
      user: readerUser(t),
      isDefault: true,
      editable: false,
      jsonData: {
        // CrateDB uses the database name as the default schema. NOTE (1)
        database: tenantSchema(t),
        sslmode: 'disable',
        postgresVersion: 1400,
        timescaledb: false,
        connMaxLifetime: 14400,
        maxOpenConns: 5,
      },
      secureJsonData: { password: refs.password(t) },
    })),
  };
}

/** Where a tenant's dashboards are, below the dashboards' mount. */
export function tenantDashboardsDir(tenant: Tenant): string {
  return tenant.name;
}

/** The dashboard providers: one per tenant, into the tenant's organisation. */
export function dashboardProvidersFile(
  tenants: readonly Tenant[],
  path: string,
  refs: Pick<OrgRefs, 'orgId'>,
): Record<string, unknown> {
  return {
    apiVersion: 1,
    providers: tenants.map((t) => ({
      name: `tenant-${t.name}`,
      orgId: refs.orgId(t),
      type: 'file',
      folder: 'KITT4SME',
      disableDeletion: true,
      allowUiUpdates: false,
      updateIntervalSeconds: 60,
      options: { path: `${path}/${tenantDashboardsDir(t)}` },
    })),
  };
}

/** A tenant's device-measurements dashboard. */
export function tenantDashboard(tenant: Tenant): Record<string, unknown> {
  const ds = { type: 'grafana-postgresql-datasource', uid: datasourceUid(tenant) };
  const schema = tenantSchema(tenant);
  const table = `"${schema}"."$entity_type"`;
  const query = (name: string, sql: string, multi: boolean) => ({
    name,
    type: 'query',
    datasource: ds,
    query: sql,
    definition: sql,
    refresh: 2,
    multi,
    includeAll: multi,
    current: {},
    sort: 1,
  });
  return {
    uid: dashboardUid(tenant),
    title: `${tenant.displayName ?? tenant.name}: device measurements`,
    description: `Measurements of tenant ${tenant.name} as QuantumLeap stores them in CrateDB (schema ${schema}).`,
    tags: ['kitt4sme', 'measurements', `tenant:${tenant.name}`],
    editable: false,
    schemaVersion: 39,
    version: 1,
    time: { from: 'now-6h', to: 'now' },
    refresh: '30s',
    templating: {
      list: [
        query(
          'entity_type',
          `SELECT table_name FROM information_schema.tables WHERE table_schema = '${schema}' AND table_name LIKE 'et%' ORDER BY 1`,
          false,
        ),
        query(
          'attribute',
          `SELECT column_name FROM information_schema.columns WHERE table_schema = '${schema}' AND table_name = '$entity_type' ` +
            `AND data_type IN ('smallint', 'integer', 'bigint', 'real', 'double precision') ORDER BY 1`,
          true,
        ),
        query('entity_id', `SELECT DISTINCT entity_id FROM ${table} ORDER BY 1`, true),
      ],
    },
    panels: [
      {
        id: 1,
        type: 'timeseries',
        title: '$attribute',
        datasource: ds,
        repeat: 'attribute',
        repeatDirection: 'h',
        maxPerRow: 2,
        gridPos: { x: 0, y: 0, w: 12, h: 9 },
        fieldConfig: {
          defaults: { custom: { drawStyle: 'line', showPoints: 'auto' } },
          overrides: [],
        },
        targets: [
          {
            refId: 'A',
            datasource: ds,
            format: 'time_series',
            rawQuery: true,
            editorMode: 'code',
            rawSql:
              `SELECT time_index AS "time", entity_id AS metric, "$attribute" AS value FROM ${table} ` +
              `WHERE $__timeFilter(time_index) AND entity_id IN ($entity_id) ORDER BY 1`,
          },
        ],
      },
      {
        id: 2,
        type: 'table',
        title: 'Devices: last measurement',
        description: 'When each entity last reported; a stale device shows an old time here.',
        datasource: ds,
        gridPos: { x: 0, y: 9, w: 24, h: 8 },
        targets: [
          {
            refId: 'A',
            datasource: ds,
            format: 'table',
            rawQuery: true,
            editorMode: 'code',
            rawSql:
              `SELECT entity_id, max(time_index) AS last_measurement, count(*) AS measurements FROM ${table} ` +
              `WHERE $__timeFilter(time_index) GROUP BY entity_id ORDER BY 2 DESC`,
          },
        ],
      },
      healthPanel(ds, table),
    ],
  };
}

/** The state colours of the liveness panel, by state. */
const HEALTH_COLOURS: Readonly<Record<(typeof LIVENESS_STATES)[number], string>> = {
  fresh: 'green',
  silent: 'yellow',
  nudged: 'orange',
  offline: 'red',
};

/**
 * The liveness monitor's verdict per device over time: the `deviceHealth` attribute it writes
 * on each watched device's entity reaches QuantumLeap like any measurement (NOTE 2). The
 * states are drawn from their gauge values (platform/liveness.ts), so the panel and the
 * monitor's Prometheus gauge read alike.
 */
function healthPanel(ds: Record<string, unknown>, table: string): Record<string, unknown> {
  const column = DEVICE_HEALTH_ATTRIBUTE.toLowerCase();
  const cases = LIVENESS_STATES.map((s) => `WHEN '${s}' THEN ${LIVENESS_VALUE[s]}`).join(' ');
  return {
    id: 3,
    type: 'state-timeline',
    title: 'Device health (liveness monitor)',
    description:
      'fresh, silent (past its expected interval), nudged (sent its ping), offline (the nudges went unanswered). Only devices with an expected interval are watched; an entity type without any has no deviceHealth column and shows no data here.',
    datasource: ds,
    gridPos: { x: 0, y: 17, w: 24, h: 8 },
    options: { showValue: 'never', mergeValues: true, rowHeight: 0.8 },
    fieldConfig: {
      defaults: {
        color: { mode: 'thresholds' },
        mappings: [
          {
            type: 'value',
            options: Object.fromEntries(
              LIVENESS_STATES.map((s, i) => [
                String(LIVENESS_VALUE[s]),
                { text: s, color: HEALTH_COLOURS[s], index: i },
              ]),
            ),
          },
        ],
      },
      overrides: [],
    },
    targets: [
      {
        refId: 'A',
        datasource: ds,
        format: 'time_series',
        rawQuery: true,
        editorMode: 'code',
        rawSql:
          `SELECT time_index AS "time", entity_id AS metric, CASE ${column} ${cases} END AS value FROM ${table} ` +
          `WHERE $__timeFilter(time_index) AND entity_id IN ($entity_id) AND ${column} IS NOT NULL ORDER BY 1`,
      },
    ],
  };
}

// NOTE
// 1. One datasource per tenant, in the tenant's organisation. CrateDB takes the PostgreSQL
//    database name as the default schema, and Grafana (12+) only reads the database from
//    jsonData.database. The datasource connects as the tenant's read-only CrateDB user, which
//    may read its own schema and nothing else (cratedb-users.ts), so an editor of one
//    tenant's dashboards cannot query another tenant's schema by editing the SQL.
//    See QuantumLeap docs/manuals/admin/grafana.md and grafana/grafana#112418.
// 2. QuantumLeap names a CrateDB column after the attribute, lower-cased (its SQL translator's
//    entity-attribute-to-column rule), hence `devicehealth`.
