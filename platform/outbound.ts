/**
 * Where the platform's workloads may be told to send requests by a tenant: the one rule shared
 * by every URL a tenant gives the platform to call (a device's command endpoint in the
 * provisioning service, a webhook of the monitor's event subscriptions).
 *
 * Those requests leave from inside the mesh, where loopback reaches the caller's own sidecar's
 * admin port and cluster names reach platform services; so loopback, single-label and
 * cluster-internal names are refused, and so are IP literals (which could be either), in every
 * spelling `new URL()` accepts (`[::1]`, `127.1`, `0x7f.1`).
 */

/** Why {@link isPublicHost} refused a URL, for a field error. */
export const PUBLIC_HOST_RULE =
  'must name a host by its DNS name: not an IP address, localhost, a single-label name or a cluster-internal name (the platform would call it from inside the cluster)';

/** True when `url` (an absolute URL) names a host outside the cluster by its DNS name. */
export function isPublicHost(url: string): boolean {
  const host = new URL(url).hostname.toLowerCase().replace(/\.$/, '');
  if (host.startsWith('[') || /^[0-9.]+$/.test(host) || /^0x/i.test(host)) return false;
  if (!host.includes('.') || host === 'localhost' || host.endsWith('.localhost')) return false;
  return (
    !/\.(svc|cluster\.local|internal|local)$/.test(host) && !host.endsWith('.svc.cluster.local')
  );
}
