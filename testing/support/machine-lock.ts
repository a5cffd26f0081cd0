/**
 * Test support: a lock on something the machine has only one of (the test kube node's pod
 * subnet, bridge address and iptables chains), held across processes: jest's workers of one
 * run, and any other run on the machine.
 *
 * The lock is util-linux `flock(1)` on a file, held by a child process for as long as the
 * holder wants it. The kernel lets go of a flock when the process holding it ends, and that
 * child ends when its standard input closes, which it does when the test process ends in any
 * way (crashed, killed by a signal, `SIGKILL` too): a lock can never be left held by a holder
 * that is gone, so there is nothing stale to judge or break.
 */
import { spawn } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import type { Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** A held lock. */
export interface MachineLock {
  /** The lock file (the holder's description is in `<path>.holder`). */
  readonly path: string;
  /** Lets go of the lock. Idempotent. */
  release(): Promise<void>;
}

/** Options of {@link acquireMachineLock}. */
export interface MachineLockOptions {
  /** Give up after waiting this long for another holder. @default 900_000 (15 min) */
  readonly timeoutMs?: number;
  /** What holds it, for a waiter's message. @default `process <pid>` */
  readonly holder?: string;
  /** Called once, when another process holds the lock, with its description. */
  readonly onWait?: (holder: string) => void;
  /** Where the lock files are. @default the system's temporary directory */
  readonly dir?: string;
}

/** Where the lock named `name` lives. */
export function machineLockPath(name: string, dir = tmpdir()): string {
  if (!/^[a-z0-9-]+$/.test(name))
    throw new TypeError(`machine lock name ${JSON.stringify(name)}: use a-z, 0-9 and -`);
  return join(dir, `kitt4sme-${name}.lock`);
}

/** What the holder of the lock at `path` said it is (`unknown` before it said). */
function holderOf(path: string): string {
  try {
    return readFileSync(`${path}.holder`, 'utf8').trim() || 'unknown';
  } catch {
    return 'unknown';
  }
}

/**
 * Waits until this process holds the machine's lock `name`, then resolves. Rejects with the
 * holder's description when another holds it for longer than `timeoutMs`, and with flock's
 * own error when it fails otherwise (not installed, the lock file not writable).
 */
export async function acquireMachineLock(
  name: string,
  opts: MachineLockOptions = {},
): Promise<MachineLock> {
  const path = machineLockPath(name, opts.dir);
  const timeoutMs = opts.timeoutMs ?? 900_000;
  const holder = opts.holder ?? `process ${process.pid}`;
  // fd 9 stays open on the lock file, so the lock lives as long as this shell. A first try
  // that does not wait tells the caller that it waits (exit 75, EX_TEMPFAIL, is "held by
  // another": then, after `timeoutMs`); any other failure of flock is its own. `cat` returns
  // when our end of its standard input closes.
  const script = [
    'command -v flock >/dev/null || { echo "flock (util-linux) not found" >&2; exit 127; }',
    'exec 9>>"$1" || exit 73',
    'flock --nonblock --conflict-exit-code 75 9; s=$?',
    'if [ $s = 75 ]; then echo busy; flock --wait "$2" --conflict-exit-code 75 9 || exit $?; elif [ $s != 0 ]; then exit $s; fi',
    'echo locked',
    'exec cat >/dev/null',
  ].join('\n');
  const child = spawn('sh', ['-c', script, 'machine-lock', path, String(timeoutMs / 1000)], {
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  let stderr = '';
  child.stderr.setEncoding('utf8').on('data', (s: string) => (stderr += s));
  const gone = new Promise<void>((r) => child.once('close', () => r()));
  let released: Promise<void> | undefined;
  const release = () =>
    (released ??= (async () => {
      try {
        writeFileSync(`${path}.holder`, '');
      } catch {
        // only the waiters' message
      }
      child.stdin.end();
      await gone;
    })());
  await new Promise<void>((resolve, reject) => {
    let out = '';
    child.stdout.setEncoding('utf8').on('data', (s: string) => {
      out += s;
      if (out.endsWith('locked\n')) resolve();
      else if (out === 'busy\n') opts.onWait?.(holderOf(path));
    });
    child.once('error', (err) => reject(new Error(`machine lock ${path}: ${err.message}`)));
    child.once('close', (code) =>
      reject(
        code === 75 && out.startsWith('busy')
          ? new Error(
              `the machine's ${name} is held by ${holderOf(path)} for more than ${timeoutMs} ms (lock ${path}): wait for it to finish, or stop it`,
            )
          : new Error(
              `machine lock ${path}: flock failed (exit ${code}) before it held the lock${stderr ? `: ${stderr.trim()}` : ''}`,
            ),
      ),
    );
  });
  try {
    writeFileSync(`${path}.holder`, `${holder}\n`);
  } catch (err) {
    await release();
    throw new Error(
      `machine lock ${path}: cannot write ${path}.holder: ${(err as Error).message}`,
      {
        cause: err,
      },
    );
  }
  // Held: nothing of the child keeps this process alive; its end lets go of the lock.
  child.unref();
  for (const stream of [child.stdin, child.stdout, child.stderr])
    (stream as unknown as Socket).unref();
  return { path, release };
}
