#!/usr/bin/env -S npx tsx
/**
 * `npm run setup`: installs the pinned real components the tests need: OPA (go install),
 * kube-apiserver (built from k8s.io/kubernetes through the Go module proxy) and Argo CD's
 * controller and repo-server (built from github.com/argoproj/argo-cd/v3 the same way) into
 * .cache/tools, Keycloak (keycloak-quarkus-dist from Maven Central), the upstream Argo CD and
 * Istio CRDs (Go module cache), FerretDB and mongodump/mongorestore (built from the Go module
 * proxy, for the backup tests), helm (built from helm.sh/helm/v4 the same way) and the
 * Istio charts (the istio.io/istio module, Go module cache) for the chart tests, the
 * sealed-secrets controller and kubeseal with the SealedSecret CRD (github.com/bitnami-labs/
 * sealed-secrets, Go module proxy), Alertmanager (github.com/prometheus/alertmanager, Go module
 * proxy, for the alert routing test), the kubelet,
 * kube-proxy, kube-controller-manager and kube-scheduler (k8s.io/kubernetes, like
 * kube-apiserver) and, when missing, Debian's chromium, etcd-server, redis-server,
 * shellcheck, postgresql and a node's runtime (containerd, runc, the CNI plugins, iptables,
 * conntrack, umoci, catatonit). The test command runs it first; it does nothing
 * when all are in place.
 *
 * Exit codes: 0 ready, 3 a component could not be installed.
 */
import { EXIT, reportError } from '../../platform/cli.js';
import { PlatformError } from '../../platform/errors.js';
import {
  ensureAlertmanager,
  ensureArgoCd,
  ensureChromium,
  ensureEtcd,
  ensureFerretDb,
  ensureKeycloak,
  ensureKubeApiserver,
  ensureHelm,
  ensureKubeNode,
  ensureMongoTools,
  ensureNodeRuntime,
  ensureOpa,
  ensurePostgres,
  ensureRedis,
  ensureSealedSecrets,
  ensureShellcheck,
  istioChartsModuleDir,
  java21Home,
  sealedSecretsCrdFile,
  upstreamCrdFiles,
} from '../tools.js';

try {
  ensureOpa();
  ensureKubeApiserver();
  ensureKubeNode();
  ensureNodeRuntime();
  ensureEtcd();
  upstreamCrdFiles();
  ensureArgoCd();
  ensureRedis();
  ensureKeycloak();
  java21Home();
  ensureChromium();
  ensureShellcheck();
  ensurePostgres();
  ensureFerretDb();
  ensureMongoTools();
  ensureHelm();
  istioChartsModuleDir();
  ensureSealedSecrets();
  sealedSecretsCrdFile();
  ensureAlertmanager();
} catch (err) {
  if (err instanceof PlatformError) {
    reportError('setup', err);
    process.exit(EXIT.environment);
  }
  throw err;
}
