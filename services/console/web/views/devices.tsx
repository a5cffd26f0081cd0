/**
 * A tenant's devices (provisioning service) with their health (the monitor's targets: fresh,
 * silent, nudged or offline, since when, last seen) and a link to the tenant's Grafana
 * dashboard of measurements.
 */
import type { Target } from '../api.js';
import { ApiError } from '../api.js';
import type { ViewProps } from '../app.js';
import { Failure, Loading, Time, useLoad } from './load.js';

export function DevicesView({ config, api, tenant }: ViewProps) {
  const devices = useLoad(() => api.devices(tenant), [tenant]);
  const health = useLoad(async () => {
    if (!api.has('monitor')) return undefined;
    try {
      return await api.health(tenant);
    } catch (err) {
      // No monitor routed or deployed: the devices are shown without health.
      if (err instanceof ApiError && err.status === 404) return undefined;
      throw err;
    }
  }, [tenant]);
  const dashboard = config.tenants.find((t) => t.name === tenant)?.dashboard;
  const byId = new Map<string, Target>();
  for (const t of health.data?.targets ?? []) if (t.kind === 'device' && t.id) byId.set(t.id, t);

  return (
    <>
      {config.grafana && dashboard && (
        <p>
          <a href={`${config.grafana}/d/${dashboard}`}>Measurements of {tenant} in Grafana</a>
        </p>
      )}
      {health.error && <Failure error={health.error} what="the devices' health" />}
      {!health.loading && !health.error && !health.data && (
        <p class="note">No health here: the monitor does not answer on this platform.</p>
      )}
      {devices.error ? (
        <Failure error={devices.error} what="the devices" />
      ) : !devices.data ? (
        <Loading what="the devices" />
      ) : devices.data.devices.length === 0 ? (
        <p>No devices are provisioned in {tenant}.</p>
      ) : (
        <table>
          <caption>
            {devices.data.count} devices of {tenant}
          </caption>
          <thead>
            <tr>
              <th scope="col">Device</th>
              <th scope="col">Protocol</th>
              <th scope="col">Entity</th>
              <th scope="col">Health</th>
              <th scope="col">Since</th>
              <th scope="col">Last seen</th>
            </tr>
          </thead>
          <tbody>
            {devices.data.devices.map((d) => {
              const h = d.device_id ? byId.get(d.device_id) : undefined;
              return (
                <tr key={d.device_id}>
                  <th scope="row">{d.device_id}</th>
                  <td>{d.protocol ?? '–'}</td>
                  <td>
                    {d.entity_name} <span class="muted">({d.entity_type})</span>
                  </td>
                  <td>
                    <span class={`state state-${h?.state ?? 'unknown'}`}>
                      {h?.state ?? 'unknown'}
                    </span>
                  </td>
                  <td>
                    <Time at={h?.since} />
                  </td>
                  <td>
                    <Time at={h?.last_seen} />
                  </td>
                </tr>
              );
            })}
          </tbody>
        </table>
      )}
    </>
  );
}
