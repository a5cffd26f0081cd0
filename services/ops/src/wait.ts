/**
 * `platform wait`: polls the status until the platform is healthy or the time is up, with a
 * progress line whenever what it waits for changes (and at least every `heartbeatMs`).
 */
import { PlatformError } from '../../../platform/errors.js';
import { opsError } from './errors.js';
import type { PlatformStatus } from './status.js';

/** Options of {@link waitHealthy}. */
export interface WaitOptions {
  readonly timeoutMs: number;
  /** @default 5000 */
  readonly intervalMs?: number;
  /** @default 30 000 */
  readonly heartbeatMs?: number;
  readonly progress?: (line: string) => void;
  readonly signal?: AbortSignal;
}

/** `1m05s`. */
export function formatDuration(ms: number): string {
  const s = Math.round(ms / 1000);
  return s < 60 ? `${s}s` : `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`;
}

/** Parses `90s`, `10m`, `1h`, `1m30s` or plain seconds into milliseconds; undefined if invalid. */
export function parseDuration(text: string): number | undefined {
  if (/^\d+$/.test(text)) return Number(text) * 1000;
  const m = /^(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?$/.exec(text);
  if (!m || text === '') return undefined;
  const [, h = '0', min = '0', s = '0'] = m;
  return ((Number(h) * 60 + Number(min)) * 60 + Number(s)) * 1000;
}

/** One progress line: counts, then the first few things still awaited. */
export function progressLine(s: PlatformStatus, elapsedMs: number): string {
  const counted = s.applications.filter((a) => !a.skipped);
  const apps = counted.filter((a) => a.ok).length;
  const workloads = s.workloads.filter((w) => w.ok).length;
  const shown = s.waitingFor.slice(0, 3);
  const more = s.waitingFor.length - shown.length;
  const skipped = s.applications.length - counted.length;
  return (
    `[${formatDuration(elapsedMs)}] ${apps}/${counted.length} applications ${s.syncOnly ? 'Synced' : 'Synced and Healthy'}` +
    (skipped ? ` (${skipped} skipped)` : '') +
    (s.syncOnly ? '' : `, ${workloads}/${s.workloads.length} workloads ready`) +
    (s.waitingFor.length
      ? `; waiting for ${shown.join('; ')}${more > 0 ? `; and ${more} more` : ''}`
      : s.syncOnly
        ? '; synced'
        : '; healthy')
  );
}

const sleep = (ms: number, signal?: AbortSignal) =>
  new Promise<void>((resolve) => {
    const t = setTimeout(resolve, ms);
    signal?.addEventListener('abort', () => (clearTimeout(t), resolve()), { once: true });
  });

/**
 * Waits until `read()` reports a healthy platform.
 *
 * An unreachable API server is retried until the deadline (a cluster that is still starting);
 * every other error (no context, 401, RBAC, a missing CRD) ends the wait at once.
 * @throws PlatformError ERR_NOT_HEALTHY at the deadline, listing what was still not ready.
 */
export async function waitHealthy(
  read: () => Promise<PlatformStatus>,
  opts: WaitOptions,
): Promise<PlatformStatus> {
  const { timeoutMs, intervalMs = 5000, heartbeatMs = 30_000, progress = () => {} } = opts;
  const start = Date.now();
  let last: PlatformStatus | undefined;
  let lastLine = '';
  let lastPrinted = 0;
  let unreachable: PlatformError | undefined;
  for (;;) {
    const elapsed = Date.now() - start;
    try {
      last = await read();
      unreachable = undefined;
      const key = last.waitingFor.join('\n');
      if (last.healthy) {
        progress(progressLine(last, elapsed));
        return last;
      }
      if (key !== lastLine || elapsed - lastPrinted >= heartbeatMs) {
        progress(progressLine(last, elapsed));
        lastLine = key;
        lastPrinted = elapsed;
      }
    } catch (err) {
      if (!(err instanceof PlatformError) || err.code !== 'ERR_CLUSTER_UNREACHABLE') throw err;
      if (!unreachable) progress(`[${formatDuration(elapsed)}] ${err.message}; retrying`);
      unreachable = err;
    }
    if (opts.signal?.aborted || Date.now() - start + intervalMs > timeoutMs) break;
    await sleep(intervalMs, opts.signal);
  }
  if (unreachable && !last) throw unreachable;
  const waiting = last?.waitingFor ?? [];
  throw opsError(
    'ERR_NOT_HEALTHY',
    `${last?.syncOnly ? 'not synced' : 'not healthy'} after ${formatDuration(Date.now() - start)}${unreachable ? ` (and the API server stopped answering: ${unreachable.message})` : ''}; still waiting for:\n${waiting.map((w) => `  - ${w}`).join('\n')}`,
  );
}
