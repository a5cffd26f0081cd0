/**
 * `npm run bench:monitor`: one monitoring pass over 10 000 devices in 10 tenants, and over
 * 1 000 devices in the same 10 tenants, in one run: wall time, requests to the IoT Agent and
 * Orion, peak RSS of the monitor's process, and the ratios. Requests must grow with pages
 * (1 000 devices per listing, 500 entities per health batch), not with devices one by one.
 *
 * This process runs the real IoT Agent (iotagent-node-lib, in-memory registry; its north API
 * is what the monitor lists devices from) and the Orion fake; devices are registered in bulk
 * with the provisioning service's own agent bodies, their last measurement set in Orion, and
 * each pass runs in a fresh process (bench/monitor-pass.ts) so its peak RSS is its own.
 *
 *   npm run bench:monitor [-- --devices 10000] [-- --json]
 */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

import { DEVICE_PROTOCOLS, iotAgentSpec } from '../platform/components.js';
import { agentDevice } from '../services/provisioning/src/provisioner.js';
import { DeviceSpec } from '../services/provisioning/src/model.js';
import { startIotAgent } from '../testing/real/iot-agent.js';
import { startOrionFake } from '../testing/fakes/orion.js';
import { json, startStub } from '../testing/support/http.js';

const args = process.argv.slice(2);
const arg = (name: string) => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : undefined;
};
const N = Number(arg('--devices') ?? 10_000);
const TENANTS = 10;
const asJson = args.includes('--json');
const log = (msg: string) => process.stderr.write(`bench:monitor: ${msg}\n`);

const orion = await startOrionFake();
const iota = await startIotAgent({ orionUrl: orion.url });
// The other protocols' agents hold no devices here: a stub answers their listings empty.
const empty = await startStub(json(200, { count: 0, services: [], devices: [] }));

async function call(url: string, method: string, service: string, body: unknown) {
  const res = await fetch(url, {
    method,
    headers: {
      'content-type': 'application/json',
      'fiware-service': service,
      'fiware-servicepath': '/floor1',
    },
    body: JSON.stringify(body),
  });
  if (res.status >= 300) throw new Error(`${method} ${url}: ${res.status} ${await res.text()}`);
}

/** Registers `perTenant` devices in each of the tenants `prefix0..9` and sets their last measurement. */
async function seed(prefix: string, perTenant: number): Promise<string[]> {
  const tenants = Array.from({ length: TENANTS }, (_, t) => `${prefix}${t}`);
  const now = new Date().toISOString();
  for (const tenant of tenants) {
    await call(`${iota.northUrl}/iot/services`, 'POST', tenant, {
      services: [{ apikey: `${tenant}key0123456789ab`, resource: '/iot/d', entity_type: 'Bot' }],
    });
    for (let i = 0; i < perTenant; i += 500) {
      const chunk = Array.from({ length: Math.min(500, perTenant - i) }, (_, j) =>
        agentDevice(
          DeviceSpec.parse({
            device_id: `d${i + j}`,
            entity_name: `urn:ngsi:bot:${tenant}:${i + j}`,
            entity_type: 'Bot',
            protocol: 'ultralight',
            attributes: [{ object_id: 't', name: 'temperature', type: 'Number' }],
            commands: [{ name: 'ping', type: 'command' }],
            expected_interval: 60,
          }),
        ),
      );
      await call(`${iota.northUrl}/iot/devices`, 'POST', tenant, { devices: chunk });
      await call(`${orion.url}/v2/op/update`, 'POST', tenant, {
        actionType: 'append',
        entities: chunk.map((d) => ({
          id: d.entity_name,
          type: 'Bot',
          TimeInstant: { type: 'DateTime', value: now },
          temperature: { type: 'Number', value: 21 },
        })),
      });
    }
  }
  return tenants;
}

interface Run {
  devices: number;
  tenants: number;
  ms: number;
  requests: number;
  requestsBy: Record<string, number>;
  peakRssMb: number;
}

async function pass(tenants: string[], devices: number): Promise<Run> {
  const script = fileURLToPath(new URL('./monitor-pass.ts', import.meta.url));
  const child = spawn(process.execPath, ['--import', 'tsx', script], {
    env: {
      ...process.env,
      BENCH_TENANTS: tenants.join(','),
      ORION_URL: orion.url,
      ...Object.fromEntries(
        DEVICE_PROTOCOLS.map((p) => [
          iotAgentSpec(p).northUrlEnv,
          p === 'ultralight' ? iota.northUrl : empty.url,
        ]),
      ),
    },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let out = '';
  child.stdout.on('data', (c: Buffer) => (out += c.toString('utf8')));
  const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
  if (code !== 0) throw new Error(`the pass exited ${code}`);
  const r = JSON.parse(out) as {
    ms: number;
    targets: number;
    failedTenants: string[];
    requests: Record<string, number>;
    peakRssMb: number;
  };
  if (r.targets !== devices || r.failedTenants.length) {
    throw new Error(
      `the pass saw ${r.targets} of ${devices} devices (${r.failedTenants.join(', ')} failed)`,
    );
  }
  return {
    devices,
    tenants: tenants.length,
    ms: r.ms,
    requests: Object.values(r.requests).reduce((a, b) => a + b, 0),
    requestsBy: r.requests,
    peakRssMb: r.peakRssMb,
  };
}

try {
  log(`registering ${N / 10} devices in ${TENANTS} tenants`);
  const small = await seed('bsmall', N / 10 / TENANTS);
  log(`registering ${N} devices in ${TENANTS} tenants`);
  const large = await seed('blarge', N / TENANTS);
  log('pass over the small set');
  const a = await pass(small, N / 10);
  log('pass over the large set');
  const b = await pass(large, N);
  const ratio = (x: number, y: number) => Math.round((x / y) * 10) / 10;
  const result = {
    runs: [a, b],
    ratios: {
      devices: ratio(b.devices, a.devices),
      ms: ratio(b.ms, a.ms),
      requests: ratio(b.requests, a.requests),
      peakRss: ratio(b.peakRssMb, a.peakRssMb),
    },
  };
  if (asJson) process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
  else {
    for (const r of [a, b]) {
      process.stdout.write(
        `${String(r.devices).padStart(6)} devices in ${r.tenants} tenants: ${r.ms} ms, ${r.requests} requests (${Object.entries(
          r.requestsBy,
        )
          .map(([k, v]) => `${k}: ${v}`)
          .join(', ')}), peak RSS ${r.peakRssMb} MB\n`,
      );
    }
    process.stdout.write(
      `ratios (large/small): devices x${result.ratios.devices}, time x${result.ratios.ms}, requests x${result.ratios.requests}, peak RSS x${result.ratios.peakRss}\n`,
    );
  }
} catch (err) {
  process.stderr.write(`bench:monitor: ${(err as Error).stack ?? String(err)}\n`);
  process.exitCode = 1;
} finally {
  await iota.stop();
  await orion.close();
  await empty.close();
}
