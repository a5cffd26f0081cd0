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
    expect(b.lines.find((l) => l.source === 'sidecars')).toMatchObject({
      pods: 2,
      total: scaleResources(laptop.sidecar, 2),
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
      w.argocdRedis,
      w.argocdApplicationSet,
      w.prometheus,
      w.prometheusConfigReload,
      w.jaeger,
      w.kiali,
    ].map((s) => scaleResources(s.resources, s.replicas));
    const expected = addResources(
      { cpuRequestMilli: 310, cpuLimitMilli: 620, memoryRequestMi: 208, memoryLimitMi: 416 },
      scaleResources(laptop.sidecar, 2),
      ...charts,
      KUBE_SYSTEM,
    );
    expect(b.total).toEqual(expected);
    expect(b.headroom.cpu).toBeCloseTo(1 - expected.cpuRequestMilli / LAPTOP_CLUSTER.cpuMilli);
    expect(b.headroom.memory).toBeCloseTo(1 - expected.memoryRequestMi / LAPTOP_CLUSTER.memoryMi);
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
    expect(b.lines.find((l) => l.source === 'sidecars')!.pods).toBe(
      PLATFORM_COMPONENT_IDS.filter((id) =>
        ['platform', 'identity'].includes(COMPONENTS[id].namespace),
      ).length + BACKUP_TARGET_NAMES.length,
    );
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

  it('rejects an unknown profile with exit code 2 (usage)', () => {
    const r = run('--profile', 'huge');
    expect(r.status).toBe(2);
    expect(r.stderr).toContain('use laptop or production');
  });
});
