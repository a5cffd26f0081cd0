/**
 * The bring-up scripts (minikube/*.sh, argocd/bootstrap.sh), run as subprocesses with stub
 * tools first on PATH: each stub appends its argv to a log and exits 0, or prints canned output
 * chosen by STUB_* variables. There is no cluster here, so this checks what the scripts would
 * run, in which order, and how they fail; not minikube itself.
 */
import { spawnSync } from 'node:child_process';
import {
  chmodSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { LAPTOP_CLUSTER } from '../../cdk8s/lib/budget.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const BASH = '/bin/bash';
const TOOLS = ['minikube', 'kubectl', 'helm', 'npm', 'git'] as const;
/** What the scripts need from the system before they look for the tools. */
const SYSTEM = ['bash', 'env', 'dirname', 'sed', 'grep', 'cat', 'mktemp', 'sleep', 'rm'];

/** The values the tests compare with, parsed from the generated file rather than restated. */
const ENV_FILE = join(ROOT, 'deploy/bootstrap/cluster.env');
const KEYS = [
  'KITT4SME_MINIKUBE_CPUS',
  'KITT4SME_MINIKUBE_MEMORY_MB',
  'KITT4SME_K8S_VERSION',
  'KITT4SME_ARGOCD_NAMESPACE',
  'KITT4SME_ARGOCD_CHART_REPO',
  'KITT4SME_ARGOCD_CHART_VERSION',
  'KITT4SME_GITOPS_REPO_URL',
  'KITT4SME_GITOPS_REVISION',
  'KITT4SME_LOCAL_GIT_SERVICE',
  'KITT4SME_LOCAL_GIT_PUSH_PORT',
  'KITT4SME_LOCAL_GIT_REPO',
  'KITT4SME_PROJECT_IMAGES',
] as const;
const env = readEnv(ENV_FILE);

function readEnv(file: string): Record<(typeof KEYS)[number], string> {
  const values = new Map<string, string>();
  for (const line of readFileSync(file, 'utf8').split('\n')) {
    const m = /^(KITT4SME_\w+)='(.*)'$/.exec(line);
    if (m?.[1] && m[2] !== undefined) values.set(m[1], m[2]);
  }
  return Object.fromEntries(
    KEYS.map((key) => {
      const value = values.get(key);
      if (!value) throw new Error(`${file} has no ${key}; run npm run synth`);
      return [key, value];
    }),
  ) as Record<(typeof KEYS)[number], string>;
}

const STUB = `#!/bin/bash
printf '%s\\n' "TOOL $*" >>"$STUB_LOG"
case "TOOL $*" in
  'minikube status'*) printf '%s\\n' "\${STUB_MINIKUBE_STATUS:-Running}"; exit "\${STUB_MINIKUBE_STATUS_EXIT:-0}" ;;
  'npm run -s synth -- --check') exit "\${STUB_SYNTH_CHECK_EXIT:-0}" ;;
  'npm run -s platform -- wait'*) exit "\${STUB_WAIT_EXIT:-0}" ;;
  'kubectl version'*) exit "\${STUB_KUBECTL_VERSION_EXIT:-0}" ;;
  'kubectl '*port-forward*)
    echo "$$" >"$STUB_LOG.pf"
    echo 'Forwarding from 127.0.0.1:40123 -> 9419'
    exec sleep 30 ;;
  'git remote get-url origin') printf '%s\\n' "\${STUB_GIT_ORIGIN:-}" ;;
  # The node's images: what a pull or a build put there, and STUB_IMAGE_LS.
  'minikube -p '*' image ls'*)
    [ -f "$STUB_LOG.images" ] && cat "$STUB_LOG.images"
    [ -n "\${STUB_IMAGE_LS:-}" ] && printf '%s\\n' "$STUB_IMAGE_LS"
    exit 0 ;;
  'minikube -p '*' image pull '*)
    [ "\${STUB_IMAGE_PULL_EXIT:-0}" = 0 ] && printf '%s\\n' "$5" >>"$STUB_LOG.images"
    exit "\${STUB_IMAGE_PULL_EXIT:-0}" ;;
  'minikube -p '*' image build '*)
    pwd >"$STUB_LOG.build-cwd"
    # STUB_IMAGE_BUILD_EMPTY: exit 0 without an image, as minikube does on some failed builds.
    [ "\${STUB_IMAGE_BUILD_EXIT:-0}" = 0 ] && [ -z "\${STUB_IMAGE_BUILD_EMPTY:-}" ] && printf '%s\\n' "$6" >>"$STUB_LOG.images"
    exit "\${STUB_IMAGE_BUILD_EXIT:-0}" ;;
  'git status --porcelain -b') printf '%s\\n' "\${STUB_GIT_STATUS:-## main...origin/main}" ;;
esac
exit 0
`;

let tmp: string;
let stubs: string;
let stubsWithoutMinikube: string;
let system: string;
let runs = 0;

/** A copy of cluster.env with some values replaced. */
function envFile(overrides: Record<string, string>): string {
  const text = readFileSync(ENV_FILE, 'utf8').replace(/^(KITT4SME_\w+)='.*'$/gm, (line, key) =>
    key in overrides ? `${key}='${overrides[key]}'` : line,
  );
  const file = join(tmp, `cluster-${++runs}.env`);
  writeFileSync(file, text);
  return file;
}

const LOCAL = { KITT4SME_GITOPS_LOCAL: '1', KITT4SME_GITOPS_REPO_URL: 'git://gitops-repo/x.git' };

interface Result {
  readonly status: number | null;
  readonly stdout: string;
  readonly stderr: string;
  /** One line per stub call: tool name, then its arguments. */
  readonly calls: string[];
  /** The stubs' log; a port-forward stub writes its pid to `<log>.pf`. */
  readonly log: string;
}

function run(
  script: string,
  args: string[] = [],
  opts: { env?: Record<string, string>; path?: string } = {},
): Result {
  const log = join(tmp, `calls-${++runs}.log`);
  const childEnv: Record<string, string | undefined> = {
    ...process.env,
    PATH: opts.path ?? `${stubs}:${process.env.PATH}`,
    STUB_LOG: log,
    STUB_GIT_ORIGIN: env.KITT4SME_GITOPS_REPO_URL,
  };
  for (const key of Object.keys(childEnv))
    if (/^(KITT4SME_|MINIKUBE_PROFILE$)/.test(key)) delete childEnv[key];
  Object.assign(childEnv, opts.env);
  const res = spawnSync(BASH, [join(ROOT, script), ...args], {
    cwd: tmp,
    env: childEnv,
    encoding: 'utf8',
    timeout: 20_000,
  });
  const calls = existsSync(log) ? readFileSync(log, 'utf8').split('\n').filter(Boolean) : [];
  return { status: res.status, stdout: res.stdout, stderr: res.stderr, calls, log };
}

/** Index of the first call starting with `prefix`; fails the test when there is none. */
function callIndex(calls: string[], prefix: string): number {
  const i = calls.findIndex((c) => c.startsWith(prefix));
  if (i < 0) throw new Error(`no call starting with '${prefix}' in:\n${calls.join('\n')}`);
  return i;
}

beforeAll(() => {
  tmp = mkdtempSync(join(tmpdir(), 'kitt4sme-scripts-'));
  stubs = join(tmp, 'stubs');
  stubsWithoutMinikube = join(tmp, 'stubs-no-minikube');
  system = join(tmp, 'system');
  for (const dir of [stubs, stubsWithoutMinikube, system]) mkdirSync(dir);
  for (const tool of TOOLS)
    for (const dir of tool === 'minikube' ? [stubs] : [stubs, stubsWithoutMinikube]) {
      writeFileSync(join(dir, tool), STUB.replaceAll('TOOL', tool));
      chmodSync(join(dir, tool), 0o755);
    }
  for (const bin of SYSTEM) {
    const real = ['/usr/bin', '/bin'].map((d) => join(d, bin)).find((p) => existsSync(p));
    if (real) symlinkSync(real, join(system, bin));
  }
});

afterAll(() => rmSync(tmp, { recursive: true, force: true }));

describe('the scripts', () => {
  it('pass shellcheck', () => {
    const files = [
      ...['minikube', 'argocd'].flatMap((dir) =>
        spawnSync(BASH, ['-c', `ls ${dir}/*.sh`], { cwd: ROOT, encoding: 'utf8' })
          .stdout.split('\n')
          .filter(Boolean),
      ),
      '.ci/run',
    ];
    expect(files).toEqual(expect.arrayContaining(['minikube/up.sh', 'argocd/bootstrap.sh']));
    const res = spawnSync('shellcheck', files, { cwd: ROOT, encoding: 'utf8' });
    if (res.error) throw new Error(`shellcheck is not installed (${res.error.message})`);
    expect(res.stdout + res.stderr).toBe('');
    expect(res.status).toBe(0);
  });

  it.each(['minikube/up.sh', 'minikube/down.sh', 'minikube/push-local.sh', 'argocd/bootstrap.sh'])(
    '%s prints usage on --help, and fails with it on an unknown option',
    (script) => {
      const help = run(script, ['--help']);
      expect(help.status).toBe(0);
      expect(help.stdout).toMatch(/^Usage: /);
      const bad = run(script, ['--frobnicate']);
      expect(bad.status).toBe(2);
      expect(bad.stderr).toContain("unknown option '--frobnicate'");
      expect(bad.stderr).toContain('Usage: ');
      expect(bad.calls).toEqual([]);
    },
  );

  it('fails when cluster.env is missing, and says to synth', () => {
    const res = run('minikube/up.sh', ['--dry-run'], {
      env: { KITT4SME_CLUSTER_ENV: join(tmp, 'absent.env') },
    });
    expect(res.status).toBe(2);
    expect(res.stderr).toContain('run npm run synth');
  });
});

describe('minikube/up.sh', () => {
  it('--dry-run prints the plan with the config values and calls no tool', () => {
    const res = run('minikube/up.sh', ['--dry-run']);
    expect(res.status).toBe(0);
    const lines = res.stdout.split('\n');
    const plan = lines.filter((l) => l.startsWith('+ '));
    expect(plan).toContain(
      `+ minikube start -p kitt4sme --cpus=${env.KITT4SME_MINIKUBE_CPUS} ` +
        `--memory=${env.KITT4SME_MINIKUBE_MEMORY_MB}mb ` +
        `--kubernetes-version=${env.KITT4SME_K8S_VERSION} --cni=bridge`,
    );
    const helm = plan.find((l) => l.startsWith('+ helm upgrade --install argocd argo-cd'));
    expect(helm).toContain(`--repo ${env.KITT4SME_ARGOCD_CHART_REPO}`);
    expect(helm).toContain(`--version ${env.KITT4SME_ARGOCD_CHART_VERSION}`);
    expect(helm).toContain(`--namespace ${env.KITT4SME_ARGOCD_NAMESPACE}`);
    expect(plan).toContain('+ npm run --silent bootstrap:secrets');
    const order = [
      '+ minikube start',
      '+ kubectl config use-context',
      '+ minikube -p kitt4sme image build',
      '+ npm run --silent bootstrap:secrets',
      '+ helm upgrade',
      '+ kubectl apply --server-side --force-conflicts',
      '+ npm run -s platform -- wait --timeout 30m',
      '+ npm run -s platform -- endpoints',
    ].map((p) => callIndex(plan, p));
    expect(order).toEqual([...order].sort((a, b) => a - b));
    expect(plan.find((l) => l.startsWith('+ kubectl apply'))).toMatch(
      /-f deploy\/apps\/root\.yaml$/,
    );
    expect(res.stdout).toContain(env.KITT4SME_GITOPS_REPO_URL);
    expect(res.stdout).not.toContain('local-git.yaml');
    expect(res.stderr).toMatch(/^\[1\/5\] /m);
    expect(res.calls).toEqual([]);
  });

  it('starts the cluster the resource budget is checked against (deploy/bootstrap/budget.txt)', () => {
    const res = run('minikube/up.sh', ['--dry-run']);
    expect(res.status).toBe(0);
    const start = res.stdout.split('\n').find((l) => l.startsWith('+ minikube start'));
    const cpus = Number(/--cpus=(\d+)/.exec(start ?? '')?.[1]);
    const memoryMb = Number(/--memory=(\d+)mb/.exec(start ?? '')?.[1]);
    expect({ cpuMilli: cpus * 1000, memoryMi: memoryMb }).toEqual({
      cpuMilli: LAPTOP_CLUSTER.nodeCpuMilli,
      memoryMi: LAPTOP_CLUSTER.nodeMemoryMi,
    });
    expect(LAPTOP_CLUSTER.nodes).toBe(1);
  });

  it('--dry-run passes --timeout and --profile through', () => {
    const res = run('minikube/up.sh', ['--dry-run', '--timeout', '45m', '--profile=lab']);
    expect(res.status).toBe(0);
    expect(res.stdout).toContain('+ minikube start -p lab ');
    expect(res.stdout).toContain('+ kubectl config use-context lab');
    expect(res.stdout).toContain('+ npm run -s platform -- wait --timeout 45m');
  });

  it('fails on a malformed --timeout', () => {
    const res = run('minikube/up.sh', ['--dry-run', '--timeout', 'soon']);
    expect(res.status).toBe(2);
    expect(res.stderr).toContain("--timeout must look like 90s, 30m or 1h, got 'soon'");
  });

  it('--dry-run in the local-only mode plans the git server and the push', () => {
    const res = run('minikube/up.sh', ['--dry-run'], {
      env: { KITT4SME_CLUSTER_ENV: envFile(LOCAL) },
    });
    expect(res.status).toBe(0);
    const plan = res.stdout.split('\n').filter((l) => l.startsWith('+ '));
    const ns = env.KITT4SME_ARGOCD_NAMESPACE;
    const order = [
      '+ helm upgrade',
      '+ kubectl apply --server-side --force-conflicts -f deploy/bootstrap/local-git.yaml',
      `+ kubectl -n ${ns} rollout status deploy/${env.KITT4SME_LOCAL_GIT_SERVICE}`,
      `+ kubectl -n ${ns} port-forward --address 127.0.0.1 deploy/${env.KITT4SME_LOCAL_GIT_SERVICE} :${env.KITT4SME_LOCAL_GIT_PUSH_PORT}`,
      `+ git push --force 'git://127.0.0.1:<port>/${env.KITT4SME_LOCAL_GIT_REPO}' HEAD:refs/heads/${env.KITT4SME_GITOPS_REVISION}`,
      '+ kubectl apply --server-side --force-conflicts -f deploy/apps/project-gitops.yaml',
      // Argo CD must have synced the very commit just pushed.
      '+ npm run -s platform -- wait --timeout 30m --revision HEAD',
      // Then the git server restarts with the sidecar the fleet service pushes through.
      `+ kubectl -n ${ns} rollout restart deploy/${env.KITT4SME_LOCAL_GIT_SERVICE}`,
    ].map((p) => callIndex(plan, p));
    expect(order).toEqual([...order].sort((a, b) => a - b));
    expect(plan[order.at(-1)! + 1]).toBe(
      `+ kubectl -n ${ns} rollout status deploy/${env.KITT4SME_LOCAL_GIT_SERVICE} --timeout 5m`,
    );
    expect(res.calls).toEqual([]);
  });

  it('runs minikube, Argo CD, the root Application and the wait, in that order', () => {
    const res = run('minikube/up.sh');
    expect(res.stderr).not.toContain('warning');
    expect(res.status).toBe(0);
    const order = [
      'npm run -s synth -- --check',
      'minikube start -p kitt4sme',
      'kubectl config use-context kitt4sme',
      'kubectl version',
      'npm run --silent bootstrap:secrets',
      'helm upgrade --install argocd argo-cd',
      'kubectl apply --server-side --force-conflicts -f deploy/apps/project-gitops.yaml',
      'npm run -s platform -- wait --timeout 30m',
      'npm run -s platform -- endpoints',
    ].map((p) => callIndex(res.calls, p));
    expect(order).toEqual([...order].sort((a, b) => a - b));
    expect(res.calls.find((c) => c.startsWith('kubectl apply'))).toMatch(/root\.yaml$/);
    expect(res.calls.filter((c) => c.startsWith('git push'))).toEqual([]);
  });

  describe("the project's images", () => {
    // From cluster.env (synth): `<id>=<ref>` of each image built from services/<id>/Dockerfile.
    const images = env.KITT4SME_PROJECT_IMAGES.split(' ').map((e) => {
      const [id, ref] = e.split('=') as [string, string];
      return { id, ref, dockerfile: `services/${id}/Dockerfile` };
    });
    const image = images.find((i) => i.id === 'provisioning')!;
    const build = (i: { ref: string; dockerfile: string }, profile = 'kitt4sme') =>
      `minikube -p ${profile} image build -t ${i.ref} -f ${i.dockerfile} .`;

    it('are the pinned provisioning image, each with a Dockerfile', () => {
      expect(image.ref).toMatch(/^ghcr\.io\/[\w-]+\/provisioning:\d+\.\d+\.\d+$/);
      for (const i of images) expect(existsSync(join(ROOT, i.dockerfile))).toBe(true);
    });

    it('--dry-run shows the check and the build of each, after minikube starts and before Argo CD', () => {
      const res = run('minikube/up.sh', ['--dry-run', '--profile', 'lab']);
      expect(res.status).toBe(0);
      const lines = res.stdout.split('\n');
      for (const i of images) {
        const at = lines.indexOf(`+ ${build(i, 'lab')}`);
        expect(at).toBeGreaterThan(callIndex(lines, '+ minikube start -p lab'));
        expect(at).toBeLessThan(callIndex(lines, '+ npm run --silent bootstrap:secrets'));
        expect(lines[at - 1]).toBe(
          `# check: minikube -p lab image ls lists ${i.ref}, else minikube -p lab image pull ${i.ref} puts it there; only when neither does:`,
        );
      }
      expect(res.stderr).toContain("[3/5] the project's images in the node");
      expect(res.calls).toEqual([]);
    });

    it('pulls a pullable pinned tag and builds nothing', () => {
      const res = run('minikube/up.sh');
      expect(res.status).toBe(0);
      const pull = callIndex(res.calls, `minikube -p kitt4sme image pull ${image.ref}`);
      expect(pull).toBeGreaterThan(callIndex(res.calls, 'minikube start'));
      expect(pull).toBeLessThan(callIndex(res.calls, 'npm run --silent bootstrap:secrets'));
      expect(res.calls.filter((c) => c.includes(' image build '))).toEqual([]);
      expect(res.stderr).toContain(`${image.ref} pulled into the node`);
    });

    it('neither pulls nor builds an image the node already has', () => {
      const res = run('minikube/up.sh', [], {
        env: { STUB_IMAGE_LS: images.map((i) => i.ref).join('\n') },
      });
      expect(res.status).toBe(0);
      expect(res.calls.filter((c) => / image (pull|build) /.test(c))).toEqual([]);
      for (const i of images) expect(res.stderr).toContain(`${i.ref} is in the node`);
    });

    it('builds the pinned tag from its Dockerfile, at the repository root, when it cannot be pulled', () => {
      const res = run('minikube/up.sh', [], { env: { STUB_IMAGE_PULL_EXIT: '1' } });
      expect(res.status).toBe(0);
      const at = res.calls.indexOf(build(image));
      expect(at).toBeGreaterThan(
        callIndex(res.calls, `minikube -p kitt4sme image pull ${image.ref}`),
      );
      expect(at).toBeLessThan(callIndex(res.calls, 'npm run --silent bootstrap:secrets'));
      expect(readFileSync(`${res.log}.build-cwd`, 'utf8').trim()).toBe(ROOT.replace(/\/$/, ''));
      expect(res.stderr).toContain(`${image.ref} built into the node`);
    });

    it.each([
      ['the build fails', { STUB_IMAGE_BUILD_EXIT: '1' }],
      [
        'minikube exits 0 without the image (kubernetes/minikube#16576)',
        { STUB_IMAGE_BUILD_EMPTY: '1' },
      ],
    ])('stops with exit 1 and ERR_IMAGE_BUILD_FAILED when %s, before Argo CD', (_, stub) => {
      const res = run('minikube/up.sh', [], { env: { STUB_IMAGE_PULL_EXIT: '1', ...stub } });
      expect(res.status).toBe(1);
      expect(res.stderr).toContain(
        `minikube could not build ${image.ref} from ${image.dockerfile} (see above); try the build on its own with ${build(image)}`,
      );
      expect(res.stderr).toContain('[ERR_IMAGE_BUILD_FAILED]');
      expect(res.calls.some((c) => c.startsWith('npm run --silent bootstrap:secrets'))).toBe(false);
      expect(res.calls.some((c) => c.startsWith('helm'))).toBe(false);
    });
  });

  it('fails with what to do when the platform does not become healthy', () => {
    const res = run('minikube/up.sh', [], { env: { STUB_WAIT_EXIT: '1' } });
    expect(res.status).toBe(1);
    expect(res.stderr).toContain('not Synced and Healthy after 30m');
    expect(res.stderr).toContain(`kubectl -n ${env.KITT4SME_ARGOCD_NAMESPACE} get applications`);
    expect(res.calls.some((c) => c.includes('platform -- endpoints'))).toBe(false);
  });

  it('fails before starting anything when deploy/ is stale', () => {
    const res = run('minikube/up.sh', [], { env: { STUB_SYNTH_CHECK_EXIT: '1' } });
    expect(res.status).toBe(2);
    expect(res.stderr).toContain('Run npm run synth, commit deploy/');
    expect(res.calls).toEqual(['npm run -s synth -- --check']);
  });

  it('warns when origin is not the configured repository or the branch is not pushed', () => {
    const res = run('minikube/up.sh', [], {
      env: {
        STUB_GIT_ORIGIN: 'git@github.com:someone-else/fork.git',
        STUB_GIT_STATUS: `## ${env.KITT4SME_GITOPS_REVISION}...origin/${env.KITT4SME_GITOPS_REVISION} [ahead 2]`,
      },
    });
    expect(res.status).toBe(0);
    expect(res.stderr).toContain(
      `origin is git@github.com:someone-else/fork.git but Argo CD deploys ${env.KITT4SME_GITOPS_REPO_URL}`,
    );
    expect(res.stderr).toContain('has commits the remote lacks');
  });

  it('takes the ssh form of the configured repository as the same one', () => {
    const ssh = env.KITT4SME_GITOPS_REPO_URL.replace(/^https:\/\/([^/]+)\//, 'git@$1:');
    expect(ssh).not.toBe(env.KITT4SME_GITOPS_REPO_URL);
    const res = run('minikube/up.sh', [], { env: { STUB_GIT_ORIGIN: ssh } });
    expect(res.status).toBe(0);
    expect(res.stderr).not.toContain('warning');
  });

  it('fails with ERR_TOOL_MISSING naming minikube when it is not installed', () => {
    const res = run('minikube/up.sh', [], { path: `${stubsWithoutMinikube}:${system}` });
    expect(res.status).toBe(3);
    expect(res.stderr).toMatch(
      /minikube is not installed; install it from \S+.*\[ERR_TOOL_MISSING\]/,
    );
    expect(res.calls).toEqual([]);
  });

  it('fails when the config is not the laptop profile', () => {
    const res = run('minikube/up.sh', ['--dry-run'], {
      env: { KITT4SME_CLUSTER_ENV: envFile({ KITT4SME_PROFILE: 'production' }) },
    });
    expect(res.status).toBe(2);
    expect(res.stderr).toContain("the platform config's profile is 'production'");
    expect(res.stderr).toContain('run argocd/bootstrap.sh');
    expect(res.stdout).toBe('');
  });
});

describe('argocd/bootstrap.sh', () => {
  it('fails with ERR_CLUSTER_UNREACHABLE when no cluster answers', () => {
    const res = run('argocd/bootstrap.sh', [], { env: { STUB_KUBECTL_VERSION_EXIT: '1' } });
    expect(res.status).toBe(3);
    expect(res.stderr).toContain('[ERR_CLUSTER_UNREACHABLE]');
    expect(res.calls.some((c) => c.startsWith('helm') || c.includes('bootstrap:secrets'))).toBe(
      false,
    );
  });
});

describe('minikube/down.sh', () => {
  it('--dry-run plans a stop, --delete a delete, and calls no tool', () => {
    const stop = run('minikube/down.sh', ['--dry-run']);
    expect(stop.status).toBe(0);
    expect(stop.stdout).toContain('+ minikube stop -p kitt4sme\n');
    const del = run('minikube/down.sh', ['--delete', '--dry-run']);
    expect(del.status).toBe(0);
    expect(del.stdout).toContain('+ minikube delete -p kitt4sme\n');
    expect([...stop.calls, ...del.calls]).toEqual([]);
  });

  it('stops a running profile', () => {
    const res = run('minikube/down.sh');
    expect(res.status).toBe(0);
    expect(res.calls).toContain('minikube stop -p kitt4sme');
  });

  it('succeeds without stopping when the profile does not exist', () => {
    const res = run('minikube/down.sh', [], {
      env: {
        STUB_MINIKUBE_STATUS:
          '* Profile "kitt4sme" not found. Run "minikube profile list" to view all profiles.',
        STUB_MINIKUBE_STATUS_EXIT: '85',
      },
    });
    expect(res.status).toBe(0);
    expect(res.stderr).toContain("no such profile 'kitt4sme'");
    expect(res.calls.filter((c) => !c.startsWith('minikube status'))).toEqual([]);
  });

  it('succeeds without stopping when the profile is already stopped, but deletes it', () => {
    const stopped = { STUB_MINIKUBE_STATUS: 'Stopped', STUB_MINIKUBE_STATUS_EXIT: '7' };
    const stop = run('minikube/down.sh', [], { env: stopped });
    expect(stop.status).toBe(0);
    expect(stop.stderr).toContain('already stopped');
    expect(stop.calls).not.toContain('minikube stop -p kitt4sme');
    const del = run('minikube/down.sh', ['--delete'], { env: stopped });
    expect(del.status).toBe(0);
    expect(del.calls).toContain('minikube delete -p kitt4sme');
  });
});

describe('minikube/push-local.sh', () => {
  it('fails when the config is not the local-only mode', () => {
    const res = run('minikube/push-local.sh', ['--dry-run']);
    expect(res.status).toBe(2);
    expect(res.stderr).toContain(`gitops.repoURL is ${env.KITT4SME_GITOPS_REPO_URL}; push to it`);
  });

  it('pushes HEAD through the forwarded port, refreshes Argo CD, and stops the forward', () => {
    const res = run('minikube/push-local.sh', [], {
      env: { KITT4SME_CLUSTER_ENV: envFile(LOCAL) },
    });
    expect(res.status).toBe(0);
    const ns = env.KITT4SME_ARGOCD_NAMESPACE;
    const order = [
      `kubectl -n ${ns} port-forward --address 127.0.0.1 deploy/${env.KITT4SME_LOCAL_GIT_SERVICE} :${env.KITT4SME_LOCAL_GIT_PUSH_PORT}`,
      `git push --force git://127.0.0.1:40123/${env.KITT4SME_LOCAL_GIT_REPO} HEAD:refs/heads/${env.KITT4SME_GITOPS_REVISION}`,
      `kubectl -n ${ns} annotate applications --all argocd.argoproj.io/refresh=normal --overwrite`,
    ].map((p) => callIndex(res.calls, p));
    expect(order).toEqual([...order].sort((a, b) => a - b));
    const pid = Number(readFileSync(`${res.log}.pf`, 'utf8'));
    expect(() => process.kill(pid, 0)).toThrow();
  });
});
