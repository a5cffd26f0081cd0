/**
 * Test support: waiting for a server process to come up, and what to show when it does not.
 */
import { existsSync, readFileSync } from 'node:fs';

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

/** The last `lines` lines of a log file, or a note that it does not exist. */
export function tailFile(path: string, lines: number): string {
  if (!existsSync(path)) return `(no ${path})`;
  return readFileSync(path, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
}
