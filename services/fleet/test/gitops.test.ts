/**
 * The fleet service's rollouts through the GitOps loop, for real: the service's git store
 * commits to a bare repository that a loopback git daemon serves to the pinned Argo CD, which
 * renders the records with the fleet's plugin and syncs them into a real kube-apiserver; a
 * real node (kubelet, containerd, runc) runs the example anomaly detector's image, a simulated
 * host (testing/support/simulated-hosts.ts) stands for the factory host beside it; the
 * per-target status is read from the cluster (KubeStatusSource) and the rollout runner moves
 * each rollout on it, wave by wave.
 *
 * The faults: a wave whose image cannot be pulled (for real: the node has no registry), a host
 * going NotReady mid-rollout, and the service stopped mid-rollout and started again from a new
 * clone. The HTTP API, its tokens and policy are tested in ./fleet.test.ts; here the rollouts
 * are started through the same operations the API runs.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { loadCluster } from '../../../platform/cluster.js';
import { loadPlatformContext } from '../../../platform/context.js';
import { startRollout } from '../../../platform/fleet/rollout.js';
import type { TargetStatus } from '../../../platform/fleet/status.js';
import { GROUP, startFleetGitops } from '../../../testing/stack/fleet-gitops.js';
import type { FleetGitops } from '../../../testing/stack/fleet-gitops.js';
import { git } from '../../../testing/support/argocd-apps.js';
import { waitFor } from '../../../testing/support/processes.js';
import { ROOT } from '../../../testing/support/synth.js';
import type { Author, Snapshot } from '../src/contract.js';
import { KubeStatusSource } from '../src/observe.js';
import { RolloutRunner, recordOf } from '../src/rollouts.js';
import { GitStore } from '../src/store.js';

const ctx = loadPlatformContext();
const TENANT = 'manufracture';
const AGENT_ID = '0f1e2d3c-0000-4000-8000-00000000e2e0';
const ALICE: Author = { name: 'Alice Operator', email: 'alice@manufracture.example' };
const SERVICE: Author = { name: 'kitt4sme fleet', email: 'fleet@kitt4sme.localhost' };
const STEP_MS = 240_000;
/** The bake time of the rollout the service is stopped in. */
const BAKE_SECONDS = 20;

describe('rollouts in waves through the real GitOps loop', () => {
  let g: FleetGitops | undefined;
  let work: string;
  let store: GitStore;
  let status: KubeStatusSource;
  let runner: RolloutRunner | undefined;
  const steps: string[] = [];

  const openStore = (name: string) =>
    GitStore.open({
      ctx,
      remote: g!.bareRepo,
      branch: 'main',
      dir: join(work, name),
      committer: SERVICE,
      refreshMs: 0,
    });
  const startRunner = (s: GitStore) => {
    runner = new RolloutRunner({
      store: s,
      status,
      author: SERVICE,
      intervalMs: 1000,
      onStep: (step) => steps.push(`${step.decision.action} ${step.commit?.slice(0, 8)}`),
    });
    runner.start();
  };
  const agent = (snap: Snapshot) => snap.fleet.agents.find((a) => a.id === AGENT_ID);
  const targets = async (): Promise<TargetStatus[]> => {
    const snap = await store.snapshot({ fresh: true });
    return (await status.status(snap, { tenants: [TENANT] })).targets.filter(
      (t) => t.agent.id === AGENT_ID,
    );
  };
  const show = (ts: readonly TargetStatus[]) =>
    ts
      .map((t) => `${t.host} ${t.state} ${t.observedRevision}/${t.desiredRevision} ${t.reason}`)
      .join('; ');
  /** Waits until the record's rollout satisfies `done` (undefined: the rollout is gone). */
  const untilRollout = async (
    done: (r: NonNullable<ReturnType<typeof agent>>['rollout']) => boolean,
    what: string,
  ) => {
    let last = '';
    await waitFor(
      async () => {
        const a = agent(await store.snapshot({ fresh: true }));
        last = `${JSON.stringify(a?.rollout ?? null)} ${show(await targets())} ${JSON.stringify(runner?.progress().map((p) => p.decision))}`;
        return a !== undefined && done(a.rollout);
      },
      STEP_MS,
      () => new Error(`${what} did not happen: ${last}\n${g!.logs()}`),
      1000,
    );
  };
  const allRunning = async (revision: string) => {
    let ts: TargetStatus[] = [];
    await waitFor(
      async () => {
        ts = await targets();
        return (
          ts.length === g!.hostNames.length &&
          ts.every((t) => t.state === 'running' && t.observedRevision === revision)
        );
      },
      STEP_MS,
      () => new Error(`not every target runs ${revision}: ${show(ts)}\n${g!.logs()}`),
      1000,
    );
    return ts;
  };

  beforeAll(async () => {
    work = mkdtempSync(join(tmpdir(), 'fleet-gitops-test-'));
    g = await startFleetGitops(ctx, ROOT);
    status = new KubeStatusSource({
      cluster: loadCluster({ kubeconfig: g.api.kubeconfigPath }),
      tenants: ctx.config.tenants.map((t) => t.name),
    });
    store = await openStore('service');
    startRunner(store);
  }, 600_000);

  afterAll(async () => {
    await runner?.stop();
    await g?.stop();
    if (work) rmSync(work, { recursive: true, force: true });
  }, 120_000);

  it(
    'deploys to a group of two hosts in two waves; a host NotReady holds the second wave, and it goes on when the host is back',
    async () => {
      const [real, sim] = g!.hostNames as [string, string];
      // The second wave's host drops off before the rollout starts.
      await g!.hosts.down(sim);
      const deployed = await store.change({
        author: ALICE,
        message: `fleet: deploy ${TENANT}/detector to ${GROUP} in waves`,
        edit: () => ({
          put: [
            {
              kind: 'Agent',
              id: AGENT_ID,
              name: 'detector',
              tenant: TENANT,
              template: 'anomaly-detector',
              placement: { group: GROUP },
              config: { subscribe: false },
              rollout: startRollout([real, sim], ALICE.name, { batchSize: 1 }),
            },
          ],
        }),
      });
      expect(git(g!.bareRepo, 'log', '-1', '--format=%an')).toBe(ALICE.name);
      const revision = agent(deployed.after)!.revision;

      // Wave 1 (the real node) runs; wave 2 waits for the unreachable host, never fails.
      await untilRollout(
        (r) =>
          r?.started === 2 &&
          runner!.progress()[0]?.decision.reason.includes(`${sim} is unreachable`) === true,
        'wave 2 waiting for the unreachable host',
      );
      const mid = await targets();
      expect(mid.find((t) => t.host === real)).toMatchObject({
        state: 'running',
        observedRevision: revision,
      });
      expect(mid.find((t) => t.host === sim)).toMatchObject({ state: 'unreachable' });
      expect(agent(await store.snapshot({ fresh: true }))!.rollout!.phase).toBe('progressing');

      await g!.hosts.up(sim);
      await untilRollout((r) => r === undefined, 'the rollout done');
      const done = await allRunning(revision);
      expect(done.map((t) => t.desiredRevision)).toEqual([revision, revision]);
      // Each step is a commit of the service's, after Alice's.
      expect(git(g!.bareRepo, 'log', '--format=%an: %s', '-3').split('\n')).toEqual([
        `${SERVICE.name}: fleet: rollout of ${TENANT}/detector done: 2/2 waves run ${g!.image}`,
        `${SERVICE.name}: fleet: rollout of ${TENANT}/detector: wave 2/2 begins`,
        `${ALICE.name}: fleet: deploy ${TENANT}/detector to ${GROUP} in waves`,
      ]);
    },
    STEP_MS * 3,
  );

  it(
    'a wave whose image cannot be pulled fails the rollout and, as asked, puts its host back; the next host is never touched',
    async () => {
      const before = agent(await store.snapshot({ fresh: true }))!;
      const broken = `${g!.image.split(':')[0]}:9.9.9-missing`;
      await store.change({
        author: ALICE,
        message: `fleet: upgrade ${TENANT}/detector to ${broken} in waves`,
        edit: (snap) => {
          const raw = snap.record(recordOf(agent(snap)!))!.raw;
          return {
            put: [
              {
                ...raw,
                image: broken,
                rollout: startRollout(
                  g!.hostNames,
                  ALICE.name,
                  { batchSize: 1, revertOnFailure: true },
                  before.image,
                ),
              },
            ],
          };
        },
      });
      await untilRollout((r) => r?.phase === 'failed', 'the failed wave');
      const failed = agent(await store.snapshot({ fresh: true }))!.rollout!;
      expect(failed.started).toBe(0);
      expect(failed.reason).toMatch(
        new RegExp(`^wave 1/2: ${g!.hostNames[0]} is degraded: .*(ErrImagePull|ImagePullBackOff)`),
      );
      // Reverted: both hosts run the revision of before the upgrade again.
      await allRunning(before.revision);
    },
    STEP_MS * 2,
  );

  it(
    'a service stopped mid-rollout resumes it from git when it starts again, from a new clone',
    async () => {
      // Cancel the failed rollout as a person would (the record back to its image).
      await store.change({
        author: ALICE,
        message: 'fleet: cancel the failed rollout',
        edit: (snap) => {
          const raw = structuredClone(snap.record(recordOf(agent(snap)!))!.raw);
          const r = raw.rollout as { from?: { image: string } };
          raw.image = r.from!.image;
          delete raw.rollout;
          return { put: [raw] };
        },
      });
      const upgraded = await store.change({
        author: ALICE,
        message: `fleet: upgrade ${TENANT}/detector to ${g!.upgradeImage} in waves`,
        edit: (snap) => {
          const a = agent(snap)!;
          const raw = snap.record(recordOf(a))!.raw;
          return {
            put: [
              {
                ...raw,
                image: g!.upgradeImage,
                // A bake time: the service is stopped while wave 1 bakes.
                rollout: startRollout(
                  g!.hostNames,
                  ALICE.name,
                  { batchSize: 1, bakeSeconds: BAKE_SECONDS },
                  a.image,
                ),
              },
            ],
          };
        },
      });
      const revision = agent(upgraded.after)!.revision;
      // The service stops once the first wave runs the new revision, while it bakes.
      await waitFor(
        async () =>
          (await targets()).some(
            (t) =>
              t.host === g!.hostNames[0] &&
              t.state === 'running' &&
              t.observedRevision === revision,
          ),
        STEP_MS,
        () => new Error('wave 1 did not run the upgrade'),
        1000,
      );
      await runner!.stop();
      const stoppedAt = agent(await store.snapshot({ fresh: true }))!.rollout!;
      expect(stoppedAt.started).toBe(1);
      const wave1Ready = Date.parse(
        (await targets()).find((t) => t.host === g!.hostNames[0])!.since,
      );
      // A new service: a new clone, the rollout read from git.
      const again = await openStore('restarted');
      startRunner(again);
      await untilRollout((r) => r === undefined, 'the resumed rollout done');
      const done = await allRunning(revision);
      expect(done.every((t) => t.observedRevision === revision)).toBe(true);
      // The bake counted from when wave 1 became ready (Kubernetes' time), across the restart.
      const began = git(g!.bareRepo, 'log', '--format=%cI %s', '-5')
        .split('\n')
        .find((l) => l.endsWith('wave 2/2 begins'))!;
      expect(Date.parse(began.split(' ')[0]!)).toBeGreaterThanOrEqual(
        wave1Ready + (BAKE_SECONDS - 1) * 1000,
      );
      const real = await targets();
      expect(real.find((t) => t.host === g!.hostNames[0])!.observedRevision).toBe(revision);
    },
    STEP_MS * 3,
  );
});
