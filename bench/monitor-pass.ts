/**
 * One monitoring pass in a process of its own, for `npm run bench:monitor`: its peak RSS
 * (VmHWM) is the monitor's alone. Reads the upstream URLs and tenants from the environment,
 * counts its requests per upstream and prints one JSON line on stdout.
 */
import { readFileSync } from 'node:fs';
import { Writable } from 'node:stream';

import { DEVICE_PROTOCOLS, iotAgentSpec } from '../platform/components.js';
import type { DeviceProtocol } from '../platform/components.js';
import { Dispatcher } from '../services/monitor/src/deliveries.js';
import { createLogger } from '../services/monitor/src/log.js';
import { Metrics } from '../services/monitor/src/metrics.js';
import { Monitor } from '../services/monitor/src/monitor.js';
import { fiwareBackend } from '../services/monitor/src/service.js';
import { MonitorStore } from '../services/monitor/src/store.js';

const requests: Record<string, number> = {};
const names = new Map<string, string>([
  [new URL(process.env.ORION_URL!).host, 'orion'],
  ...DEVICE_PROTOCOLS.map((p): [string, string] => [
    new URL(process.env[iotAgentSpec(p).northUrlEnv]!).host,
    `iot-agent-${p}`,
  ]),
]);
const realFetch = globalThis.fetch;
globalThis.fetch = (input, init) => {
  const url = new URL(input instanceof Request ? input.url : String(input));
  const key = `${names.get(url.host) ?? url.host} ${init?.method ?? 'GET'} ${url.pathname.replace(/^\/v2\/entities\/.*/, '/v2/entities/{id}')}`;
  requests[key] = (requests[key] ?? 0) + 1;
  return realFetch(input, init);
};

const env = process.env;
const tenants = (env.BENCH_TENANTS ?? '').split(',').filter(Boolean);
const store = MonitorStore.open(undefined);
const backend = fiwareBackend({
  iotaNorthUrls: Object.fromEntries(
    DEVICE_PROTOCOLS.map((p) => [p, env[iotAgentSpec(p).northUrlEnv]!]),
  ) as Record<DeviceProtocol, string>,
  orionUrl: env.ORION_URL!,
  upstreamTimeoutMs: 60_000,
});
const monitor = new Monitor({
  tenants,
  backend,
  store,
  dispatcher: new Dispatcher({ store, now: Date.now }),
  metrics: new Metrics({ processMetrics: false }),
  logger: createLogger('warn', new Writable({ write: (_c, _e, done) => done() })),
  now: Date.now,
});
const started = performance.now();
const pass = await monitor.pass();
const ms = performance.now() - started;
const hwm = /VmHWM:\s+(\d+) kB/.exec(readFileSync('/proc/self/status', 'utf8'));
process.stdout.write(
  `${JSON.stringify({
    ms: Math.round(ms),
    targets: pass.targets,
    states: pass.states,
    failedTenants: pass.failedTenants,
    requests,
    peakRssMb: hwm ? Math.round(Number(hwm[1]) / 1024) : null,
  })}\n`,
);
