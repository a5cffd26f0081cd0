/**
 * Method sets for east-west grants (`target.grantAccess(caller, { methods })`).
 */
import type { HttpMethod } from '../../config/roles.js';

/** Reads only. */
export const READ_METHODS: readonly HttpMethod[] = ['GET', 'HEAD'];

/** Writes, including reads (NGSI updates need GET for upserts and lookups). */
export const WRITE_METHODS: readonly HttpMethod[] = [
  'GET',
  'HEAD',
  'POST',
  'PUT',
  'PATCH',
  'DELETE',
];

/** The SPIFFE trust domain of the mesh (Istio's default). */
export const TRUST_DOMAIN = 'cluster.local';

/** A workload's mesh identity: the principal Istio derives from its service account. */
export function meshPrincipal(namespace: string, serviceAccount: string): string {
  return `${TRUST_DOMAIN}/ns/${namespace}/sa/${serviceAccount}`;
}
