#!/usr/bin/env bash
# Installs Argo CD once and hands it the platform: the generated Secrets, Argo CD (same chart,
# release and values as the argo-cd Application in deploy/apps), in the local-only mode the
# in-cluster git server and a push of HEAD, then the AppProjects and the root Application.
# Works on any cluster kubectl points at; minikube/up.sh runs it for a laptop. Idempotent:
# every step can be re-run. Values come from deploy/bootstrap/cluster.env (npm run synth).
set -euo pipefail
K4S_NAME=bootstrap
# shellcheck source-path=SCRIPTDIR source=../minikube/lib.sh
. "$(dirname "$0")/../minikube/lib.sh"

usage() {
  cat <<'EOF'
Usage: argocd/bootstrap.sh [--dry-run]

Creates the Secrets git never holds (npm run bootstrap:secrets), installs the pinned Argo CD
chart, and applies the AppProjects and the root Application, on the cluster of kubectl's
current context. Then `npm run platform -- wait` follows the sync. Safe to run again.

Options:
  --dry-run   print what would run (`+ command`) and change nothing
  -h, --help  this help

Environment:
  KITT4SME_CLUSTER_ENV  the values file to read (default: deploy/bootstrap/cluster.env)

Exit codes: 0 done, 1 Argo CD did not install, 2 usage or config, 3 tool or cluster missing.
EOF
}

k4s_enter_repo
k4s_parse_dry_run "$@"
k4s_load_env

local_mode=0
[[ $KITT4SME_GITOPS_LOCAL == 1 ]] && local_mode=1
tools=(kubectl helm npm)
((local_mode)) && tools+=(git)
# minikube/up.sh has checked the tools and made the preflight checks already.
from_up=${KITT4SME_FROM_UP:-0}
((from_up)) || k4s_need_tools "${tools[@]}"
ns=$KITT4SME_ARGOCD_NAMESPACE

if ((k4s_dry_run)); then
  k4s_check 'kubectl version --request-timeout=5s (a cluster must answer, or exit 3)'
elif ! kubectl version --request-timeout=5s >/dev/null 2>&1; then
  k4s_die 3 "no cluster answers kubectl (context: $(kubectl config current-context 2>/dev/null || echo none)); start one with minikube/up.sh or select one with kubectl config use-context [ERR_CLUSTER_UNREACHABLE]"
fi
((from_up)) || k4s_preflight

steps=3
((local_mode)) && steps=4
step=0

k4s_step $((++step)) $steps 'Secrets git never holds (generated; existing ones are kept)'
k4s_run npm run --silent bootstrap:secrets
((k4s_dry_run)) && k4s_note 'which ones are missing: npm run bootstrap:secrets -- --dry-run (reads the cluster)'

k4s_step $((++step)) $steps "Argo CD chart $KITT4SME_ARGOCD_CHART_VERSION in namespace $ns"
k4s_run helm upgrade --install argocd argo-cd --repo "$KITT4SME_ARGOCD_CHART_REPO" \
  --version "$KITT4SME_ARGOCD_CHART_VERSION" --namespace "$ns" --create-namespace \
  -f deploy/bootstrap/argocd-values.yaml --wait --timeout 10m ||
  k4s_die 1 "Argo CD did not become ready; see kubectl -n $ns get pods, then run $0 again"

if ((local_mode)); then
  k4s_step $((++step)) $steps "local git server $KITT4SME_LOCAL_GIT_SERVICE and a push of HEAD to it"
  [[ -f deploy/bootstrap/local-git.yaml ]] || ((k4s_dry_run)) ||
    k4s_die 2 'deploy/bootstrap/local-git.yaml is missing; run npm run synth (with the local-only gitops.repoURL) and commit'
  k4s_run kubectl apply --server-side --force-conflicts -f deploy/bootstrap/local-git.yaml
  k4s_run kubectl -n "$ns" rollout status "deploy/$KITT4SME_LOCAL_GIT_SERVICE" --timeout 5m ||
    k4s_die 1 "the local git server did not start; see kubectl -n $ns describe deploy/$KITT4SME_LOCAL_GIT_SERVICE"
  push=("$BASH" minikube/push-local.sh)
  ((k4s_dry_run)) && push+=(--dry-run)
  KITT4SME_STEP_INDENT="${KITT4SME_STEP_INDENT:-}      " "${push[@]}"
fi

k4s_step $((++step)) $steps 'AppProjects and the root Application (it syncs deploy/apps/, itself included)'
# Once synced, Argo CD owns these fields (server-side apply); a re-run takes them back to the
# files' values, and Argo CD then syncs git's again.
k4s_run kubectl apply --server-side --force-conflicts \
  -f deploy/apps/project-gitops.yaml \
  -f deploy/apps/project-infrastructure.yaml \
  -f deploy/apps/project-platform.yaml \
  -f deploy/apps/root.yaml

((from_up || k4s_dry_run)) ||
  k4s_say 'done; follow the sync with: npm run platform -- wait (then npm run platform -- endpoints)'
