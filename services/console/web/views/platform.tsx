/**
 * The platform's Argo CD Applications (sync, health, conditions), read-only, for platform
 * admins: the fleet service's read of Argo CD.
 */
import type { ViewProps } from './props.js';
import { Failure, Loading, REFRESH_MS, useLoad } from './load.js';

export function PlatformView({ api, tenant }: ViewProps) {
  const apps = useLoad(() => api.applications(tenant), [tenant], REFRESH_MS);
  if (apps.error) return <Failure error={apps.error} what="the Argo CD Applications" />;
  if (!apps.data) return <Loading what="the Argo CD Applications" />;
  if (apps.data.applications.length === 0) return <p>Argo CD has no Applications.</p>;
  return (
    <table>
      <caption>The platform's Argo CD Applications</caption>
      <thead>
        <tr>
          <th scope="col">Application</th>
          <th scope="col">Sync</th>
          <th scope="col">Revision</th>
          <th scope="col">Health</th>
          <th scope="col">Conditions</th>
        </tr>
      </thead>
      <tbody>
        {apps.data.applications.map((a) => (
          <tr key={a.name}>
            <th scope="row">{a.name}</th>
            <td>{a.sync}</td>
            <td>
              <code>{a.revision?.slice(0, 12) ?? '–'}</code>
            </td>
            <td>
              {a.health}
              {a.healthMessage ? `: ${a.healthMessage}` : ''}
            </td>
            <td>{a.conditions.join('; ') || '–'}</td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}
