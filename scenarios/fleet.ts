/**
 * fleet: the example AI kit's anomaly detector deployed through the fleet service to a group of
 * two hosts in two waves: one commit of the records, then the service's own commit beginning
 * the second wave once every target of the first runs the new revision, then the rollout gone;
 * every target running the revision git wants, as the service's per-target status says. The
 * agent is removed at the end, so the scenario can run again.
 *
 * On the local stack the hosts are simulated (testing/stack/fleet-stack.ts); against a cluster
 * they are real factory hosts, of the group named by $KITT4SME_FLEET_GROUP (default line-pcs,
 * the example fleet's).
 */
import { ApiError } from '../platform/api-client.js';
import type { TargetStatus } from '../platform/fleet/status.js';
import { AssertionFailed, check, eventually } from './lib/framework.js';
import type { Scenario } from './lib/framework.js';
import type { ScenarioEnv } from './lib/env.js';

interface RolloutView {
  id: string;
  agent: { name: string };
  phase: string;
  started: number;
  waves: string[][];
  revision: string;
  decision: { action: string; reason: string };
}

export const fleet: Scenario<ScenarioEnv> = {
  name: 'fleet',
  description:
    'deploy the example anomaly detector to a group of two hosts in two waves, then every target runs the revision git wants',
  steps(env) {
    const { platform } = env;
    const tenant = platform.tenants[0]!;
    const group = process.env.KITT4SME_FLEET_GROUP ?? 'line-pcs';
    const name = `scenario-detector-${env.valueBase}`;
    const client = () => platform.fleet(tenant);
    let hosts: string[] = [];
    let revision = '';
    const wavesSeen: number[] = [];

    const call = async <T>(method: string, path: string, body?: unknown) => {
      try {
        return await client().call<T>(method, path, body === undefined ? {} : { body });
      } catch (err) {
        if (err instanceof ApiError)
          throw new AssertionFailed(err.message, {
            final: err.status !== undefined && err.status < 500 && err.status !== 409,
          });
        throw err;
      }
    };

    return [
      {
        id: 'group',
        title: `read the group ${group}: two hosts`,
        async run() {
          const g = await call<{ group: { hosts: string[] } }>('GET', `/v1/groups/${group}`);
          hosts = g.body.group.hosts;
          check(
            hosts.length === 2,
            `group ${group} has ${hosts.length} hosts (${hosts.join(', ')}); the scenario needs two (set KITT4SME_FLEET_GROUP)`,
          );
          return hosts.join(', ');
        },
      },
      {
        id: 'deploy',
        title: `deploy ${name} to ${group} in waves of one host`,
        async run() {
          const res = await call<{ commit: string; agents: { revision?: string }[] }>(
            'POST',
            `/v1/agents/${name}/deploy`,
            {
              target: { group },
              record: {
                template: 'anomaly-detector',
                // Its input comes from nowhere here: no Orion subscription, just its liveness.
                config: { subscribe: false, entityType: 'Machine' },
              },
              rollout: { batchSize: 1 },
            },
          );
          check(res.status === 201 || res.status === 200, `deploy answered ${res.status}`);
          check(typeof res.body.commit === 'string', 'the deploy answered no commit');
          return `commit ${res.body.commit.slice(0, 12)}`;
        },
      },
      {
        id: 'waves',
        title: 'the rollout begins wave 2 only after wave 1 runs, then ends',
        async run(signal) {
          await eventually(
            async () => {
              const { body } = await call<{ rollouts: RolloutView[] }>('GET', '/v1/rollouts');
              const r = body.rollouts.find((x) => x.agent.name === name);
              if (r) {
                check(r.phase === 'progressing', `the rollout is ${r.phase}: ${r.decision.reason}`);
                check(r.waves.length === 2, `the rollout has ${r.waves.length} waves, not 2`);
                revision = r.revision;
                if (wavesSeen.at(-1) !== r.started) wavesSeen.push(r.started);
                throw new AssertionFailed(`wave ${r.started}/2: ${r.decision.reason}`);
              }
              const { body: a } = await call<{ agent: { rollout?: unknown } }>(
                'GET',
                `/v1/agents/${name}`,
              );
              check(!a.agent.rollout, 'the rollout is not in the list but still in the record');
            },
            { timeoutMs: env.settleTimeoutMs * 4, signal },
          );
          check(
            wavesSeen.length === 0 || wavesSeen.every((w, i) => i === 0 || w > wavesSeen[i - 1]!),
            `the waves went ${wavesSeen.join(' → ')}`,
          );
          return `waves seen: ${wavesSeen.join(' → ') || '(done before the first look)'}`;
        },
      },
      {
        id: 'status',
        title: 'every target runs the revision git wants, as the per-target status says',
        async run(signal) {
          let targets: TargetStatus[] = [];
          await eventually(
            async () => {
              const { body } = await call<{ targets: TargetStatus[] }>('GET', '/v1/status');
              targets = body.targets.filter((t) => t.agent.name === name);
              check(
                targets.length === hosts.length &&
                  targets.every(
                    (t) =>
                      t.state === 'running' &&
                      t.observedRevision === t.desiredRevision &&
                      (!revision || t.desiredRevision === revision),
                  ),
                () =>
                  `targets: ${targets.map((t) => `${t.host} ${t.state} ${t.observedRevision ?? '-'}/${t.desiredRevision ?? '-'} ${t.reason}`).join('; ') || 'none'}`,
              );
            },
            { timeoutMs: env.settleTimeoutMs * 2, signal },
          );
          return targets.map((t) => `${t.host} running ${t.observedRevision}`).join(', ');
        },
      },
      {
        id: 'remove',
        title: `remove ${name}: its record leaves git and its targets go`,
        async run(signal) {
          const res = await call<{ commit: string }>('DELETE', `/v1/agents/${name}`);
          check(typeof res.body.commit === 'string', 'the removal answered no commit');
          await eventually(
            async () => {
              const { body } = await call<{ targets: TargetStatus[] }>('GET', '/v1/status');
              const left = body.targets.filter(
                (t) => t.agent.name === name && t.state !== 'removed',
              );
              check(
                left.length === 0,
                () => `still: ${left.map((t) => `${t.host} ${t.state}`).join(', ')}`,
              );
            },
            { timeoutMs: env.settleTimeoutMs * 2, signal },
          );
          return `commit ${res.body.commit.slice(0, 12)}`;
        },
      },
    ];
  },
};
