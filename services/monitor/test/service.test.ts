/**
 * The monitor service's life cycle with its pass timer on: `close()` during a pass waits for
 * it to end and save, and no pass runs and nothing is written after it.
 */
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import type { DeviceBackend } from '../src/fiware.js';
import { startMonitor } from '../src/service.js';
import { EMPTY_BACKEND, eventsMonitorConfig } from '../../../testing/support/events-monitor.js';
import { logLines } from '../../../testing/support/log-lines.js';
import { settlesWithin, waitFor } from '../../../testing/support/processes.js';

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'monitor-service-test-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A backend whose device listing waits for the test to let it answer, counting the calls. */
function heldBackend(): { backend: DeviceBackend; calls: () => number; answer: () => void } {
  let calls = 0;
  let answer: () => void = () => undefined;
  const held = new Promise<void>((r) => (answer = r));
  return {
    backend: {
      ...EMPTY_BACKEND,
      devices: async () => {
        calls += 1;
        await held;
        return [];
      },
    },
    calls: () => calls,
    answer: () => answer(),
  };
}

/** The monitor on `backend`, passing every 20 ms. */
const passingMonitor = (stateFile: string, backend: DeviceBackend) =>
  startMonitor(
    eventsMonitorConfig({ stateFile, config: { passSeconds: 0.02, tenants: ['manufacturing'] } }),
    {
      host: '127.0.0.1',
      processMetrics: false,
      backend,
      logDestination: logLines(() => undefined),
    },
  );

describe('the monitor service, its pass timer on', () => {
  it('passes again and again until closed', async () => {
    const b = heldBackend();
    b.answer();
    const stateFile = join(dir, 'state', 'state.json');
    const mon = await passingMonitor(stateFile, b.backend);
    try {
      await waitFor(
        async () => b.calls() >= 3,
        10_000,
        () => new Error('fewer than 3 passes'),
        20,
      );
      expect(b.calls()).toBeGreaterThanOrEqual(3);
      expect(existsSync(stateFile)).toBe(true);
    } finally {
      await mon.close();
    }
  });

  it('close() during a pass waits for it to end and save; no pass and no write after it', async () => {
    const b = heldBackend();
    const stateFile = join(dir, 'state', 'state.json');
    const mon = await passingMonitor(stateFile, b.backend);
    await waitFor(
      async () => b.calls() > 0,
      10_000,
      () => new Error('no pass started'),
      10,
    );
    expect(b.calls()).toBe(1);

    const closed = mon.close();
    expect(await settlesWithin(closed, 300)).toBe(false); // the pass is still running
    b.answer();
    await closed;
    expect(existsSync(stateFile)).toBe(true); // the pass saved before close resolved
    // After close: the state's directory gone, nothing brings it back, no pass runs.
    rmSync(join(dir, 'state'), { recursive: true, force: true });
    await sleep(300);
    expect({ calls: b.calls(), written: existsSync(join(dir, 'state')) }).toEqual({
      calls: 1,
      written: false,
    });
  });
});
