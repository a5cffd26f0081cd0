#!/usr/bin/env bash
# Local-only mode: pushes this clone's HEAD to the in-cluster git server Argo CD reads (the
# branch gitops.targetRevision names), then asks Argo CD to refresh every Application. Use it
# after each commit, in place of `git push`. Only what is committed is pushed.
set -euo pipefail
K4S_NAME=push-local
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"

usage() {
  cat <<'EOF'
Usage: minikube/push-local.sh [--dry-run]

For the local-only mode (gitops.repoURL is the in-cluster git server): forwards a local port
to that server, force-pushes HEAD to the branch Argo CD follows, and asks Argo CD to refresh.

Options:
  --dry-run   print what would run (`+ command`) and change nothing
  -h, --help  this help

Environment:
  KITT4SME_CLUSTER_ENV  the values file to read (default: deploy/bootstrap/cluster.env)

Exit codes: 0 pushed, 1 the push failed, 2 usage or not the local-only mode,
3 tool or cluster missing.
EOF
}

k4s_enter_repo
k4s_parse_dry_run "$@"
k4s_load_env
if [[ $KITT4SME_GITOPS_LOCAL != 1 ]]; then
  k4s_die 2 "the config's gitops.repoURL is $KITT4SME_GITOPS_REPO_URL; push to it with git push. This script is for the local-only mode (minikube/README.md)"
fi
k4s_need_tools kubectl git

ns=$KITT4SME_ARGOCD_NAMESPACE
svc=$KITT4SME_LOCAL_GIT_SERVICE
ref="HEAD:refs/heads/$KITT4SME_GITOPS_REVISION"
# The daemon that accepts pushes listens on the pod's loopback only (deploy/bootstrap/
# local-git.yaml), so a port-forward to the pod is the one way in; `:port` lets kubectl choose
# a free local port, which it prints and the real run reads back.
forward=(kubectl -n "$ns" port-forward --address 127.0.0.1 "deploy/$svc" ":$KITT4SME_LOCAL_GIT_PUSH_PORT")
# Every Application, not only root: each one reads its own path of the same repository.
annotate=(kubectl -n "$ns" annotate applications --all argocd.argoproj.io/refresh=normal --overwrite)

if ((k4s_dry_run)); then
  k4s_step 1 2 "push HEAD to $KITT4SME_GITOPS_REVISION of the in-cluster git server"
  printf '%s &\n' "$(k4s_show "${forward[@]}")"
  k4s_show git push --force "git://127.0.0.1:<port>/$KITT4SME_LOCAL_GIT_REPO" "$ref"
  k4s_step 2 2 'ask Argo CD to refresh the Applications'
  k4s_show "${annotate[@]}"
  exit 0
fi

k4s_step 1 2 "push HEAD to $KITT4SME_GITOPS_REVISION of the in-cluster git server"
[[ -z $(git status --porcelain -- deploy) ]] ||
  k4s_warn 'deploy/ has uncommitted changes; only commits are pushed: commit them and run this again'

log=$(mktemp)
pf=
cleanup() {
  if [[ -n $pf ]]; then
    kill "$pf" 2>/dev/null || true
    wait "$pf" 2>/dev/null || true
  fi
  rm -f "$log"
}
trap cleanup EXIT
"${forward[@]}" >"$log" 2>&1 &
pf=$!

port=
for ((i = 0; i < 150; i++)); do
  port=$(sed -n 's/^Forwarding from 127\.0\.0\.1:\([0-9][0-9]*\) .*/\1/p' "$log" | sed -n 1p)
  [[ -n $port ]] && break
  kill -0 "$pf" 2>/dev/null || break
  sleep 0.2
done
if [[ -z $port ]]; then
  cat "$log" >&2
  k4s_die 3 "could not forward a port to deploy/$svc in $ns (see above); is the cluster up and the local git server running? (argocd/bootstrap.sh installs it) [ERR_CLUSTER_UNREACHABLE]"
fi

git push --force "git://127.0.0.1:$port/$KITT4SME_LOCAL_GIT_REPO" "$ref" ||
  k4s_die 1 "git push to the in-cluster server failed (see above); check kubectl -n $ns logs deploy/$svc"

k4s_step 2 2 'ask Argo CD to refresh the Applications'
if ! "${annotate[@]}" >/dev/null 2>&1; then
  k4s_say 'no Applications to refresh yet; Argo CD reads the pushed commit once root is applied'
fi
