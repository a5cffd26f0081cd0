import { readFileSync } from 'node:fs';
import { join } from 'node:path';

import { CHART_IDS, IMAGE_IDS } from '../components.js';
import {
  CONFIG_ERRORS,
  ConfigError,
  parsePlatformConfig,
  quantityBytes,
} from '../config/schema.js';
import type { ConfigErrorCode } from '../config/schema.js';
import { ROOT, configInput, pinnedConfigInput } from '../../testing/support/synth.js';

/** Parses a modified copy of the repository config and returns the error it raises. */
function errorFor(change: (c: any) => void): ConfigError {
  const c = pinnedConfigInput();
  change(c);
  try {
    parsePlatformConfig(c);
  } catch (err) {
    if (err instanceof ConfigError) return err;
    throw err;
  }
  throw new Error('expected the config to be rejected');
}

describe('platform config', () => {
  it('accepts the repository config', () => {
    const config = parsePlatformConfig(configInput());
    expect(config.tenants.map((t) => t.name)).toEqual(['manufracture', 'smithereens']);
    expect(config.profile).toBe('laptop');
  });

  // One invalid value per documented error: [code, path the message names, the change].
  const cases: [ConfigErrorCode, string, (c: any) => void][] = [
    ['ERR_CONFIG_UNKNOWN_KEY', 'ingress.hots', (c) => (c.ingress.hots = 'x')],
    ['ERR_CONFIG_TYPE', 'ingress.tls', (c) => (c.ingress.tls = 'yes')],
    ['ERR_CONFIG_TYPE', 'identity', (c) => delete c.identity],
    ['ERR_CONFIG_REPO_URL', 'gitops.repoURL', (c) => (c.gitops.repoURL = 'github.com/me/fork')],
    [
      'ERR_CONFIG_REPO_URL',
      'gitops.repoURL',
      (c) => (c.gitops.repoURL = 'http://github.com/me/fork.git'),
    ],
    [
      'ERR_CONFIG_REVISION',
      'gitops.targetRevision',
      (c) => (c.gitops.targetRevision = 'my branch'),
    ],
    [
      'ERR_CONFIG_REPO_URL',
      'gitops.repoURL',
      (c) => (c.gitops.repoURL = 'git://gitops-repo.argocd.svc.cluster.local/other.git'),
    ],
    [
      'ERR_CONFIG_KUBERNETES_VERSION',
      'cluster.kubernetesVersion',
      (c) => (c.cluster.kubernetesVersion = '1.36'),
    ],
    [
      'ERR_CONFIG_KUBERNETES_VERSION',
      'cluster.kubernetesVersion',
      (c) => (c.cluster.kubernetesVersion = 'v1.36.3-rc.1'),
    ],
    ['ERR_CONFIG_HOST', 'ingress.host', (c) => (c.ingress.host = 'https://kitt4sme.localhost')],
    ['ERR_CONFIG_HOST', 'ingress.host', (c) => (c.ingress.host = 'Kitt4SME.local')],
    ['ERR_CONFIG_NAMESPACE', 'namespaces.platform', (c) => (c.namespaces.platform = 'FIWARE')],
    ['ERR_CONFIG_NAMESPACE', 'namespaces.platform', (c) => (c.namespaces.platform = 'kube-system')],
    [
      'ERR_CONFIG_NAMESPACE',
      'namespaces.identity',
      (c) => (c.namespaces.identity = c.namespaces.platform),
    ],
    ['ERR_CONFIG_TENANTS_EMPTY', 'tenants', (c) => (c.tenants = [])],
    ['ERR_CONFIG_TENANT_NAME', 'tenants[1].name', (c) => (c.tenants[1].name = 'Smithereens')],
    ['ERR_CONFIG_TENANT_NAME', 'tenants[0].name', (c) => (c.tenants[0].name = 'manu-fracture')],
    ['ERR_CONFIG_TENANT_NAME', 'tenants[0].name', (c) => (c.tenants[0].name = 'a'.repeat(51))],
    [
      'ERR_CONFIG_DISPLAY_NAME',
      'tenants[0].displayName',
      (c) => (c.tenants[0].displayName = 'Manu ${KC_DB_PASSWORD}'),
    ],
    [
      'ERR_CONFIG_TENANT_DUPLICATE',
      'tenants[2].name',
      (c) => c.tenants.push({ name: 'smithereens' }),
    ],
    ['ERR_CONFIG_PROFILE', 'profile', (c) => (c.profile = 'huge')],
    [
      'ERR_CONFIG_SERVICE_PATH',
      'tenants[0].servicePaths[0]',
      (c) => (c.tenants[0].servicePaths = ['floor1']),
    ],
    [
      'ERR_CONFIG_SERVICE_PATH',
      'tenants[0].servicePaths[1]',
      (c) => (c.tenants[0].servicePaths = ['/floor1', '/floor-2']),
    ],
    ['ERR_CONFIG_SERVICE_PATH', 'tenants[0].servicePaths', (c) => (c.tenants[0].servicePaths = [])],
    [
      'ERR_CONFIG_STORAGE_CLASS',
      'storage.storageClass',
      (c) => (c.storage.storageClass = 'Fast SSD'),
    ],
    ['ERR_CONFIG_STORAGE_SIZE', 'storage.sizes.cratedb', (c) => (c.storage.sizes.cratedb = '10GB')],
    [
      'ERR_CONFIG_STORAGE_TOO_SMALL',
      'storage.sizes.mongodb',
      (c) => (c.storage.sizes.mongodb = '100Mi'),
    ],
    ['ERR_CONFIG_BACKUP_SCHEDULE', 'backup.schedule', (c) => (c.backup.schedule = 'nightly')],
    ['ERR_CONFIG_BACKUP_SCHEDULE', 'backup.schedule', (c) => (c.backup.schedule = '30 2 * *')],
    ['ERR_CONFIG_BACKUP_SCHEDULE', 'backup.schedule', (c) => (c.backup.schedule = '30 24 * * *')],
    ['ERR_CONFIG_BACKUP_SCHEDULE', 'backup.schedule', (c) => (c.backup.schedule = '*/0 2 * * *')],
    ['ERR_CONFIG_BACKUP_SCHEDULE', 'backup.schedule', (c) => (c.backup.schedule = '0 5-2 * * *')],
    ['ERR_CONFIG_AGENTS_QUOTA', 'agents.quota.pods', (c) => (c.agents.quota.pods = 0)],
    [
      'ERR_CONFIG_AGENTS_QUOTA',
      'agents.defaultResources.memoryLimitMi',
      (c) => (c.agents.defaultResources.memoryLimitMi = c.agents.quota.limitsMemoryMi + 1),
    ],
    [
      'ERR_CONFIG_AGENTS_QUOTA',
      'agents.defaultResources.cpuRequestMilli',
      (c) =>
        (c.agents.defaultResources.cpuRequestMilli = c.agents.defaultResources.cpuLimitMilli + 1),
    ],
    ['ERR_CONFIG_BACKUP_KEEP', 'backup.keep', (c) => (c.backup.keep = 0)],
    ['ERR_CONFIG_BACKUP_KEEP', 'backup.keep', (c) => (c.backup.keep = 2.5)],
    ['ERR_CONFIG_BACKUP_KEEP', 'backup.keep', (c) => (c.backup.keep = '7')],
    ['ERR_CONFIG_TIME_ZONE', 'backup.timeZone', (c) => (c.backup.timeZone = 'CET+1 ')],
    [
      'ERR_CONFIG_STORAGE_CLASS',
      'backup.storageClass',
      (c) => (c.backup.storageClass = 'NFS share'),
    ],
    ['ERR_CONFIG_STORAGE_SIZE', 'backup.sizes.mongodb', (c) => (c.backup.sizes.mongodb = '10G')],
    [
      'ERR_CONFIG_STORAGE_TOO_SMALL',
      'backup.sizes.keycloakPostgres',
      (c) => (c.backup.sizes.keycloakPostgres = '100Mi'),
    ],
    ['ERR_CONFIG_REALM', 'identity.realm', (c) => (c.identity.realm = 'KITT4SME realm')],
    [
      'ERR_CONFIG_IMAGE_REPOSITORY',
      'images.orion.repository',
      (c) => (c.images.orion.repository = 'Fiware/Orion:4'),
    ],
    ['ERR_CONFIG_IMAGE_TAG', 'images.grafana.tag', (c) => (c.images.grafana.tag = 'latest')],
    ['ERR_CONFIG_IMAGE_TAG', 'images.mongodb.tag', (c) => (c.images.mongodb.tag = '8')],
    ['ERR_CONFIG_IMAGE_TAG', 'images.opa.tag', (c) => (c.images.opa.tag = '')],
    ['ERR_CONFIG_CHART_VERSION', 'charts.istio.version', (c) => (c.charts.istio.version = '1.31')],
    [
      'ERR_CONFIG_CHART_VERSION',
      'charts.kiali.version',
      (c) => (c.charts.kiali.version = '^2.31.0'),
    ],
    [
      'ERR_CONFIG_CHART_REPO',
      'charts.jaeger.repoURL',
      (c) => (c.charts.jaeger.repoURL = 'http://jaeger.example'),
    ],
    ['ERR_CONFIG_WHY', 'images.keycloak.why', (c) => (c.images.keycloak.why = '')],
  ];

  it.each(cases)('fails with %s at %s', (code, path, change) => {
    const err = errorFor(change);
    expect(err.code).toBe('ERR_CONFIG_INVALID');
    expect(err.issues).toEqual([expect.objectContaining({ code, path })]);
    // The message names the field, says what is wrong and how to fix it, with the code.
    const spec = CONFIG_ERRORS[code];
    expect(err.message).toContain(`${path}: ${spec.problem}`);
    expect(err.message).toContain(`Fix: ${spec.fix}. [${code}]`);
  });

  it('covers every documented config error with a failing case', () => {
    const covered = new Set(cases.map(([code]) => code));
    expect([...covered].sort()).toEqual(Object.keys(CONFIG_ERRORS).sort());
  });

  it('reports every problem at once, not only the first', () => {
    const err = errorFor((c) => {
      c.profile = 'huge';
      c.tenants[0].name = 'Bad Name';
      c.images.orion.tag = 'latest';
    });
    expect(err.issues.map((i) => i.code).sort()).toEqual([
      'ERR_CONFIG_IMAGE_TAG',
      'ERR_CONFIG_PROFILE',
      'ERR_CONFIG_TENANT_NAME',
    ]);
  });

  it('shows the offending value in the message', () => {
    expect(errorFor((c) => (c.ingress.host = 'bad host')).message).toContain('(got "bad host")');
  });

  it('names the earlier tenant a duplicate collides with', () => {
    const err = errorFor((c) => c.tenants.push({ name: 'manufracture' }));
    expect(err.issues[0]).toMatchObject({
      code: 'ERR_CONFIG_TENANT_DUPLICATE',
      detail: 'tenants[0] has the same name',
    });
  });

  it('accepts a digest as a pinned tag and null as the default storage class', () => {
    const c = pinnedConfigInput();
    c.images.opa.tag = `sha256:${'a'.repeat(64)}`;
    c.storage.storageClass = null;
    expect(() => parsePlatformConfig(c)).not.toThrow();
  });

  it('accepts the schedules a CronJob takes, and any IANA time zone name', () => {
    for (const schedule of ['30 2 * * *', '@daily', '0 */6 * * 1-5', '15,45 1,13 1 1-12/3 0,7']) {
      const c = pinnedConfigInput();
      c.backup.schedule = schedule;
      c.backup.timeZone = 'America/Argentina/Buenos_Aires';
      expect(parsePlatformConfig(c).backup.schedule).toBe(schedule);
    }
  });

  it('converts binary quantities', () => {
    expect(quantityBytes('512Mi')).toBe(512 * 2 ** 20);
    expect(quantityBytes('10Gi')).toBe(10 * 2 ** 30);
    expect(() => quantityBytes('10GB')).toThrow(TypeError);
  });
});

describe('docs/config.md', () => {
  const doc = readFileSync(join(ROOT, 'docs', 'config.md'), 'utf8');

  /** Every leaf key path of the config, with array indices and map keys collapsed. */
  function keyPaths(value: unknown, prefix = ''): string[] {
    if (Array.isArray(value)) return keyPaths(value[0], `${prefix}[]`);
    if (value !== null && typeof value === 'object') {
      return Object.entries(value).flatMap(([k, v]) => {
        const p = prefix ? `${prefix}.${k}` : k;
        // An override is documented as a whole: `images.<id>`, `charts.<id>`.
        return prefix === 'images' || prefix === 'charts' ? [`${prefix}.<id>`] : keyPaths(v, p);
      });
    }
    return [prefix];
  }

  it('names every component and chart whose pin the config can override', () => {
    const row = (key: string) => doc.split('\n').find((l) => l.startsWith(`| \`${key}\``)) ?? '';
    for (const id of IMAGE_IDS) expect(row('images.<id>')).toContain(`\`${id}\``);
    for (const id of CHART_IDS) expect(row('charts.<id>')).toContain(`\`${id}\``);
  });

  it('documents every key of the config, the overrides of the pins included', () => {
    const missing = [...new Set(keyPaths(pinnedConfigInput()))].filter(
      (p) => !doc.includes(`\`${p}\``),
    );
    expect(missing).toEqual([]);
  });
});
