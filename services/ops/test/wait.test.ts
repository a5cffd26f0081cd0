import { PlatformError } from '../../../platform/errors.js';
import type { PlatformStatus } from '../src/status.js';
import { formatDuration, parseDuration, progressLine, waitHealthy } from '../src/wait.js';

const status = (waitingFor: string[]): PlatformStatus => ({
  context: 'c',
  server: 's',
  healthy: waitingFor.length === 0,
  syncOnly: false,
  applications: [
    { name: 'a', sync: 'Synced', health: 'Healthy', ok: true },
    { name: 'b', sync: 'OutOfSync', health: 'Progressing', ok: waitingFor.length === 0 },
  ],
  workloads: [],
  components: [],
  waitingFor,
});
const unreachable = () =>
  new PlatformError('ERR_CLUSTER_UNREACHABLE', 'cannot reach the API server', 'start it');

describe('durations', () => {
  it.each([
    ['90', 90_000],
    ['90s', 90_000],
    ['10m', 600_000],
    ['1h30m', 5_400_000],
    ['1m5s', 65_000],
  ])('parses %s', (text, ms) => expect(parseDuration(text)).toBe(ms));
  it.each(['', 'm', '10 m', '-5s', '1.5m', '5d'])('refuses %j', (text) =>
    expect(parseDuration(text)).toBeUndefined(),
  );
  it('formats', () => {
    expect(formatDuration(4_400)).toBe('4s');
    expect(formatDuration(65_000)).toBe('1m05s');
  });
});

describe('waitHealthy', () => {
  it('returns the healthy status, printing a line only when what it waits for changes', async () => {
    const states = [['b'], ['b'], ['b'], ['c'], []];
    const lines: string[] = [];
    const s = await waitHealthy(async () => status(states.shift()!), {
      timeoutMs: 5000,
      intervalMs: 1,
      progress: (l) => lines.push(l),
    });
    expect(s.healthy).toBe(true);
    expect(lines).toHaveLength(3);
    expect(lines[0]).toMatch(
      /1\/2 applications Synced and Healthy, 0\/0 workloads ready; waiting for b$/,
    );
    expect(lines[1]).toMatch(/waiting for c$/);
    expect(lines[2]).toMatch(/2\/2 .*; healthy$/);
  });

  it('retries an unreachable API server (a cluster still starting), once reported', async () => {
    let calls = 0;
    const lines: string[] = [];
    const s = await waitHealthy(
      async () => {
        calls++;
        if (calls <= 3) throw unreachable();
        return status([]);
      },
      { timeoutMs: 5000, intervalMs: 1, progress: (l) => lines.push(l) },
    );
    expect(s.healthy).toBe(true);
    expect(calls).toBe(4);
    expect(lines.filter((l) => l.includes('retrying'))).toHaveLength(1);
  });

  it('stops at once on errors that waiting cannot fix (RBAC, no context, CRD missing)', async () => {
    let calls = 0;
    const forbidden = new PlatformError('ERR_CLUSTER_FORBIDDEN', 'RBAC denies', 'ask');
    await expect(
      waitHealthy(
        async () => {
          calls++;
          throw forbidden;
        },
        { timeoutMs: 5000, intervalMs: 1 },
      ),
    ).rejects.toBe(forbidden);
    expect(calls).toBe(1);
  });

  it('times out with ERR_NOT_HEALTHY listing everything still awaited', async () => {
    const err = await waitHealthy(
      async () => status(['application b OutOfSync/Progressing', 'x']),
      {
        timeoutMs: 50,
        intervalMs: 10,
      },
    ).then(
      () => undefined,
      (e: unknown) => e as PlatformError,
    );
    expect(err?.code).toBe('ERR_NOT_HEALTHY');
    expect(err?.message).toMatch(
      /still waiting for:\n {2}- application b OutOfSync\/Progressing\n {2}- x$/,
    );
  });

  it('times out with the unreachable error when the server never answered', async () => {
    const err = await waitHealthy(
      async () => {
        throw unreachable();
      },
      { timeoutMs: 30, intervalMs: 10 },
    ).then(
      () => undefined,
      (e: unknown) => e as PlatformError,
    );
    expect(err?.code).toBe('ERR_CLUSTER_UNREACHABLE');
  });

  it('shows at most three awaited items and counts the rest', () => {
    expect(progressLine(status(['1', '2', '3', '4', '5']), 1000)).toMatch(
      /waiting for 1; 2; 3; and 2 more$/,
    );
  });
});
