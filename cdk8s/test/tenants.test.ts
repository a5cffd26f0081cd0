import { parse } from 'yaml';

import { datasourceUid, tenantDashboard } from '../lib/components/grafana-dashboards.js';
import {
  changedObjects,
  find,
  opaPolicyConfigMap,
  opaPolicyData,
  policyConfigMapOf,
  provisioningPolicyConfigMap,
  synth,
} from '../../testing/support/synth.js';

const addTenant = (name: string, displayName?: string) =>
  synth({ config: (c) => void c.tenants.push({ name, ...(displayName ? { displayName } : {}) }) });

const opaConfigMap = opaPolicyConfigMap;

describe('a tenant added to the config', () => {
  const base = synth();
  const out = addTenant('acme_works', 'ACME Works');

  it('gets a CrateDB datasource on its own schema, in its organisation, as its reader', () => {
    const file = parse(find(out, 'ConfigMap', 'grafana-datasources').data['cratedb.yaml']);
    const ds = file.datasources.find((d: any) => d.jsonData.database === 'mtacme_works');
    expect(ds).toMatchObject({
      name: 'CrateDB ACME Works',
      uid: datasourceUid({ name: 'acme_works' }),
      orgId: '$__file{/var/run/kitt4sme/grafana-orgs/acme_works}',
      type: 'grafana-postgresql-datasource',
      url: 'cratedb.fiware.svc.cluster.local:5432',
      user: 'reader_acme_works',
      secureJsonData: { password: '$__env{CRATEDB_PASSWORD_ACME_WORKS}' },
    });
    expect(file.prune).toBe(true);
  });

  it('gets a read-only CrateDB user on its schema', () => {
    const plan = JSON.parse(find(out, 'ConfigMap', 'cratedb-users').data['plan.json']);
    expect(plan.users.find((u: any) => u.name === 'reader_acme_works')).toEqual({
      name: 'reader_acme_works',
      passwordKey: 'reader-acme_works-password',
      privileges: [
        {
          class: 'SCHEMA',
          ident: 'mtacme_works',
          type: 'DQL',
          grant: 'GRANT DQL ON SCHEMA "mtacme_works" TO "reader_acme_works"',
        },
      ],
    });
  });

  it('gets a dashboard in its own organisation, querying only its schema', () => {
    const providers = parse(
      find(out, 'ConfigMap', 'grafana-dashboard-providers').data['tenants.yaml'],
    ).providers;
    expect(providers.find((p: any) => p.name === 'tenant-acme_works')).toMatchObject({
      orgId: '$__file{/var/run/kitt4sme/grafana-orgs/acme_works}',
      options: { path: '/etc/grafana/dashboards/acme_works' },
    });
    const dashboards = find(out, 'ConfigMap', 'grafana-dashboards').data;
    const dashboard = JSON.parse(dashboards['acme_works.json']);
    expect(dashboard.title).toBe('ACME Works: device measurements');
    const sql = JSON.stringify(dashboard.panels) + JSON.stringify(dashboard.templating);
    expect(sql).toContain('mtacme_works');
    expect(sql).not.toContain('mtmanufracture');
    expect(
      dashboard.panels.every(
        (p: any) => p.datasource.uid === datasourceUid({ name: 'acme_works' }),
      ),
    ).toBe(true);
    // The liveness panel: the monitor's deviceHealth, as QuantumLeap stores it (lower-cased
    // column), each state drawn at its gauge value and named and coloured by a mapping.
    const health = dashboard.panels.find((p: any) => p.type === 'state-timeline');
    const healthSql: string = health.targets[0].rawSql;
    expect(healthSql).toContain('FROM "mtacme_works"."$entity_type"');
    expect(healthSql).toMatch(
      /CASE devicehealth WHEN 'fresh' THEN 0 WHEN 'silent' THEN 1 WHEN 'nudged' THEN 2 WHEN 'offline' THEN 3 END AS value/,
    );
    expect(healthSql).toContain('devicehealth IS NOT NULL');
    const mapping = health.fieldConfig.defaults.mappings[0].options;
    expect(
      Object.fromEntries(Object.entries(mapping).map(([v, m]: [string, any]) => [v, m.text])),
    ).toEqual({
      '0': 'fresh',
      '1': 'silent',
      '2': 'nudged',
      '3': 'offline',
    });
    expect(mapping['3'].color).toBe('red');
    const volume = find(out, 'StatefulSet', 'grafana').spec.template.spec.volumes.find(
      (v: any) => v.name === 'dashboards',
    );
    expect(volume.configMap.items).toContainEqual({
      key: 'acme_works.json',
      path: 'acme_works/measurements.json',
    });
  });

  it('appears in the OPA policy data', () => {
    const data = opaPolicyData(out);
    expect(data.tenants).toEqual(['manufracture', 'smithereens', 'acme_works']);
  });

  it("changes exactly Grafana, its provisioning, CrateDB users, OPA, the provisioning service, the realm and the platform and identity namespaces' fences, and nothing else", () => {
    expect(changedObjects(base, out)).toEqual(
      [
        // The fleet's project may place agents in the new tenant's agents namespace.
        'AppProject/argocd/fleet',
        // Its CrateDB reader; the reconciler follows the ConfigMap, CrateDB does not restart.
        'ConfigMap/fiware/cratedb-users',
        `ConfigMap/fiware/${opaConfigMap(base).metadata.name}`,
        `ConfigMap/fiware/${opaConfigMap(out).metadata.name}`,
        'ConfigMap/fiware/grafana-dashboard-providers',
        'ConfigMap/fiware/grafana-dashboards',
        'ConfigMap/fiware/grafana-datasources',
        'Deployment/fiware/opa',
        // The provisioning service decides in-process with the same policy data as OPA.
        `ConfigMap/fiware/${provisioningPolicyConfigMap(base).metadata.name}`,
        `ConfigMap/fiware/${provisioningPolicyConfigMap(out).metadata.name}`,
        'Deployment/fiware/provisioning',
        // So does the fleet service, which may read the tenant's agents (a Role in their
        // namespace), in a project that lets its layer place the Role there.
        `ConfigMap/fiware/${policyConfigMapOf(base, 'fleet').metadata.name}`,
        `ConfigMap/fiware/${policyConfigMapOf(out, 'fleet').metadata.name}`,
        'Deployment/fiware/fleet',
        'Role/agents-acme-works/fleet-reader',
        'RoleBinding/agents-acme-works/fleet-reader',
        'AppProject/argocd/fleet-service',
        // And the monitor, which watches every tenant of its policy data.
        `ConfigMap/fiware/${policyConfigMapOf(base, 'monitor').metadata.name}`,
        `ConfigMap/fiware/${policyConfigMapOf(out, 'monitor').metadata.name}`,
        'Deployment/fiware/monitor',
        // The realm gains the tenant's group and clients; Keycloak their secrets' env.
        'ConfigMap/identity/keycloak-realm',
        'Deployment/identity/keycloak',
        // The pod template carries a checksum of the provisioning, so Grafana restarts.
        'StatefulSet/fiware/grafana',
        // The platform namespace admits the tenant's agents namespace (agents-<tenant>), and so
        // does Keycloak's (the agents' tokens).
        'NetworkPolicy/fiware/mesh-peers-only',
        'NetworkPolicy/identity/mesh-peers-only',
      ].sort(),
    );
  });

  it('rolls Grafana through the provisioning checksum', () => {
    const checksum = (o: ReturnType<typeof synth>) =>
      find(o, 'StatefulSet', 'grafana').spec.template.metadata.annotations[
        'kitt4sme.io/provisioning-checksum'
      ];
    expect(checksum(out)).not.toBe(checksum(base));
  });
});

describe('tenant dashboards', () => {
  it('use the display name when there is one, the name otherwise', () => {
    expect(tenantDashboard({ name: 'plain' }).title).toBe('plain: device measurements');
  });

  it('get distinct, stable uids of at most 40 characters even for the longest names', () => {
    const long = 'a'.repeat(50);
    const uid = (tenantDashboard({ name: long }) as { uid: string }).uid;
    expect(uid.length).toBeLessThanOrEqual(40);
    expect(datasourceUid({ name: long }).length).toBeLessThanOrEqual(40);
    expect(uid).toBe((tenantDashboard({ name: long }) as { uid: string }).uid);
    expect(uid).not.toBe((tenantDashboard({ name: `${'a'.repeat(49)}b` }) as { uid: string }).uid);
  });
});

describe('a hundred tenants', () => {
  it('still fit the Grafana and CrateDB users ConfigMaps (1 MiB each)', () => {
    const out = synth({
      config: (c) => {
        c.tenants = Array.from({ length: 100 }, (_, i) => ({
          name: `tenant_${String(i).padStart(3, '0')}`,
        }));
      },
    });
    for (const name of ['grafana-dashboards', 'grafana-datasources', 'cratedb-users']) {
      const size = Buffer.byteLength(JSON.stringify(find(out, 'ConfigMap', name).data));
      expect(size).toBeLessThan(1024 * 1024);
    }
  });
});
