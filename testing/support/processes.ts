/**
 * Test support: starting a server process with its output in a log file, waiting for it to
 * come up, what to show when it does not, and stopping it.
 */
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { closeSync, existsSync, openSync, readFileSync, rmSync } from 'node:fs';

/** Spawns `bin` with stdout and stderr appended to `logPath`. */
export function spawnLogged(
  bin: string,
  args: string[],
  logPath: string,
  env: NodeJS.ProcessEnv = process.env,
  argv0?: string,
): ChildProcess {
  const fd = openSync(logPath, 'a');
  try {
    return spawn(bin, args, { stdio: ['ignore', fd, fd], env, ...(argv0 ? { argv0 } : {}) });
  } finally {
    closeSync(fd);
  }
}

/**
 * Sends a child `signal` (SIGTERM unless told) and waits for it to exit; SIGKILLs it when it
 * has not within `graceMs` (10 s unless told), so a server that hangs in its shutdown cannot
 * hang the test that stops it.
 */
export async function terminate(
  proc: ChildProcess,
  { signal = 'SIGTERM', graceMs = 10_000 }: { signal?: NodeJS.Signals; graceMs?: number } = {},
): Promise<void> {
  if (proc.exitCode !== null || proc.signalCode !== null) return;
  const exited = new Promise((r) => proc.once('exit', r));
  proc.kill(signal);
  proc.kill('SIGCONT'); // a stopped (SIGSTOPped) child takes its signal only once it runs
  const timer = setTimeout(() => proc.kill('SIGKILL'), graceMs);
  await exited;
  clearTimeout(timer);
}

/**
 * Polls `probe` every `intervalMs` until it returns true (a throw counts as not yet); throws
 * `failure()` once `timeoutMs` have passed.
 */
export async function waitFor(
  probe: () => Promise<boolean>,
  timeoutMs: number,
  failure: () => Error,
  intervalMs = 100,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      if (await probe()) return;
    } catch {
      // not there yet
    }
    if (Date.now() > deadline) throw failure();
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}

/**
 * Whether `p` settles (resolves or rejects) within `ms`: for a test that a promise is still
 * pending, e.g. a waiter while another holds what it waits for.
 */
export async function settlesWithin(p: Promise<unknown>, ms: number): Promise<boolean> {
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

/** The last `lines` lines of a log file, or a note that it does not exist. */
export function tailFile(path: string, lines: number): string {
  if (!existsSync(path)) return `(no ${path})`;
  return readFileSync(path, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
}

/** Children started together and stopped together; see {@link processGroup}. */
export interface ProcessGroup {
  /** Adds a started child; returns it. */
  add(c: ChildProcess): ChildProcess;
  /** The children, in the order they were added. */
  readonly children: readonly ChildProcess[];
  /** Terminates the children, last added first, then removes `dir`. Idempotent. */
  stop(): Promise<void>;
}

/**
 * A set of children that are all SIGKILLed (and `atExit` run) when the calling process exits,
 * should {@link ProcessGroup.stop} not run; `stop()` ends them in reverse order and removes
 * `dir`, their temporary directory.
 */
export function processGroup(dir: string, atExit: () => void = () => {}): ProcessGroup {
  const children: ChildProcess[] = [];
  const killAll = () => {
    for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
    atExit();
  };
  process.on('exit', killAll);
  let stopped = false;
  return {
    add(c) {
      children.push(c);
      return c;
    },
    children,
    async stop() {
      if (stopped) return;
      stopped = true;
      for (const c of [...children].reverse()) await terminate(c);
      process.off('exit', killAll);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
