/**
 * Keycloak and its PostgreSQL: single sign-on for people and the tokens the tenancy policy
 * reads. The realm (platform/realm.ts) is imported at the first start.
 */
import { k8s } from 'cdk8s-plus-33';
import type { Construct } from 'constructs';

import type { PlatformContext } from '../../../platform/context.js';
import { buildRealm } from '../../../platform/realm.js';
import { KEYCLOAK_REALM_SECRET } from '../../../platform/secrets.js';
import { Workload, env, execProbe, httpProbe, secretEnv } from '../workload.js';

/** The ConfigMap holding the realm file. */
const REALM_CONFIG_MAP = 'keycloak-realm';

/** Where Keycloak's `--import-realm` reads realm files from. */
export const REALM_IMPORT_DIR = '/opt/keycloak/data/import';

/** The management port (health and metrics); not exposed through the Service. */
const MANAGEMENT_PORT = 9000;

/** Keycloak's database and its user (the image's POSTGRES_DB and POSTGRES_USER). */
export const KEYCLOAK_DB = { name: 'keycloak', user: 'keycloak' } as const;
const DB_NAME = KEYCLOAK_DB.name;
const DB_USER = KEYCLOAK_DB.user;

/** Props of {@link KeycloakPostgres}. */
export interface KeycloakPostgresProps {
  readonly context: PlatformContext;
}

/** PostgreSQL for Keycloak: one StatefulSet member with a persistent volume. */
export class KeycloakPostgres extends Workload<'keycloakPostgres'> {
  constructor(scope: Construct, id: string, props: KeycloakPostgresProps) {
    const ctx = props.context;
    const port = String(ctx.port('keycloakPostgres', 'db'));
    const ready = ['pg_isready', '-U', DB_USER, '-d', DB_NAME, '-h', '127.0.0.1', '-p', port];
    super(scope, id, {
      context: ctx,
      service: 'keycloakPostgres',
      kind: 'StatefulSet',
      runAs: { user: 999, group: 999 },
      persistentVolumes: [{ name: 'data', size: ctx.config.storage.sizes.keycloakPostgres }],
      volumes: [{ name: 'run', emptyDir: { sizeLimit: k8s.Quantity.fromString('8Mi') } }],
      terminationGracePeriodSeconds: 60,
      containers: [
        {
          name: 'postgres',
          image: 'keycloakPostgres',
          env: [
            env('POSTGRES_USER', DB_USER),
            env('POSTGRES_DB', DB_NAME),
            secretEnv('POSTGRES_PASSWORD', 'keycloakDb', 'password'),
          ],
          ports: ['db'],
          readinessProbe: execProbe(ready, { periodSeconds: 10 }),
          livenessProbe: execProbe(ready, { periodSeconds: 20, failureThreshold: 6 }),
          startupProbe: execProbe(ready, { periodSeconds: 3, failureThreshold: 60 }),
          writableTmp: true,
          volumeMounts: [
            // PostgreSQL 18 keeps its data in a versioned directory below this mount. NOTE (1)
            { name: 'data', mountPath: '/var/lib/postgresql' },
            { name: 'run', mountPath: '/var/run/postgresql' },
          ],
        },
      ],
    });
  }
}

/** Props of {@link Keycloak}. */
export interface KeycloakProps {
  readonly context: PlatformContext;
}

/** Keycloak in production mode behind the ingress gateway, at `/auth`. */
export class Keycloak extends Workload<'keycloak'> {
  constructor(scope: Construct, id: string, props: KeycloakProps) {
    const ctx = props.context;
    // Keycloak serves under its route's prefix at the gateway, and generates its links with it.
    const path = ctx.routePrefix('keycloak');
    const realm = buildRealm(ctx);
    const health = (path: string, periodSeconds: number, failureThreshold: number) =>
      httpProbe(path, MANAGEMENT_PORT, { periodSeconds, failureThreshold, timeoutSeconds: 5 });
    super(scope, id, {
      context: ctx,
      service: 'keycloak',
      kind: 'Deployment',
      runAs: { user: 1000, group: 1000 },
      podAnnotations: {
        'prometheus.io/scrape': 'true',
        'prometheus.io/port': String(MANAGEMENT_PORT),
        'prometheus.io/path': '/metrics',
      },
      volumes: [
        { name: 'data', emptyDir: { sizeLimit: k8s.Quantity.fromString('256Mi') } },
        { name: 'quarkus', emptyDir: { sizeLimit: k8s.Quantity.fromString('256Mi') } },
        { name: 'realm', configMap: { name: REALM_CONFIG_MAP } },
      ],
      // Replicas find each other by pod address (JGroups); STRICT mTLS needs a headless Service.
      headlessService: true,
      initContainers: [
        {
          // NOTE (3)
          name: 'seed-quarkus',
          image: 'keycloak',
          command: ['/bin/bash', '-c', 'cp -a /opt/keycloak/lib/quarkus/. /seed/'],
          volumeMounts: [{ name: 'quarkus', mountPath: '/seed' }],
          resources: {
            cpuRequestMilli: 10,
            cpuLimitMilli: 200,
            memoryRequestMi: 16,
            memoryLimitMi: 64,
          },
        },
      ],
      containers: [
        {
          name: 'keycloak',
          image: 'keycloak',
          // Imports the realm when it does not exist yet; never changes an existing one. NOTE (4)
          args: ['start', '--import-realm'],
          env: [
            env('KC_DB', 'postgres'),
            env(
              'KC_DB_URL',
              `jdbc:postgresql://${ctx.serviceHost('keycloakPostgres')}:${ctx.port('keycloakPostgres', 'db')}/${DB_NAME}`,
            ),
            env('KC_DB_USERNAME', DB_USER),
            secretEnv('KC_DB_PASSWORD', 'keycloakDb', 'password'),
            // Links and the token issuer use the public URL; TLS ends at the gateway. NOTE (2)
            env('KC_HOSTNAME', `${ctx.publicUrl}${path}`),
            // In-cluster clients (Grafana's token calls) may use the Service URL.
            env('KC_HOSTNAME_BACKCHANNEL_DYNAMIC', true),
            env('KC_HTTP_ENABLED', true),
            env('KC_PROXY_HEADERS', 'xforwarded'),
            env('KC_HTTP_RELATIVE_PATH', path),
            env('KC_HTTP_MANAGEMENT_RELATIVE_PATH', '/'),
            env('KC_HEALTH_ENABLED', true),
            env('KC_METRICS_ENABLED', true),
            env('KC_LOG_CONSOLE_OUTPUT', 'json'),
            env('KC_BOOTSTRAP_ADMIN_USERNAME', 'admin'),
            secretEnv('KC_BOOTSTRAP_ADMIN_PASSWORD', 'keycloakAdmin', 'password'),
            // The realm's ${...} placeholders. Not optional: a missing key stops the pod
            // instead of importing a literal "${...}" as a client secret.
            ...realm.placeholders.map((p) => ({
              name: p.env,
              valueFrom: { secretKeyRef: { name: KEYCLOAK_REALM_SECRET, key: p.env } },
            })),
          ],
          ports: ['web', 'jgroups', 'jgroupsfd'],
          startupProbe: health('/health/started', 5, 60),
          readinessProbe: health('/health/ready', 10, 3),
          livenessProbe: health('/health/live', 15, 4),
          writableTmp: true,
          volumeMounts: [
            { name: 'data', mountPath: '/opt/keycloak/data' },
            // NOTE (3)
            { name: 'quarkus', mountPath: '/opt/keycloak/lib/quarkus' },
            { name: 'realm', mountPath: REALM_IMPORT_DIR, readOnly: true },
          ],
        },
      ],
    });
    new k8s.KubeConfigMap(this, 'Realm', {
      metadata: { name: REALM_CONFIG_MAP, namespace: this.namespace, labels: { app: this.name } },
      data: { [`${realm.name}.json`]: `${JSON.stringify(realm.realm, null, 2)}\n` },
    });
    // Replicas form one Infinispan cluster over JGroups (discovered through the database),
    // with failure detection on the JGroups port + 50000.
    if (this.replicas > 1) this.grantAccess(this, { ports: ['jgroups', 'jgroupsfd'] });
  }
}

// NOTE
// 1. PGDATA on PostgreSQL 18. The 18 images keep data in /var/lib/postgresql/18/docker and
//    refuse to start when a volume is mounted at the old /var/lib/postgresql/data, so the
//    volume is mounted one level up. See docker-library/postgres#1259.
// 2. Hostname. KC_HOSTNAME is the full public URL including /auth, so the issuer in tokens
//    is https://<host>/auth/realms/<realm> whatever URL the request came in on; the
//    gateway forwards X-Forwarded-* and Keycloak trusts them (KC_PROXY_HEADERS). The
//    management interface keeps / so probes are /health/* on :9000.
//    See https://www.keycloak.org/server/hostname and /server/management-interface.
// 3. Read-only root filesystem with the stock image. Build-time options (database vendor,
//    relative path, health, metrics) differ from the image's, so Keycloak re-augments at
//    start and writes into lib/quarkus. That directory is an emptyDir, seeded by an init
//    container with the image's own lib/quarkus (the launcher needs those files to start
//    the rebuild at all); the root filesystem stays read-only, at the price of a rebuild on
//    every start (the startup probe allows five minutes). A pre-built image started with
//    --optimized would avoid the rebuild.
//    See keycloak/keycloak#44632 and #21616.
// 4. Realm changes. --import-realm skips a realm that exists, so a changed realm file in
//    git does nothing to a running Keycloak (on purpose: an import would not merge, and a
//    restart must never reset users). `npm run realm:apply` reconciles the realm through the
//    admin API instead; see README "Changing the realm".
//    See https://www.keycloak.org/server/importExport
