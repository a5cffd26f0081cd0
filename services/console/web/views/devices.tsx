/**
 * A tenant's devices: the provisioning service's inventory of a service path (the device,
 * its entity, its last measurement and liveness as the provisioning service judges it) with the
 * monitor's health of each (fresh, silent, nudged or offline, since when, last seen), its last
 * values as Orion holds them (the FIWARE route, with the user's token), and a link
 * to the tenant's Grafana dashboard of measurements. The provisioning API answers one service
 * path at a time and lists none, so the person names it (`/` by default).
 */
import { useState } from 'preact/hooks';

import { DEVICE_HEALTH_ATTRIBUTE } from '../../../../platform/liveness.js';
import type { DeviceBody, DeviceResult, NgsiKeyValues, Target } from '../api.js';
import { ApiError } from '../api.js';
import type { ViewProps } from './props.js';
import { Failure, Loading, REFRESH_MS, Time, describe, useLoad } from './load.js';

export function DevicesView({ config, api, tenant, mayWrite }: ViewProps) {
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
  const entities = useLoad(
    async () => (api.has('orion') ? await api.entities(tenant, servicePath) : undefined),
    [tenant, servicePath],
    REFRESH_MS,
  );
  const entityById = new Map((entities.data ?? []).map((e) => [e.id, e]));
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
      {mayWrite('provisioning') && (
        <DeviceForm api={api} tenant={tenant} servicePath={servicePath} done={devices.reload} />
      )}
      {health.error && <Failure error={health.error} what="the devices' health" />}
      {entities.error && <Failure error={entities.error} what="the devices' last values" />}
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
              <th scope="col">Last values</th>
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
                  <td class="values">{lastValues(entityById.get(d.entity_name))}</td>
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

/**
 * An entity's attributes as Orion holds them, for people: each measurement and static value,
 * without the entity's id and type, its time stamp, the commands' status and info and the
 * monitor's health attribute (its own column).
 */
function lastValues(e: NgsiKeyValues | undefined): string {
  if (!e) return '–';
  const shown = Object.entries(e)
    .filter(
      ([k]) =>
        !['id', 'type', 'TimeInstant', DEVICE_HEALTH_ATTRIBUTE].includes(k) &&
        !/_(status|info)$/.test(k),
    )
    .filter(([, v]) => v !== null && v !== '' && typeof v !== 'object')
    .map(([k, v]) => `${k} ${String(v)}`);
  return shown.length > 0 ? shown.join(', ') : '–';
}

const PROTOCOLS: readonly DeviceBody['protocol'][] = ['ultralight', 'json'];

/**
 * Provision one device of the service path shown: the form is the provisioning API's device
 * body; "Check" asks the API what the write would do (a dry run) and "Provision" writes. The
 * API's field errors are shown as it gives them.
 */
function DeviceForm(props: {
  api: ViewProps['api'];
  tenant: string;
  servicePath: string;
  done: () => void;
}) {
  const [outcome, setOutcome] = useState<{ ok: boolean; text: string }>();
  const submit = async (form: HTMLFormElement, dryRun: boolean) => {
    const f = new FormData(form);
    const text = (k: string) => String(f.get(k) ?? '').trim();
    const id = text('device_id');
    const interval = text('expected_interval');
    const device: DeviceBody = {
      device_id: id,
      protocol: text('protocol') as DeviceBody['protocol'],
      entity_type: text('entity_type'),
      entity_name: text('entity_name') || `urn:ngsi-ld:${text('entity_type')}:${id}`,
      // One measurement per line: `<object id> <attribute name> <type>`.
      attributes: text('attributes')
        .split('\n')
        .map((l) => l.trim())
        .filter(Boolean)
        .map((l) => {
          const [object_id = '', name = '', type = ''] = l.split(/\s+/);
          return { object_id, name, type };
        }),
      static_attributes: [],
      commands: text('commands')
        .split(/[\s,]+/)
        .filter(Boolean)
        .map((name) => ({ name, type: 'command' as const })),
      ...(interval ? { expected_interval: Number(interval) } : {}),
    };
    try {
      const r: DeviceResult = await props.api.putDevice(
        props.tenant,
        props.servicePath,
        device,
        dryRun,
      );
      setOutcome({
        ok: true,
        text: dryRun
          ? `${id} would be ${r.status === 'unchanged' ? 'left unchanged' : r.status} at ${props.servicePath}; nothing was written.`
          : `${id}: ${r.status} at ${props.servicePath}.`,
      });
      if (!dryRun) props.done();
    } catch (err) {
      setOutcome({
        ok: false,
        text: `${id || 'The device'} was not provisioned: ${describe(err)}`,
      });
    }
  };

  return (
    <details class="device-form">
      <summary>Provision a device at {props.servicePath}</summary>
      <form
        onSubmit={(e) => {
          e.preventDefault();
          const dryRun = (e as SubmitEvent).submitter?.getAttribute('value') === 'check';
          void submit(e.currentTarget as HTMLFormElement, dryRun);
        }}
      >
        <label>
          Device id <input name="device_id" required />
        </label>
        <label>
          Protocol{' '}
          <select name="protocol">
            {PROTOCOLS.map((p) => (
              <option key={p} value={p}>
                {p}
              </option>
            ))}
          </select>
        </label>
        <label>
          Entity type <input name="entity_type" required placeholder="Machine" />
        </label>
        <label>
          Entity id <input name="entity_name" placeholder="urn:ngsi-ld:<type>:<device id>" />
        </label>
        <label>
          Measurements, one per line: object id, attribute, type
          <textarea name="attributes" rows={3} placeholder="t temperature Number" />
        </label>
        <label>
          Commands <input name="commands" placeholder="reset, ping" />
        </label>
        <label>
          Expected interval (seconds) <input name="expected_interval" type="number" min={1} />
        </label>
        <div class="actions">
          <button type="submit" value="check">
            Check
          </button>
          <button type="submit" value="provision" class="primary">
            Provision
          </button>
        </div>
        <div role="status" class={outcome?.ok === false ? 'error' : 'ok'}>
          {outcome?.text}
        </div>
      </form>
    </details>
  );
}
