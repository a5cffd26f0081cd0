/**
 * CrateDB, QuantumLeap's time-series store: one schema per tenant (`mt<tenant>`), one table
 * per entity type (`et<type>`), with database users: QuantumLeap writes as its own user, each
 * tenant's Grafana datasource reads as that tenant's read-only user, and the superuser `crate`
 * is let in from loopback only.
 */
import { k8s } from 'cdk8s-plus-33';
import type { Construct } from 'constructs';

import { BACKUP_TARGETS, CRATEDB_REPOSITORY } from '../../../platform/backup.js';
import type { PlatformContext } from '../../../platform/context.js';
import { CRATEDB_USERS_SECRET } from '../../../platform/secrets.js';
import { Workload, env, execProbe, tcpProbe } from '../workload.js';
import { RECONCILER_PATHS, RECONCILER_SCRIPT, crateUsersPlan } from './cratedb-users.js';

/** The cluster name CrateDB nodes agree on. */
export const CRATE_CLUSTER_NAME = 'kitt4sme';

/** The ConfigMap of the users' plan and reconciler (cratedb-users.ts). */
export const CRATEDB_USERS_CONFIG_MAP = 'cratedb-users';

/**
 * Host-based authentication: `crate` from loopback without a password, everyone else with
 * one. Entries are tried in key order; the first whose user and address match decides. NOTE (2)
 */
export const CRATE_HBA: Readonly<Record<string, Readonly<Record<string, string>>>> = {
  '0': { user: 'crate', address: '127.0.0.1', method: 'trust' },
  '1': { user: 'crate', address: '::1', method: 'trust' },
  '9': { method: 'password' },
};

/** The reconciler's size (Python's standard library and a loop; the same in every profile). */
const RECONCILER_RESOURCES = {
  cpuRequestMilli: 10,
  cpuLimitMilli: 200,
  memoryRequestMi: 32,
  memoryLimitMi: 96,
} as const;

/** Props of {@link CrateDb}. */
export interface CrateDbProps {
  readonly context: PlatformContext;
}

/** A CrateDB StatefulSet: one node on a laptop, a three-node cluster in production. */
export class CrateDb extends Workload<'cratedb'> {
  constructor(scope: Construct, id: string, props: CrateDbProps) {
    const ctx = props.context;
    const replicas = ctx.size('cratedb').replicas;
    const http = ctx.port('cratedb', 'api');
    const name = 'cratedb';
    const settings = [
      `-Ccluster.name=${CRATE_CLUSTER_NAME}`,
      '-Cnode.name=$(POD_NAME)',
      '-Cpath.data=/data',
      // Where fs snapshot repositories may be: the backup volume (platform/backup.ts). NOTE (4)
      `-Cpath.repo=${CRATEDB_REPOSITORY.path}`,
      // Loopback too, for the users' reconciler beside CrateDB; peers use the pod's address.
      '-Cnetwork.host=_local_,_site_',
      '-Cnetwork.publish_host=_site_',
      '-Cauth.host_based.enabled=true',
      ...Object.entries(CRATE_HBA).flatMap(([order, entry]) =>
        Object.entries(entry).map(([k, v]) => `-Cauth.host_based.config.${order}.${k}=${v}`),
      ),
      // A client's X-Real-IP header must never stand in for its address (default, said twice).
      '-Cauth.trust.http_support_x_real_ip=false',
      ...(replicas === 1
        ? // NOTE (1)
          ['-Cdiscovery.type=single-node']
        : [
            `-Cdiscovery.seed_hosts=${name}-headless`,
            `-Ccluster.initial_master_nodes=${Array.from({ length: replicas }, (_, i) => `${name}-${i}`).join(',')}`,
            `-Cgateway.expected_data_nodes=${replicas}`,
            `-Cgateway.recover_after_data_nodes=${Math.floor(replicas / 2) + 1}`,
          ]),
    ];
    super(scope, id, {
      context: ctx,
      service: 'cratedb',
      kind: 'StatefulSet',
      runAs: { user: 1000, group: 1000 },
      persistentVolumes: [{ name: 'data', size: ctx.config.storage.sizes.cratedb }],
      terminationGracePeriodSeconds: 60,
      containers: [
        {
          name: 'cratedb',
          image: 'cratedb',
          args: ['crate', ...settings],
          env: [
            { name: 'POD_NAME', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } },
            env('CRATE_HEAP_SIZE', `${ctx.profile.crateHeapMi}m`),
            // GC logs would go to the read-only image filesystem; the JVM logs to stdout anyway.
            env('CRATE_DISABLE_GC_LOGGING', 1),
          ],
          ports: ['api', 'transport', 'postgres'],
          // Every HTTP request needs a user now, and probes have none. NOTE (3)
          readinessProbe: tcpProbe(http, { periodSeconds: 10 }),
          livenessProbe: tcpProbe(http, { periodSeconds: 20, failureThreshold: 6 }),
          startupProbe: tcpProbe(http, { periodSeconds: 5, failureThreshold: 60 }),
          writableTmp: true,
          volumeMounts: [
            { name: 'data', mountPath: '/data' },
            { name: 'backup', mountPath: CRATEDB_REPOSITORY.path },
          ],
        },
        {
          // Makes CrateDB hold the planned users and privileges (cratedb-users.ts, NOTE 1).
          name: 'users',
          image: 'cratedb',
          command: ['python3', RECONCILER_PATHS.script],
          env: [env('PYTHONDONTWRITEBYTECODE', 1), env('PYTHONUNBUFFERED', 1)],
          readinessProbe: heartbeatProbe(10),
          livenessProbe: heartbeatProbe(30),
          resources: RECONCILER_RESOURCES,
          writableTmp: true,
          volumeMounts: [
            { name: 'users-plan', mountPath: '/etc/cratedb-users/plan', readOnly: true },
            { name: 'users-secrets', mountPath: RECONCILER_PATHS.secrets, readOnly: true },
          ],
        },
      ],
      volumes: [
        // One claim every node mounts: an fs repository must be the same directory on all.
        {
          name: 'backup',
          persistentVolumeClaim: { claimName: BACKUP_TARGETS.cratedb.volume },
        },
        { name: 'users-plan', configMap: { name: CRATEDB_USERS_CONFIG_MAP } },
        // Files, not env: a new tenant's key reaches the reconciler without a restart.
        {
          name: 'users-secrets',
          secret: { secretName: CRATEDB_USERS_SECRET.name, defaultMode: 0o440 },
        },
      ],
    });
    if (replicas > 1) this.grantAccess(this, { ports: ['transport'] });

    new k8s.KubeConfigMap(this, 'Users', {
      metadata: {
        name: CRATEDB_USERS_CONFIG_MAP,
        namespace: this.namespace,
        labels: { app: this.name, 'app.kubernetes.io/part-of': 'kitt4sme-platform' },
      },
      data: {
        'plan.json': `${JSON.stringify(crateUsersPlan(ctx.config.tenants), null, 2)}\n`,
        'reconcile.py': RECONCILER_SCRIPT,
      },
    });
  }
}

/** Healthy while the reconciler's loop has run within the last two minutes. */
function heartbeatProbe(periodSeconds: number): k8s.Probe {
  return execProbe(
    [
      'python3',
      '-c',
      `import os, sys, time; sys.exit(time.time() - os.path.getmtime('${RECONCILER_PATHS.heartbeat}') > 120)`,
    ],
    { periodSeconds, timeoutSeconds: 5 },
  );
}

// NOTE
// 1. vm.max_map_count without a privileged container. CrateDB refuses to start on a
//    non-loopback address unless vm.max_map_count >= 262144 (an Elasticsearch-style bootstrap
//    check), which the demo cluster satisfied with a privileged init container running
//    sysctl. A single node with discovery.type=single-node skips the bootstrap checks, so the
//    laptop profile needs no privilege at all. A multi-node cluster (production profile)
//    keeps the check: set the sysctl on the nodes when you provision them (node image or
//    machine config); the platform does not run privileged containers to do it.
//    See https://cratedb.com/docs/crate/howtos/en/latest/admin/bootstrap-checks.html and
//    testcontainers-java#7038.
// 2. Host-based authentication. `crate` may log in without a password from 127.0.0.1 and ::1
//    only, which is where the users' reconciler beside CrateDB connects from; every other
//    user, from anywhere, needs its password (entry 9), and `crate` has none, so it cannot log
//    in from anywhere else. The loopback entries are single addresses on purpose, never
//    127.0.0.0/8: the Istio sidecar hands every inbound mesh connection to CrateDB from
//    127.0.0.6, so a /8 would make every caller the mesh admits (QuantumLeap, Grafana) a
//    superuser. X-Real-IP is not trusted (auth.trust.http_support_x_real_ip, default false
//    since the fix of crate/crate#15231; loopback values are ignored even when it is on).
//    The mesh keeps its part: mTLS and an AuthorizationPolicy that admits only QuantumLeap
//    (HTTP) and Grafana (PostgreSQL). Verified for the pinned 6.2 line against
//    https://cratedb.com/docs/crate/reference/en/latest/admin/auth/hba.html and
//    https://cratedb.com/docs/crate/reference/en/latest/config/node.html (auth.host_based.*,
//    auth.trust.*); not yet run against a live CrateDB here (no container runtime).
// 3. TCP probes. With host-based authentication every HTTP request, `GET /` included, must
//    authenticate; a probe carries no user, so it would fall to the password entry and get
//    401 (and with Istio's probe rewrite it arrives from 127.0.0.6, not loopback's .1). A
//    trusted probe user would be one more password-less login. The probes check that the
//    HTTP port accepts connections instead; QuantumLeap's readiness (/health, a query as its
//    own user) is what says CrateDB answers queries.
// 4. The snapshot repository. An fs repository must lie under path.repo, and with more than
//    one node it must be one shared directory mounted on every node; so the backup volume is
//    a single claim (cratedb-backup) that every CrateDB pod mounts, ReadWriteMany when the
//    profile runs more than one node (cdk8s/lib/backup.ts). The backup job only sends SQL;
//    CrateDB's nodes write the snapshot files themselves.
//    See https://cratedb.com/docs/crate/reference/en/latest/sql/statements/create-repository.html#fs
