/**
 * A tenant's agents and pipeline modules (the fleet service's records in git, their state,
 * placement, rollout and targets) and, for one of them, its revisions (git log of its record),
 * its rollout history (the fleet's events of it in the monitor's journal) and the actions the
 * fleet route lets the user's roles do: stop or resume it, and deploy it to a group after a
 * preview of the hosts the change reaches (a dry run of the same request). Every write carries
 * the record's ETag as read, so a change made meanwhile is refused rather than overwritten; the
 * fleet service decides every action again.
 */
import { useState } from 'preact/hooks';

import type { Agent, JournalEvent, WriteResult } from '../api.js';
import { ApiError } from '../api.js';
import type { ViewProps } from './props.js';
import { EventsTable } from './events.js';
import { Failure, Loading, REFRESH_MS, describe, useLoad } from './load.js';

/**
 * An agent's history in the journal: the events about it (`agents/<name>`) and its instances
 * (`agents/<name>@<host>`), and those of its rollouts (`rollouts/<id>`, naming it in `data`),
 * newest first.
 */
async function agentEvents(
  api: ViewProps['api'],
  tenant: string,
  agent: string,
): Promise<JournalEvent[]> {
  const [own, rollouts] = await Promise.all([
    api.events(tenant, '', `agents/${agent}*`),
    api.events(tenant, '', 'rollouts/*'),
  ]);
  const ofAgent = (rollouts.events ?? []).filter((e) => e.data?.['agent'] === agent);
  return [...(own.events ?? []), ...ofAgent].sort((a, b) =>
    (b.time ?? '').localeCompare(a.time ?? ''),
  );
}

const placementOf = (a: Agent): string => {
  const p = a.placement as { host?: string; group?: string; floating?: boolean };
  if (p.host) return `host ${p.host}`;
  if (p.group) return `group ${p.group}`;
  return 'floating';
};

export function AgentsView({ api, tenant, mayWrite }: ViewProps) {
  const agents = useLoad(() => api.agents(tenant), [tenant], REFRESH_MS);
  const [open, setOpen] = useState<string>();
  if (agents.error) return <Failure error={agents.error} what="the agents" />;
  if (!agents.data) return <Loading what="the agents" />;
  const list = [...agents.data.agents].sort((a, b) => a.name.localeCompare(b.name));
  const selected = list.find((a) => a.name === open);
  if (list.length === 0) return <p>No agents or pipelines are recorded in {tenant}.</p>;

  return (
    <>
      <p class="muted">
        {list.length} agents and pipeline modules at commit{' '}
        <code>{agents.data.commit.slice(0, 12)}</code>
      </p>
      <table data-testid="agents">
        <caption>Agents and pipeline modules of {tenant}: record and targets</caption>
        <thead>
          <tr>
            <th scope="col">Agent</th>
            <th scope="col">Pipeline</th>
            <th scope="col">State</th>
            <th scope="col">Placement</th>
            <th scope="col">Image</th>
            <th scope="col">Revision</th>
            <th scope="col">Targets</th>
            <th scope="col">Rollout</th>
          </tr>
        </thead>
        <tbody>
          {list.map((a) => {
            const running = (a.targets ?? []).filter((t) => t.state === 'running').length;
            return (
              <tr key={a.name}>
                <th scope="row">
                  <button
                    type="button"
                    class="link"
                    aria-expanded={open === a.name}
                    aria-controls="agent-details"
                    onClick={() => setOpen(open === a.name ? undefined : a.name)}
                  >
                    {a.name}
                  </button>
                </th>
                <td>{a.pipeline ?? '–'}</td>
                <td>
                  <span class={`state state-${a.state}`}>{a.state}</span>
                </td>
                <td>{placementOf(a)}</td>
                <td>
                  <code>{a.image}</code>
                </td>
                <td>{a.revision}</td>
                <td>
                  {a.targets
                    ? `${running} of ${a.targets.length} running`
                    : `${a.hosts.length} hosts`}
                </td>
                <td>
                  {a.rollout ? (
                    <span class={`phase phase-${a.rollout.phase}`}>{a.rollout.phase}</span>
                  ) : (
                    '–'
                  )}
                </td>
              </tr>
            );
          })}
        </tbody>
      </table>
      <section id="agent-details" aria-live="polite" aria-label="Agent details">
        {selected && (
          <AgentDetails
            key={selected.name}
            api={api}
            tenant={tenant}
            agent={selected}
            writer={mayWrite('fleet')}
            changed={agents.reload}
          />
        )}
      </section>
    </>
  );
}

function AgentDetails(props: {
  api: ViewProps['api'];
  tenant: string;
  agent: Agent;
  writer: boolean;
  changed: () => void;
}) {
  const { api, tenant, agent, writer } = props;
  const [outcome, setOutcome] = useState<{ ok: boolean; text: string }>();
  const history = useLoad(() => api.history(tenant, agent.name), [tenant, agent.name, agent.etag]);
  const events = useLoad(
    async (): Promise<JournalEvent[]> => {
      if (!api.has('monitor')) return [];
      try {
        return await agentEvents(api, tenant, agent.name);
      } catch (err) {
        if (err instanceof ApiError && err.status === 404) return [];
        throw err;
      }
    },
    [tenant, agent.name],
    REFRESH_MS,
  );
  const act = async (action: 'stop' | 'resume') => {
    try {
      const r = await api.agentAction(tenant, agent.name, action, agent.etag);
      setOutcome({
        ok: true,
        text: `${agent.name}: ${action} committed${r.commit ? ` as ${r.commit.slice(0, 12)}` : ''}.`,
      });
      props.changed();
    } catch (err) {
      setOutcome({ ok: false, text: `${agent.name}: ${action} refused: ${describe(err)}` });
    }
  };

  return (
    <>
      <h2>{agent.name}</h2>
      <div role="status" class={outcome?.ok === false ? 'error' : 'ok'}>
        {outcome?.text}
      </div>
      {writer && (
        <div class="actions" role="group" aria-label={`Actions on ${agent.name}`}>
          {agent.state === 'running' && (
            <button type="button" onClick={() => void act('stop')}>
              Stop
            </button>
          )}
          {agent.state === 'stopped' && (
            <button type="button" onClick={() => void act('resume')}>
              Resume
            </button>
          )}
        </div>
      )}
      {writer && !agent.pipeline && (
        <DeployToGroup
          api={api}
          tenant={tenant}
          agent={agent}
          done={(text) => {
            setOutcome({ ok: true, text });
            props.changed();
          }}
        />
      )}
      <h3>Revisions</h3>
      {history.error ? (
        <Failure error={history.error} what="the revisions" />
      ) : !history.data ? (
        <Loading what="the revisions" />
      ) : (
        <ol class="revisions" data-testid="revisions">
          {history.data.revisions.map((r) => {
            const rec = r.record as {
              state?: string;
              image?: string;
              template?: string;
              placement?: Record<string, unknown>;
            };
            return (
              <li key={r.commit}>
                <code>{r.commit.slice(0, 12)}</code>: {rec.state ?? 'running'},{' '}
                {rec.image ?? rec.template ?? '–'}
                {rec.placement
                  ? `, ${Object.entries(rec.placement)
                      .map(([k, v]) => `${k} ${String(v)}`)
                      .join(' ')}`
                  : ''}
              </li>
            );
          })}
        </ol>
      )}
      <h3>Rollout history</h3>
      {events.error ? (
        <Failure error={events.error} what="the agent's events" />
      ) : !events.data ? (
        <Loading what="the agent's events" />
      ) : events.data.length === 0 ? (
        <p>No events of {agent.name} in the journal.</p>
      ) : (
        <EventsTable
          events={events.data}
          caption={`Events of ${agent.name}, newest first`}
          strip="eu.kitt4sme.fleet."
          testId="agent-events"
        />
      )}
    </>
  );
}

/**
 * Deploy an agent's record to a group: the person picks the group and the waves, the preview
 * is the fleet service's dry run of that very request (the hosts reached, in which wave, and
 * why a host is refused; the diff of the records), and only then can they commit it.
 */
function DeployToGroup(props: {
  api: ViewProps['api'];
  tenant: string;
  agent: Agent;
  done: (text: string) => void;
}) {
  const { api, tenant, agent } = props;
  const groups = useLoad(() => api.groups(tenant), [tenant]);
  const [form, setForm] = useState({ group: '', batchSize: '', bakeSeconds: '0' });
  const [preview, setPreview] = useState<{ of: string; result: WriteResult }>();
  const [problem, setProblem] = useState<string>();
  const key = JSON.stringify(form);
  const request = () => {
    const batchSize = Number(form.batchSize);
    return form.batchSize === ''
      ? undefined
      : { batchSize, bakeSeconds: Number(form.bakeSeconds || '0') };
  };
  const run = async (dryRun: boolean) => {
    setProblem(undefined);
    try {
      const result = await api.deployToGroup(
        tenant,
        agent.name,
        form.group,
        request(),
        agent.etag,
        dryRun,
      );
      if (dryRun) setPreview({ of: key, result });
      else {
        setPreview(undefined);
        props.done(
          `${agent.name} deployed to group ${form.group}${result.commit ? `: commit ${result.commit.slice(0, 12)}` : ' (nothing changed)'}.`,
        );
      }
    } catch (err) {
      setPreview(undefined);
      setProblem(describe(err));
    }
  };
  const current = preview?.of === key ? preview.result : undefined;
  const update = (field: keyof typeof form) => (e: Event) =>
    setForm({ ...form, [field]: (e.target as HTMLInputElement).value });

  return (
    <form
      class="deploy"
      aria-labelledby="deploy-heading"
      onSubmit={(e) => {
        e.preventDefault();
        void run(true);
      }}
    >
      <h3 id="deploy-heading">Deploy to a group</h3>
      {groups.error && <Failure error={groups.error} what="the groups" />}
      <label>
        Group{' '}
        <select name="group" required value={form.group} onChange={update('group')}>
          <option value="">Choose a group</option>
          {(groups.data?.groups ?? []).map((g) => (
            <option key={g.name} value={g.name}>
              {g.name} ({g.hosts.length} hosts)
            </option>
          ))}
        </select>
      </label>{' '}
      <label>
        Hosts per wave{' '}
        <input
          name="batchSize"
          type="number"
          min={1}
          placeholder="all at once"
          value={form.batchSize}
          onInput={update('batchSize')}
        />
      </label>{' '}
      <label>
        Bake seconds{' '}
        <input
          name="bakeSeconds"
          type="number"
          min={0}
          max={86400}
          value={form.bakeSeconds}
          disabled={form.batchSize === ''}
          onInput={update('bakeSeconds')}
        />
      </label>{' '}
      <button type="submit" disabled={form.group === ''}>
        Preview
      </button>
      {problem && (
        <p class="error" role="alert">
          {problem}
        </p>
      )}
      {current && (
        <div class="preview" data-testid="deploy-preview">
          <table>
            <caption>
              Deploying {agent.name} to {form.group} reaches{' '}
              {(current.targets ?? []).filter((t) => t.result === 'accepted').length} of{' '}
              {(current.targets ?? []).length} hosts
            </caption>
            <thead>
              <tr>
                <th scope="col">Host</th>
                <th scope="col">Result</th>
                <th scope="col">Wave</th>
                <th scope="col">Reason</th>
              </tr>
            </thead>
            <tbody>
              {(current.targets ?? []).map((t) => (
                <tr key={t.host}>
                  <th scope="row">{t.host}</th>
                  <td>{t.result}</td>
                  <td>{t.wave ?? '–'}</td>
                  <td>{t.reason}</td>
                </tr>
              ))}
            </tbody>
          </table>
          {current.diff ? (
            <details>
              <summary>The change to the records</summary>
              <pre class="diff">{current.diff}</pre>
            </details>
          ) : (
            <p>The records would not change.</p>
          )}
          <button type="button" class="primary" onClick={() => void run(false)}>
            Deploy to {form.group}
          </button>
        </div>
      )}
    </form>
  );
}
