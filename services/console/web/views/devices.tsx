/**
 * A tenant's devices: the provisioning service's inventory of a service path (the device,
 * its entity, its last measurement and liveness as the provisioning service judges it) with the
 * monitor's health of each (fresh, silent, nudged or offline, since when, last seen), and a link
 * to the tenant's Grafana dashboard of measurements. The provisioning API answers one service
 * path at a time and lists none, so the person names it (`/` by default).
 */
import { useState } from 'preact/hooks';

import type { Target } from '../api.js';
import { ApiError } from '../api.js';
import type { ViewProps } from '../app.js';
import { Failure, Loading, REFRESH_MS, Time, useLoad } from './load.js';

export function DevicesView({ config, api, tenant }: ViewProps) {
  const [servicePath, setServicePath] = useState('/');
  const devices = useLoad(
    () => api.inventory(tenant, servicePath),
    [tenant, servicePath],
    REFRESH_MS,
  );
  const health = useLoad(
    async () => {
      if (!api.has('monitor')) return undefined;
      try {
        return await api.health(tenant);
      } catch (err) {
        // No monitor deployed behind the route: the devices are shown without its health.
        if (err instanceof ApiError && err.status === 404) return undefined;
        throw err;
      }
    },
    [tenant],
    REFRESH_MS,
  );
  const dashboard = config.tenants.find((t) => t.name === tenant)?.dashboard;
  const byId = new Map<string, Target>();
  for (const t of health.data?.targets ?? []) if (t.kind === 'device' && t.id) byId.set(t.id, t);
  const list = devices.data?.devices ?? [];

  return (
    <>
      {config.grafana && dashboard && (
        <p>
          <a href={`${config.grafana}/d/${dashboard}`}>Measurements of {tenant} in Grafana</a>
        </p>
      )}
      <form
        class="filters"
        onSubmit={(e) => {
          e.preventDefault();
          const f = new FormData(e.currentTarget as HTMLFormElement);
          setServicePath(String(f.get('servicePath') || '/'));
        }}
      >
        <label>
          Service path <input name="servicePath" defaultValue={servicePath} />
        </label>
        <button type="submit">Show</button>
      </form>
      {health.error && <Failure error={health.error} what="the devices' health" />}
      {!health.loading && !health.error && !health.data && (
        <p class="note">No monitor health here: the monitor does not answer on this platform.</p>
      )}
      {devices.error ? (
        <Failure error={devices.error} what="the devices" />
      ) : !devices.data ? (
        <Loading what="the devices" />
      ) : list.length === 0 ? (
        <p>
          No devices are provisioned in {tenant} at {servicePath}.
        </p>
      ) : (
        <table>
          <caption>
            {list.length} devices of {tenant} at {servicePath}
          </caption>
          <thead>
            <tr>
              <th scope="col">Device</th>
              <th scope="col">Protocol</th>
              <th scope="col">Entity</th>
              <th scope="col">Last measurement</th>
              <th scope="col">Liveness</th>
              <th scope="col">Monitor</th>
              <th scope="col">Since</th>
              <th scope="col">Last seen</th>
            </tr>
          </thead>
          <tbody>
            {list.map((d) => {
              const h = byId.get(d.device_id);
              return (
                <tr key={d.device_id}>
                  <th scope="row">{d.device_id}</th>
                  <td>{d.protocol}</td>
                  <td>
                    {d.entity_name} <span class="muted">({d.entity_type})</span>
                  </td>
                  <td>
                    <Time at={d.last_measurement ?? undefined} />
                  </td>
                  <td>
                    <span class={`state state-${d.state}`}>{d.state}</span>
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
