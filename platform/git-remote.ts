/**
 * The GitOps repository as the fleet service's remote: where it is (gitops.repoURL), how the
 * service authenticates its pushes, and the host the mesh must let it reach. One reading of
 * the URL for the construct (the Secret it mounts, the ServiceEntry of the host, the push URL)
 * and `npm run bootstrap:secrets` (the credential it generates or asks for).
 *
 * - `ssh` (`git@host:owner/repo.git`, `ssh://[user@]host[:port]/...`): an ed25519 deploy key
 *   generated at bootstrap, whose public half the user adds to the fork with write access, and
 *   a known_hosts file pinned here for well-known hosts (or given at bootstrap), so the first
 *   connection never trusts whatever key it is shown.
 * - `https`: a token the user gives at bootstrap (a fine-grained token with contents:write on
 *   the fork), handed to git by an askpass helper, never in the URL.
 * - `local`: the in-cluster git server of the local-only mode; no credential: the mesh lets
 *   only the fleet's identity reach its push port (cdk8s/lib/gitops/local-git.ts).
 */
import { LOCAL_GIT, LOCAL_GIT_REPO_URL } from './config/schema.js';

/** How the fleet service reaches and authenticates to the GitOps repository. */
export type GitRemote =
  | {
      readonly kind: 'ssh';
      readonly host: string;
      readonly port: number;
      /** The URL the service clones, fetches and pushes. */
      readonly url: string;
    }
  | { readonly kind: 'https'; readonly host: string; readonly port: number; readonly url: string }
  | { readonly kind: 'local'; readonly host: string; readonly port: number; readonly url: string };

/** The Service name, namespace and push port of the local-only mode's git server. */
export const LOCAL_GIT_HOST = `${LOCAL_GIT.service}.argocd.svc.cluster.local`;

/** Reads gitops.repoURL (already validated by the config schema). */
export function gitRemote(repoURL: string): GitRemote {
  if (repoURL === LOCAL_GIT_REPO_URL)
    return {
      kind: 'local',
      host: LOCAL_GIT_HOST,
      port: LOCAL_GIT.pushPort,
      url: `git://${LOCAL_GIT_HOST}:${LOCAL_GIT.pushPort}/${LOCAL_GIT.repo}`,
    };
  const scp = /^[^@\s/]+@([^\s:/]+):(?!\/)\S+$/.exec(repoURL);
  if (scp) return { kind: 'ssh', host: scp[1]!.toLowerCase(), port: 22, url: repoURL };
  const url = new URL(repoURL);
  if (url.protocol === 'ssh:')
    return {
      kind: 'ssh',
      host: url.hostname.toLowerCase(),
      port: url.port ? Number(url.port) : 22,
      url: repoURL,
    };
  if (url.protocol === 'https:')
    return {
      kind: 'https',
      host: url.hostname.toLowerCase(),
      port: url.port ? Number(url.port) : 443,
      url: repoURL,
    };
  throw new TypeError(`gitops.repoURL ${repoURL} is neither ssh, https nor the local git server`);
}

/**
 * SSH host keys of well-known git hosts, as published by their operators, for the fleet's
 * known_hosts: a deploy key is only as safe as the host it is shown to. Another host's keys are
 * given at bootstrap (`--git-known-hosts <file>`).
 * @see https://docs.github.com/en/authentication/keeping-your-account-and-data-secure/githubs-ssh-key-fingerprints
 */
export const PINNED_KNOWN_HOSTS: Readonly<Record<string, readonly string[]>> = {
  'github.com': [
    'github.com ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl',
  ],
};

/** The known_hosts lines of a pinned host (`[host]:port` for a port other than 22). */
export function pinnedKnownHosts(remote: GitRemote): string | undefined {
  const lines = PINNED_KNOWN_HOSTS[remote.host];
  if (!lines) return undefined;
  const name = remote.port === 22 ? remote.host : `[${remote.host}]:${remote.port}`;
  return `${lines.map((l) => l.replace(/^\S+/, name)).join('\n')}\n`;
}
