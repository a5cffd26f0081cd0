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
  ERR_BACKUP_NOT_DEPLOYED: {
    problem:
      '`platform backup` or `restore` found no backup CronJob of the database in the cluster (deploy/ is not synced there yet, or the context is another cluster)',
    fix: 'wait until the data and identity Applications are synced (`npm run platform -- status`), or select the right cluster with --context',
  },
  ERR_BACKUP_FAILED: {
    problem: 'a backup job failed; its message ends with the end of the job’s log',
    fix: 'read the log lines in the message (the whole log: `kubectl -n <namespace> logs job/<job>`), fix the cause (often a full backup volume: raise backup.sizes or lower backup.keep), and back up again',
  },
  ERR_RESTORE_UNCONFIRMED: {
    problem:
      '`platform restore` was asked to overwrite a database without --yes; nothing was changed',
    fix: 'read what the restore overwrites (printed above), then run the same command with --yes',
  },
  ERR_BACKUP_NAME: {
    problem: '`platform restore --from` names a backup of another database',
    fix: 'give a name from `npm run platform -- backups <database>` of the database you restore, or latest',
  },
  ERR_RESTORE_FAILED: {
    problem:
      'a restore job failed; the message says whether the database was changed (the scripts check a backup before they touch anything)',
    fix: 'read the log lines in the message; for a missing or damaged backup list the good ones with `npm run platform -- backups <database>` and restore one of those',
  },
  ERR_JOB_TIMEOUT: {
    problem:
      'a backup or restore job did not end within --timeout; it goes on running in the cluster',
    fix: 'follow it with `kubectl -n <namespace> logs -f job/<job>` (the message names it), or wait longer with a larger --timeout next time',
  },
  ERR_PORT_FORWARD: {
    problem:
      'the port-forward to the pod failed (the API server could not reach the kubelet, or the pod went away)',
    fix: 'run the command again; if it keeps failing, check that `kubectl port-forward` works with the same context',
  },
  ERR_ROTATE_UNKNOWN_ID: {
    problem:
      '`npm run bootstrap:secrets -- --rotate` was given an id that names no bootstrap Secret, shared value, key or agent of the fleet',
    fix: 'use one of the ids the message lists: a Secret (`grafanaOidc`), a client secret (`oidc-client:<client id>`), one key (`<secret id>/<key>`), an agent (`agent:agent-<12 hex>`) or `agents`',
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
