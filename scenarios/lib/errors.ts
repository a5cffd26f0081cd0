/**
 * Errors of the scenario runner (`npm run scenarios`) that stop a run before its first step,
 * documented in docs/errors.md. A failing step is not an error: it is the runner's result.
 */
export const SCENARIO_ERRORS = {
  ERR_TARGET_UNREACHABLE: {
    problem:
      'the scenario runner could not reach the ingress at --base-url (connection refused, DNS, TLS or a timeout)',
    fix: 'check --base-url (or $KITT4SME_BASE_URL) and that the cluster is up; for minikube see minikube/README.md (ENOTFOUND for kitt4sme.localhost: add "127.0.0.1 kitt4sme.localhost" to /etc/hosts), and for a self-signed ingress certificate set NODE_EXTRA_CA_CERTS to its CA',
  },
  ERR_SCENARIO_CREDENTIALS: {
    problem:
      'the scenario runner could not get a token of a tenant’s scenarios or devices client (secret missing, refused, or Keycloak unreachable)',
    fix: 'set KITT4SME_CLIENT_SECRET_<TENANT>_SCENARIOS and KITT4SME_CLIENT_SECRET_<TENANT>_DEVICES for every tenant, or run where kubectl can read the keycloak-realm Secret (--context); check --keycloak-url',
  },
} as const;
export type ScenarioErrorCode = keyof typeof SCENARIO_ERRORS;
