#!/usr/bin/env -S npx tsx
/**
 * `npm run bench:fleet` (issue 20), in one run:
 *
 * (a) the per-target status of 1 000 agent instances spread over 50 hosts (10 tenants), served
 *     in one call: KubeStatusSource.status() (services/fleet/src/observe.ts) plus the JSON
 *     serialisation of its answer, against a real kube-apiserver holding 50 nodes with leases
 *     (renewed every 10 s while the bench runs, as kubelets do) and the 1 000 Deployments
 *     (rendered by the construct library, applied server-side) and their pods; p50 and p99 of
 *     the status served from watches (as the service runs it) beside the status listing every
 *     call, the same for one tenant's 100 instances (the ratio says what grows with the
 *     fleet), and the lists, the judge and the serialisation alone. Target: p99 under 200 ms.
 * (b) planning a group deploy to 200 hosts: writeFleetRecords' dry run of an Agent placed on a
 *     Group of 200 hosts with a rollout in waves (platform/fleet/rollout.ts startRollout), then
 *     renderFleet of the result; p50 and p99, beside the same plan for 20 hosts.
 *
 * Creating the objects is not measured. There is no kubelet, scheduler or controller: pods are
 * created from each Deployment's template bound to its host, and the status a kubelet and the
 * Deployment controller would write is written (testing/support/fleet-observed.ts), as in
 * testing/test/fleet-status.test.ts. The ResourceQuotas are left out (their 40 pods per
 * namespace would refuse the bench's 100), the mesh objects too (the status reads none).
 *
 *   npm run bench:fleet [-- --runs 100] [-- --plan-runs 20] [-- --json]
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import * as k8s from '@kubernetes/client-node';
import { Command } from 'commander';
import { stringify } from 'yaml';

import { renderFleet } from '../cdk8s/lib/fleet/agents.js';
import { runCli } from '../platform/cli.js';
import { loadCluster } from '../platform/cluster.js';
import { platform } from '../platform/config/platform.js';
import type { PlatformConfigInput } from '../platform/config/schema.js';
import { loadPlatformContext } from '../platform/context.js';
import { judgeFleet } from '../platform/fleet/judge.js';
import { FLEET_DIR } from '../platform/fleet/records.js';
import { resolveFleet } from '../platform/fleet/resolve.js';
import type { FleetFile } from '../platform/fleet/resolve.js';
import { startRollout } from '../platform/fleet/rollout.js';
import { writeFleetRecords } from '../platform/fleet/write.js';
import type { Snapshot } from '../services/fleet/src/contract.js';
import { KubeStatusSource } from '../services/fleet/src/observe.js';
import { startKubeApiserver } from '../testing/real/kube-apiserver.js';
import { serverSideApply } from '../testing/support/argocd-apps.js';
import {
  renewLeaseAsKubelet,
  writeNodeStatusAsKubelet,
} from '../testing/support/fleet-observed.js';

const INSTANCES = 1000;
const HOSTS = 50;
const TENANTS = 10;
const GROUP_SIZE = 5;
const PLAN_HOSTS = [20, 200] as const;
const TARGET_P99_MS = 200;
const log = (msg: string) => process.stderr.write(`bench:fleet: ${msg}\n`);

function stats(ms: number[]): { p50: number; p99: number; min: number; max: number } {
  const s = [...ms].sort((a, b) => a - b);
  const at = (q: number) => s[Math.min(s.length - 1, Math.ceil(q * s.length) - 1)]!;
  return { p50: at(0.5), p99: at(0.99), min: s[0]!, max: s[s.length - 1]! };
}

/** A stable, distinct id: its first 12 hex digits (the objects' names) differ per record. */
const uuid = (kind: number, i: number) =>
  `${i.toString(16).padStart(8, '0')}-${String(kind).padStart(4, '0')}-4000-8000-000000000000`;
const hostName = (i: number) => `host-${String(i % HOSTS).padStart(2, '0')}`;

/** Runs `work` over `items`, `width` at a time. */
async function pool<T>(items: readonly T[], width: number, work: (t: T) => Promise<void>) {
  let next = 0;
  await Promise.all(
    Array.from({ length: width }, async () => {
      while (next < items.length) await work(items[next++]!);
    }),
  );
}

/**
 * The status fleet: 50 hosts, 10 groups of 5, and per tenant 60 pinned agents and 8 agents on
 * a group (5 instances each): 100 instances per tenant, 1 000 in all. Every 20th agent is
 * stopped (no pod), every 25th crash-loops, the others run a ready pod.
 */
function statusRecords(tenants: readonly string[]): object[] {
  const records: object[] = [
    ...Array.from({ length: HOSTS }, (_, i) => ({ kind: 'Host', name: hostName(i) })),
    ...Array.from({ length: HOSTS / GROUP_SIZE }, (_, g) => ({
      kind: 'Group',
      id: uuid(1, g),
      name: `group-${String(g).padStart(2, '0')}`,
      hosts: Array.from({ length: GROUP_SIZE }, (_, k) => hostName(g * GROUP_SIZE + k)),
    })),
    {
      kind: 'Template',
      id: uuid(2, 0),
      name: 'detector',
      image: 'ghcr.io/kitt4sme/anomaly-detector:0.1.0',
      ports: [8080],
      health: { path: '/healthz', port: 8080 },
      needs: ['orion:read', 'orion:write'],
      config: { agentEntity: 'urn:ngsi-ld:Agent:{{uuid}}', host: '{{hostname}}', threshold: 3 },
    },
  ];
  let n = 0;
  for (const tenant of tenants) {
    for (let i = 0; i < 68; i++, n++)
      records.push({
        kind: 'Agent',
        id: uuid(3, n),
        name: `agent-${i}`,
        tenant,
        template: 'detector',
        state: n % 20 === 0 ? 'stopped' : 'running',
        placement:
          i < 60
            ? { host: hostName(n) }
            : { group: `group-${String(n % (HOSTS / GROUP_SIZE)).padStart(2, '0')}` },
        config: { threshold: 2 + (n % 5) },
      });
  }
  return records;
}

const asFiles = (records: readonly object[]): FleetFile[] =>
  records.map((r, i) => ({ path: `${FLEET_DIR}/r${i}.yaml`, text: stringify(r) }));

const program = new Command()
  .name('bench:fleet')
  .description(
    'Status of 1 000 agent instances over 50 hosts from a real kube-apiserver, and planning a group deploy to 200 hosts.',
  )
  .option('--runs <n>', 'timed status calls (default 100)', (v) => Number.parseInt(v, 10), 100)
  .option('--plan-runs <n>', 'timed plans per size (default 20)', (v) => Number.parseInt(v, 10), 20)
  .option('--json', 'print one JSON document on stdout')
  .action(async (opts: { runs: number; planRuns: number; json?: boolean }) => {
    const config = structuredClone(platform) as PlatformConfigInput;
    config.tenants = Array.from({ length: TENANTS }, (_, i) => ({
      name: `tenant${String(i).padStart(2, '0')}`,
    }));
    const ctx = loadPlatformContext({ config });
    const tenants = config.tenants.map((t) => t.name);

    // (b) first: it needs no server.
    log('planning group deploys (dry run + render)');
    const work = mkdtempSync(join(tmpdir(), 'bench-fleet-plan-'));
    const plan: Record<number, number[]> = {};
    let planObjects: Record<number, number> = {};
    try {
      const checkouts = PLAN_HOSTS.map((hosts) => {
        const dir = join(work, `hosts-${hosts}`);
        mkdirSync(join(dir, FLEET_DIR), { recursive: true });
        const names = Array.from({ length: hosts }, (_, i) => `line-${String(i).padStart(3, '0')}`);
        writeFileSync(
          join(dir, FLEET_DIR, 'hosts.yaml'),
          names.map((name) => stringify({ kind: 'Host', name })).join('---\n'),
        );
        writeFileSync(
          join(dir, FLEET_DIR, 'groups.yaml'),
          stringify({ kind: 'Group', id: uuid(5, hosts), name: 'plant', hosts: names }),
        );
        writeFileSync(
          join(dir, FLEET_DIR, 'templates.yaml'),
          stringify((statusRecords([]) as { kind: string }[]).find((r) => r.kind === 'Template')),
        );
        return { hosts, dir, names };
      });
      const planOnce = (c: (typeof checkouts)[number]) => {
        const t = performance.now();
        const rollout = startRollout(c.names, 'bench@kitt4sme.invalid', {
          batchSize: 20,
          maxUnavailable: 20,
        });
        const agent = {
          kind: 'Agent',
          name: 'detector',
          tenant: tenants[0],
          template: 'detector',
          placement: { group: 'plant' },
          rollout,
        };
        const res = writeFleetRecords(ctx, c.dir, [{ source: 'bench', text: stringify(agent) }], {
          dryRun: true,
        });
        const rendered = renderFleet(ctx, res.fleet);
        const ms = performance.now() - t;
        planObjects = {
          ...planObjects,
          [c.hosts]: rendered.objects.filter((o) => o.kind === 'Deployment').length,
        };
        return ms;
      };
      for (const c of checkouts) planOnce(c); // warm-up
      for (const c of checkouts) plan[c.hosts] = [];
      for (let r = 0; r < opts.planRuns; r++)
        for (const c of checkouts) plan[c.hosts]!.push(planOnce(c));
    } finally {
      rmSync(work, { recursive: true, force: true });
    }

    // (a) the status, against a real kube-apiserver.
    log('starting kube-apiserver');
    const api = await startKubeApiserver({ crds: false });
    let source: KubeStatusSource | undefined;
    let watched: KubeStatusSource | undefined;
    let stopRenewing = async () => {};
    try {
      const cluster = loadCluster({ kubeconfig: api.kubeconfigPath });
      const core = cluster.kc.makeApiClient(k8s.CoreV1Api);
      const apps = cluster.kc.makeApiClient(k8s.AppsV1Api);
      const coordination = cluster.kc.makeApiClient(k8s.CoordinationV1Api);
      const objects = k8s.KubernetesObjectApi.makeApiClient(cluster.kc);
      const files = asFiles(statusRecords(tenants));
      const fleet = resolveFleet(files, ctx);
      const rendered = renderFleet(ctx, fleet).objects as unknown as k8s.KubernetesObject[];
      const kinds = ['Namespace', 'ServiceAccount', 'LimitRange', 'Deployment'];
      const applied = rendered
        .filter((o) => kinds.includes(o.kind!))
        .filter((o) =>
          (o.kind === 'Namespace' ? o.metadata!.name! : (o.metadata!.namespace ?? '')).startsWith(
            'agents-',
          ),
        );
      const deployments = applied.filter((o) => o.kind === 'Deployment') as k8s.V1Deployment[];
      if (deployments.length !== INSTANCES)
        throw new Error(
          `the bench fleet renders ${deployments.length} Deployments, not ${INSTANCES}`,
        );
      log(`creating ${HOSTS} nodes with leases and ${applied.length} objects (not measured)`);
      const now = new Date();
      await pool(
        Array.from({ length: HOSTS }, (_, i) => hostName(i)),
        8,
        async (h) => {
          await writeNodeStatusAsKubelet(core, h, { status: 'True', since: now });
          await renewLeaseAsKubelet(coordination, h, now);
        },
      );
      for (const kind of kinds)
        await pool(
          applied.filter((o) => o.kind === kind),
          8,
          (o) => serverSideApply(objects, o, 'argocd-controller'),
        );
      log(`creating the pods and writing their status as kubelets and controllers would`);
      let made = 0;
      await pool(deployments, 8, async (d) => {
        const i = made++;
        const ns = d.metadata!.namespace!;
        const name = d.metadata!.name!;
        const running = (d.spec!.replicas ?? 1) > 0;
        if (running) {
          const t = d.spec!.template;
          const crash = i % 25 === 1;
          const pod = await core.createNamespacedPod({
            namespace: ns,
            body: {
              metadata: {
                name: `${name}-6d4b9c7f5-x7k2q`,
                labels: t.metadata?.labels,
                annotations: t.metadata?.annotations,
              },
              spec: {
                ...t.spec!,
                nodeName: t.spec!.nodeSelector?.['kubernetes.io/hostname'] ?? hostName(i),
              },
            },
          });
          const image = pod.spec!.containers[0]!.image!;
          await core.replaceNamespacedPodStatus({
            name: pod.metadata!.name!,
            namespace: ns,
            body: {
              ...pod,
              status: {
                phase: crash ? 'Pending' : 'Running',
                startTime: now,
                conditions: [
                  { type: 'PodScheduled', status: 'True', lastTransitionTime: now },
                  { type: 'Ready', status: crash ? 'False' : 'True', lastTransitionTime: now },
                ],
                containerStatuses: [
                  crash
                    ? {
                        name: 'agent',
                        image,
                        imageID: '',
                        ready: false,
                        restartCount: 7,
                        state: { waiting: { reason: 'CrashLoopBackOff' } },
                        lastState: {
                          terminated: { exitCode: 1, reason: 'Error', finishedAt: now },
                        },
                      }
                    : {
                        name: 'agent',
                        image,
                        imageID: '',
                        ready: true,
                        restartCount: 0,
                        state: { running: { startedAt: now } },
                      },
                ],
              },
            },
          });
        }
        const current = await apps.readNamespacedDeployment({ name, namespace: ns });
        await apps.replaceNamespacedDeploymentStatus({
          name,
          namespace: ns,
          body: {
            ...current,
            status: {
              observedGeneration: current.metadata!.generation,
              replicas: current.spec!.replicas,
              updatedReplicas: current.spec!.replicas,
              readyReplicas: running ? 1 : 0,
              availableReplicas: running ? 1 : 0,
              conditions: [
                {
                  type: 'Available',
                  status: 'True',
                  reason: 'MinimumReplicasAvailable',
                  lastTransitionTime: now,
                  lastUpdateTime: now,
                },
              ],
            },
          },
        });
      });

      const snapshot: Snapshot = {
        commit: '0'.repeat(40),
        files,
        fleet,
        record: () => undefined,
      };
      source = new KubeStatusSource({ cluster, tenants });
      watched = new KubeStatusSource({ cluster, tenants, watch: true });
      // The kubelets renew their leases every 10 s while the bench runs, as in a cluster.
      const renew = () =>
        pool(
          Array.from({ length: HOSTS }, (_, i) => hostName(i)),
          4,
          (h) => renewLeaseAsKubelet(coordination, h, new Date()),
        );
      await renew();
      let renewing = true;
      const renewer = (async () => {
        while (renewing) {
          await new Promise((r) => setTimeout(r, 10_000).unref());
          if (renewing) await renew();
        }
      })();
      stopRenewing = async () => {
        renewing = false;
        await renewer.catch(() => undefined);
      };
      const all = async () => {
        const t = performance.now();
        const s = await source!.status(snapshot);
        const body = JSON.stringify(s);
        return { ms: performance.now() - t, s, bytes: body.length };
      };
      const one = async () => {
        const t = performance.now();
        const s = await source!.status(snapshot, { tenants: [tenants[0]!] });
        JSON.stringify(s);
        return { ms: performance.now() - t, s };
      };
      log('starting the watches');
      await watched.start();
      const watchedCall = async () => {
        const t = performance.now();
        const s = await watched!.status(snapshot);
        JSON.stringify(s);
        if (!watched!.watching) throw new Error('a watch broke during the bench');
        return { ms: performance.now() - t, s };
      };
      log('warming up');
      const first = await all();
      const fromWatches = await watchedCall();
      if (JSON.stringify(fromWatches.s.targets) !== JSON.stringify(first.s.targets))
        throw new Error('the status from watches differs from the status by lists');
      const states: Record<string, number> = {};
      for (const t of first.s.targets) states[t.state] = (states[t.state] ?? 0) + 1;
      if (first.s.targets.length !== INSTANCES || first.s.hosts.length !== HOSTS)
        throw new Error(
          `the status has ${first.s.targets.length} targets on ${first.s.hosts.length} hosts, not ${INSTANCES} on ${HOSTS}`,
        );
      for (let i = 0; i < 5; i++) {
        await all();
        await one();
        await watchedCall();
      }
      const full: number[] = [];
      const fromCache: number[] = [];
      const tenant: number[] = [];
      const serialise: number[] = [];
      const lists: number[] = [];
      const judge: number[] = [];
      let tenantTargets = 0;
      // As the service runs: statuses from the watches, nothing else in this process.
      for (let r = 0; r < opts.runs; r++) {
        fromCache.push((await watchedCall()).ms);
        let t = performance.now();
        const observation = await watched.observe(tenants);
        judgeFleet(fleet, observation);
        judge.push(performance.now() - t);
        t = performance.now();
        JSON.stringify(first.s);
        serialise.push(performance.now() - t);
        if ((r + 1) % 10 === 0) process.stderr.write(`\r[${r + 1}/${opts.runs}] from watches`);
      }
      process.stderr.write('\n');
      // Listing every call: the fleet and one tenant interleaved, so both see the same machine.
      for (let r = 0; r < opts.runs; r++) {
        full.push((await all()).ms);
        const o = await one();
        tenant.push(o.ms);
        tenantTargets = o.s.targets.length;
        const t = performance.now();
        await source.observe(tenants);
        lists.push(performance.now() - t);
        if ((r + 1) % 10 === 0) process.stderr.write(`\r[${r + 1}/${opts.runs}] by lists`);
      }
      process.stderr.write('\n');

      const w = stats(fromCache);
      const a = stats(full);
      const b = stats(tenant);
      const p200 = stats(plan[200]!);
      const p20 = stats(plan[20]!);
      const result = {
        status: {
          instances: INSTANCES,
          hosts: HOSTS,
          tenants: TENANTS,
          runs: opts.runs,
          listCallsPerStatus: 2 + 2 * TENANTS,
          bytes: first.bytes,
          states,
          fromWatches: w,
          byLists: a,
          oneTenant: { instances: tenantTargets, ...b },
          listsOnly: stats(lists),
          judgeOnly: stats(judge),
          serialiseOnly: stats(serialise),
          ratioListsPerWatches: a.p50 / w.p50,
          ratioAllPerOneTenant: a.p50 / b.p50,
          targetP99Ms: TARGET_P99_MS,
          met: w.p99 < TARGET_P99_MS,
        },
        plan: {
          runs: opts.planRuns,
          hosts200: { waves: 10, firstWaveDeployments: planObjects[200], ...p200 },
          hosts20: { waves: 1, firstWaveDeployments: planObjects[20], ...p20 },
          ratio200per20: p200.p50 / p20.p50,
        },
      };
      if (opts.json) {
        process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
        return;
      }
      const f = (x: number) => `${x.toFixed(1)} ms`.padStart(9);
      console.log(
        `fleet status + its JSON (${INSTANCES} instances, ${HOSTS} hosts, ${TENANTS} tenants; real kube-apiserver; ${opts.runs} calls each way; by lists: ${result.status.listCallsPerStatus} list calls a status; ${(first.bytes / 1024).toFixed(0)} KiB of JSON served)`,
      );
      console.log(
        `  states: ${Object.entries(states)
          .map(([k, v]) => `${k} ${v}`)
          .join(', ')}`,
      );
      console.log('                                     p50        p99        min        max');
      const row = (label: string, s: ReturnType<typeof stats>) =>
        console.log(`  ${label.padEnd(30)}${f(s.p50)}  ${f(s.p99)}  ${f(s.min)}  ${f(s.max)}`);
      row(`from watches, ${INSTANCES} instances`, w);
      row(`by lists, ${INSTANCES} instances`, a);
      row(`by lists, ${tenantTargets} (1 tenant)`, b);
      row(`the ${result.status.listCallsPerStatus} lists alone`, result.status.listsOnly);
      row('the judge alone (from watches)', result.status.judgeOnly);
      row('JSON serialisation alone', result.status.serialiseOnly);
      console.log(
        `  ratio by lists / from watches (p50): ${result.status.ratioListsPerWatches.toFixed(1)}; by lists ${INSTANCES} / ${tenantTargets} instances (p50): ${result.status.ratioAllPerOneTenant.toFixed(2)}`,
      );
      console.log(
        `  p99 under ${TARGET_P99_MS} ms (the service serves from watches): ${result.status.met ? 'met' : 'MISSED'} (${w.p99.toFixed(1)} ms)`,
      );
      console.log(
        `plan a group deploy (writeFleetRecords dry run with a rollout in waves of 20 + renderFleet; ${opts.planRuns} runs)`,
      );
      row(`to 200 hosts (10 waves)`, p200);
      row(`to 20 hosts (1 wave)`, p20);
      console.log(`  ratio 200 / 20 hosts (p50): ${result.plan.ratio200per20.toFixed(2)}`);
    } finally {
      await stopRenewing();
      source?.close();
      watched?.close();
      await api.stop();
    }
  });

await runCli(program);
