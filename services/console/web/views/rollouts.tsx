/**
 * The rollouts of a tenant: each wave and how far it got, what the runner decided and why,
 * and (for the roles the fleet route lets write) pause, resume and cancel. The fleet service
 * decides every action again.
 */
import { useState } from 'preact/hooks';

import type { Rollout } from '../api.js';
import type { ViewProps } from './props.js';
import { Failure, Loading, REFRESH_MS, describe, useLoad } from './load.js';

type Action = 'pause' | 'resume' | 'cancel';

export function RolloutsView({ api, tenant, mayWrite }: ViewProps) {
  const rollouts = useLoad(() => api.rollouts(tenant), [tenant], REFRESH_MS);
  const [outcome, setOutcome] = useState<{ ok: boolean; text: string }>();
  const act = async (r: Rollout, action: Action) => {
    const agent = agentName(r);
    try {
      await api.rolloutAction(tenant, agent, action);
      setOutcome({ ok: true, text: `The rollout of ${agent}: ${action} done.` });
      rollouts.reload();
    } catch (err) {
      setOutcome({
        ok: false,
        text: `The rollout of ${agent}: ${action} refused: ${describe(err)}`,
      });
    }
  };
  const writer = mayWrite('fleet');

  return (
    <>
      <div role="status" class={outcome?.ok === false ? 'error' : 'ok'}>
        {outcome?.text}
      </div>
      {rollouts.error ? (
        <Failure error={rollouts.error} what="the rollouts" />
      ) : !rollouts.data ? (
        <Loading what="the rollouts" />
      ) : rollouts.data.rollouts.length === 0 ? (
        <p>No rollout is under way in {tenant}.</p>
      ) : (
        rollouts.data.rollouts.map((r) => {
          const agent = agentName(r);
          const total = r.waves.reduce((n, w) => n + w.length, 0);
          const running = r.targets.filter((t) => t.state === 'running').length;
          return (
            <article class="rollout" key={r.id} aria-labelledby={`rollout-${r.id}`}>
              <h2 id={`rollout-${r.id}`}>
                {agent}: {r.kind} to {r.revision}{' '}
                <span class={`phase phase-${r.phase}`}>{r.phase}</span>
              </h2>
              <p>
                Wave {r.started} of {r.waves.length};{' '}
                <label>
                  {running} of {total} targets running <progress max={total} value={running} />
                </label>
              </p>
              <ol class="waves">
                {r.waves.map((hosts, i) => (
                  <li key={i} class={i < r.started ? 'begun' : 'waiting'}>
                    Wave {i + 1}: {hosts.join(', ')}
                  </li>
                ))}
              </ol>
              <p>
                Runner: <strong>{r.decision.action}</strong>, {r.decision.reason}
              </p>
              {writer && (
                <div class="actions" role="group" aria-label={`Actions on the rollout of ${agent}`}>
                  {r.phase === 'progressing' && (
                    <button type="button" onClick={() => void act(r, 'pause')}>
                      Pause
                    </button>
                  )}
                  {r.phase !== 'progressing' && (
                    <button type="button" onClick={() => void act(r, 'resume')}>
                      Resume
                    </button>
                  )}
                  <button type="button" class="danger" onClick={() => void act(r, 'cancel')}>
                    Cancel
                  </button>
                </div>
              )}
            </article>
          );
        })
      )}
    </>
  );
}

function agentName(r: Rollout): string {
  const a = r.agent as { name?: string; id?: string };
  return a.name ?? a.id ?? r.id;
}
