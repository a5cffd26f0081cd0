/**
 * Test support: the rest of a real Kubernetes cluster around the tests' kube-apiserver — the
 * controllers (kube-controller-manager), the scheduler, and one real node: Debian's
 * containerd and runc under the pinned kubelet and kube-proxy, pods on a CNI bridge.
 *
 * Built for one machine shared with other work, so everything it changes outside its
 * temporary directory is named after the run and taken back by `stop()`, which also runs
 * when the test process exits: the bridge, the iptables chains of kube-proxy and the kubelet,
 * the pods' network namespaces, the cgroups of the pods, every mount under the directory,
 * and every process (the shims and containers too). `leftovers()` lists what would remain,
 * so a test can prove the teardown. Needs root. The machine has room for one node (its pod
 * subnet, bridge address and iptables chains are fixed): a node is started under the
 * machine lock `kube-node`, so test files run in parallel (jest's workers, another run) take
 * turns at it; `stop()` lets go of it.
 */
import type { ChildProcess } from 'node:child_process';
import { execFileSync, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  rmdirSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import * as k8s from '@kubernetes/client-node';
import { stringify } from 'yaml';

import { CNI_BIN_DIR, ensureKubeNode, ensureNodeRuntime } from '../../toolchain/tools.js';
import type { MachineLock } from '../support/machine-lock.js';
import { acquireMachineLock } from '../support/machine-lock.js';
import type { AssembledImage } from '../support/oci-image.js';
import { assembleImage, run } from '../support/oci-image.js';
import { processGroup, spawnLogged, tailFile, terminate, waitFor } from '../support/processes.js';
import type { KubeApiserver } from './kube-apiserver.js';
import { freePort } from './opa.js';

/** The kube-apiserver flags a node needs: reach the kubelet at the node's InternalIP. */
export const NODE_APISERVER_ARGS: readonly string[] = [
  '--kubelet-preferred-address-types=InternalIP',
];

/** The pods' subnet on the node's bridge; the bridge itself is its first address. */
const POD_SUBNET = '10.244.0.0/24';
const BRIDGE_IP = '10.244.0.1';
/** The Services' range the tests' kube-apiserver serves (its --service-cluster-ip-range). */
const SERVICE_RANGE = '10.96.0.0/16';

/** The cgroup v1 hierarchies the kubelet needs its cgroup root in. */
const CGROUP_V1 = '/sys/fs/cgroup';

/** Controllers the control plane runs. */
export interface ControlPlane {
  logTail(component: 'kube-controller-manager' | 'kube-scheduler', lines?: number): string;
  stop(): Promise<void>;
}

/** A running node. */
export interface KubeNode {
  readonly name: string;
  /** The node's InternalIP: the address of its bridge. */
  readonly ip: string;
  /** Imports an assembled image into the node's containerd under `ref` (e.g. `ghcr.io/x/y:1`). */
  importImage(image: AssembledImage, ref: string): void;
  logTail(component: 'containerd' | 'kubelet' | 'kube-proxy', lines?: number): string;
  /** The processes of a pod (its sandbox's and its containers'), as the kernel sees them. */
  podProcesses(podUid: string): PodProcess[];
  /** What would remain on the machine if the node stopped now (empty after `stop()`). */
  leftovers(): string[];
  /** Deletes every pod, stops the processes and takes back all machine state. Idempotent. */
  stop(): Promise<void>;
}

/** A process of a pod, read from /proc. */
export interface PodProcess {
  readonly pid: number;
  readonly cmdline: string;
  /** Real, effective, saved and filesystem user ids. */
  readonly uids: number[];
  /** The options of its root mount, e.g. `['ro', 'relatime']`. */
  readonly rootMountOptions: string[];
  readonly noNewPrivs: boolean;
  /** Its effective capabilities (a bit set). */
  readonly capEff: bigint;
}

/** Options of {@link startKubeNode}. */
export interface StartKubeNodeOptions {
  /** How long to wait for containerd and for the node to be Ready. @default 120_000 */
  readonly timeoutMs?: number;
  /** Also run the scheduler and the controllers (Deployments, Services' endpoints). @default true */
  readonly controlPlane?: boolean;
  /** How long to wait for another process's node to stop (the machine lock). @default 300_000 */
  readonly lockTimeoutMs?: number;
}

const kubeconfigFor = (api: KubeApiserver) => api.kubeconfigPath;

/**
 * Starts kube-controller-manager (only `controllers`, e.g. `garbage-collector-controller`,
 * or all by default) and, unless `scheduler: false`, kube-scheduler, against `api`.
 */
export async function startControlPlane(
  api: KubeApiserver,
  opts: { controllers?: readonly string[]; scheduler?: boolean; timeoutMs?: number } = {},
): Promise<ControlPlane> {
  const bin = ensureKubeNode();
  const timeoutMs = opts.timeoutMs ?? 60_000;
  const dir = mkdtempSync(join(tmpdir(), 'kube-control-plane-'));
  const logs = {
    'kube-controller-manager': join(dir, 'kube-controller-manager.log'),
    'kube-scheduler': join(dir, 'kube-scheduler.log'),
  };
  const group = processGroup(dir);
  const children = group.children;
  const stop = () => group.stop();
  try {
    const kcmPort = await freePort();
    const kcm = spawnLogged(
      join(bin, 'kube-controller-manager'),
      [
        `--kubeconfig=${kubeconfigFor(api)}`,
        `--authentication-kubeconfig=${kubeconfigFor(api)}`,
        `--authorization-kubeconfig=${kubeconfigFor(api)}`,
        '--bind-address=127.0.0.1',
        `--secure-port=${kcmPort}`,
        `--cert-dir=${join(dir, 'kcm-certs')}`,
        '--leader-elect=false',
        `--service-account-private-key-file=${api.serviceAccountKeyPath}`,
        `--service-cluster-ip-range=${SERVICE_RANGE}`,
        '--allocate-node-cidrs=false',
        '--use-service-account-credentials=false',
        ...(opts.controllers ? [`--controllers=${opts.controllers.join(',')}`] : []),
      ],
      logs['kube-controller-manager'],
    );
    group.add(kcm);
    if (opts.scheduler !== false) {
      const schedPort = await freePort();
      group.add(
        spawnLogged(
          join(bin, 'kube-scheduler'),
          [
            `--kubeconfig=${kubeconfigFor(api)}`,
            `--authentication-kubeconfig=${kubeconfigFor(api)}`,
            `--authorization-kubeconfig=${kubeconfigFor(api)}`,
            '--bind-address=127.0.0.1',
            `--secure-port=${schedPort}`,
            `--cert-dir=${join(dir, 'sched-certs')}`,
            '--leader-elect=false',
          ],
          logs['kube-scheduler'],
        ),
      );
    }
    // Up when it answers its health check (self-signed certificate).
    await waitFor(
      async () => {
        if (children.some((c) => c.exitCode !== null)) return true;
        const r = spawnSync('curl', ['-ksf', `https://127.0.0.1:${kcmPort}/healthz`]);
        return r.status === 0;
      },
      timeoutMs,
      () =>
        new Error(
          `kube-controller-manager did not answer within ${timeoutMs} ms\n${tailFile(logs['kube-controller-manager'], 30)}`,
        ),
      250,
    );
    const dead = children.find((c) => c.exitCode !== null);
    if (dead)
      throw new Error(
        `a control-plane component exited (${dead.exitCode})\n${Object.values(logs)
          .map((l) => tailFile(l, 30))
          .join('\n')}`,
      );
    return { logTail: (c, lines = 40) => tailFile(logs[c], lines), stop };
  } catch (err) {
    await stop();
    throw err;
  }
}

/** Lines of `iptables-save` (and ip6tables) naming a chain this node's components create. */
function ourChains(): string[] {
  const out: string[] = [];
  for (const save of ['iptables-save', 'ip6tables-save']) {
    const r = spawnSync(save, [], { encoding: 'utf8' });
    if (r.status !== 0) continue;
    for (const line of r.stdout.split('\n'))
      if (/^:(KUBE-|CNI-)/.test(line)) out.push(`${save}: ${line.split(' ')[0]}`);
  }
  return out;
}

/** Flushes and deletes every KUBE-* and CNI-* chain in every table, IPv4 and IPv6. */
function dropOurChains(): void {
  for (const [save, tables] of [
    ['iptables-save', 'iptables'],
    ['ip6tables-save', 'ip6tables'],
  ] as const) {
    const r = spawnSync(save, [], { encoding: 'utf8' });
    if (r.status !== 0) continue;
    let table = '';
    const chains: [string, string][] = [];
    const jumps: [string, string][] = [];
    for (const line of r.stdout.split('\n')) {
      if (line.startsWith('*')) table = line.slice(1);
      const m = /^:((?:KUBE|CNI)-\S+)/.exec(line);
      if (m) chains.push([table, m[1]!]);
      // Rules in built-in chains that jump to ours.
      const j = /^-A (\S+) (.*-j (?:KUBE|CNI)-\S+.*)$/.exec(line);
      if (j && !/^(KUBE|CNI)-/.test(j[1]!)) jumps.push([table, line.slice(3)]);
    }
    for (const [t, rule] of jumps)
      spawnSync(tables, ['-t', t, '-D', ...splitRule(rule)], { stdio: 'ignore' });
    for (const [t, c] of chains) spawnSync(tables, ['-t', t, '-F', c], { stdio: 'ignore' });
    for (const [t, c] of chains) spawnSync(tables, ['-t', t, '-X', c], { stdio: 'ignore' });
  }
}

/** Splits an iptables-save rule into arguments (quoted comments kept whole). */
function splitRule(rule: string): string[] {
  const out: string[] = [];
  const re = /"((?:[^"\\]|\\.)*)"|(\S+)/g;
  for (let m = re.exec(rule); m; m = re.exec(rule)) out.push(m[1] ?? m[2]!);
  return out;
}

/** Mount points at or under `dir`, deepest first. */
function mountsUnder(dir: string): string[] {
  return readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .map((l) => l.split(' ')[4])
    .filter((m): m is string => !!m && (m === dir || m.startsWith(`${dir}/`)))
    .map((m) => m.replace(/\\040/g, ' '))
    .sort((a, b) => b.length - a.length);
}

/** The cgroup hierarchies: one per mounted v1 controller set, and the unified v2 one. */
function cgroupHierarchies(): string[] {
  if (!existsSync(CGROUP_V1)) return [];
  return readdirSync(CGROUP_V1)
    .map((d) => join(CGROUP_V1, d))
    .filter((d) => existsSync(join(d, 'cgroup.procs')));
}

/** Every process in a cgroup tree. */
function cgroupProcesses(root: string): number[] {
  if (!existsSync(root)) return [];
  const pids: number[] = [];
  const walk = (d: string) => {
    for (const p of readFileSync(join(d, 'cgroup.procs'), 'utf8').split('\n'))
      if (p) pids.push(Number(p));
    for (const e of readdirSync(d, { withFileTypes: true }))
      if (e.isDirectory()) walk(join(d, e.name));
  };
  walk(root);
  return pids;
}

/** Removes a cgroup tree, deepest first (the directories must be empty of processes). */
function removeCgroupTree(root: string): void {
  if (!existsSync(root)) return;
  for (const e of readdirSync(root, { withFileTypes: true }))
    if (e.isDirectory()) removeCgroupTree(join(root, e.name));
  try {
    rmdirSync(root);
  } catch {
    // busy: reported by leftovers()
  }
}

/** Processes whose command line mentions `text`. */
function processesMentioning(text: string): number[] {
  const pids: number[] = [];
  for (const p of readdirSync('/proc').filter((d) => /^\d+$/.test(d))) {
    try {
      if (readFileSync(`/proc/${p}/cmdline`, 'utf8').includes(text)) pids.push(Number(p));
    } catch {
      // gone
    }
  }
  return pids.filter((p) => p !== process.pid);
}

/** The processes of the pod cgroup `pod<uid>` under `root` (any depth), read from /proc. */
function podProcessesUnder(root: string, podUid: string): PodProcess[] {
  const find = (d: string): string | undefined => {
    if (!existsSync(d)) return undefined;
    for (const e of readdirSync(d, { withFileTypes: true })) {
      if (!e.isDirectory()) continue;
      if (e.name === `pod${podUid}` || e.name === `pod${podUid.replaceAll('-', '_')}`)
        return join(d, e.name);
      const deeper = find(join(d, e.name));
      if (deeper) return deeper;
    }
    return undefined;
  };
  const dir = find(root);
  if (!dir) return [];
  return cgroupProcesses(dir).flatMap((pid) => {
    try {
      const status = readFileSync(`/proc/${pid}/status`, 'utf8');
      const field = (name: string) => new RegExp(`^${name}:\\s*(.*)$`, 'm').exec(status)?.[1] ?? '';
      const rootMount = readFileSync(`/proc/${pid}/mountinfo`, 'utf8')
        .split('\n')
        .map((l) => l.split(' '))
        .find((f) => f[4] === '/');
      return [
        {
          pid,
          cmdline: readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').join(' ').trim(),
          uids: field('Uid').split(/\s+/).map(Number),
          rootMountOptions: (rootMount?.[5] ?? '').split(','),
          noNewPrivs: field('NoNewPrivs') === '1',
          capEff: BigInt(`0x${field('CapEff') || '0'}`),
        },
      ];
    } catch {
      return []; // gone meanwhile
    }
  });
}

const kill = (pids: readonly number[]) => {
  for (const p of pids)
    try {
      process.kill(p, 'SIGKILL');
    } catch {
      // gone
    }
};

/**
 * Starts one node against `api` (started with {@link NODE_APISERVER_ARGS}): containerd,
 * the kubelet and kube-proxy, plus, by default, the scheduler and controllers. Resolves once
 * the Node is Ready. NOTE (1)
 */
export async function startKubeNode(
  api: KubeApiserver,
  opts: StartKubeNodeOptions = {},
): Promise<KubeNode> {
  const bin = ensureKubeNode();
  const rt = ensureNodeRuntime();
  const lock = await acquireMachineLock('kube-node', {
    timeoutMs: opts.lockTimeoutMs ?? 300_000,
    holder: `the test kube node of process ${process.pid}`,
    onWait: (holder) =>
      process.stderr.write(`kube node: waiting for the machine's node, held by ${holder}\n`),
  });
  try {
    return await startLockedNode(api, opts, bin, rt, lock);
  } catch (err) {
    await lock.release(); // idempotent: the failed start's stop() may have let go already
    throw err;
  }
}

/** {@link startKubeNode} once the machine lock is held; the node's `stop()` lets go of it. */
async function startLockedNode(
  api: KubeApiserver,
  opts: StartKubeNodeOptions,
  bin: string,
  rt: ReturnType<typeof ensureNodeRuntime>,
  lock: MachineLock,
): Promise<KubeNode> {
  const timeoutMs = opts.timeoutMs ?? 120_000;
  // The teardown removes every KUBE-* and CNI-* chain: refuse a machine that has some of
  // another cluster's.
  const foreign = ourChains();
  if (foreign.length > 0)
    throw new Error(
      `this machine already has Kubernetes or CNI iptables chains (${foreign.slice(0, 3).join(', ')}); a test node would share them and its teardown would remove them. Run the kubelet tests on a machine without another cluster on the host network`,
    );
  const id = randomBytes(3).toString('hex');
  const name = `kitt4sme-node-${id}`;
  const bridge = `k4s${id}`;
  const cgroupRoot = `/kitt4sme-${id}`;
  const dir = mkdtempSync(join(tmpdir(), 'kube-node-'));
  const d = (...p: string[]) => join(dir, ...p);
  const logs = {
    containerd: d('containerd.log'),
    kubelet: d('kubelet.log'),
    'kube-proxy': d('kube-proxy.log'),
  };
  const netnsBefore = new Set(existsSync('/var/run/netns') ? readdirSync('/var/run/netns') : []);
  const ourNetns = () =>
    (existsSync('/var/run/netns') ? readdirSync('/var/run/netns') : []).filter(
      (n) => !netnsBefore.has(n),
    );
  const containerdSock = d('containerd', 'containerd.sock');
  const children: ChildProcess[] = [];
  let control: ControlPlane | undefined;
  const killAll = () => {
    for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
    // Last resort at exit: the shims and the containers.
    kill(processesMentioning(containerdSock));
    for (const h of cgroupHierarchies()) kill(cgroupProcesses(join(h, cgroupRoot)));
  };
  process.on('exit', killAll);

  const leftovers = (): string[] => {
    const out: string[] = [];
    if (existsSync(`/sys/class/net/${bridge}`)) out.push(`network link ${bridge}`);
    for (const c of ourChains()) out.push(`iptables chain ${c}`);
    for (const n of ourNetns()) out.push(`network namespace /var/run/netns/${n}`);
    for (const m of mountsUnder(dir)) out.push(`mount ${m}`);
    for (const h of cgroupHierarchies())
      if (existsSync(join(h, cgroupRoot))) out.push(`cgroup ${join(h, cgroupRoot)}`);
    for (const c of children)
      if (c.exitCode === null && c.signalCode === null) out.push(`process ${c.pid} ${c.spawnfile}`);
    for (const p of processesMentioning(containerdSock)) out.push(`process ${p} (a shim)`);
    if (existsSync(dir)) out.push(`directory ${dir}`);
    return out;
  };

  let stopping: Promise<void> | undefined;
  const teardown = async () => {
    // 1. The controllers first, so that nothing replaces a deleted pod; then the pods, through
    //    the API, so that the kubelet stops their sandboxes and CNI takes their network back.
    await control?.stop();
    const kubelet = children.find((c) => c.spawnfile.endsWith('/kubelet'));
    if (kubelet && kubelet.exitCode === null) {
      const core = api.kubeConfig().makeApiClient(k8s.CoreV1Api);
      try {
        const pods = await core.listPodForAllNamespaces({ fieldSelector: `spec.nodeName=${name}` });
        for (const p of pods.items)
          await core
            .deleteNamespacedPod({
              name: p.metadata!.name!,
              namespace: p.metadata!.namespace!,
              gracePeriodSeconds: 0,
            })
            .catch(() => undefined);
        await waitFor(
          async () =>
            (await core.listPodForAllNamespaces({ fieldSelector: `spec.nodeName=${name}` })).items
              .length === 0 && ourNetns().length === 0,
          30_000,
          () => new Error('pods not gone'),
          500,
        ).catch(() => undefined);
      } catch {
        // the apiserver is gone: the brute-force steps below still run
      }
    }
    // 2. The processes: kube-proxy, kubelet, containerd; then any shim or container left.
    for (const c of [...children].reverse()) await terminate(c);
    kill(processesMentioning(containerdSock));
    for (const h of cgroupHierarchies()) kill(cgroupProcesses(join(h, cgroupRoot)));
    await waitFor(
      async () =>
        processesMentioning(containerdSock).length === 0 &&
        cgroupHierarchies().every((h) => cgroupProcesses(join(h, cgroupRoot)).length === 0),
      10_000,
      () => new Error('processes not gone'),
      100,
    ).catch(() => undefined);
    // 3. The rules kube-proxy and the kubelet made, the bridge, network namespaces, mounts,
    //    cgroups, files.
    if (existsSync(join(bin, 'kube-proxy')))
      spawnSync(join(bin, 'kube-proxy'), ['--cleanup'], { stdio: 'ignore' });
    dropOurChains();
    spawnSync('ip', ['link', 'delete', bridge], { stdio: 'ignore' });
    for (const n of ourNetns()) {
      spawnSync('umount', ['-l', `/var/run/netns/${n}`], { stdio: 'ignore' });
      rmSync(`/var/run/netns/${n}`, { force: true });
    }
    for (const m of mountsUnder(dir)) spawnSync('umount', ['-l', m], { stdio: 'ignore' });
    for (const h of cgroupHierarchies()) removeCgroupTree(join(h, cgroupRoot));
    if (mountsUnder(dir).length === 0) rmSync(dir, { recursive: true, force: true });
    process.off('exit', killAll);
  };
  // One stop, whoever calls it: a second call waits for the first.
  const stop = () =>
    (stopping ??= (async () => {
      try {
        await teardown();
      } finally {
        // The next node may start once this one's machine state is back.
        await lock.release();
      }
    })());

  try {
    // The bridge first: the kubelet checks that its --node-ip is an address of the host.
    run('ip', ['link', 'add', bridge, 'type', 'bridge']);
    run('ip', ['addr', 'add', `${BRIDGE_IP}/24`, 'dev', bridge]);
    run('ip', ['link', 'set', bridge, 'up']);
    // cgroup v1: the kubelet wants its cgroup root in every hierarchy. NOTE (2)
    for (const h of cgroupHierarchies()) mkdirSync(join(h, cgroupRoot), { recursive: true });

    mkdirSync(d('cni'), { recursive: true });
    writeFileSync(
      d('cni', '10-bridge.conflist'),
      JSON.stringify({
        cniVersion: '1.0.0',
        name: `kitt4sme-${id}`,
        plugins: [
          {
            type: 'bridge',
            bridge,
            isGateway: true,
            ipMasq: false,
            hairpinMode: true,
            ipam: {
              type: 'host-local',
              ranges: [[{ subnet: POD_SUBNET, gateway: BRIDGE_IP }]],
              routes: [{ dst: '0.0.0.0/0' }],
              dataDir: d('cni', 'ipam'),
            },
          },
          { type: 'loopback' },
        ],
      }),
    );
    mkdirSync(d('containerd'), { recursive: true });
    writeFileSync(
      d('containerd', 'config.toml'),
      [
        'version = 2',
        `root = "${d('containerd', 'root')}"`,
        `state = "${d('containerd', 'state')}"`,
        // Plugins that would use paths outside the directory, or that this node has no use for.
        'disabled_plugins = ["io.containerd.internal.v1.opt", "io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.devmapper", "io.containerd.tracing.processor.v1.otlp", "io.containerd.internal.v1.tracing"]',
        '[grpc]',
        `  address = "${containerdSock}"`,
        '[ttrpc]',
        `  address = "${d('containerd', 'containerd.ttrpc.sock')}"`,
        '[debug]',
        `  address = "${d('containerd', 'debug.sock')}"`,
        '[metrics]',
        '  address = ""',
        '[plugins."io.containerd.grpc.v1.cri"]',
        `  sandbox_image = "${PAUSE_REF}"`,
        // The VM lacks CAP_SYS_RESOURCE: runc may only raise oom_score_adj. NOTE (2)
        '  restrict_oom_score_adj = true',
        '  enable_selinux = false',
        '  disable_apparmor = true',
        '[plugins."io.containerd.grpc.v1.cri".containerd]',
        '  snapshotter = "overlayfs"',
        '  default_runtime_name = "runc"',
        '[plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]',
        '  runtime_type = "io.containerd.runc.v2"',
        '[plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]',
        `  BinaryName = "${rt.runc}"`,
        '  SystemdCgroup = false',
        '[plugins."io.containerd.grpc.v1.cri".cni]',
        `  bin_dir = "${CNI_BIN_DIR}"`,
        `  conf_dir = "${d('cni')}"`,
        '',
      ].join('\n'),
    );
    const containerd = spawnLogged(
      rt.containerd,
      ['--config', d('containerd', 'config.toml'), '--log-level', 'warn'],
      logs.containerd,
      { ...process.env, PATH: `${CNI_BIN_DIR}:${process.env.PATH ?? ''}` },
    );
    children.push(containerd);
    await waitFor(
      async () =>
        containerd.exitCode !== null ||
        spawnSync(rt.ctr, ['--address', containerdSock, 'version'], { stdio: 'ignore' }).status ===
          0,
      timeoutMs,
      () =>
        new Error(
          `containerd did not answer within ${timeoutMs} ms\n${tailFile(logs.containerd, 30)}`,
        ),
      250,
    );
    if (containerd.exitCode !== null)
      throw new Error(
        `containerd exited (${containerd.exitCode})\n${tailFile(logs.containerd, 30)}`,
      );
    importImageInto(rt.ctr, containerdSock, pauseImage(d('pause')), PAUSE_REF);

    if (opts.controlPlane !== false) control = await startControlPlane(api);

    const [kubeletPort, kubeletHealthz, proxyHealthz, proxyMetrics] = [
      await freePort(),
      await freePort(),
      await freePort(),
      await freePort(),
    ];
    writeFileSync(d('resolv.conf'), 'nameserver 127.0.0.1\n');
    writeFileSync(
      d('kubelet.yaml'),
      stringify({
        apiVersion: 'kubelet.config.k8s.io/v1beta1',
        kind: 'KubeletConfiguration',
        address: BRIDGE_IP,
        port: kubeletPort,
        readOnlyPort: 0,
        healthzBindAddress: '127.0.0.1',
        healthzPort: kubeletHealthz,
        // The apiserver reaches the kubelet (logs, port-forward) without a client certificate
        // here, on the node's bridge address only.
        authentication: { anonymous: { enabled: true }, webhook: { enabled: false } },
        authorization: { mode: 'AlwaysAllow' },
        cgroupDriver: 'cgroupfs',
        cgroupRoot,
        failCgroupV1: false,
        containerRuntimeEndpoint: `unix://${containerdSock}`,
        failSwapOn: false,
        resolvConf: d('resolv.conf'),
        // A shared machine: do not evict for its disk or memory, and leave its sysctls alone.
        evictionHard: {
          'memory.available': '1Mi',
          'nodefs.available': '1%',
          'imagefs.available': '1%',
        },
        protectKernelDefaults: false,
        imageGCHighThresholdPercent: 100,
        imageGCLowThresholdPercent: 99,
        serializeImagePulls: false,
        registerNode: true,
        localStorageCapacityIsolation: false,
        volumePluginDir: d('volume-plugins'),
      }),
    );
    const kubelet = spawnLogged(
      join(bin, 'kubelet'),
      [
        `--config=${d('kubelet.yaml')}`,
        `--kubeconfig=${api.kubeconfigPath}`,
        `--root-dir=${d('kubelet')}`,
        `--cert-dir=${d('kubelet-certs')}`,
        `--hostname-override=${name}`,
        `--node-ip=${BRIDGE_IP}`,
        '--v=1',
      ],
      logs.kubelet,
    );
    children.push(kubelet);
    writeFileSync(
      d('kube-proxy.yaml'),
      stringify({
        apiVersion: 'kubeproxy.config.k8s.io/v1alpha1',
        kind: 'KubeProxyConfiguration',
        clientConnection: { kubeconfig: api.kubeconfigPath },
        mode: 'iptables',
        clusterCIDR: POD_SUBNET,
        hostnameOverride: name,
        healthzBindAddress: `127.0.0.1:${proxyHealthz}`,
        metricsBindAddress: `127.0.0.1:${proxyMetrics}`,
        // Leave the machine's sysctls alone: no conntrack table sizing, no route_localnet.
        conntrack: { maxPerCore: 0, min: 0 },
        iptables: { localhostNodePorts: false },
      }),
    );
    children.push(
      spawnLogged(
        join(bin, 'kube-proxy'),
        [`--config=${d('kube-proxy.yaml')}`],
        logs['kube-proxy'],
      ),
    );

    const core = api.kubeConfig().makeApiClient(k8s.CoreV1Api);
    await waitFor(
      async () => {
        if (children.some((c) => c.exitCode !== null)) return true;
        const node = await core.readNode({ name });
        return !!node.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True');
      },
      timeoutMs,
      () =>
        new Error(
          `node ${name} was not Ready within ${timeoutMs} ms\n--- kubelet\n${tailFile(logs.kubelet, 40)}\n--- containerd\n${tailFile(logs.containerd, 20)}`,
        ),
      500,
    );
    const dead = children.find((c) => c.exitCode !== null);
    if (dead)
      throw new Error(
        `${dead.spawnfile} exited (${dead.exitCode})\n--- kubelet\n${tailFile(logs.kubelet, 40)}\n--- kube-proxy\n${tailFile(logs['kube-proxy'], 20)}\n--- containerd\n${tailFile(logs.containerd, 20)}`,
      );
    return {
      name,
      ip: BRIDGE_IP,
      importImage: (image, ref) => importImageInto(rt.ctr, containerdSock, image, ref),
      logTail: (c, lines = 40) => tailFile(logs[c], lines),
      podProcesses: (uid) => podProcessesUnder(join(CGROUP_V1, 'memory', cgroupRoot), uid),
      leftovers,
      stop,
    };
  } catch (err) {
    await stop();
    throw err;
  }
}

/** The pods' sandbox image, assembled here from Debian's static catatonit. */
const PAUSE_REF = 'kitt4sme.local/pause:catatonit';

/** Builds the pause image in `dir`: catatonit in pause mode, as root-less as the pods. */
function pauseImage(dir: string): AssembledImage {
  const rootfs = join(dir, 'rootfs');
  mkdirSync(join(rootfs, 'usr', 'bin'), { recursive: true });
  execFileSync('cp', [NODE_PAUSE_BINARY, join(rootfs, 'usr', 'bin', 'catatonit')]);
  return assembleImage(rootfs, join(dir, 'layout'), 'catatonit', {
    user: '65535:65535',
    entrypoint: ['/usr/bin/catatonit', '-P'],
  });
}

const NODE_PAUSE_BINARY = '/usr/bin/catatonit';

/** Imports `image` into containerd's CRI namespace as `ref` (`<repository>:<tag>`), unpacked. */
function importImageInto(ctr: string, address: string, image: AssembledImage, ref: string): void {
  const m = /^(.+):([^:/]+)$/.exec(ref);
  if (!m) throw new TypeError(`${ref} is not <repository>:<tag>`);
  const tar = `${image.layout}.tar`;
  const c = (...args: string[]) =>
    run(ctr, ['--address', address, '--namespace', 'k8s.io', ...args]);
  run('tar', ['--sort=name', '--mtime=@0', '--numeric-owner', '-C', image.layout, '-cf', tar, '.']);
  try {
    // The layout's tag names the image `<base-name>:<tag>`; then it is tagged as `ref`.
    c('images', 'import', '--base-name', m[1]!, '--all-platforms', tar);
    const imported = `${m[1]}:${image.tag}`;
    if (imported !== ref) c('images', 'tag', '--force', imported, ref);
  } finally {
    rmSync(tar, { force: true });
  }
}

// NOTE
// 1. What this machine needed (a 2-core VM with cgroup v1 and no CAP_SYS_RESOURCE), found by
//    the prototype the GitOps issue records and kept here: the kubelet's `failCgroupV1: false`
//    (Kubernetes 1.35+ refuses cgroup v1 otherwise), a cgroup root created beforehand in every
//    v1 hierarchy, containerd's `restrict_oom_score_adj`, the bridge's address as the node IP
//    (created before the kubelet starts), the apiserver's
//    `--kubelet-preferred-address-types=InternalIP` (the node's hostname does not resolve), and
//    absolute paths for the kubelet's --root-dir (it makes relative mount points).
// 2. Seen with containerd 1.6.20 and runc 1.1.5 (Debian 12), Kubernetes v1.36.3.
