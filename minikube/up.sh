#!/usr/bin/env bash
# Brings up the whole platform on a laptop minikube: the cluster sized for the `laptop`
# profile, the project's own images (built into the node when their pinned tag cannot be
# pulled), Argo CD and the Secrets (argocd/bootstrap.sh), then waits until every Application
# is Synced and Healthy and prints the endpoints. Idempotent: run it again to resume or to
# restart a stopped cluster. Values come from deploy/bootstrap/cluster.env (npm run synth).
set -euo pipefail
K4S_NAME=up
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"

usage() {
  cat <<'EOF'
Usage: minikube/up.sh [--dry-run] [--timeout DURATION] [--profile NAME]

Starts minikube sized for the laptop profile, makes sure the node has the project's own
images (pulls each pinned tag, or builds it from services/<id>/Dockerfile into the node when
it cannot be pulled), installs Argo CD and the generated Secrets, hands Argo CD the platform
from git, waits until every Application is Synced and Healthy,
then prints the endpoints and how to log in. Safe to run again.

Options:
  --dry-run          print what would run (`+ command`) and change nothing
  --timeout DURATION how long to wait for the platform, e.g. 45m (default: 30m)
  --profile NAME     minikube profile (default: $MINIKUBE_PROFILE, else kitt4sme)
  -h, --help         this help

Environment:
  KITT4SME_CLUSTER_ENV  the values file to read (default: deploy/bootstrap/cluster.env)

Exit codes: 0 healthy, 1 not healthy in time or an image build failed, 2 usage or config,
3 tool or cluster missing.
EOF
}

# in_node REF: whether the node's container runtime has the image REF.
in_node() {
  # Not grep -q: it exits at the first match, and with pipefail the writer's SIGPIPE (status
  # 141) would make a listed image look missing (seen once the list had three images).
  minikube -p "$profile" image ls 2>/dev/null | grep -Fx -e "$1" -e "docker.io/$1" >/dev/null
}

# ensure_project_images: each image of KITT4SME_PROJECT_IMAGES (`<id>=<ref>`) is in the node
# afterwards: already there, pulled, or built from services/<id>/Dockerfile. The node's image
# list is read again after a pull or a build, because minikube exits 0 on some failed builds.
# NOTE (1)
ensure_project_images() {
  local entry id ref dockerfile
  for entry in $KITT4SME_PROJECT_IMAGES; do
    id=${entry%%=*}
    ref=${entry#*=}
    dockerfile=services/$id/Dockerfile
    if ((k4s_dry_run)); then
      k4s_check "minikube -p $profile image ls lists $ref, else minikube -p $profile image pull $ref puts it there; only when neither does:"
      k4s_show minikube -p "$profile" image build -t "$ref" -f "$dockerfile" .
      continue
    fi
    if in_node "$ref"; then
      k4s_say "$ref is in the node"
      continue
    fi
    if minikube -p "$profile" image pull "$ref" >&2 && in_node "$ref"; then
      k4s_say "$ref pulled into the node"
      continue
    fi
    k4s_say "$ref cannot be pulled (not released yet, or no access to the registry): building it from $dockerfile into the node, a few minutes the first time"
    if ! minikube -p "$profile" image build -t "$ref" -f "$dockerfile" . >&2 || ! in_node "$ref"; then
      k4s_die 1 "minikube could not build $ref from $dockerfile (see above); try the build on its own with minikube -p $profile image build -t $ref -f $dockerfile . (or docker build), fix it, then run minikube/up.sh again [ERR_IMAGE_BUILD_FAILED]"
    fi
    k4s_say "$ref built into the node"
  done
}

k4s_enter_repo
timeout=30m
profile=${MINIKUBE_PROFILE:-kitt4sme}
while (($#)); do
  case $1 in
    --dry-run) k4s_dry_run=1 ;;
    --timeout) k4s_need_value "$1" "${2:-}"; timeout=$2; shift ;;
    --timeout=*) timeout=${1#*=} ;;
    --profile) k4s_need_value "$1" "${2:-}"; profile=$2; shift ;;
    --profile=*) profile=${1#*=} ;;
    -h | --help) usage; exit 0 ;;
    *) k4s_usage_error "unknown option '$1'" ;;
  esac
  shift
done
[[ $timeout =~ ^[1-9][0-9]*[smh]$ ]] || k4s_usage_error "--timeout must look like 90s, 30m or 1h, got '$timeout'"
k4s_check_profile "$profile"

k4s_load_env
if [[ $KITT4SME_PROFILE != laptop ]]; then
  k4s_die 2 "the platform config's profile is '$KITT4SME_PROFILE', and minikube/up.sh only brings up the laptop profile (a ${KITT4SME_MINIKUBE_CPUS} vCPU / ${KITT4SME_MINIKUBE_MEMORY_MB} MiB minikube). Set profile: 'laptop' in platform/config/platform.ts and npm run synth, or point kubectl at a cluster sized for '$KITT4SME_PROFILE' and run argocd/bootstrap.sh"
fi
tools=(minikube kubectl helm npm)
[[ $KITT4SME_GITOPS_LOCAL == 1 ]] && tools+=(git)
k4s_need_tools "${tools[@]}"

if [[ $KITT4SME_GITOPS_LOCAL == 1 ]]; then
  k4s_note "local-only mode: Argo CD will deploy this clone's HEAD, pushed to branch $KITT4SME_GITOPS_REVISION of $KITT4SME_GITOPS_REPO_URL"
else
  k4s_note "Argo CD will deploy deploy/ from $KITT4SME_GITOPS_REPO_URL at $KITT4SME_GITOPS_REVISION"
fi

steps=5
k4s_step 1 $steps 'checking deploy/ and git'
k4s_preflight

k4s_step 2 $steps "starting minikube '$profile' (${KITT4SME_MINIKUBE_CPUS} vCPU, ${KITT4SME_MINIKUBE_MEMORY_MB} MiB, Kubernetes ${KITT4SME_K8S_VERSION})"
k4s_run minikube start -p "$profile" --cpus="$KITT4SME_MINIKUBE_CPUS" \
  --memory="${KITT4SME_MINIKUBE_MEMORY_MB}mb" --kubernetes-version="$KITT4SME_K8S_VERSION" --cni=bridge ||
  k4s_die 3 "minikube could not start '$profile' (see above); fix the driver (minikube start --help), or recreate it with minikube/down.sh --delete [ERR_CLUSTER_UNREACHABLE]"
k4s_run minikube -p "$profile" addons enable storage-provisioner
k4s_run minikube -p "$profile" addons enable default-storageclass
k4s_run kubectl config use-context "$profile"

k4s_step 3 $steps "the project's images in the node ($KITT4SME_PROJECT_IMAGES)"
ensure_project_images

k4s_step 4 $steps 'Secrets, Argo CD and the root Application (argocd/bootstrap.sh)'
bootstrap=("$BASH" argocd/bootstrap.sh)
((k4s_dry_run)) && bootstrap+=(--dry-run)
KITT4SME_FROM_UP=1 KITT4SME_STEP_INDENT='      ' "${bootstrap[@]}"

k4s_step 5 $steps "waiting until every Application is Synced and Healthy (up to $timeout)"
status=0
wait_args=(--timeout "$timeout")
# The local-only mode has just pushed HEAD: wait until Argo CD has synced that very commit.
[[ $KITT4SME_GITOPS_LOCAL == 1 ]] && wait_args+=(--revision HEAD)
k4s_run npm run -s platform -- wait "${wait_args[@]}" || status=$?
case $status in
  0) ;;
  130) exit 130 ;;
  3) k4s_die 3 "platform wait could not read the cluster (its message above says why: no answer, no rights, or Argo CD's CRD missing); check minikube status -p $profile, then run minikube/up.sh again" ;;
  *) k4s_die 1 "the platform is not Synced and Healthy after $timeout. See what is stuck with kubectl -n $KITT4SME_ARGOCD_NAMESPACE get applications (and kubectl get pods -A); on a slow machine keep waiting with npm run platform -- wait --timeout 30m, or run minikube/up.sh --timeout 1h again" ;;
esac
if [[ $KITT4SME_GITOPS_LOCAL == 1 ]]; then
  # The git server started before Istio, so without the sidecar through which the fleet
  # service pushes (cdk8s/lib/gitops/local-git.ts NOTE 1): restart it into the mesh.
  k4s_run kubectl -n "$KITT4SME_ARGOCD_NAMESPACE" rollout restart "deploy/$KITT4SME_LOCAL_GIT_SERVICE"
  k4s_run kubectl -n "$KITT4SME_ARGOCD_NAMESPACE" rollout status "deploy/$KITT4SME_LOCAL_GIT_SERVICE" --timeout 5m ||
    k4s_warn "the local git server did not restart; the fleet service cannot push until it runs with its sidecar (kubectl -n $KITT4SME_ARGOCD_NAMESPACE describe deploy/$KITT4SME_LOCAL_GIT_SERVICE)"
fi
k4s_run npm run -s platform -- endpoints ||
  k4s_warn "could not list the endpoints; the platform is at $KITT4SME_INGRESS_URL (see minikube/README.md)"
((k4s_dry_run)) || k4s_say "done: the platform is Synced and Healthy; stop it with minikube/down.sh"

# NOTE
# 1. Why check the node's image list after `minikube image pull/build`. minikube exits 0 when a
#    build inside the node fails (kubernetes/minikube#16576, seen with 1.30.1), like
#    `minikube image load` on a missing file (#21393, 1.36.0). The Deployment's
#    imagePullPolicy is IfNotPresent, so an image the node holds under the pinned reference is
#    used as is and never pulled.
