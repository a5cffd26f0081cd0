/**
 * Errors of the platform CLI (`npm run platform`) and of `npm run bootstrap:secrets -- --rotate`,
 * documented in docs/errors.md.
 * ERR_CLUSTER_UNREACHABLE is a top-level code shared with the other cluster tools.
 */
import { PlatformError } from '../../../platform/errors.js';

export const OPS_ERRORS = {
  ERR_NOT_HEALTHY: {
    problem:
      '`platform wait` timed out before every Application was Synced and Healthy and every workload ready',
    fix: 'read the listed Applications and workloads (`npm run platform -- status`, then the Argo CD UI or `kubectl -n argocd describe application <name>`), fix the cause and wait again',
  },
  ERR_DEPLOY_REJECTED: {
    problem:
      'the API server rejected one or more objects of deploy/ in a server-side dry-run apply; nothing was changed',
    fix: 'fix the construct that produced each listed object (the message gives the server’s reason), run `npm run synth`, and validate again',
  },
  ERR_NO_READY_POD: {
    problem: 'the Service to open has no running, ready pod to forward to',
    fix: 'check the workload with `npm run platform -- status`; the Application that deploys it may still be syncing',
  },
  ERR_PORT_FORWARD: {
    problem:
      'the port-forward to the pod failed (the API server could not reach the kubelet, or the pod went away)',
    fix: 'run the command again; if it keeps failing, check that `kubectl port-forward` works with the same context',
  },
  ERR_ROTATE_UNKNOWN_ID: {
    problem:
      '`npm run bootstrap:secrets -- --rotate` was given an id that names no bootstrap Secret, shared value or key',
    fix: 'use one of the ids the message lists: a Secret (`grafanaOidc`), a client secret (`oidc-client:<client id>`) or one key (`<secret id>/<key>`)',
  },
  ERR_ROTATE_MANUAL: {
    problem:
      'the value to rotate is also kept by its holder (a database’s user, an admin account, a certificate from a CA), which the command does not change; nothing was changed',
    fix: 'follow the procedure the message gives (also in argocd/README.md, “Rotate a secret”): the holder first, then the Secret, then the restarts it lists',
  },
  ERR_ROTATE_NOT_BOOTSTRAPPED: {
    problem:
      'a Secret to rotate, or a key of it, does not exist in the cluster yet; nothing was changed',
    fix: 'run `npm run bootstrap:secrets` first (it creates what is missing), then rotate',
  },
  ERR_ROTATE_INCOMPLETE: {
    problem:
      'a rotation stopped part-way; the message lists what was changed and what was not (the cause is in the message too)',
    fix: 'fix the cause, then run the same command again: that is safe (every copy gets a fresh value again, then Keycloak and the restarts follow); or finish by hand with the commands the message lists',
  },
} as const;
export type OpsErrorCode = keyof typeof OPS_ERRORS;

/** A documented error of the platform CLI. */
export function opsError(code: OpsErrorCode, message: string, cause?: unknown): PlatformError {
  return new PlatformError(code, message, OPS_ERRORS[code].fix, { cause });
}
