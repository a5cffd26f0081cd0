import { spawnSync } from 'node:child_process';
import { join } from 'node:path';

import { COMPONENTS, PLATFORM_COMPONENT_IDS } from '../../platform/components.js';
import { BACKUP_TARGET_NAMES } from '../../platform/backup.js';
import type { WorkloadSize } from '../../platform/config/profiles.js';
import { PROFILES } from '../../platform/config/profiles.js';
import {
  KUBE_SYSTEM,
  LAPTOP_CLUSTER,
  REQUIRED_HEADROOM,
  addResources,
  computeBudget,
  formatBudget,
  cpuMilli,
  memoryMi,
  scaleResources,
} from '../lib/budget.js';
import type { SynthObject } from '../lib/synth.js';
import { ROOT, synth } from '../../testing/support/synth.js';

const pod = (
  ns: string,
  replicas: number,
  containers: [string, string, string, string][],
): SynthObject => ({
  file: 'deploy/x/y.yaml',
  object: {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name: `w-${ns}-${replicas}`, namespace: ns },
    spec: {
      replicas,
      template: {
        spec: {
          containers: containers.map(([cpuReq, cpuLim, memReq, memLim], i) => ({
            name: `c${i}`,
            resources: {
              requests: { cpu: cpuReq, memory: memReq },
              limits: { cpu: cpuLim, memory: memLim },
            },
          })),
        },
      },
    },
  },
});

describe('quantities', () => {
  it.each([
    ['250m', 250],
    ['1', 1000],
    ['0.5', 500],
    [2, 2000],
  ])('reads CPU %s as %d millicores', (q, m) => expect(cpuMilli(q)).toBe(m));

  it.each([
    ['512Mi', 512],
    ['1Gi', 1024],
    ['2048Ki', 2],
    [1048576, 1],
  ])('reads memory %s as %d MiB', (q, m) => expect(memoryMi(q)).toBeCloseTo(m));

  it('reads decimal memory units as bytes', () => expect(memoryMi('1G')).toBeCloseTo(953.674, 2));

  it('fails on nonsense', () => {
    expect(() => cpuMilli('lots')).toThrow(TypeError);
    expect(() => memoryMi('1Xi')).toThrow(TypeError);
  });
});

describe('the budget', () => {
  const ctx = synth().platform.context;

  it('adds deployed pods by replicas, one sidecar per meshed pod, charts and the cluster itself', () => {
    const objects = [
      pod('fiware', 2, [
        ['100m', '200m', '64Mi', '128Mi'],
        ['50m', '100m', '32Mi', '64Mi'],
      ]),
      pod('elsewhere', 1, [['10m', '20m', '16Mi', '32Mi']]),
    ];
    const b = computeBudget(ctx, objects);
    const deployed = b.lines.filter((l) => l.source === 'deploy');
    expect(deployed.map((l) => [l.pods, l.total])).toEqual([
      [2, { cpuRequestMilli: 300, cpuLimitMilli: 600, memoryRequestMi: 192, memoryLimitMi: 384 }],
      [1, { cpuRequestMilli: 10, cpuLimitMilli: 20, memoryRequestMi: 16, memoryLimitMi: 32 }],
    ]);
    const laptop = PROFILES.laptop;
    // Two meshed pods, and Alertmanager's (a chart's pod that asks for a sidecar).
    expect(b.lines.find((l) => l.source === 'sidecars')).toMatchObject({
      pods: 3,
      total: scaleResources(laptop.sidecar, 3),
    });
    const w = Object.fromEntries(
      Object.entries(COMPONENTS).map(([id, c]) => [id, c.sizes.laptop]),
    ) as Record<keyof typeof COMPONENTS, WorkloadSize>;
    const charts = [
      w.istiod,
      w.istioCni,
      w.istioIngressGateway,
      w.argocdController,
      w.argocdServer,
      w.argocdRepoServer,
      w.argocdFleetPlugin,
      w.argocdRedis,
      w.argocdApplicationSet,
      w.prometheus,
      w.prometheusConfigReload,
      w.alertmanager,
      w.jaeger,
      w.kiali,
    ].map((s) => scaleResources(s.resources, s.replicas));
    const expected = addResources(
      { cpuRequestMilli: 310, cpuLimitMilli: 620, memoryRequestMi: 208, memoryLimitMi: 416 },
      scaleResources(laptop.sidecar, 3),
      ...charts,
      KUBE_SYSTEM,
    );
    expect(b.total).toEqual(expected);
    expect(b.headroom.cpu).toBeCloseTo(1 - expected.cpuRequestMilli / LAPTOP_CLUSTER.nodeCpuMilli);
    expect(b.headroom.memory).toBeCloseTo(
      1 - expected.memoryRequestMi / LAPTOP_CLUSTER.nodeMemoryMi,
    );
  });

  it('lets the laptop profile fit a 4 vCPU / 8 GiB minikube with at least 25 % headroom on requests', () => {
    const out = synth();
    const b = computeBudget(out.platform.context, out.objects);
    expect(b.headroom.cpu).toBeGreaterThanOrEqual(REQUIRED_HEADROOM);
    expect(b.headroom.memory).toBeGreaterThanOrEqual(REQUIRED_HEADROOM);
    expect(b.fits).toBe(true);
    // Every platform workload and sidecar is in it, and the backup jobs, which run beside
    // everything else at night (one pod each, in the meshed namespaces).
    expect(b.lines.filter((l) => l.source === 'deploy')).toHaveLength(
      PLATFORM_COMPONENT_IDS.length + BACKUP_TARGET_NAMES.length,
    );
    expect(b.lines.filter((l) => l.name.endsWith('(CronJob)')).map((l) => l.pods)).toEqual(
      BACKUP_TARGET_NAMES.map(() => 1),
    );
    // And the charts' pods that ask for one (Alertmanager).
    expect(b.lines.find((l) => l.source === 'sidecars')!.pods).toBe(
      PLATFORM_COMPONENT_IDS.filter((id) =>
        ['platform', 'identity'].includes(COMPONENTS[id].namespace),
      ).length +
        BACKUP_TARGET_NAMES.length +
        Object.values(COMPONENTS).filter((c) => (c as { sidecar?: boolean }).sidecar).length,
    );
  });

  it('counts a cluster of N nodes: its capacity, and a DaemonSet pod on every node', () => {
    const cluster = { nodes: 3, nodeCpuMilli: 8000, nodeMemoryMi: 32768 };
    const one = computeBudget(ctx, []);
    const three = computeBudget(ctx, [], cluster);
    expect(three.capacity).toEqual({ cpuMilli: 24000, memoryMi: 98304 });
    const cni = (b: typeof one) => b.lines.find((l) => l.name === 'istio-cni (per node)')!;
    expect(cni(one).pods).toBe(1);
    expect(cni(three).pods).toBe(3);
    expect(three.total.cpuRequestMilli - one.total.cpuRequestMilli).toBe(
      2 * COMPONENTS.istioCni.sizes.laptop.resources.cpuRequestMilli,
    );
    expect(three.headroom.cpu).toBeCloseTo(1 - three.total.cpuRequestMilli / 24000);
    expect(three.cluster).toEqual(cluster);
  });

  it('does not fit when one pod, its sidecar included, is bigger than a node, whatever the total', () => {
    const big = pod('fiware', 1, [['1500m', '2', '1Gi', '2Gi']]);
    // One millicore short of the pod, its sidecar and istio-cni's pod on the node.
    const needed =
      1500 +
      PROFILES.laptop.sidecar.cpuRequestMilli +
      COMPONENTS.istioCni.sizes.laptop.resources.cpuRequestMilli;
    const wide = { nodes: 10, nodeCpuMilli: needed - 1, nodeMemoryMi: 65536 };
    const b = computeBudget(ctx, [big], wide);
    expect(b.headroom.cpu).toBeGreaterThan(REQUIRED_HEADROOM);
    expect(b.headroom.memory).toBeGreaterThan(REQUIRED_HEADROOM);
    expect(b.unschedulable).toEqual([
      expect.stringMatching(
        /^w-fiware-1 \(Deployment\) requests \d+m CPU and \d+Mi per pod; a node has \d+m/,
      ),
    ]);
    expect(b.fits).toBe(false);
    expect(formatBudget(b)).toContain('fits no node: w-fiware-1 (Deployment)');
    expect(computeBudget(ctx, [big], { ...wide, nodeCpuMilli: needed }).unschedulable).toEqual([]);
    // Outside the mesh there is no sidecar: the same pod fits.
    const plain = computeBudget(ctx, [pod('elsewhere', 1, [['1500m', '2', '1Gi', '2Gi']])], wide);
    expect(plain.unschedulable).toEqual([]);
  });

  it('does not fit when only one of CPU and memory has the headroom, either one', () => {
    const need = computeBudget(ctx, []).total;
    // Headroom 1 - total/capacity: 10 % of one resource left, 90 % of the other.
    const tight = (requested: number) => Math.ceil(requested / (1 - 0.1));
    const roomy = (requested: number) => Math.ceil(requested / (1 - 0.9));
    const cpuShort = computeBudget(ctx, [], {
      nodes: 1,
      nodeCpuMilli: tight(need.cpuRequestMilli),
      nodeMemoryMi: roomy(need.memoryRequestMi),
    });
    expect(cpuShort.headroom.cpu).toBeLessThan(REQUIRED_HEADROOM);
    expect(cpuShort.headroom.memory).toBeGreaterThan(REQUIRED_HEADROOM);
    expect(cpuShort.fits).toBe(false);
    const memoryShort = computeBudget(ctx, [], {
      nodes: 1,
      nodeCpuMilli: roomy(need.cpuRequestMilli),
      nodeMemoryMi: tight(need.memoryRequestMi),
    });
    expect(memoryShort.headroom.cpu).toBeGreaterThan(REQUIRED_HEADROOM);
    expect(memoryShort.headroom.memory).toBeLessThan(REQUIRED_HEADROOM);
    expect(memoryShort.fits).toBe(false);
    expect(formatBudget(memoryShort)).toContain('verdict: does NOT fit');
    // Both roomy: it fits.
    expect(
      computeBudget(ctx, [], {
        nodes: 1,
        nodeCpuMilli: roomy(need.cpuRequestMilli),
        nodeMemoryMi: roomy(need.memoryRequestMi),
      }).fits,
    ).toBe(true);
  });

  it('does not fit when one pod is bigger than a node by memory alone', () => {
    const heavy = pod('elsewhere', 1, [['10m', '20m', '3Gi', '3Gi']]);
    const b = computeBudget(ctx, [heavy], { nodes: 10, nodeCpuMilli: 64000, nodeMemoryMi: 3000 });
    expect(b.unschedulable).toEqual([
      expect.stringMatching(/^w-elsewhere-1 \(Deployment\) requests 10m CPU and 3072Mi/),
    ]);
    expect(b.fits).toBe(false);
  });

  it('says the production profile does not fit a laptop', () => {
    const out = synth({ config: (c) => void (c.profile = 'production') });
    expect(computeBudget(out.platform.context, out.objects).fits).toBe(false);
  });
});

describe('npm run budget', () => {
  const run = (...args: string[]) =>
    spawnSync(process.execPath, ['--import', 'tsx', join(ROOT, 'cdk8s/bin/budget.ts'), ...args], {
      cwd: ROOT,
      encoding: 'utf8',
    });

  it('prints the figures and the verdict', () => {
    const r = run('--check');
    expect(r.status).toBe(0);
    expect(r.stdout).toContain('against a 4 vCPU / 8 GiB cluster');
    expect(r.stdout).toMatch(/headroom \d+\.\d % CPU, \d+\.\d % memory \(required 25\.0 % each\)/);
    expect(r.stdout).toContain('verdict: fits');
  });

  it('prints one JSON document with --json and fails --check for a profile that does not fit', () => {
    const r = run('--json', '--profile', 'production', '--check');
    expect(r.status).toBe(1);
    const doc = JSON.parse(r.stdout);
    expect(doc.profile).toBe('production');
    expect(doc.fits).toBe(false);
  });

  it('sizes the production profile against a cluster given as options', () => {
    const r = run(
      '--profile',
      'production',
      '--nodes',
      '3',
      '--node-cpu',
      '8',
      '--node-memory',
      '32',
      '--check',
    );
    expect(r.stdout).toContain('against 3 nodes of 8 vCPU / 32 GiB (24 vCPU / 96 GiB)');
    expect(r.stdout).toContain('verdict: fits');
    expect(r.status).toBe(0);
    const small = run(
      '--profile',
      'production',
      '--nodes',
      '8',
      '--node-cpu',
      '2',
      '--node-memory',
      '4',
      '--check',
    );
    expect(small.stdout).toMatch(/fits no node: cratedb \(StatefulSet\)/);
    expect(small.status).toBe(1);
  });

  it('says "does NOT fit" and fails --check when only one of CPU and memory has the headroom', () => {
    const need = (JSON.parse(run('--json').stdout) as { total: Record<string, number> }).total;
    // One node with 10 % of one resource left and 90 % of the other, in the CLI's units.
    const vCpu = (free: number) => ((need.cpuRequestMilli! / (1 - free)) * 1.001) / 1000;
    const gib = (free: number) => ((need.memoryRequestMi! / (1 - free)) * 1.001) / 1024;
    for (const [cpu, memory] of [
      [vCpu(0.1), gib(0.9)],
      [vCpu(0.9), gib(0.1)],
    ] as const) {
      const args = [
        '--nodes',
        '1',
        '--node-cpu',
        cpu.toFixed(3),
        '--node-memory',
        memory.toFixed(3),
      ];
      const r = run(...args, '--check');
      expect(r.stdout).toContain('verdict: does NOT fit');
      expect(r.stdout).not.toContain('fits no node');
      expect(r.status).toBe(1);
      const doc = JSON.parse(run(...args, '--json').stdout) as {
        fits: boolean;
        headroom: { cpu: number; memory: number };
      };
      expect(Math.min(doc.headroom.cpu, doc.headroom.memory)).toBeLessThan(REQUIRED_HEADROOM);
      expect(Math.max(doc.headroom.cpu, doc.headroom.memory)).toBeGreaterThan(REQUIRED_HEADROOM);
      expect(doc.fits).toBe(false);
    }
  });

  it.each([
    ['--nodes', '0', '--nodes takes a positive whole number, not "0"'],
    ['--nodes', '1.5', '--nodes takes a positive whole number, not "1.5"'],
    ['--node-cpu', 'lots', '--node-cpu takes a positive number, not "lots"'],
    ['--node-memory', '-8', '--node-memory takes a positive number, not "-8"'],
  ])('rejects %s %s with exit code 2, saying what it takes', (flag, value, message) => {
    const r = run(flag, value);
    expect(r.status).toBe(2);
    expect(r.stderr).toContain(message);
  });

  it('rejects an unknown profile with exit code 2 (usage)', () => {
    const r = run('--profile', 'huge');
    expect(r.status).toBe(2);
    expect(r.stderr).toContain('use laptop or production');
  });
});
