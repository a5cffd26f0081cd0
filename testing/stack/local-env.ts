/**
 * Test support: what `npm run stack:local` exports for the scenarios and the CLIs
 * (.cache/local-stack.env), so that the documented flow (`source` it, `npm run scenarios`)
 * has everything every step needs.
 */
import { DENY_REASON_HEADER } from '../../platform/tenancy.js';
import type { ScenarioStack, StackLogEntry } from './scenario-stack.js';
import { platformContext } from '../real/keycloak.js';

/** The variables of .cache/local-stack.env. */
export async function localStackExports(stack: ScenarioStack): Promise<Record<string, string>> {
  const [first] = platformContext().config.tenants;
  return {
    KITT4SME_BASE_URL: stack.baseUrl,
    KITT4SME_KEYCLOAK_URL: stack.keycloakUrl,
    ...Object.fromEntries(
      // The tenants' machine clients only: what the scenarios and the provisioning CLI use.
      Object.entries(stack.env).filter(([k]) =>
        /^KITT4SME_CLIENT_SECRET_.+_(SCENARIOS|DEVICES)$/.test(k),
      ),
    ),
    // A real token of the realm that has expired by the time the scenarios run (5 s lifetime),
    // for tenant-isolation/expired-token.
    KITT4SME_EXPIRED_TOKEN: await stack.expiredToken(first!.name),
  };
}

/** A component of the stack that must stay up, and how to tell. */
export interface Watched {
  readonly name: string;
  /** Resolves true while it is up; never rejects. */
  up(): Promise<boolean>;
  /** What to look at when it is down (a log file, a command). */
  readonly look: string;
}

/**
 * Checks every component each `everyMs`; the first one down twice in a row is reported to
 * `down` (once) and the watch stops. Returns a function that stops watching.
 */
export function watchComponents(
  components: readonly Watched[],
  down: (c: Watched) => void,
  everyMs = 5000,
): () => void {
  const misses = new Map<string, number>();
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  const tick = async () => {
    for (const c of components) {
      if (stopped) return;
      const ok = await c.up();
      const n = ok ? 0 : (misses.get(c.name) ?? 0) + 1;
      misses.set(c.name, n);
      if (n >= 2) {
        stopped = true;
        down(c);
        return;
      }
    }
    if (!stopped) timer = setTimeout(() => void tick(), everyMs);
  };
  timer = setTimeout(() => void tick(), everyMs);
  return () => {
    stopped = true;
    if (timer) clearTimeout(timer);
  };
}

/** Whether a URL answers with a status below 500 within two seconds. */
export async function answers(url: string): Promise<boolean> {
  try {
    const res = await fetch(url, { signal: AbortSignal.timeout(2000) });
    await res.arrayBuffer();
    return res.status < 500;
  } catch {
    return false;
  }
}

/**
 * One line of the local stack's log, for a person: the source, what happened and the ids to
 * follow one request by (`correlator=` is the request's `fiware-correlator`, `id=` Envoy's
 * `x-request-id`, which the gateway and OPA share). Never a token or a query string: the
 * gateway records none, and OPA's entries are masked by the platform's policy.
 */
export function formatLogEntry(e: StackLogEntry): string {
  const kv = (pairs: Record<string, unknown>) =>
    Object.entries(pairs)
      .filter(([, v]) => v !== undefined && v !== '')
      .map(([k, v]) => `${k}=${typeof v === 'string' && /\s/.test(v) ? JSON.stringify(v) : v}`)
      .join(' ');
  switch (e.source) {
    case 'gateway': {
      const d = e.entry;
      return `gateway       ${d.method} ${d.path} ${d.status} ${kv({ tenant: d.tenant, correlator: d.correlator, id: d.requestId, reason: d.reason })}`;
    }
    case 'opa': {
      const http = (
        e.entry.input as
          | {
              attributes?: {
                request?: {
                  http?: { method?: string; path?: string; headers?: Record<string, string> };
                };
              };
            }
          | undefined
      )?.attributes?.request?.http;
      const result = (e.entry.result ?? {}) as {
        allowed?: boolean;
        http_status?: number;
        headers?: Record<string, string>;
      };
      const reason = Object.entries(result.headers ?? {}).find(
        ([k]) => k.toLowerCase() === DENY_REASON_HEADER,
      )?.[1];
      return `opa           ${http?.method ?? '?'} ${http?.path ?? '?'} ${result.allowed ? 'allow' : `deny ${result.http_status ?? 403}`} ${kv({ correlator: http?.headers?.['fiware-correlator'], id: http?.headers?.['x-request-id'], decision: e.entry.decision_id, reason })}`;
    }
    case 'provisioning':
    case 'fleet':
    case 'monitor': {
      const o = e.entry;
      const level = LEVELS[Number(o.level)] ?? String(o.level);
      return `${e.source.padEnd(13)} ${level} ${String(o.msg ?? '')} ${kv({ method: o.method, path: o.path, status: o.status, tenant: o.tenant, correlator: o.correlator, rollout: o.rollout, commit: o.commit, reason: o.deny_reason ?? o.detail })}`;
    }
  }
}

/** pino's level numbers. */
const LEVELS: Record<number, string> = {
  10: 'trace',
  20: 'debug',
  30: 'info',
  40: 'warn',
  50: 'error',
  60: 'fatal',
};
