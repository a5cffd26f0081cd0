/**
 * The machine lock the test kube node is started under (testing/support/machine-lock.ts): one
 * holder at a time across processes, a waiter told who holds it and served when it lets go, a
 * bounded wait, and a holder that dies never leaves it held.
 */
import { execFileSync, spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { pathToFileURL } from 'node:url';

import { REPO_ROOT } from '../support/cli.js';
import type { MachineLock, MachineLockOptions } from '../support/machine-lock.js';
import { acquireMachineLock, machineLockPath } from '../support/machine-lock.js';
import { settlesWithin } from '../support/processes.js';

let dir: string;
/** Processes a test started, killed after it whatever its outcome. */
const children: ChildProcess[] = [];
/** Locks a test took or waits for, let go after it whatever its outcome. */
const locks: Promise<MachineLock>[] = [];
const take = (name: string, opts: MachineLockOptions = {}) => {
  const p = acquireMachineLock(name, { dir, ...opts });
  locks.push(p);
  return p;
};
/** onWait's first call, as a promise. */
const toldWait = () => {
  let onWait: (holder: string) => void = () => undefined;
  const told = new Promise<string>((r) => (onWait = r));
  return { onWait, told };
};
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'machine-lock-test-'));
});
afterEach(async () => {
  for (const c of children.splice(0)) if (c.exitCode === null) c.kill('SIGKILL');
  for (const l of locks.splice(0)) await l.then((held) => held.release()).catch(() => undefined);
  rmSync(dir, { recursive: true, force: true });
});

/** A node process that runs `code` with the lock module imported as `m`. */
function withLockModule(
  code: string,
  env: NodeJS.ProcessEnv = {},
): ChildProcess & { stdout: Readable } {
  const lockUrl = pathToFileURL(join(REPO_ROOT, 'testing/support/machine-lock.ts')).href;
  const c = spawn(
    process.execPath,
    ['--import', 'tsx', '-e', `import(${JSON.stringify(lockUrl)}).then(async (m) => { ${code} });`],
    { cwd: REPO_ROOT, stdio: ['ignore', 'pipe', 'inherit'], env: { ...process.env, ...env } },
  );
  children.push(c);
  return c;
}

describe('acquireMachineLock', () => {
  it('serves one holder at a time: a waiter is told who holds it and gets it when it is let go', async () => {
    const first = await take('test-node', { holder: 'the first test' });
    expect(readFileSync(`${first.path}.holder`, 'utf8')).toBe('the first test\n');
    const { onWait, told } = toldWait();
    const second = take('test-node', { holder: 'the second test', onWait });
    expect(await told).toBe('the first test');
    expect(await settlesWithin(second, 200)).toBe(false); // the first holds it
    await first.release();
    const held = await second;
    expect(readFileSync(`${held.path}.holder`, 'utf8')).toBe('the second test\n');
    await held.release();
    await held.release(); // idempotent
  });

  it('is not held once let go: the next holder is not told to wait', async () => {
    const first = await take('test-node');
    await first.release();
    const told: string[] = [];
    const again = await take('test-node', { onWait: (h) => told.push(h) });
    expect(told).toEqual([]);
    await again.release();
  });

  it('locks by name: another name is another lock', async () => {
    await take('test-node');
    const told: string[] = [];
    await take('test-other', { onWait: (h) => told.push(h) });
    expect(told).toEqual([]);
  });

  it('gives up after the timeout, naming the holder and the lock file', async () => {
    const first = await take('test-node', { holder: 'kube node x (pid 1)' });
    const started = Date.now();
    await expect(take('test-node', { timeoutMs: 600 })).rejects.toThrow(
      `the machine's test-node is held by kube node x (pid 1) for more than 600 ms (lock ${machineLockPath('test-node', dir)}): wait for it to finish, or stop it`,
    );
    expect(Date.now() - started).toBeGreaterThanOrEqual(500);
    // The waiter that gave up holds nothing: the holder lets go and a new one is not told to wait.
    await first.release();
    const told: string[] = [];
    await take('test-node', { onWait: (h) => told.push(h) });
    expect(told).toEqual([]);
  });

  it("fails with flock's own error, not as a wait, when flock cannot lock (the lock file's folder is missing)", async () => {
    const told: string[] = [];
    await expect(
      take('test-node', { dir: join(dir, 'missing'), onWait: (h) => told.push(h) }),
    ).rejects.toThrow(
      new RegExp(
        `^machine lock ${join(dir, 'missing', 'kitt4sme-test-node.lock')}: flock failed \\(exit \\d+\\) before it held the lock: .*`,
      ),
    );
    expect(told).toEqual([]);
  });

  it('says that flock is missing when it is', async () => {
    const bin = join(dir, 'bin');
    mkdirSync(bin);
    for (const b of ['sh', 'cat'])
      symlinkSync(
        execFileSync('sh', ['-c', `command -v ${b}`], { encoding: 'utf8' }).trim(),
        join(bin, b),
      );
    const run = withLockModule(
      `await m.acquireMachineLock('test-node', { dir: ${JSON.stringify(dir)} }).then(() => console.log('held'), (e) => console.log(e.message));`,
      { PATH: bin },
    );
    let out = '';
    run.stdout.setEncoding('utf8').on('data', (s: string) => (out += s));
    await new Promise((r) => run.once('exit', r));
    expect(out).toBe(
      `machine lock ${machineLockPath('test-node', dir)}: flock failed (exit 127) before it held the lock: flock (util-linux) not found\n`,
    );
  }, 30_000);

  it('is let go when the holding process is killed (SIGKILL: no handler runs)', async () => {
    const holder = withLockModule(
      `await m.acquireMachineLock('test-node', { dir: ${JSON.stringify(dir)}, holder: 'a process to kill' }); console.log('held'); setInterval(() => {}, 1000);`,
    );
    await new Promise<void>((resolve, reject) => {
      holder.stdout.once('data', () => resolve());
      holder.once('exit', (code) => reject(new Error(`the holder exited (${code})`)));
    });
    const { onWait, told } = toldWait();
    const waiter = take('test-node', { onWait });
    expect(await told).toBe('a process to kill');
    holder.kill('SIGKILL');
    expect(await settlesWithin(waiter, 10_000)).toBe(true);
  }, 30_000);

  it('does not keep the process alive while held (a test that never lets go cannot hang jest)', async () => {
    const run = withLockModule(
      `await m.acquireMachineLock('test-node', { dir: ${JSON.stringify(dir)} }); console.log('held');`,
    );
    let out = '';
    run.stdout.setEncoding('utf8').on('data', (s: string) => (out += s));
    const code = await new Promise<number | null>((r) => run.once('exit', r));
    expect({ code, out }).toEqual({ code: 0, out: 'held\n' });
    // and its end let go of the lock
    const told: string[] = [];
    await take('test-node', { onWait: (h) => told.push(h) });
    expect(told).toEqual([]);
  }, 30_000);

  it('refuses a name that is not a plain word', () => {
    expect(() => machineLockPath('../etc/passwd')).toThrow(
      'machine lock name "../etc/passwd": use a-z, 0-9 and -',
    );
  });
});
