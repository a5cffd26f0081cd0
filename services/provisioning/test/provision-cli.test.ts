/**
 * `npm run provision` as a user runs it (a subprocess), against the service on the local
 * stack with the real IoT Agent: plan, apply, re-run, prune, failures and exit codes. And the
 * service's configuration errors.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { stringify } from 'yaml';

import type { CliRun } from '../../../testing/support/cli.js';
import { runCli } from '../../../testing/support/cli.js';
import { freePort } from '../../../testing/real/opa.js';
import type { ProvisioningStack } from '../../../testing/stack/provisioning-stack.js';
import { startProvisioningStack } from '../../../testing/stack/provisioning-stack.js';
import { loadConfig } from '../src/config.js';
import { devicesFileJsonSchema } from '../src/devices-file.js';

let stack: ProvisioningStack;
let dir: string;
let token: string;

beforeAll(async () => {
  stack = await startProvisioningStack();
  dir = mkdtempSync(join(tmpdir(), 'provision-cli-'));
  token = await stack.token({
    claims: { roles: ['manufracture:operator', 'manufracture:tenant-admin'] },
  });
});
afterAll(async () => {
  await stack?.close();
  rmSync(dir, { recursive: true, force: true });
});

function provision(args: string[], env: Record<string, string> = {}): Promise<CliRun> {
  return runCli('services/provisioning/bin/provision.ts', [...args, '--base-url', stack.url], dir, {
    KITT4SME_TOKEN: token,
    ...env,
  });
}

function file(name: string, content: unknown): string {
  const path = join(dir, name);
  writeFileSync(path, typeof content === 'string' ? content : stringify(content));
  return path;
}

const device = (id: string, extra: Record<string, unknown> = {}) => ({
  device_id: id,
  entity_name: `urn:ngsi:bot:${id}`,
  entity_type: 'Bot',
  attributes: [{ object_id: 'f', name: 'foo', type: 'Integer' }],
  ...extra,
});

describe('npm run provision', () => {
  it('applies the anchor example: a dry run shows the plan and writes nothing, then it applies, then a re-run changes nothing', async () => {
    const example = 'docs/examples/manufracture.devices.yaml';
    const dry = await provision(['-f', example, '--dry-run']);
    expect(dry.stderr).toContain('compared 2/2 devices of /floor1'); // progress on stderr, plan on stdout
    expect(dry.code).toBe(0);
    expect(dry.stdout).toContain('+ create subscription quantumleap');
    expect(dry.stdout).toContain('+ create group /iot/d (/floor1)');
    expect(dry.stdout).toContain('+ create device foodev (/floor1)');
    // The JSON path: its group in the JSON agent's resource, its device.
    expect(dry.stdout).toContain('+ create group /iot/json (/floor2)');
    expect(dry.stdout).toContain('+ create device jsondev (/floor2)');
    expect(dry.stdout).toMatch(
      /would create 6, update 0, delete 0; 0 unchanged, 0 invalid, 0 failed/,
    );
    const empty = await stack.call('GET', '/v1/devices', { servicePath: '/floor1' });
    expect(empty.body.count).toBe(0);

    const applied = await provision(['-f', example]);
    expect(applied.code).toBe(0);
    expect(applied.stdout).toMatch(
      /^create 6, update 0, delete 0; 0 unchanged, 0 invalid, 0 failed$/m,
    );
    expect(applied.stderr).toContain('applied 2/2 device changes of /floor1');
    const list = await stack.call('GET', '/v1/devices', { servicePath: '/floor1' });
    expect(list.body.devices.map((d: { device_id: string }) => d.device_id).sort()).toEqual([
      'bardev',
      'foodev',
    ]);
    expect(stack.orion.subscriptions('manufracture')).toHaveLength(1);
    // The JSON device went to the JSON agent, and only there.
    const json = await stack.call('GET', '/v1/devices/jsondev', { servicePath: '/floor2' });
    expect(json.body).toMatchObject({ device_id: 'jsondev', protocol: 'json' });
    const inJsonAgent = await fetch(`${stack.agentUrls.json}/iot/devices/jsondev`, {
      headers: { 'fiware-service': 'manufracture', 'fiware-servicepath': '/floor2' },
    });
    expect(inJsonAgent.status).toBe(200);
    const inUlAgent = await fetch(`${stack.iotaUrl}/iot/devices/jsondev`, {
      headers: { 'fiware-service': 'manufracture', 'fiware-servicepath': '/floor2' },
    });
    expect(inUlAgent.status).toBe(404);

    const again = await provision(['-f', example, '--json']);
    expect(again.code).toBe(0);
    const report = JSON.parse(again.stdout) as { summary: Record<string, number> };
    expect(report.summary).toEqual({
      create: 0,
      update: 0,
      unchanged: 6,
      delete: 0,
      invalid: 0,
      failed: 0,
    });
  });

  it('shows an update and, with --prune, a deletion; --check makes a pending change exit 1', async () => {
    const path = file('prune.yaml', {
      tenant: 'manufracture',
      servicePaths: [
        { path: '/lab', group: { entity_type: 'Bot' }, devices: [device('p1'), device('p2')] },
      ],
    });
    expect((await provision(['-f', path])).code).toBe(0);
    const changed = file('prune2.yaml', {
      tenant: 'manufracture',
      servicePaths: [
        {
          path: '/lab',
          group: { entity_type: 'Bot' },
          devices: [device('p1', { timezone: 'Europe/Rome' })],
        },
      ],
    });
    const check = await provision(['-f', changed, '--dry-run', '--prune', '--check']);
    expect(check.code).toBe(1);
    expect(check.stdout).toContain('~ update device p1 (/lab)');
    expect(check.stdout).toContain('- delete device p2 (/lab)');
    const applied = await provision(['-f', changed, '--prune']);
    expect(applied.code).toBe(0);
    const list = await stack.call('GET', '/v1/devices', { servicePath: '/lab' });
    expect(
      list.body.devices.map((d: { device_id: string; timezone?: string }) => [
        d.device_id,
        d.timezone,
      ]),
    ).toEqual([['p1', 'Europe/Rome']]);
  });

  it('--check alone plans only: it exits 1 on a difference and changes nothing', async () => {
    const path = file('check-only.yaml', {
      tenant: 'manufracture',
      servicePaths: [
        { path: '/checkonly', group: { entity_type: 'Bot' }, devices: [device('c1')] },
      ],
    });
    const check = await provision(['-f', path, '--check']);
    expect(check.code).toBe(1);
    expect(check.stdout).toContain('+ create device c1 (/checkonly)');
    expect(check.stdout).toMatch(/would create 2, update 0, delete 0/);
    const list = await stack.call('GET', '/v1/devices', { servicePath: '/checkonly' });
    expect(list.body.count).toBe(0);
    const groups = await stack.call('GET', '/v1/groups', { servicePath: '/checkonly' });
    expect(groups.body.groups).toEqual([]);
  });

  it('does not apply the devices of a group that fails (a taken API key), and says why', async () => {
    const first = file('taken1.yaml', {
      tenant: 'manufracture',
      servicePaths: [
        { path: '/taken1', group: { entity_type: 'Bot', apikey: 'taken-k3y-1' }, devices: [] },
      ],
    });
    expect((await provision(['-f', first])).code).toBe(0);
    const second = file('taken2.yaml', {
      tenant: 'manufracture',
      servicePaths: [
        {
          path: '/taken2',
          group: { entity_type: 'Bot', apikey: 'taken-k3y-1' },
          devices: [device('orphan1')],
        },
      ],
    });
    const res = await provision(['-f', second]);
    expect(res.code).toBe(1);
    expect(res.stdout).toMatch(/group \/iot\/d \(\/taken2\).*not available/);
    expect(res.stdout).toMatch(
      /device orphan1 \(\/taken2\).*not applied: its ultralight service group at \/taken2 failed/,
    );
    const list = await stack.call('GET', '/v1/devices', { servicePath: '/taken2' });
    expect(list.body.count).toBe(0);
  });

  it('exits 2 for a tenant written with capitals or not of the platform, saying which, before any call', async () => {
    const requests = () => stack.logs.filter((l) => l.msg === 'request').length;
    const before = requests();
    const capitals = file('capitals.yaml', {
      tenant: 'Manufracture',
      servicePaths: [{ path: '/caps', devices: [device('cap1')] }],
    });
    const caps = await provision(['-f', capitals], { KITT4SME_TOKEN: '' });
    expect(caps.code).toBe(2);
    expect(caps.stderr).toContain('tenant "Manufracture" is written with capitals');
    expect(caps.stderr).toContain('tenant: manufracture');
    expect(caps.stderr).not.toContain('Keycloak');
    const unknown = file('unknown.yaml', {
      tenant: 'nosuchtenant',
      servicePaths: [{ path: '/caps', devices: [device('cap1')] }],
    });
    const other = await provision(['-f', unknown]);
    expect(other.code).toBe(2);
    expect(other.stderr).toContain('not a tenant of this platform (manufracture, smithereens)');
    expect(requests()).toBe(before);
  });

  it('exits 1 and names the device when an item fails, and applies the rest', async () => {
    const path = file('partial.yaml', {
      tenant: 'manufracture',
      servicePaths: [
        {
          path: '/partial',
          devices: [device('good1'), device('keyless', { apikey: 'nosuchkey' })],
        },
      ],
    });
    const res = await provision(['-f', path]);
    expect(res.code).toBe(1);
    expect(res.stdout).toMatch(
      /! invalid device keyless \(\/partial\): no ultralight service group at \/partial has this API key/,
    );
    const list = await stack.call('GET', '/v1/devices', { servicePath: '/partial' });
    expect(list.body.devices.map((d: { device_id: string }) => d.device_id)).toEqual(['good1']);
  });

  it('shows progress per batch on a large file', async () => {
    const devices = Array.from({ length: 120 }, (_, i) => device(`bulk${i}`));
    const path = file('large.yaml', {
      tenant: 'manufracture',
      servicePaths: [{ path: '/large', devices }],
    });
    const res = await provision(['-f', path, '--batch', '50']);
    expect(res.code).toBe(0);
    expect(res.stderr.match(/compared \d+\/120 devices of \/large/g)).toEqual([
      'compared 50/120 devices of /large',
      'compared 100/120 devices of /large',
      'compared 120/120 devices of /large',
    ]);
    expect(res.stderr).toContain('applied 120/120 device changes of /large');
  });

  it.each([
    [
      'an invalid file',
      { tenant: 'manufracture', servicePaths: [{ path: 'lab', devices: [{ device_id: 'x y' }] }] },
      /servicePaths\[0\]\.path: an absolute service path.*\n.*servicePaths\[0\]\.devices\[0\]\.device_id/s,
    ],
    ['not YAML', 'tenant: [unclosed', /is not valid YAML/],
    [
      'an unknown field',
      { tenant: 'manufracture', servicePaths: [{ path: '/' }], extra: 1 },
      /extra: unknown field/,
    ],
  ])(
    'exits 2 for %s, naming the field, before calling the service',
    async (_name, content, message) => {
      const before = stack.logs.length;
      const res = await provision(['-f', file('bad.yaml', content)]);
      expect(res.code).toBe(2);
      expect(res.stderr).toMatch(message);
      expect(res.stderr).toContain('[ERR_PROVISION_FILE]');
      expect(stack.logs.length).toBe(before);
    },
  );

  it('exits 3 when the service is unreachable, and 1 when the token is refused', async () => {
    const path = 'docs/examples/smithereens.devices.yaml';
    const down = await runCli(
      'services/provisioning/bin/provision.ts',
      ['-f', path, '--base-url', `http://127.0.0.1:${await freePort()}`],
      dir,
      {
        KITT4SME_TOKEN: token,
      },
    );
    expect(down.code).toBe(3);
    expect(down.stderr).toMatch(/unreachable \(ECONNREFUSED\)/);
    // The token is manufracture's: smithereens' file is refused by the tenancy policy.
    const wrongTenant = await provision(['-f', path]);
    expect(wrongTenant.code).toBe(1);
    expect(wrongTenant.stderr).toMatch(/answered 403/);
  });
});

describe('the devices file schema', () => {
  it('is JSON Schema 2020-12 and requires a tenant and at least one service path', () => {
    const schema = devicesFileJsonSchema() as {
      $schema: string;
      required: string[];
      properties: Record<string, { minItems?: number }>;
    };
    expect(schema.$schema).toBe('https://json-schema.org/draft/2020-12/schema');
    expect(schema.required).toEqual(['tenant', 'servicePaths']);
    expect(schema.properties.servicePaths!.minItems).toBe(1);
  });
});

describe('service configuration', () => {
  it('names every missing or invalid variable', () => {
    expect(() => loadConfig({ IOTA_NORTH_URL: 'ftp://x', UPSTREAM_TIMEOUT_MS: '10' })).toThrow(
      expect.objectContaining({
        code: 'ERR_PROVISIONING_CONFIG',
        message: expect.stringMatching(
          /IOTA_NORTH_URL: the north \(provisioning\) API of the IoT Agent for Ultralight.*\n.*IOTA_JSON_NORTH_URL: missing\n.*ORION_URL: missing[\s\S]*UPSTREAM_TIMEOUT_MS: a whole number from 100 to 120000/,
        ),
      }) as never,
    );
  });

  it('refuses a policy data file that is not JSON', () => {
    const path = file('policy.json', 'not json');
    expect(() =>
      loadConfig({
        IOTA_NORTH_URL: 'http://iota:4041',
        IOTA_JSON_NORTH_URL: 'http://iota-json:4041',
        ORION_URL: 'http://orion:1026',
        QUANTUMLEAP_NOTIFY_URL: 'http://ql:8668/v2/notify',
        KEYCLOAK_ISSUER: 'https://k/auth/realms/kitt4sme',
        KEYCLOAK_JWKS_URL: 'http://k/certs',
        POLICY_DATA_FILE: path,
      }),
    ).toThrow(/POLICY_DATA_FILE .* is not a readable JSON file/);
  });
});
