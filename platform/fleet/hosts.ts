/**
 * What a factory host is as a Kubernetes node: the labels it carries (inventory for people and
 * schedulers: site, line, capabilities), the taint of a specialised host (only agents placed on
 * it run there), and the command that joins it to the platform cluster with exactly those, as
 * a k3s agent. Derived from its `Host` record, so the record and the node never disagree.
 */
import type { ResolvedHost } from './resolve.js';

/** The taint of a specialised host, tolerated only by agents placed on it (or its groups). */
export const SPECIALISED_TAINT = 'fleet.kitt4sme.io/specialised';

/** The node labels of a host's inventory. */
export const HOST_LABELS = {
  site: 'fleet.kitt4sme.io/site',
  line: 'fleet.kitt4sme.io/line',
  /** One label per capability: `fleet.kitt4sme.io/capability-<name>=true`. */
  capabilityPrefix: 'fleet.kitt4sme.io/capability-',
} as const;

/** The labels a host's node carries, from its record. */
export function hostNodeLabels(host: ResolvedHost): Record<string, string> {
  return {
    ...(host.site ? { [HOST_LABELS.site]: host.site } : {}),
    ...(host.line ? { [HOST_LABELS.line]: host.line } : {}),
    ...Object.fromEntries(
      [...(host.capabilities ?? [])]
        .sort()
        .map((c) => [`${HOST_LABELS.capabilityPrefix}${c}`, 'true']),
    ),
  };
}

/** The taints a host's node carries, as `key=value:Effect`. */
export function hostNodeTaints(host: ResolvedHost): string[] {
  return host.specialised ? [`${SPECIALISED_TAINT}=true:NoSchedule`] : [];
}

/** Where the join command reads the node token on the host (never on the command line). */
export const NODE_TOKEN_FILE = '/etc/kitt4sme/node-token';

/**
 * The k3s agent command that joins `host` to the cluster whose API server is `server`: its
 * node name is the record's name (placement pins by `kubernetes.io/hostname`), with the
 * record's labels and taint. The token is read from {@link NODE_TOKEN_FILE} on the host.
 */
export function k3sJoinArgs(host: ResolvedHost, server: string): string[] {
  return [
    'k3s',
    'agent',
    '--server',
    server,
    '--token-file',
    NODE_TOKEN_FILE,
    '--node-name',
    host.name,
    ...Object.entries(hostNodeLabels(host)).flatMap(([k, v]) => ['--node-label', `${k}=${v}`]),
    ...hostNodeTaints(host).flatMap((t) => ['--node-taint', t]),
  ];
}
