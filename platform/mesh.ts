/**
 * Mesh identities: the SPIFFE principals Istio derives from service accounts.
 */

/** The SPIFFE trust domain of the mesh (Istio's default). */
export const TRUST_DOMAIN = 'cluster.local';

/** A workload's mesh identity: the principal Istio derives from its service account. */
export function meshPrincipal(namespace: string, serviceAccount: string): string {
  return `${TRUST_DOMAIN}/ns/${namespace}/sa/${serviceAccount}`;
}
