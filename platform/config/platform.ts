/**
 * THE platform config: the one file a fork edits.
 *
 * `npm run synth` validates it (platform/config/schema.ts) and stops with a message naming the
 * field and the fix when a value is wrong; docs/config.md explains every key.
 */
import { definePlatform } from './schema.js';

export const platform = definePlatform({
  gitops: {
    // A fork changes this line; Argo CD syncs deploy/ from here.
    repoURL: 'https://github.com/kitt4sme/fiware-platform-kit.git',
    targetRevision: 'main',
  },
  cluster: {
    // What minikube/up.sh starts; the tests build and run this same kube-apiserver.
    kubernetesVersion: 'v1.36.3',
    why: 'newest Kubernetes patch on the Go module proxy inside Istio 1.31’s supported 1.32-1.36',
  },
  ingress: {
    // The host users reach the gateway at; tokens are issued for https://<host>/auth/realms/<realm>.
    host: 'kitt4sme.localhost',
    tls: true,
  },
  namespaces: {
    platform: 'fiware',
    identity: 'identity',
  },
  tenants: [
    { name: 'manufracture', displayName: 'ManuFracture' },
    { name: 'smithereens', displayName: 'Smithereens' },
  ],
  profile: 'laptop',
  storage: {
    // minikube's default StorageClass; null uses the cluster default.
    storageClass: 'standard',
    sizes: {
      mongodb: '5Gi',
      cratedb: '10Gi',
      keycloakPostgres: '2Gi',
      grafana: '1Gi',
      prometheus: '5Gi',
    },
  },
  identity: {
    realm: 'kitt4sme',
    // One demo user per tenant (<tenant>-demo) and a platform-admin, with passwords generated
    // at bootstrap. Turn off for production: people are then added in Keycloak.
    demoUsers: true,
  },
  images: {
    orion: {
      repository: 'telefonicaiot/fiware-orion',
      tag: '4.7.0',
      why: 'latest Orion NGSI-v2 release; needs ORION_MONGO_URI (4.x dropped -dbhost) and is CI-tested on MongoDB 8.0',
    },
    mongodb: {
      repository: 'mongo',
      tag: '8.0.26',
      why: 'MongoDB 8.0 is the series Orion 4.7 runs its CI against (LTS until 2029); iotagent-node-lib 4.14 supports it',
    },
    iotAgentUl: {
      repository: 'telefonicaiot/iotagent-ul',
      tag: '3.14.0-distroless',
      why: 'UL release built on iotagent-node-lib 4.14.0, the library the tests run in-process; distroless has no shell',
    },
    quantumleap: {
      repository: 'orchestracities/quantumleap',
      tag: '1.0.0',
      why: 'latest QuantumLeap release (FIWARE 8.5 uses it); /health fails when CrateDB is unreachable, so readiness means something',
    },
    cratedb: {
      repository: 'crate',
      tag: '6.2.11',
      why: 'latest patch of the newest CrateDB line with field reports of QuantumLeap 1.0.0 working (6.2.x); 6.3+ untested with QL',
    },
    grafana: {
      repository: 'grafana/grafana',
      tag: '12.4.10',
      why: 'latest Grafana 12 patch; its PostgreSQL datasource reads CrateDB over the PG wire protocol (jsonData.database form)',
    },
    keycloak: {
      repository: 'quay.io/keycloak/keycloak',
      tag: '26.7.3',
      why: 'latest Keycloak 26 release; keep in step with the keycloak-quarkus-dist version real-Keycloak tests run from Maven Central',
    },
    postgres: {
      repository: 'postgres',
      tag: '18.6',
      why: 'PostgreSQL 18 is the newest major Keycloak 26.7 tests against; data lives under /var/lib/postgresql (18+ layout)',
    },
    opa: {
      repository: 'openpolicyagent/opa',
      tag: '1.21.1-envoy-static',
      why: 'newest OPA with a published Envoy ext_authz plugin image; policy tests must install this same engine version (v1.21.1)',
    },
    provisioning: {
      repository: 'ghcr.io/kitt4sme/provisioning',
      tag: '0.1.0',
      why: 'our own image, built from services/provisioning/Dockerfile at the package.json version; a fork builds and pushes its own image and changes this entry',
    },
  },
  charts: {
    istio: {
      repoURL: 'https://blob.istio.io/istio-release/charts',
      version: '1.31.1',
      why: 'latest Istio patch (Kubernetes 1.32-1.36); charts moved off storage.googleapis.com with 1.31',
    },
    argoCd: {
      repoURL: 'https://argoproj.github.io/argo-helm',
      version: '10.10.0',
      appVersion: 'v3.5.4',
      why: 'argo-cd chart of Argo CD v3.5.4, the newest chart/app pair confirmed; 3.6.0 had a --rootpath bug we would hit',
    },
    kiali: {
      repoURL: 'https://kiali.org/helm-charts',
      version: '2.31.0',
      why: 'the Kiali version Istio 1.31.1 ships as its add-on, so tested together',
    },
    prometheus: {
      repoURL: 'https://prometheus-community.github.io/helm-charts',
      version: '29.36.1',
      why: 'prometheus chart of Prometheus 3.15.0, the newest confirmed chart/app pair',
    },
    jaeger: {
      repoURL: 'https://jaegertracing.github.io/helm-charts',
      version: '4.12.0',
      why: 'Jaeger v2 (2.20.0) all-in-one chart; receives OTLP from Istio, queried by Kiali over gRPC',
    },
  },
});
