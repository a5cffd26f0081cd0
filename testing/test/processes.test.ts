/**
 * Stopping a test's server process: a server that hangs in its shutdown must not hang the
 * test that stops it (an `afterAll` has 60 s), and a paused one must still take its signal.
 */
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';

import { terminate } from '../support/processes.js';

/** A node child running `code`, resolved once it printed "ready". */
function child(code: string): Promise<ChildProcess> {
  const c = spawn(process.execPath, ['-e', `${code}; console.log('ready')`], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  return new Promise((resolve, reject) => {
    c.stdout!.once('data', () => resolve(c));
    c.once('exit', (code) => reject(new Error(`the child exited (${code}) before it was ready`)));
  });
}
const KEEP_ALIVE = 'setInterval(() => {}, 1000)';

describe('terminate', () => {
  it('ends a child that honours SIGTERM, with SIGTERM', async () => {
    const c = await child(KEEP_ALIVE);
    await terminate(c);
    expect(c.signalCode).toBe('SIGTERM');
  });

  it('SIGKILLs a child that ignores its signal once the grace has passed', async () => {
    const c = await child(`process.on('SIGTERM', () => {}); ${KEEP_ALIVE}`);
    const started = Date.now();
    await terminate(c, { graceMs: 300 });
    expect(c.signalCode).toBe('SIGKILL');
    expect(Date.now() - started).toBeGreaterThanOrEqual(250);
  });

  it('sends the signal it is given, and a child that exits on it is not killed', async () => {
    const c = await child(`process.on('SIGINT', () => process.exit(7)); ${KEEP_ALIVE}`);
    await terminate(c, { signal: 'SIGINT', graceMs: 30_000 });
    expect(c.exitCode).toBe(7);
    expect(c.signalCode).toBeNull();
  });

  it('ends a paused (SIGSTOPped) child', async () => {
    const c = await child(`process.on('SIGTERM', () => process.exit(3)); ${KEEP_ALIVE}`);
    c.kill('SIGSTOP');
    await terminate(c, { graceMs: 30_000 });
    expect(c.exitCode).toBe(3);
  });

  it('returns at once for a child that has exited', async () => {
    const c = await child('');
    if (c.exitCode === null) await new Promise((r) => c.once('exit', r));
    await terminate(c);
    expect(c.exitCode).toBe(0);
  });
});
