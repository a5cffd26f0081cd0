/**
 * Sealed, write-only agent secrets: where the Sealed Secrets controller runs (the chart's
 * release, cdk8s/lib/gitops/chart-values.ts) and which Secret an agent's SealedSecret unseals
 * into. The CLI (`npm run agents -- seal`), the rendering and the tests derive from these.
 */
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
