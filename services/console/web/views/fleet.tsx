/**
 * The fleet matrix: one row per host, one column per agent, each cell the target's state with
 * its observed against desired revision; a cell opens the target's details (the reason the
 * fleet service gives, since when, image, rollout). The states are the fleet service's
 * judgement; the console computes none.
 */
import { useState } from 'preact/hooks';

import { TARGET_STATES } from '../../../../platform/fleet/status.js';
import type { FleetStatus, TargetStatus } from '../api.js';
import type { ViewProps } from './props.js';
import { Failure, Loading, REFRESH_MS, Time, useLoad } from './load.js';

const key = (host: string, agent: string) => `${host}\u0000${agent}`;
const agentOf = (t: TargetStatus) => t.agent.name ?? t.agent.id ?? '?';

export function FleetView({ api, tenant }: ViewProps) {
  const status = useLoad(() => api.fleetStatus(tenant), [tenant], REFRESH_MS);
  if (status.error) return <Failure error={status.error} what="the fleet status" />;
  if (!status.data) return <Loading what="the fleet status" />;
  return <Matrix status={status.data} />;
}

/** A target whose observed revision is not (yet) the desired one: git and the host differ. */
const drifted = (t: TargetStatus) => t.observedRevision !== t.desiredRevision;

/**
 * The host × agent matrix of a status answer, filtered by the targets' state and by drift
 * (observed revision not the desired one): a filter keeps the hosts and agents that have a
 * matching target, and blanks the other cells.
 */
export function Matrix({ status }: { status: FleetStatus }) {
  const [open, setOpen] = useState<string>();
  const [filter, setFilter] = useState<{ state: string; drift: boolean }>({
    state: '',
    drift: false,
  });
  const matches = (t: TargetStatus) =>
    (filter.state === '' || t.state === filter.state) && (!filter.drift || drifted(t));
  const filtering = filter.state !== '' || filter.drift;
  const cells = new Map<string, TargetStatus>();
  const agents = new Set<string>();
  const hosts = new Map(status.hosts.map((h) => [h.name, h]));
  for (const t of status.targets) {
    if (!hosts.has(t.host))
      hosts.set(t.host, { name: t.host, ready: 'Unknown', reason: '', in_inventory: false });
    if (!matches(t)) continue;
    const a = agentOf(t);
    agents.add(a);
    cells.set(key(t.host, a), t);
  }
  const columns = [...agents].sort();
  const rows = [...hosts.keys()]
    .filter((h) => !filtering || columns.some((a) => cells.has(key(h, a))))
    .sort();
  const selected = open ? cells.get(open) : undefined;
  if (status.targets.length === 0 && rows.length === 0)
    return <p>No agents are deployed in this tenant, and it has no hosts.</p>;

  return (
    <div class="fleet">
      <p class="muted">
        {status.targets.length} targets on {hosts.size} hosts, at commit{' '}
        <code>{status.commit.slice(0, 12)}</code>, observed <Time at={status.observed_at} />
      </p>
      <div class="filters" role="group" aria-label="Filter the targets">
        <label>
          State{' '}
          <select
            value={filter.state}
            onChange={(e) => setFilter({ ...filter, state: (e.target as HTMLSelectElement).value })}
          >
            <option value="">every state</option>
            {TARGET_STATES.map((st) => (
              <option key={st} value={st}>
                {st}
              </option>
            ))}
          </select>
        </label>
        <label class="check">
          <input
            type="checkbox"
            checked={filter.drift}
            onChange={(e) =>
              setFilter({ ...filter, drift: (e.target as HTMLInputElement).checked })
            }
          />{' '}
          Only drifted (observed revision is not the desired one)
        </label>
      </div>
      {filtering && (
        <p role="status">
          {cells.size} of {status.targets.length} targets match, on {rows.length} hosts.
        </p>
      )}
      <div class="scroll" role="region" aria-label="Fleet matrix" tabIndex={0}>
        <table class="matrix" data-testid="fleet-matrix">
          <caption>Targets by host and agent: state, observed/desired revision</caption>
          <thead>
            <tr>
              <th scope="col">Host</th>
              {columns.map((a) => (
                <th scope="col" key={a}>
                  {a}
                </th>
              ))}
            </tr>
          </thead>
          <tbody>
            {rows.map((h) => (
              <tr key={h}>
                <th scope="row">
                  {h}{' '}
                  <span class={`ready ready-${hosts.get(h)!.ready}`}>{hosts.get(h)!.ready}</span>
                </th>
                {columns.map((a) => {
                  const t = cells.get(key(h, a));
                  if (!t) return <td key={a} class="empty" />;
                  const k = key(h, a);
                  return (
                    <td key={a}>
                      <button
                        type="button"
                        class={`cell state-${t.state}`}
                        aria-expanded={open === k}
                        aria-controls="target-details"
                        onClick={() => setOpen(open === k ? undefined : k)}
                      >
                        {/* The name says which target; the visible text is part of it. */}
                        <span class="sr-only">{`${a} on ${h}: `}</span>
                        <span class="state">{t.state}</span>
                        <span class="rev">
                          {t.observedRevision ?? '–'}/{t.desiredRevision ?? '–'}
                        </span>
                      </button>
                    </td>
                  );
                })}
              </tr>
            ))}
          </tbody>
        </table>
      </div>
      <section id="target-details" aria-live="polite" aria-label="Target details">
        {selected && (
          <>
            <h2>
              {agentOf(selected)} on {selected.host}
            </h2>
            <dl>
              <dt>State</dt>
              <dd>{selected.state}</dd>
              <dt>Reason</dt>
              <dd data-testid="reason">{selected.reason}</dd>
              <dt>Since</dt>
              <dd>
                <Time at={selected.since} />
              </dd>
              <dt>Observed revision</dt>
              <dd>{selected.observedRevision ?? '–'}</dd>
              <dt>Desired revision</dt>
              <dd>{selected.desiredRevision ?? '–'}</dd>
              <dt>Image</dt>
              <dd>{selected.image ?? '–'}</dd>
              {selected.rollout && (
                <>
                  <dt>Rollout</dt>
                  <dd>{selected.rollout}</dd>
                </>
              )}
            </dl>
          </>
        )}
      </section>
    </div>
  );
}
