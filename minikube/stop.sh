#!/usr/bin/env bash
# Stops the laptop cluster; volumes survive until `minikube delete -p kitt4sme`.
set -euo pipefail
PROFILE=${MINIKUBE_PROFILE:-kitt4sme}
command -v minikube >/dev/null || { echo "stop: minikube is not installed [ERR_TOOL_MISSING]" >&2; exit 3; }
minikube stop -p "$PROFILE"
