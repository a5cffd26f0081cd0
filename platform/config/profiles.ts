/**
 * Size profiles: replicas and compute resources of every workload, per profile.
 *
 * The same numbers feed the manifests, the Helm values of the upstream charts and
 * `npm run budget`, so the budget is the sum of what is actually deployed.
 */
import type { SizeProfileName } from './schema.js';

/** CPU in millicores and memory in MiB, so the budget can add them up. */
export interface ComputeResources {
  readonly cpuRequestMilli: number;
  readonly cpuLimitMilli: number;
  readonly memoryRequestMi: number;
  readonly memoryLimitMi: number;
}

/** How big one workload is. */
export interface WorkloadSize {
  /** Pods of the workload (DaemonSets: per node; the budget assumes one node). */
  readonly replicas: number;
  readonly resources: ComputeResources;
}

/** Every workload the budget accounts for, ours and the upstream charts'. */
export const SIZED_WORKLOADS = [
  // The platform's own workloads (deploy/).
  'orion',
  'mongodb',
  'iotAgentUl',
  'quantumleap',
  'cratedb',
  'grafana',
  'keycloak',
  'keycloakPostgres',
  'opa',
  'provisioning',
  // Upstream charts installed by Argo CD.
  'istiod',
  'istioCni',
  'istioIngressGateway',
  'argocdServer',
  'argocdRepoServer',
  'argocdController',
  'argocdRedis',
  'argocdApplicationSet',
  'kiali',
  'prometheus',
  'prometheusConfigReload',
  'jaeger',
] as const;
export type SizedWorkload = (typeof SIZED_WORKLOADS)[number];

/** A size profile: every workload's size plus the Istio sidecar each meshed pod carries. */
export interface SizeProfile {
  readonly workloads: Readonly<Record<SizedWorkload, WorkloadSize>>;
  /** Resources of one injected istio-proxy sidecar (`global.proxy.resources`). */
  readonly sidecar: ComputeResources;
  /** JVM heap of CrateDB (its `CRATE_HEAP_SIZE`), at most half the container memory. */
  readonly crateHeapMi: number;
}

const r = (
  cpuRequestMilli: number,
  cpuLimitMilli: number,
  memoryRequestMi: number,
  memoryLimitMi: number,
) => ({ cpuRequestMilli, cpuLimitMilli, memoryRequestMi, memoryLimitMi }) as const;

/** The profiles. `laptop` must fit a 4 vCPU / 8 GiB minikube with 25 % headroom on requests. */
export const PROFILES: Readonly<Record<SizeProfileName, SizeProfile>> = {
  laptop: {
    sidecar: r(10, 500, 40, 192),
    crateHeapMi: 384,
    workloads: {
      orion: { replicas: 1, resources: r(50, 500, 64, 256) },
      mongodb: { replicas: 1, resources: r(50, 500, 192, 512) },
      iotAgentUl: { replicas: 1, resources: r(25, 500, 96, 256) },
      quantumleap: { replicas: 1, resources: r(25, 500, 128, 384) },
      cratedb: { replicas: 1, resources: r(100, 1000, 768, 768) },
      grafana: { replicas: 1, resources: r(25, 500, 96, 256) },
      keycloak: { replicas: 1, resources: r(100, 1000, 512, 768) },
      keycloakPostgres: { replicas: 1, resources: r(25, 500, 64, 256) },
      opa: { replicas: 1, resources: r(25, 500, 48, 128) },
      provisioning: { replicas: 1, resources: r(50, 500, 96, 256) },
      istiod: { replicas: 1, resources: r(100, 1000, 256, 512) },
      istioCni: { replicas: 1, resources: r(10, 200, 40, 128) },
      istioIngressGateway: { replicas: 1, resources: r(50, 1000, 64, 256) },
      argocdServer: { replicas: 1, resources: r(25, 500, 64, 256) },
      argocdRepoServer: { replicas: 1, resources: r(25, 1000, 128, 512) },
      argocdController: { replicas: 1, resources: r(100, 1000, 256, 768) },
      argocdRedis: { replicas: 1, resources: r(10, 200, 32, 128) },
      argocdApplicationSet: { replicas: 1, resources: r(10, 200, 32, 128) },
      kiali: { replicas: 1, resources: r(10, 500, 64, 256) },
      prometheus: { replicas: 1, resources: r(50, 1000, 384, 768) },
      prometheusConfigReload: { replicas: 1, resources: r(5, 100, 16, 64) },
      jaeger: { replicas: 1, resources: r(25, 500, 128, 384) },
    },
  },
  production: {
    sidecar: r(100, 2000, 128, 1024),
    crateHeapMi: 2048,
    workloads: {
      orion: { replicas: 2, resources: r(500, 2000, 512, 1024) },
      mongodb: { replicas: 1, resources: r(500, 2000, 2048, 4096) },
      iotAgentUl: { replicas: 2, resources: r(250, 1000, 256, 512) },
      quantumleap: { replicas: 2, resources: r(250, 1000, 512, 1024) },
      cratedb: { replicas: 3, resources: r(1000, 4000, 4096, 4096) },
      grafana: { replicas: 1, resources: r(100, 1000, 256, 512) },
      keycloak: { replicas: 2, resources: r(500, 2000, 1024, 2048) },
      keycloakPostgres: { replicas: 1, resources: r(250, 1000, 512, 1024) },
      opa: { replicas: 2, resources: r(250, 1000, 128, 512) },
      provisioning: { replicas: 2, resources: r(250, 1000, 256, 512) },
      istiod: { replicas: 2, resources: r(500, 2000, 1024, 2048) },
      istioCni: { replicas: 1, resources: r(100, 500, 100, 256) },
      istioIngressGateway: { replicas: 2, resources: r(500, 2000, 256, 1024) },
      argocdServer: { replicas: 2, resources: r(100, 1000, 256, 512) },
      argocdRepoServer: { replicas: 2, resources: r(250, 2000, 512, 1024) },
      argocdController: { replicas: 1, resources: r(500, 2000, 1024, 2048) },
      argocdRedis: { replicas: 1, resources: r(100, 500, 128, 256) },
      argocdApplicationSet: { replicas: 1, resources: r(50, 500, 128, 256) },
      kiali: { replicas: 1, resources: r(100, 1000, 256, 512) },
      prometheus: { replicas: 1, resources: r(500, 2000, 2048, 4096) },
      prometheusConfigReload: { replicas: 1, resources: r(10, 200, 32, 128) },
      jaeger: { replicas: 1, resources: r(250, 1000, 512, 1024) },
    },
  },
};

/** Kubernetes `resources` for a {@link ComputeResources}. */
export function toKubeResources(res: ComputeResources): {
  requests: { cpu: string; memory: string };
  limits: { cpu: string; memory: string };
} {
  return {
    requests: { cpu: `${res.cpuRequestMilli}m`, memory: `${res.memoryRequestMi}Mi` },
    limits: { cpu: `${res.cpuLimitMilli}m`, memory: `${res.memoryLimitMi}Mi` },
  };
}
