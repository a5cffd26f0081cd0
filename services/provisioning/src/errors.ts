/**
 * Errors of the provisioning service and of `npm run provision`, documented in docs/errors.md.
 *
 * The service answers each as an RFC 9457 problem whose `type` ends in the code; the CLI prints
 * the code, the message and the fix.
 */
import { PlatformError } from '../../../platform/errors.js';

export const PROVISIONING_ERRORS = {
  ERR_PROVISIONING_CONFIG: {
    problem: 'the provisioning service was started with a missing or invalid environment variable',
    fix: 'set the variable the message names; docs/provisioning.md (Running it locally) lists them all',
  },
  ERR_PROVISIONING_INVALID: {
    problem:
      'a request body, header or query parameter broke the device model or the NGSI-v2 identifier rules',
    fix: 'read `errors` in the problem: each entry names the field (e.g. devices[3].entity_name) and the rule; fix it and send the request again',
  },
  ERR_PROVISIONING_TOO_LARGE: {
    problem: 'the request body or the number of devices in one bulk request is over the limit',
    fix: 'split the devices into several bulk requests (`npm run provision` does this for you)',
  },
  ERR_PROVISIONING_FORBIDDEN: {
    problem: 'the token is valid for the tenant but lacks the role this operation needs',
    fix: 'use a client or user with the role the message names (see the rights table in docs/architecture.md)',
  },
  ERR_PROVISIONING_NOT_FOUND: {
    problem: 'no such device or service group in this tenant and service path',
    fix: 'check the id and the fiware-service / fiware-servicepath headers; list with GET /provisioning/v1/devices',
  },
  ERR_PROVISIONING_CONFLICT: {
    problem:
      'the request contradicts what is provisioned (e.g. a different API key for an existing service group, or a device naming an API key no group has)',
    fix: 'the message names the conflict; change the request, or delete the object first if replacing it is what you want',
  },
  ERR_UPSTREAM_UNAVAILABLE: {
    problem: 'the IoT Agent or Orion could not be reached or timed out; nothing was written',
    fix: 'retry after the Retry-After seconds; if it persists check the upstream workloads (`kubectl -n <platform ns> get pods`)',
  },
  ERR_UPSTREAM_REJECTED: {
    problem:
      'the IoT Agent or Orion refused a write (the item was rolled back), or answered what the service cannot read',
    fix: 'read the upstream reason in the message; it usually names the attribute or identifier it refused, or the field of the answer that is not as the upstream documents it',
  },
  ERR_PROVISION_FILE: {
    problem: '`npm run provision` could not read the devices file or it does not follow the format',
    fix: 'the message names the file, the path in it and the rule; docs/devices-as-code.md describes the format and docs/devices.schema.json is its JSON Schema',
  },
} as const;
export type ProvisioningErrorCode = keyof typeof PROVISIONING_ERRORS;

/** A documented provisioning error. */
export function provisioningError(
  code: ProvisioningErrorCode,
  message: string,
  cause?: unknown,
): PlatformError {
  return new PlatformError(code, message, PROVISIONING_ERRORS[code].fix, { cause });
}

/** The problem `type` URI of a code. */
export function problemType(code: ProvisioningErrorCode): string {
  return `https://kitt4sme.eu/problems/${code.toLowerCase().replaceAll('_', '-')}`;
}
