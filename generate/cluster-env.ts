/**
 * `deploy/bootstrap/cluster.env`: what the bring-up scripts (minikube/up.sh,
 * argocd/bootstrap.sh) need from the platform config, as shell assignments, so the scripts
 * read one generated file instead of parsing TypeScript and never restate a value.
 */
import { LAPTOP_CLUSTER } from '../cdk8s/lib/budget.js';
import type { PlatformContext } from '../platform/context.js';
import { LOCAL_GIT, LOCAL_GIT_REPO_URL } from '../platform/config/schema.js';
import { PROJECT_IMAGE_IDS, SERVICES } from '../platform/components.js';
import { LOCAL_GIT_PUSH_PORT } from '../cdk8s/lib/gitops/local-git.js';

/** Quotes a value for a POSIX shell: single quotes, with embedded ones escaped. */
function shellQuote(value: string | number): string {
  return `'${String(value).replaceAll("'", `'\\''`)}'`;
}

/** The variables, in the order the file lists them. */
export function clusterEnv(ctx: PlatformContext): Record<string, string | number> {
  const { config } = ctx;
  const argo = ctx.chart('argoCd');
  return {
    KITT4SME_PROFILE: config.profile,
    KITT4SME_K8S_VERSION: config.cluster.kubernetesVersion,
    KITT4SME_MINIKUBE_CPUS: LAPTOP_CLUSTER.nodeCpuMilli / 1000,
    KITT4SME_MINIKUBE_MEMORY_MB: LAPTOP_CLUSTER.nodeMemoryMi,
    KITT4SME_ARGOCD_NAMESPACE: ctx.namespace('argocd'),
    KITT4SME_ARGOCD_CHART_REPO: argo.repoURL,
    KITT4SME_ARGOCD_CHART_VERSION: argo.version,
    KITT4SME_ARGOCD_SERVER: SERVICES.argocdServer.name,
    KITT4SME_GITOPS_REPO_URL: config.gitops.repoURL,
    KITT4SME_GITOPS_REVISION: config.gitops.targetRevision,
    KITT4SME_GITOPS_LOCAL: config.gitops.repoURL === LOCAL_GIT_REPO_URL ? 1 : 0,
    KITT4SME_LOCAL_GIT_SERVICE: LOCAL_GIT.service,
    KITT4SME_LOCAL_GIT_PORT: LOCAL_GIT.port,
    KITT4SME_LOCAL_GIT_PUSH_PORT: LOCAL_GIT_PUSH_PORT,
    KITT4SME_LOCAL_GIT_REPO: LOCAL_GIT.repo,
    KITT4SME_INGRESS_HOST: config.ingress.host,
    KITT4SME_INGRESS_URL: ctx.publicUrl,
    // `<id>=<image>` for each image built from services/<id>/Dockerfile, space-separated: the
    // config's override, else the registry's pin, as the manifests name it.
    KITT4SME_PROJECT_IMAGES: PROJECT_IMAGE_IDS.map((id) => `${id}=${ctx.image(id)}`).join(' '),
  };
}

/** The file's text (without the generated-file header). */
export function renderClusterEnv(ctx: PlatformContext): string {
  return [
    '# Read by minikube/up.sh and argocd/bootstrap.sh (`. deploy/bootstrap/cluster.env`).',
    ...Object.entries(clusterEnv(ctx)).map(([k, v]) => `${k}=${shellQuote(v)}`),
    '',
  ].join('\n');
}
