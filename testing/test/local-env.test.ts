/**
 * What keeps `npm run stack:local` honest: a component that dies is reported (once, by
 * name), a one-off slow answer is not, and Keycloak started for the stack stops with it.
 */
import { spawn, spawnSync } from 'node:child_process';

import { describe, expect, it } from '@jest/globals';

import { WATCHDOG } from '../real/keycloak.js';
import { freePort } from '../real/opa.js';
import type { Watched } from '../stack/local-env.js';
import { answers, watchComponents } from '../stack/local-env.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('watchComponents', () => {
  /** Polls until `done()` or 10 s (a busy machine delays timers; nothing here races a clock). */
  const until = async (done: () => boolean) => {
    const deadline = Date.now() + 10_000;
    while (!done() && Date.now() < deadline) await sleep(10);
  };

  it('reports the component that is down twice in a row, once, and stops watching', async () => {
    const calls: string[] = [];
    let dbUp = true;
    const comps: Watched[] = [
      { name: 'db', up: async () => (calls.push('db'), dbUp), look: 'db.log' },
      { name: 'api', up: async () => (calls.push('api'), true), look: 'api.log' },
    ];
    const down: string[] = [];
    const stop = watchComponents(comps, (c) => down.push(`${c.name}: ${c.look}`), 10);
    await until(() => calls.length >= 6);
    expect(down).toEqual([]);
    dbUp = false;
    await until(() => down.length > 0);
    const after = calls.length;
    await sleep(60);
    stop();
    expect(down).toEqual(['db: db.log']);
    expect(calls.length).toBe(after);
  });

  it('does not report a single miss', async () => {
    let n = 0;
    const flaky: Watched = { name: 'flaky', up: async () => ++n !== 2, look: '-' };
    const down: string[] = [];
    const stop = watchComponents([flaky], (c) => down.push(c.name), 10);
    await until(() => n >= 5);
    stop();
    expect(n).toBeGreaterThanOrEqual(5);
    expect(down).toEqual([]);
  });

  it('answers() is false for a port nobody listens on', async () => {
    expect(await answers(`http://127.0.0.1:${await freePort()}/`)).toBe(false);
  });
});

describe("the local stack's Keycloak watchdog", () => {
  it('stops the command when the process that started it exits', async () => {
    // A parent that starts `sleep` under the watchdog, prints the watchdog's pid and exits.
    const parent = spawn(process.execPath, [
      '-e',
      `const { spawn } = require('node:child_process');
       const w = spawn('sh', ['-c', ${JSON.stringify(WATCHDOG)}, 'watchdog', String(process.pid), 'sleep', '1000'], { detached: true, stdio: 'ignore' });
       w.unref(); process.stdout.write(String(w.pid)); setTimeout(() => process.exit(0), 300);`,
    ]);
    let out = '';
    parent.stdout.on('data', (d: Buffer) => (out += d.toString()));
    // 'close', not 'exit': the pid may still be in the pipe when the process has exited. The
    // pid is written plain: console.log colours numbers when FORCE_COLOR is set (npm test sets
    // it outside CI).
    await new Promise((r) => parent.on('close', r));
    const watchdog = Number(out.trim());
    expect(watchdog).toBeGreaterThan(0);
    const sleeping = () =>
      spawnSync('pgrep', ['-g', String(watchdog), '-x', 'sleep'], {
        encoding: 'utf8',
      }).stdout.trim();
    // Still there just after the parent left (the watchdog looks every 2 s): the check can fail.
    expect(sleeping()).not.toBe('');
    const deadline = Date.now() + 8000;
    while (sleeping() && Date.now() < deadline) await sleep(200);
    expect(sleeping()).toBe('');
  }, 15_000);
});
