/**
 * Sealed, write-only agent secrets: where the Sealed Secrets controller runs (the chart's
 * release, cdk8s/lib/gitops/chart-values.ts) and which Secret an agent's SealedSecret unseals
 * into. The CLI (`npm run agents -- seal`), the rendering and the tests derive from these.
 */
import type { ErrorCatalogue } from '../errors.js';
import { agentSecretName, agentsNamespace } from './resolve.js';

/**
 * The controller's namespace and name: kubeseal's defaults (`--controller-namespace
 * kube-system --controller-name sealed-secrets-controller`), so the upstream tooling finds it
 * without flags.
 */
export const SEALED_SECRETS_CONTROLLER = {
  namespace: 'kube-system',
  name: 'sealed-secrets-controller',
} as const;

/** The folder of the sealed records, relative to the repository root: one file per agent. */
export const SEALED_DIR = 'fleet/secrets';

/** The Secret an agent reads its `secrets` from (and its SealedSecret unseals into). */
export function agentSecretRef(agent: { readonly id: string; readonly tenant: string }): {
  readonly namespace: string;
  readonly name: string;
} {
  return { namespace: agentsNamespace(agent.tenant), name: agentSecretName(agent.id) };
}

/** The errors of `npm run agents -- seal`, by stable code. */
export const SEAL_ERRORS = {
  ERR_SEAL_UNKNOWN_AGENT: {
    problem: 'no agent or pipeline module of the fleet records has that name (in that tenant)',
    fix: 'name an agent as `npm run agents -- plan` lists it (a module as `<pipeline>-<module>`); add `--tenant <tenant>` when two tenants have an agent of that name',
  },
  ERR_SEAL_KEY: {
    problem: '--key is not a Secret key',
    fix: 'use letters, digits, `-`, `_` and `.`, e.g. `--key API_TOKEN`, and name the same key in the agent record (`secrets: [{ env: API_TOKEN, key: API_TOKEN }]`)',
  },
  ERR_SEAL_EMPTY_VALUE: {
    problem: 'the value to seal is empty, or standard input is a terminal',
    fix: 'pipe the value on standard input, never as an argument: `printf %s "$VALUE" | npm run agents -- seal --agent <name> --key <KEY> ...`',
  },
  ERR_SEAL_NO_CERT: {
    problem:
      'no certificate to seal to: neither --cert nor --controller, or the certificate file cannot be read',
    fix: "fetch the target cluster's certificate once (`kubeseal --fetch-cert > cluster.pem`, it is public) and pass `--cert cluster.pem`, or pass `--controller kube-system/sealed-secrets-controller` with a kubeconfig that reaches it",
  },
  ERR_SEAL_FAILED: {
    problem:
      'kubeseal refused to seal (a certificate that is not one, an unreachable controller) or printed no SealedSecret',
    fix: "check the certificate (`openssl x509 -in <file> -noout -subject`) or the controller's Service, then run the command again",
  },
} as const satisfies ErrorCatalogue;
export type SealErrorCode = keyof typeof SEAL_ERRORS;
