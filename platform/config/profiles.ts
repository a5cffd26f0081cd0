/**
 * Size profiles: what `profile` in the config chooses. Each component's replicas and compute
 * resources per profile are in its registry entry (platform/components.ts); this file holds the
 * types and the settings that are the profile's own (the Istio sidecar, CrateDB's heap).
 *
 * The same numbers feed the manifests, the Helm values of the upstream charts and
 * `npm run budget`, so the budget is the sum of what is actually deployed.
 */

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

/** The size profiles a config can choose. */
export const SIZE_PROFILES = ['laptop', 'production'] as const;
export type SizeProfileName = (typeof SIZE_PROFILES)[number];

/**
 * What a profile sets beyond each component's size (the sizes are in the component registry,
 * platform/components.ts, one entry per component).
 */
export interface SizeProfile {
  /** Resources of one injected istio-proxy sidecar (`global.proxy.resources`). */
  readonly sidecar: ComputeResources;
  /** JVM heap of CrateDB (its `CRATE_HEAP_SIZE`), at most half the container memory. */
  readonly crateHeapMi: number;
}

/** The profiles. `laptop` must fit a 4 vCPU / 8 GiB minikube with 25 % headroom on requests. */
export const PROFILES: Readonly<Record<SizeProfileName, SizeProfile>> = {
  laptop: {
    sidecar: { cpuRequestMilli: 10, cpuLimitMilli: 500, memoryRequestMi: 40, memoryLimitMi: 192 },
    crateHeapMi: 384,
  },
  production: {
    sidecar: {
      cpuRequestMilli: 100,
      cpuLimitMilli: 2000,
      memoryRequestMi: 128,
      memoryLimitMi: 1024,
    },
    crateHeapMi: 2048,
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
