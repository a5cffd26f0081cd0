# shellcheck shell=bash
# Helpers shared by minikube/{up,down,push-local}.sh and argocd/bootstrap.sh. Sourced, never run.
#
# A script sets K4S_NAME and defines usage() (help on stdout), then calls k4s_enter_repo,
# parses its options with k4s_dry_run=1 for --dry-run, and k4s_load_env.
#
# Dry-run contract: every command that would run is printed on stdout as `+ command`, and the
# checks a real run makes first as `# check: ...`; no external tool is called at all.
# Progress (`[n/N] ...`) and messages go to stderr. Exit codes: 0 ok, 1 the platform did not
# become healthy, 2 usage or config, 3 a tool or the cluster is missing.

K4S_NAME=${K4S_NAME:-kitt4sme}
k4s_dry_run=0

# Variables every script reads from cluster.env; a missing one means the file is stale.
K4S_ENV_VARS=(
  KITT4SME_PROFILE KITT4SME_K8S_VERSION KITT4SME_MINIKUBE_CPUS KITT4SME_MINIKUBE_MEMORY_MB
  KITT4SME_ARGOCD_NAMESPACE KITT4SME_ARGOCD_CHART_REPO KITT4SME_ARGOCD_CHART_VERSION
  KITT4SME_GITOPS_REPO_URL KITT4SME_GITOPS_REVISION KITT4SME_GITOPS_LOCAL
  KITT4SME_LOCAL_GIT_SERVICE KITT4SME_LOCAL_GIT_PUSH_PORT KITT4SME_LOCAL_GIT_REPO
  KITT4SME_INGRESS_URL KITT4SME_PROJECT_IMAGES
)

k4s_say() { printf '%s: %s\n' "$K4S_NAME" "$*" >&2; }

# k4s_die CODE MESSAGE...: the message on stderr, then exit CODE.
k4s_die() {
  local code=$1
  shift
  printf '%s: %s\n' "$K4S_NAME" "$*" >&2
  exit "$code"
}

# k4s_usage_error MESSAGE: the message and the usage on stderr, exit 2.
k4s_usage_error() {
  printf '%s: %s\n\n' "$K4S_NAME" "$1" >&2
  usage >&2
  exit 2
}

# k4s_need_value OPTION VALUE: fails (usage, exit 2) when an option lacks its value.
k4s_need_value() {
  [[ -n ${2:-} && ${2:0:1} != - ]] || k4s_usage_error "$1 needs a value"
}

# k4s_step N TOTAL TEXT: one progress line on stderr (indented when run by another script).
k4s_step() { printf '%s[%s/%s] %s\n' "${KITT4SME_STEP_INDENT:-}" "$1" "$2" "$3" >&2; }

# k4s_note TEXT: information; on stdout as a `#` comment in dry-run, so it sits with the plan.
k4s_note() {
  if ((k4s_dry_run)); then printf '# %s\n' "$*"; else k4s_say "$*"; fi
}

k4s_warn() { printf '%s: warning: %s\n' "$K4S_NAME" "$*" >&2; }

# k4s_quote WORD: the word as a shell would need it (quoted only when it has to be).
k4s_quote() {
  case $1 in
    '') printf "''" ;;
    *[!A-Za-z0-9_./:=@%+,-]*) printf "'%s'" "${1//\'/\'\\\'\'}" ;;
    *) printf '%s' "$1" ;;
  esac
}

# k4s_show COMMAND...: prints `+ command` on stdout.
k4s_show() {
  local out='+' word
  for word in "$@"; do out+=" $(k4s_quote "$word")"; done
  printf '%s\n' "$out"
}

# k4s_run COMMAND...: runs the command, or only shows it in dry-run.
k4s_run() {
  if ((k4s_dry_run)); then k4s_show "$@"; else "$@"; fi
}

# k4s_check TEXT: in dry-run, shows a check a real run would make (and does not make it).
k4s_check() { printf '# check: %s\n' "$*"; }

# How to install each tool, for the ERR_TOOL_MISSING message.
k4s_install_hint() {
  case $1 in
    minikube) echo 'install it from https://minikube.sigs.k8s.io/docs/start/' ;;
    kubectl) echo 'install it from https://kubernetes.io/docs/tasks/tools/' ;;
    helm) echo 'install it from https://helm.sh/docs/intro/install/' ;;
    npm) echo 'install Node.js 20 or later (https://nodejs.org), then run npm ci' ;;
    git) echo 'install it from https://git-scm.com/downloads' ;;
    *) echo "install $1" ;;
  esac
}

# k4s_need_tools TOOL...: exit 3 naming the first missing tool; in dry-run only a note.
k4s_need_tools() {
  local tool
  for tool in "$@"; do
    command -v "$tool" >/dev/null 2>&1 && continue
    if ((k4s_dry_run)); then
      k4s_note "note: $tool is not installed; a real run would stop here [ERR_TOOL_MISSING]"
    else
      k4s_die 3 "$tool is not installed; $(k4s_install_hint "$tool"), then run $0 again [ERR_TOOL_MISSING]"
    fi
  done
  if [[ " $* " == *' npm '* && ! -d node_modules ]]; then
    if ((k4s_dry_run)); then
      k4s_note 'note: node_modules/ is missing; a real run would stop here (run npm ci) [ERR_TOOL_MISSING]'
    else
      k4s_die 3 "the project's dependencies are not installed; run npm ci, then $0 again [ERR_TOOL_MISSING]"
    fi
  fi
}

# k4s_enter_repo: resolves KITT4SME_CLUSTER_ENV against the caller's directory (and exports
# it, so scripts this one runs read the same file), then changes to the repository root.
# k4s_parse_dry_run ARGS...: the options of a script that has only --dry-run and --help.
k4s_parse_dry_run() {
  while (($#)); do
    case $1 in
      --dry-run) k4s_dry_run=1 ;;
      -h | --help) usage; exit 0 ;;
      *) k4s_usage_error "unknown option '$1'" ;;
    esac
    shift
  done
}

# k4s_check_profile NAME: fails (usage, exit 2) unless NAME can be a minikube profile.
k4s_check_profile() {
  [[ $1 =~ ^[A-Za-z0-9][A-Za-z0-9._-]*$ ]] || k4s_usage_error "--profile must be a minikube profile name, got '$1'"
}

k4s_enter_repo() {
  local root
  root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
  if [[ -n ${KITT4SME_CLUSTER_ENV:-} && ${KITT4SME_CLUSTER_ENV} != /* ]]; then
    KITT4SME_CLUSTER_ENV="$PWD/$KITT4SME_CLUSTER_ENV"
  fi
  export KITT4SME_CLUSTER_ENV="${KITT4SME_CLUSTER_ENV:-$root/deploy/bootstrap/cluster.env}"
  cd "$root" || exit 2
}

# k4s_load_env: sources cluster.env (the platform config's values, generated by synth).
k4s_load_env() {
  local file=$KITT4SME_CLUSTER_ENV var
  [[ -f $file ]] ||
    k4s_die 2 "$file is missing; run npm run synth (it generates the values these scripts read from platform/config/platform.ts)"
  # shellcheck source=/dev/null
  . "$file"
  for var in "${K4S_ENV_VARS[@]}"; do
    [[ -n ${!var:-} ]] || k4s_die 2 "$file has no $var; it is stale: run npm run synth"
  done
}

# k4s_repo_key URL: host/path of a git URL, so https, ssh and scp-like forms compare equal.
k4s_repo_key() {
  local u=${1%/}
  u=${u%.git}
  if [[ $u == *://* ]]; then
    u=${u#*://}
    u=${u#*@}
  else
    u=${u#*@}
    u=${u/://}
  fi
  printf '%s\n' "$u"
}

# k4s_preflight: what must hold before Argo CD is handed the platform. Fails (exit 2) when
# deploy/ is stale; warns when git would not give Argo CD what is in this working tree.
k4s_preflight() {
  local local_mode=0
  [[ $KITT4SME_GITOPS_LOCAL == 1 ]] && local_mode=1
  if ((k4s_dry_run)); then
    k4s_check 'npm run -s synth -- --check (deploy/ must match a fresh synth, or exit 2)'
    if ((local_mode)); then
      k4s_check 'git status --porcelain -- deploy (warn about uncommitted changes: the push sends HEAD)'
    else
      k4s_check "git remote get-url origin is $KITT4SME_GITOPS_REPO_URL and $KITT4SME_GITOPS_REVISION is pushed (warnings only)"
    fi
    return 0
  fi
  npm run -s synth -- --check ||
    k4s_die 2 'deploy/ differs from what synth produces; Argo CD would deploy the old manifests. Run npm run synth, commit deploy/ (and push it), then run this again'

  if ! command -v git >/dev/null 2>&1 || ! git rev-parse --git-dir >/dev/null 2>&1; then
    k4s_warn "not a git checkout; Argo CD deploys $KITT4SME_GITOPS_REVISION of $KITT4SME_GITOPS_REPO_URL, whatever this directory holds"
    return 0
  fi
  if [[ -n $(git status --porcelain -- deploy) ]]; then
    k4s_warn 'deploy/ has uncommitted changes; Argo CD only sees commits: commit them'
  fi
  ((local_mode)) && return 0

  local origin status branch
  origin=$(git remote get-url origin 2>/dev/null || true)
  if [[ -z $origin ]]; then
    k4s_warn "no git remote 'origin'; Argo CD deploys $KITT4SME_GITOPS_REPO_URL (gitops.repoURL in platform/config/platform.ts)"
  elif [[ $(k4s_repo_key "$origin") != "$(k4s_repo_key "$KITT4SME_GITOPS_REPO_URL")" ]]; then
    k4s_warn "origin is $origin but Argo CD deploys $KITT4SME_GITOPS_REPO_URL; for a fork, set gitops.repoURL in platform/config/platform.ts, npm run synth, commit and push"
  fi
  status=$(git status --porcelain -b | sed -n 1p)
  branch=${status#\#\# }
  branch=${branch%%...*}
  branch=${branch%% *}
  if [[ $branch != "$KITT4SME_GITOPS_REVISION" ]]; then
    if git show-ref --verify --quiet "refs/heads/$KITT4SME_GITOPS_REVISION"; then
      k4s_warn "you are on '$branch' but Argo CD deploys '$KITT4SME_GITOPS_REVISION' (gitops.targetRevision)"
    fi
  elif [[ $status != *...* ]]; then
    k4s_warn "'$branch' has no upstream; Argo CD deploys what the remote has: git push -u origin $branch"
  elif [[ $status == *'[ahead '* ]]; then
    k4s_warn "'$branch' has commits the remote lacks; Argo CD deploys what the remote has: git push"
  fi
  return 0
}
