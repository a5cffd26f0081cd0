/**
 * Pod labels the mesh configuration selects on.
 */

/**
 * Marks the pods that serve a `tenant` route of the route table (Orion, QuantumLeap, the IoT
 * Agent, the provisioning service): their sidecars verify Keycloak tokens (RequestAuthentication).
 */
export const TENANT_API_LABEL = { key: 'kitt4sme.io/tenant-api', value: 'true' } as const;
