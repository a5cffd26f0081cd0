/**
 * Names of Grafana objects that more than one layer needs: the construct that provisions a
 * tenant's dashboard (cdk8s/lib/components/grafana-dashboards.ts) and the web console that
 * links to it (services/console).
 */
import { createHash } from 'node:crypto';

/**
 * The uid of a tenant's measurements dashboard. Grafana uids are limited to 40 characters and
 * tenant names to 50, hence a hash.
 */
export function dashboardUid(tenant: string): string {
  const hash = createHash('sha256').update(['dashboard', tenant].join('\u0000')).digest('hex');
  return `meas-${hash.slice(0, 16)}`;
}
