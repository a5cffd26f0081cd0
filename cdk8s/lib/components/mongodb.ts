/**
 * MongoDB: Orion's context store (one database per tenant) and each IoT Agent's device
 * registry (a database and a user of its own, from the agent's registry entry).
 */
import { k8s } from 'cdk8s-plus-33';
import type { Construct } from 'constructs';

import { COMPONENTS, IOT_AGENT_IDS } from '../../../platform/components.js';
import type { PlatformContext } from '../../../platform/context.js';
import { BOOTSTRAP_SECRETS } from '../../../platform/secrets.js';
import { checksum } from '../util.js';
import { Workload, env, execProbe, secretEnv, tcpProbe } from '../workload.js';

/** MongoDB's root user (the image creates it on first start); backups and restores use it. */
export const MONGODB_ROOT_USER = 'root';

/** Orion's database user, created on first start from the bootstrap Secret. */
export const MONGODB_USERS = {
  orion: { user: 'orion', passwordKey: 'orion-password' },
} as const;

/** The IoT Agents' registries: one database and one user each. */
const registries = () => IOT_AGENT_IDS.map((id) => COMPONENTS[id].iotAgent.registry);

/** Props of {@link MongoDb}. */
export interface MongoDbProps {
  readonly context: PlatformContext;
}

/** A single-member MongoDB StatefulSet with a persistent volume and authentication on. */
export class MongoDb extends Workload<'mongodb'> {
  constructor(scope: Construct, id: string, props: MongoDbProps) {
    const ctx = props.context;
    const initScript = initUsersScript();
    const size = ctx.size('mongodb');
    const port = ctx.port('mongodb', 'db');
    const cacheGb = Math.max(
      0.25,
      Math.floor(((size.resources.memoryLimitMi / 1024 - 1) / 2) * 100) / 100,
    );
    super(scope, id, {
      context: ctx,
      service: 'mongodb',
      kind: 'StatefulSet',
      runAs: { user: 999, group: 999 },
      persistentVolumes: [{ name: 'data', size: ctx.config.storage.sizes.mongodb }],
      volumes: [
        { name: 'configdb', emptyDir: { sizeLimit: k8s.Quantity.fromString('16Mi') } },
        { name: 'init', configMap: { name: 'mongodb-init' } },
      ],
      podAnnotations: { 'kitt4sme.io/init-checksum': checksum(initScript) },
      containers: [
        {
          name: 'mongodb',
          image: 'mongodb',
          // NOTE (1)
          args: ['mongod', '--bind_ip_all', '--wiredTigerCacheSizeGB', String(cacheGb)],
          env: [
            // mongosh (probes, init scripts) writes its history under $HOME, the image's /data/db.
            env('HOME', '/tmp'),
            env('MONGO_INITDB_ROOT_USERNAME', MONGODB_ROOT_USER),
            secretEnv('MONGO_INITDB_ROOT_PASSWORD', 'mongodb', 'root-password'),
            secretEnv('ORION_DB_PASSWORD', 'mongodb', MONGODB_USERS.orion.passwordKey),
            ...registries().map((r) => secretEnv(r.passwordEnv, 'mongodb', r.passwordKey)),
          ],
          ports: ['db'],
          // mongosh is a Node.js process: cheap TCP for liveness, a real ping for readiness.
          readinessProbe: execProbe(
            ['mongosh', '--quiet', '--norc', '--eval', "db.adminCommand('ping').ok"],
            {
              periodSeconds: 20,
              timeoutSeconds: 10,
            },
          ),
          livenessProbe: tcpProbe(port, { periodSeconds: 20, failureThreshold: 6 }),
          startupProbe: tcpProbe(port, { periodSeconds: 5, failureThreshold: 60 }),
          writableTmp: true,
          volumeMounts: [
            { name: 'data', mountPath: '/data/db' },
            { name: 'configdb', mountPath: '/data/configdb' },
            { name: 'init', mountPath: '/docker-entrypoint-initdb.d', readOnly: true },
          ],
        },
      ],
    });

    new k8s.KubeConfigMap(this, 'InitScripts', {
      metadata: { name: 'mongodb-init', namespace: this.namespace, labels: { app: this.name } },
      data: { '10-users.js': initScript },
    });
  }
}

/** The first-start script that creates Orion's and the IoT Agent's users. */
function initUsersScript(): string {
  const secret = BOOTSTRAP_SECRETS.mongodb.name;
  return [
    `// Runs once, on an empty data volume (docker-entrypoint-initdb.d). Passwords come from`,
    `// the ${secret} Secret through the environment; nothing secret is in this file.`,
    `const admin = db.getSiblingDB('admin');`,
    `admin.createUser({`,
    `  user: '${MONGODB_USERS.orion.user}',`,
    `  pwd: process.env.ORION_DB_PASSWORD,`,
    `  // Orion creates one database per tenant (orion-<tenant>), so it needs them all.`,
    `  roles: [{ role: 'readWriteAnyDatabase', db: 'admin' }],`,
    `});`,
    ...registries().flatMap((r) => [
      `admin.createUser({`,
      `  user: '${r.user}',`,
      `  pwd: process.env.${r.passwordEnv},`,
      `  roles: [{ role: 'readWrite', db: '${r.database}' }],`,
      `});`,
    ]),
    ``,
  ].join('\n');
}

// NOTE
// 1. WiredTiger cache. mongod sizes its cache from the host's memory, not the container's
//    limit, and would be OOM-killed on a small node; the cache is set to half of what the
//    limit leaves after 1 GiB for everything else, and never below 0.25 GB.
//    See https://www.mongodb.com/docs/manual/reference/configuration-options/#mongodb-setting-storage.wiredTiger.engineConfig.cacheSizeGB
