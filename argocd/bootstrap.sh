#!/usr/bin/env bash
# Installs Argo CD once and hands it the platform: Secrets, Argo CD (same release and values
# as the argo-cd Application in deploy/apps), then the AppProjects and the root Application.
# Idempotent: every step can be re-run. Needs kubectl, helm and a reachable cluster.
set -euo pipefail
cd "$(dirname "$0")/.."

for tool in kubectl helm node; do
  command -v "$tool" >/dev/null || { echo "bootstrap: $tool is not installed [ERR_TOOL_MISSING]" >&2; exit 3; }
done
kubectl version --request-timeout=5s >/dev/null 2>&1 || {
  echo "bootstrap: no cluster reachable with kubectl; start one (minikube/start.sh) [ERR_CLUSTER_UNREACHABLE]" >&2
  exit 3
}

# The chart version Argo CD installs itself with, read from the generated Application.
version=$(sed -n 's/^    targetRevision: //p' deploy/apps/argo-cd.yaml)
repo=$(sed -n 's/^    repoURL: //p' deploy/apps/argo-cd.yaml)

echo "[1/3] bootstrap Secrets" >&2
npm run --silent bootstrap:secrets

echo "[2/3] Argo CD chart ${version}" >&2
helm upgrade --install argocd argo-cd --repo "$repo" --version "$version" \
  --namespace argocd --create-namespace -f deploy/bootstrap/argocd-values.yaml --wait --timeout 10m

echo "[3/3] AppProjects and the root Application" >&2
kubectl apply --server-side \
  -f deploy/apps/project-gitops.yaml \
  -f deploy/apps/project-infrastructure.yaml \
  -f deploy/apps/project-platform.yaml \
  -f deploy/apps/root.yaml

echo "bootstrap: done; watch the sync with: kubectl -n argocd get applications -w" >&2
