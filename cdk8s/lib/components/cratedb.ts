/**
 * CrateDB, QuantumLeap's time-series store: one schema per tenant (`mt<tenant>`), one table
 * per entity type (`et<type>`).
 */
import type { Construct } from 'constructs';

import type { PlatformContext } from '../../../platform/context.js';
import { Workload, env, httpProbe, tcpProbe } from '../workload.js';

/** The cluster name CrateDB nodes agree on. */
export const CRATE_CLUSTER_NAME = 'kitt4sme';

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
      '-Cnetwork.host=_site_',
      // Access control is the mesh's: only granted workloads reach CrateDB, over mTLS. NOTE (2)
      '-Cauth.host_based.enabled=false',
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
          readinessProbe: httpProbe('/', http, { periodSeconds: 10, timeoutSeconds: 5 }),
          livenessProbe: tcpProbe(http, { periodSeconds: 20, failureThreshold: 6 }),
          startupProbe: httpProbe('/', http, { periodSeconds: 5, failureThreshold: 60 }),
          writableTmp: true,
          volumeMounts: [{ name: 'data', mountPath: '/data' }],
        },
      ],
    });
    if (replicas > 1) this.grantAccess(this, { ports: ['transport'] });
  }
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
// 2. No host-based authentication yet. QuantumLeap and Grafana connect as the `crate`
//    superuser without a password; the AuthorizationPolicy on this workload admits only
//    those two, over mTLS. That does not isolate tenants inside Grafana: a per-tenant
//    datasource only sets the default schema, so a Grafana editor could query another
//    tenant's schema. The fix (README, "Known gaps") is HBA on, a QuantumLeap user
//    (QuantumLeap reads CRATE_DB_USER and CRATE_DB_PASS) and one Grafana user per tenant
//    with DQL on its own schema only, created from bootstrap Secrets.
