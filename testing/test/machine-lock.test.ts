/**
 * The machine lock the test kube node is started under (testing/support/machine-lock.ts): one
 * holder at a time across processes, a waiter told who holds it and served when it lets go, a
 * bounded wait, and a holder that dies never leaves it held.
 */
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { pathToFileURL } from 'node:url';

import { REPO_ROOT } from '../support/cli.js';
import { acquireMachineLock, machineLockPath } from '../support/machine-lock.js';

let dir: string;
/** Processes a test started, killed after it whatever its outcome. */
const children: ChildProcess[] = [];
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'machine-lock-test-'));
});
afterEach(() => {
  for (const c of children.splice(0)) if (c.exitCode === null) c.kill('SIGKILL');
  rmSync(dir, { recursive: true, force: true });
});

/** A node process that runs `code` with the lock module imported as `m`. */
function withLockModule(code: string): ChildProcess & { stdout: Readable } {
  const lockUrl = pathToFileURL(join(REPO_ROOT, 'testing/support/machine-lock.ts')).href;
  const c = spawn(
    process.execPath,
    ['--import', 'tsx', '-e', `import(${JSON.stringify(lockUrl)}).then(async (m) => { ${code} });`],
    { cwd: REPO_ROOT, stdio: ['ignore', 'pipe', 'inherit'] },
  );
  children.push(c);
  return c;
}

/** Whether `p` settles within `ms`. */
async function settlesWithin(p: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const settled = await Promise.race([
    p.then(
      () => true,
      () => true,
    ),
    new Promise<boolean>((r) => (timer = setTimeout(() => r(false), ms))),
  ]);
  clearTimeout(timer);
  return settled;
}

describe('acquireMachineLock', () => {
  it('serves one holder at a time: a waiter is told who holds it and gets it when it is let go', async () => {
    const first = await acquireMachineLock('test-node', { dir, holder: 'the first test' });
    expect(readFileSync(`${first.path}.holder`, 'utf8')).toBe('the first test\n');
    const told: string[] = [];
    const second = acquireMachineLock('test-node', {
      dir,
      holder: 'the second test',
      onWait: (h) => told.push(h),
    });
    expect(await settlesWithin(second, 1_000)).toBe(false);
    expect(told).toEqual(['the first test']);
    await first.release();
    const held = await second;
    expect(readFileSync(`${held.path}.holder`, 'utf8')).toBe('the second test\n');
    await held.release();
    await held.release(); // idempotent
  });

  it('is not held once let go: the next holder is not told to wait', async () => {
    const first = await acquireMachineLock('test-node', { dir });
    await first.release();
    const told: string[] = [];
    const again = await acquireMachineLock('test-node', { dir, onWait: (h) => told.push(h) });
    expect(told).toEqual([]);
    await again.release();
  });

  it('locks by name: another name is another lock', async () => {
    const a = await acquireMachineLock('test-node', { dir });
    const b = acquireMachineLock('test-other', { dir });
    expect(await settlesWithin(b, 5_000)).toBe(true);
    await (await b).release();
    await a.release();
  });

  it('gives up after the timeout, naming the holder and the lock file', async () => {
    const first = await acquireMachineLock('test-node', { dir, holder: 'kube node x (pid 1)' });
    const started = Date.now();
    await expect(acquireMachineLock('test-node', { dir, timeoutMs: 600 })).rejects.toThrow(
      `the machine's test-node is held by kube node x (pid 1) for more than 600 ms (lock ${machineLockPath('test-node', dir)}): wait for it to finish, or stop it`,
    );
    expect(Date.now() - started).toBeGreaterThanOrEqual(500);
    // The waiter that gave up holds nothing: the holder lets go and a new one gets it at once.
    await first.release();
    const next = acquireMachineLock('test-node', { dir });
    expect(await settlesWithin(next, 5_000)).toBe(true);
    await (await next).release();
  });

  it('is let go when the holding process is killed (SIGKILL: no handler runs)', async () => {
    const holder = withLockModule(
      `await m.acquireMachineLock('test-node', { dir: ${JSON.stringify(dir)}, holder: 'a process to kill' }); console.log('held'); setInterval(() => {}, 1000);`,
    );
    await new Promise<void>((resolve, reject) => {
      holder.stdout.once('data', () => resolve());
      holder.once('exit', (code) => reject(new Error(`the holder exited (${code})`)));
    });
    const told: string[] = [];
    const waiter = acquireMachineLock('test-node', { dir, onWait: (h) => told.push(h) });
    expect(await settlesWithin(waiter, 500)).toBe(false);
    expect(told).toEqual(['a process to kill']);
    holder.kill('SIGKILL');
    expect(await settlesWithin(waiter, 10_000)).toBe(true);
    await (await waiter).release();
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
    const next = acquireMachineLock('test-node', { dir });
    expect(await settlesWithin(next, 5_000)).toBe(true);
    await (await next).release();
  }, 30_000);

  it('refuses a name that is not a plain word', () => {
    expect(() => machineLockPath('../etc/passwd')).toThrow(
      'machine lock name "../etc/passwd": use a-z, 0-9 and -',
    );
  });
});
