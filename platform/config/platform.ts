/**
 * THE platform config: the one file a fork edits.
 *
 * `npm run synth` validates it (platform/config/schema.ts) and stops with a message naming the
 * field and the fix when a value is wrong; docs/config.md explains every key.
 */
import { definePlatform } from './schema.js';

export const platform = definePlatform({
  gitops: {
    // A fork changes this line; Argo CD syncs deploy/ from here.
    repoURL: 'https://github.com/kitt4sme/fiware-platform-kit.git',
    targetRevision: 'main',
  },
  cluster: {
    // What minikube/up.sh starts; the tests build and run this same kube-apiserver.
    kubernetesVersion: 'v1.36.3',
    why: 'newest Kubernetes patch on the Go module proxy inside Istio 1.31’s supported 1.32-1.36',
  },
  ingress: {
    // The host users reach the gateway at; tokens are issued for https://<host>/auth/realms/<realm>.
    host: 'kitt4sme.localhost',
    tls: true,
  },
  namespaces: {
    platform: 'fiware',
    identity: 'identity',
  },
  tenants: [
    { name: 'manufracture', displayName: 'ManuFracture' },
    { name: 'smithereens', displayName: 'Smithereens' },
  ],
  profile: 'laptop',
  storage: {
    // minikube's default StorageClass; null uses the cluster default.
    storageClass: 'standard',
    sizes: {
      mongodb: '5Gi',
      cratedb: '10Gi',
      keycloakPostgres: '2Gi',
      grafana: '1Gi',
      prometheus: '5Gi',
      monitor: '1Gi',
    },
  },
  backup: {
    // Every night at 02:30 (CronJob syntax), one job per database: MongoDB (Orion and the IoT
    // Agents), CrateDB (QuantumLeap) and Keycloak's PostgreSQL. docs/backup.md explains.
    schedule: '30 2 * * *',
    timeZone: 'Etc/UTC',
    // Backups kept per database; each successful backup deletes the older ones.
    keep: 7,
    // Backup volumes use storage.storageClass; set one here for another (CrateDB with more
    // than one node needs a ReadWriteMany class), or null for the cluster default.
    sizes: {
      mongodb: '10Gi',
      cratedb: '20Gi',
      keycloakPostgres: '2Gi',
    },
  },
  identity: {
    realm: 'kitt4sme',
    // One demo user per tenant (<tenant>-demo) and a platform-admin, with passwords generated
    // at bootstrap. Turn off for production: people are then added in Keycloak.
    demoUsers: true,
  },
  agents: {
    // Per tenant: the ResourceQuota of its agents' namespace (agents-<tenant>; sidecars count
    // too), and what an agent container that names no resources gets (its LimitRange default).
    quota: {
      requestsCpuMilli: 2000,
      requestsMemoryMi: 4096,
      limitsCpuMilli: 8000,
      limitsMemoryMi: 8192,
      pods: 40,
    },
    defaultResources: {
      cpuRequestMilli: 50,
      cpuLimitMilli: 500,
      memoryRequestMi: 64,
      memoryLimitMi: 256,
    },
  },
  // Images and charts are pinned in the component registry (platform/components.ts), each
  // with its reason. A fork that builds its own image overrides the pin here, e.g.
  //   images: { provisioning: { repository: 'ghcr.io/<you>/provisioning', tag: '0.1.0', why: '...' } },
  // and likewise `charts` for a mirror of an upstream chart repository.
});
