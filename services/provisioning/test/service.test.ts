/**
 * The service's own start and stop (`startService`), with nothing behind it: the IoT Agents,
 * Orion and the realm's keys are one port that ends every connection at once. What it does
 * before any request (the first read of the API keys, where it listens, which metrics it
 * serves, the tenants of its policy data), and what `close()` ends. The requests themselves are
 * the other stack files'.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import type { Server } from 'node:http';
import { createServer } from 'node:http';
import type { AddressInfo, Server as NetServer } from 'node:net';
import { connect, createServer as createNetServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';

import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';

import { DEVICE_PROTOCOLS, iotAgentSpec } from '../../../platform/components.js';
import { loadPlatformContext } from '../../../platform/context.js';
import type { PlatformError } from '../../../platform/errors.js';
import {
  PLATFORM_EVENTS_URL_ENV,
  eventId,
  eventSubject,
  eventTypeOf,
} from '../../../platform/events.js';
import { policyData } from '../../../platform/policy-data.js';
import type { ProvisioningConfig } from '../src/config.js';
import { loadConfig } from '../src/config.js';
import type { RunningService, ServiceOverrides } from '../src/service.js';
import { startService } from '../src/service.js';
import { logLines } from '../../../testing/support/log-lines.js';

let dir: string;
/** Holds a loopback port and ends every connection to it at once: no upstream answers there. */
let deadEnd: NetServer;
const dead = () => `http://127.0.0.1:${(deadEnd.address() as AddressInfo).port}`;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'provisioning-service-'));
  writeFileSync(join(dir, 'policy-data.json'), JSON.stringify(policyData(loadPlatformContext())));
  deadEnd = createNetServer((socket) => socket.destroy());
  await new Promise<void>((resolve) => deadEnd.listen(0, '127.0.0.1', resolve));
});
afterAll(async () => {
  await new Promise((resolve) => deadEnd.close(resolve));
  rmSync(dir, { recursive: true, force: true });
});

/** The configuration of a service whose upstreams are all down. */
function config(env: Record<string, string> = {}): ProvisioningConfig {
  return loadConfig({
    PROVISIONING_PORT: '0',
    ...Object.fromEntries(DEVICE_PROTOCOLS.map((p) => [iotAgentSpec(p).northUrlEnv, dead()])),
    ORION_URL: dead(),
    QUANTUMLEAP_NOTIFY_URL: 'http://quantumleap:8668/v2/notify',
    KEYCLOAK_ISSUER: loadPlatformContext().issuer,
    KEYCLOAK_JWKS_URL: `${dead()}/certs`,
    POLICY_DATA_FILE: join(dir, 'policy-data.json'),
    LOG_LEVEL: 'info',
    UPSTREAM_ATTEMPTS: '1',
    ...env,
  });
}

/** Starts the service with its log captured; `logs` fills as it writes. */
async function start(
  cfg: ProvisioningConfig,
  overrides: ServiceOverrides = {},
): Promise<{ service: RunningService; logs: Record<string, unknown>[] }> {
  const logs: Record<string, unknown>[] = [];
  const logDestination = logLines((entry) => logs.push(entry));
  const service = await startService(cfg, { processMetrics: false, ...overrides, logDestination });
  return { service, logs };
}

/** Waits (at most 10 s) until `logs` has a line with message `msg`, and returns it. */
async function logLine(
  logs: Record<string, unknown>[],
  msg: string,
): Promise<Record<string, unknown>> {
  for (let i = 0; i < 200; i++) {
    const line = logs.find((l) => l.msg === msg);
    if (line) return line;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error(`no log line "${msg}" in ${JSON.stringify(logs.map((l) => l.msg))}`);
}

describe('startService', () => {
  it('starts while the IoT Agents cannot be reached, warns that the API keys were not read yet, and logs where it listens', async () => {
    const cfg = config();
    const { service, logs } = await start(cfg, { host: '127.0.0.1' });
    try {
      const { port } = service.server.address() as AddressInfo;
      expect(service.url).toBe(`http://127.0.0.1:${port}`);
      expect((await fetch(`${service.url}/healthz`)).status).toBe(200);
      expect(await logLine(logs, 'provisioning service listening')).toMatchObject({
        level: 'info',
        port,
        iota: cfg.iotaNorthUrls,
        orion: cfg.orionUrl,
      });
      const warned = await logLine(logs, 'API keys not read yet');
      expect(warned).toMatchObject({ level: 'warn' });
      expect(warned.err).toMatch(/^iot-agent(-json)? is unreachable/);
    } finally {
      await service.close();
    }
  });

  it('listens on every interface unless told a host, and names each IoT Agent in its metrics as in its messages', async () => {
    const { service, logs } = await start(config());
    try {
      expect((service.server.address() as AddressInfo).address).toBe('0.0.0.0');
      await logLine(logs, 'API keys not read yet');
      // The first read of the API keys asked every agent; each attempt is timed under its name.
      const text = await (await fetch(`${service.url}/metrics`)).text();
      const upstreams = [
        ...text.matchAll(
          /^provisioning_upstream_request_duration_seconds_count\{upstream="([^"]+)"/gm,
        ),
      ].map((m) => m[1]);
      expect([...new Set(upstreams)].sort()).toEqual(['iot-agent', 'iot-agent-json']);
    } finally {
      await service.close();
    }
  });

  it("serves Node's process metrics by default, and none when told not to", async () => {
    const withDefaults = await startService(config(), {
      host: '127.0.0.1',
      logDestination: new Writable({ write: (_c, _e, done) => done() }),
    });
    const without = await start(config(), { host: '127.0.0.1' });
    try {
      const names = async (s: RunningService) =>
        (await (await fetch(`${s.url}/metrics`)).text()).match(/^process_cpu_user_seconds_total /m);
      expect(await names(withDefaults)).not.toBeNull();
      expect(await names(without.service)).toBeNull();
    } finally {
      await Promise.all([withDefaults.close(), without.service.close()]);
    }
  });

  it('fails to start on a port another server holds, with the error of the listen', async () => {
    const holder: Server = createServer();
    await new Promise<void>((resolve) => holder.listen(0, '127.0.0.1', resolve));
    const { port } = holder.address() as AddressInfo;
    try {
      await expect(
        start(config({ PROVISIONING_PORT: String(port) }), { host: '127.0.0.1' }),
      ).rejects.toMatchObject({ code: 'EADDRINUSE' });
    } finally {
      await new Promise((resolve) => holder.close(resolve));
    }
  });

  it.each([
    ['no tenants', (d: object) => ({ ...d, tenants: undefined })],
    ['tenants that are not a list', (d: object) => ({ ...d, tenants: 'manufracture' })],
    ['a tenant that is not a name', (d: object) => ({ ...d, tenants: ['manufracture', 7] })],
    ['nothing in it', () => null],
  ])('refuses policy data with %s, naming the document to use', async (_what, broken) => {
    const cfg = config();
    const err = await start({ ...cfg, policyData: broken(cfg.policyData as object) }).then(
      (s) => s.service.close().then(() => undefined),
      (e: unknown) => e as PlatformError,
    );
    expect(err).toMatchObject({
      code: 'ERR_PROVISIONING_CONFIG',
      message:
        'the policy data has no tenants list; use the document `npm run synth` generates (POLICY_DATA_FILE)',
    });
  });
});

describe('close()', () => {
  it('ends the connections it holds, a request still arriving too, rather than waiting for them', async () => {
    const { service } = await start(config(), { host: '127.0.0.1' });
    const port = (service.server.address() as AddressInfo).port;
    // An idle keep-alive connection, and one whose request body has not all arrived (it is
    // refused for want of a token before then): close() would wait for the rest of the body,
    // or Node's request timeout (minutes), without ending it itself.
    service.server.keepAliveTimeout = 600_000;
    const idle = connect(port, '127.0.0.1');
    const answered = new Promise<string>((resolve) => idle.once('data', (d) => resolve(String(d))));
    idle.write('GET /healthz HTTP/1.1\r\nhost: x\r\nconnection: keep-alive\r\n\r\n');
    expect(await answered).toMatch(/^HTTP\/1\.1 200 /);
    const arriving = connect(port, '127.0.0.1');
    await new Promise((resolve) => arriving.once('connect', resolve));
    arriving.write(
      'PUT /provisioning/v1/groups HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: 100\r\n\r\n{"entity_type":',
    );
    // Read what the server sends (its 401 included), so that its end is seen.
    for (const s of [idle, arriving]) s.resume();
    const closed = Promise.all(
      [idle, arriving].map((s) => new Promise((resolve) => s.once('close', resolve))),
    );
    await new Promise((resolve) => setTimeout(resolve, 100));
    await service.close();
    await closed;
    expect([idle.destroyed, arriving.destroyed]).toEqual([true, true]);
  }, 20_000);

  it('stops the event publisher, saying which events it could not send', async () => {
    const { service, logs } = await start(config({ [PLATFORM_EVENTS_URL_ENV]: dead() }), {
      host: '127.0.0.1',
    });
    const id = eventId('test', 'manufracture', '/', 'dev1');
    service.events.publish({
      id,
      type: eventTypeOf('provisioning.device.provisioned'),
      tenant: 'manufracture',
      subject: eventSubject('device', 'dev1'),
      time: new Date().toISOString(),
      data: { tenant: 'manufracture', kind: 'device', id: 'dev1' },
    });
    await service.close();
    expect(logs.filter((l) => l.msg === 'closed with events not sent')).toEqual([
      expect.objectContaining({ level: 'warn', pending: 1, ids: [id] }),
    ]);
  });
});
