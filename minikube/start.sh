#!/usr/bin/env bash
# Starts the laptop cluster the `laptop` profile is sized for. Idempotent: an existing profile
# is started, not re-created.
set -euo pipefail
PROFILE=${MINIKUBE_PROFILE:-kitt4sme}
# Istio 1.31 supports Kubernetes 1.32-1.36; minikube 1.39 defaults to 1.37.
K8S_VERSION=${K8S_VERSION:-v1.36.6}

command -v minikube >/dev/null || { echo "start: minikube is not installed [ERR_TOOL_MISSING]" >&2; exit 3; }
minikube start -p "$PROFILE" --cpus=4 --memory=8g --kubernetes-version="$K8S_VERSION" --cni=bridge
minikube -p "$PROFILE" addons enable storage-provisioner
minikube -p "$PROFILE" addons enable default-storageclass
kubectl config use-context "$PROFILE"
echo "start: cluster $PROFILE is up; next: argocd/bootstrap.sh" >&2
