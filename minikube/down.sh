#!/usr/bin/env bash
# Stops the laptop cluster (the volumes survive; minikube/up.sh starts it again), or deletes
# it with --delete. Idempotent: a stopped or missing profile is not an error.
set -euo pipefail
K4S_NAME=down
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"

usage() {
  cat <<'EOF'
Usage: minikube/down.sh [--dry-run] [--delete] [--profile NAME]

Stops the minikube profile and keeps its volumes (minikube/up.sh starts it again), or with
--delete removes the cluster and everything in it.

Options:
  --delete       delete the profile instead of stopping it
  --profile NAME minikube profile (default: $MINIKUBE_PROFILE, else kitt4sme)
  --dry-run      print what would run (`+ command`) and change nothing
  -h, --help     this help

Exit codes: 0 stopped (or already), 2 usage, 3 minikube missing or failing.
EOF
}

k4s_enter_repo
delete=0
profile=${MINIKUBE_PROFILE:-kitt4sme}
while (($#)); do
  case $1 in
    --dry-run) k4s_dry_run=1 ;;
    --delete) delete=1 ;;
    --profile) k4s_need_value "$1" "${2:-}"; profile=$2; shift ;;
    --profile=*) profile=${1#*=} ;;
    -h | --help) usage; exit 0 ;;
    *) k4s_usage_error "unknown option '$1'" ;;
  esac
  shift
done
k4s_check_profile "$profile"
k4s_need_tools minikube

if ((delete)); then action=delete; else action=stop; fi
if ((k4s_dry_run)); then
  k4s_check "minikube status -p $profile --format={{.Host}} (nothing to do when the profile is missing$( ((delete)) || echo ' or stopped'))"
  k4s_show minikube "$action" -p "$profile"
  exit 0
fi

# `minikube status` exits non-zero for anything but a running cluster; its text says which.
host=$(minikube status -p "$profile" --format='{{.Host}}' 2>&1) || true
case $host in
  *'not found'* | *'does not exist'* | *Nonexistent*)
    k4s_say "no such profile '$profile'; nothing to $action"
    exit 0
    ;;
  *Stopped*)
    if ((!delete)); then
      k4s_say "'$profile' is already stopped (delete it with minikube/down.sh --delete)"
      exit 0
    fi
    ;;
esac
minikube "$action" -p "$profile" ||
  k4s_die 3 "minikube $action -p $profile failed (see above) [ERR_CLUSTER_UNREACHABLE]"
if ((delete)); then
  k4s_say "deleted '$profile'; minikube/up.sh creates a fresh one"
else
  k4s_say "stopped '$profile'; volumes are kept, minikube/up.sh starts it again"
fi
