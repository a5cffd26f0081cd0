/**
 * `npm run bench:provisioning`: provisions N devices (default 1000) through the provisioning
 * service in bulk and with one request per device (the demo cluster's way), side by side in
 * one run, and prints wall time, the service's peak RSS and the ratios.
 *
 * Each mode gets a fresh service process (bin/server.ts), so its peak RSS (VmHWM) is the
 * service's alone; this process runs the real IoT Agent (iotagent-node-lib, in-memory
 * registry), the Orion fake, the JWKS stub and the client. A bulk run with N/4 devices shows
 * whether the service's memory grows with the number of devices.
 *
 *   npm run bench:provisioning [-- --devices 1000] [-- --json]
 */
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { policyData } from '../platform/policy-data.js';
import { json, startStub } from '../testing/support/http.js';
import { startIotAgent, startIotAgentProcess } from '../testing/real/iot-agent.js';
import { API_KEYS_BUNDLE_PATH } from '../platform/policy-data.js';
import { agentDevice } from '../services/provisioning/src/provisioner.js';
import { DeviceSpec } from '../services/provisioning/src/model.js';
import { freePort } from '../testing/real/opa.js';
import { startOrionFake } from '../testing/fakes/orion.js';
import { generateTestKeys, makeToken } from '../testing/support/tokens.js';
import { loadPlatformContext } from '../platform/context.js';

interface Run {
  mode: 'bulk' | 'per-request' | 'agent-floor';
  devices: number;
  requests: number;
  ms: number;
  peakRssMb: number;
  failed: number;
}

const args = process.argv.slice(2);
const arg = (name: string) => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : undefined;
};
const N = Number(arg('--devices') ?? 1000);
const asJson = args.includes('--json');
const log = (msg: string) => process.stderr.write(`bench:provisioning: ${msg}\n`);

function devices(n: number, prefix: string) {
  return Array.from({ length: n }, (_, i) => ({
    device_id: `${prefix}${i}`,
    entity_name: `urn:ngsi:bot:${prefix}${i}`,
    entity_type: 'Bot',
    timezone: 'Europe/Zurich',
    attributes: [
      { object_id: 'f', name: 'foo', type: 'Integer' },
      { object_id: 'b', name: 'bar', type: 'Integer' },
    ],
    static_attributes: [{ name: 'category', type: 'Text', value: 'sensor' }],
    expected_interval: 60,
  }));
}

async function startService(
  env: Record<string, string>,
): Promise<{ child: ChildProcess; url: string }> {
  const port = await freePort();
  const child = spawn(
    process.execPath,
    ['--import', 'tsx', 'services/provisioning/bin/server.ts'],
    {
      env: { ...process.env, ...env, PROVISIONING_PORT: String(port), LOG_LEVEL: 'warn' },
      stdio: ['ignore', 'ignore', 'inherit'],
    },
  );
  const url = `http://127.0.0.1:${port}`;
  for (let i = 0; i < 200; i++) {
    try {
      if ((await fetch(`${url}/readyz`)).ok) return { child, url };
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  child.kill();
  throw new Error('the provisioning service did not start within 20 s');
}

/** Peak resident set of a process, from /proc (Linux). */
function peakRssMb(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = Number(/VmHWM:\s+(\d+) kB/.exec(status)?.[1]);
  return Math.round((kb / 1024) * 10) / 10;
}

async function main(): Promise<void> {
  const ctx = loadPlatformContext();
  const keys = await generateTestKeys();
  const jwks = await startStub(json(200, keys.jwks));
  const orion = await startOrionFake();
  const iota = await startIotAgent({ orionUrl: orion.url });
  const jsonAgent = await startIotAgentProcess({ orionUrl: orion.url, protocol: 'json' });
  const dir = mkdtempSync(join(tmpdir(), 'bench-provisioning-'));
  const policyFile = join(dir, 'policy-data.json');
  writeFileSync(policyFile, JSON.stringify(policyData(ctx)));
  const env = {
    IOTA_NORTH_URL: iota.northUrl,
    IOTA_JSON_NORTH_URL: jsonAgent.northUrl,
    ORION_URL: orion.url,
    QUANTUMLEAP_NOTIFY_URL: 'http://127.0.0.1:9/v2/notify',
    KEYCLOAK_ISSUER: ctx.issuer,
    KEYCLOAK_JWKS_URL: `${jwks.url}/certs`,
    POLICY_DATA_FILE: policyFile,
    MAX_BATCH: String(Math.max(N, 1000)),
    MAX_BODY_BYTES: String(16 * 1024 * 1024),
  };
  const token = await makeToken(keys, ctx.issuer, { expIn: 3600 });
  const headers = (servicePath: string) => ({
    authorization: `Bearer ${token}`,
    'fiware-service': 'manufracture',
    'fiware-servicepath': servicePath,
    'content-type': 'application/json',
  });

  /** The floor: the same devices posted straight to the IoT Agent in one request. */
  const floor = async (n: number, path: string): Promise<Run> => {
    const body = {
      devices: devices(n, path.slice(1)).map((d) => ({
        ...agentDevice(DeviceSpec.parse(d)),
        protocol: 'PDI-IoTA-UltraLight',
        transport: 'HTTP',
      })),
    };
    const started = performance.now();
    const res = await fetch(`${iota.northUrl}/iot/devices`, {
      method: 'POST',
      headers: {
        'fiware-service': 'manufracture',
        'fiware-servicepath': path,
        'content-type': 'application/json',
      },
      body: JSON.stringify(body),
    });
    await res.arrayBuffer();
    const ms = performance.now() - started;
    return {
      mode: 'agent-floor',
      devices: n,
      requests: 1,
      ms: Math.round(ms),
      peakRssMb: 0,
      failed: res.status === 201 ? 0 : n,
    };
  };

  /** One bulk request to the service, then the API-key bundle read afresh (key publication). */
  const serviceBulk = async (url: string, n: number, path: string) => {
    const payload = JSON.stringify({ devices: devices(n, path.slice(1)) });
    const started = performance.now();
    const res = await fetch(`${url}/provisioning/v1/devices/bulk`, {
      method: 'POST',
      headers: headers(path),
      body: payload,
    });
    const body = (await res.json()) as { summary: { failed: number; created: number } };
    let failed = body.summary.failed + (n - body.summary.created - body.summary.failed);
    const bundle = await fetch(`${url}${API_KEYS_BUNDLE_PATH}`);
    await bundle.arrayBuffer();
    if (bundle.status !== 200) failed = n;
    return { ms: performance.now() - started, failed };
  };

  /**
   * The service's bulk path over the floor, both warm: after one warm-up each, three rounds
   * alternating (the agent's registry grows alike for both), the median of each.
   */
  const overTheFloor = async (n: number) => {
    const { child, url } = await startService(env);
    try {
      await floor(n, '/floorwarm');
      await serviceBulk(url, n, '/servicewarm');
      const floors: number[] = [];
      const services: number[] = [];
      let failed = 0;
      for (let round = 1; round <= 3; round++) {
        const f = await floor(n, `/floor${round}`);
        floors.push(f.ms);
        failed += f.failed;
        const b = await serviceBulk(url, n, `/service${round}`);
        services.push(b.ms);
        failed += b.failed;
      }
      const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[1]!;
      return {
        floorMs: Math.round(median(floors)),
        serviceMs: Math.round(median(services)),
        failed,
      };
    } finally {
      child.kill('SIGTERM');
    }
  };

  const run = async (mode: Run['mode'], n: number, path: string): Promise<Run> => {
    const { child, url } = await startService(env);
    const list = devices(n, path.slice(1));
    let failed = 0;
    let requests = 0;
    const started = performance.now();
    try {
      if (mode === 'bulk') {
        requests = 1;
        ({ failed } = await serviceBulk(url, n, path));
      } else {
        for (const d of list) {
          const { device_id, ...body } = d;
          const res = await fetch(`${url}/provisioning/v1/devices/${device_id}`, {
            method: 'PUT',
            headers: headers(path),
            body: JSON.stringify(body),
          });
          await res.arrayBuffer();
          requests++;
          if (res.status !== 201) failed++;
        }
      }
      const ms = performance.now() - started;
      return {
        mode,
        devices: n,
        requests,
        ms: Math.round(ms),
        peakRssMb: peakRssMb(child.pid!),
        failed,
      };
    } finally {
      child.kill('SIGTERM');
    }
  };

  try {
    log(
      `${N} devices, straight to the IoT Agent in one request (the floor), beside the service's bulk, warm`,
    );
    const pair = await overTheFloor(N);
    const agent: Run = {
      mode: 'agent-floor',
      devices: N,
      requests: 1,
      ms: pair.floorMs,
      peakRssMb: 0,
      failed: pair.failed,
    };
    log(`${N} devices, bulk (one request, a fresh service)`);
    const bulk = await run('bulk', N, '/bulk');
    log(`${N} devices, one request per device`);
    const single = await run('per-request', N, '/single');
    const quarter = Math.max(1, Math.round(N / 4));
    log(`${quarter} devices, bulk (memory against the number of devices)`);
    const small = await run('bulk', quarter, '/small');
    const speedup = single.ms / bulk.ms;
    const rssRatio = bulk.peakRssMb / small.peakRssMb;
    const overFloor = pair.serviceMs / pair.floorMs;
    const result = {
      runs: [agent, bulk, single, small],
      speedup: Math.round(speedup * 10) / 10,
      bulkRssRatio: Math.round(rssRatio * 100) / 100,
      bulkOverFloor: Math.round(overFloor * 100) / 100,
      targets: { speedup: 10, bulkRssRatio: 1.25, bulkOverFloor: 1.3 },
      ok:
        speedup >= 10 &&
        rssRatio <= 1.25 &&
        overFloor <= 1.3 &&
        agent.failed + bulk.failed + single.failed + small.failed === 0,
    };
    if (asJson) {
      process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
    } else {
      const row = (r: Run) =>
        `${r.mode.padEnd(12)} ${String(r.devices).padStart(7)} ${String(r.requests).padStart(9)} ${String(r.ms).padStart(9)} ${(Math.round((r.devices / r.ms) * 10000) / 10).toString().padStart(10)} ${String(r.peakRssMb).padStart(13)} ${String(r.failed).padStart(7)}`;
      process.stdout.write(
        [
          `mode         devices  requests   wall ms  devices/s  peak RSS (MB)  failed`,
          row(agent),
          row(bulk),
          row(single),
          row(small),
          '',
          `bulk through the service (warm), key publication included: ${pair.serviceMs} ms, ${result.bulkOverFloor}× the IoT Agent's own bulk of ${pair.floorMs} ms (target ≤ 1.3×)`,
          `bulk is ${result.speedup}× faster than one request per device (target ≥ 10×)`,
          `service peak RSS, bulk ${N} / bulk ${quarter} devices: ${result.bulkRssRatio} (target ≤ 1.25: flat in the number of devices)`,
          '',
        ].join('\n'),
      );
    }
    if (!result.ok) process.exitCode = 1;
  } finally {
    await iota.stop();
    await jsonAgent.stop();
    await orion.close();
    await jwks.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
