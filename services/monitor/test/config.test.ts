/**
 * The monitor's configuration from its environment: the announce and webhook host lists reach
 * the service as lower-cased lists, and a wrong value names its variable.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { loadConfig } from '../src/config.js';

let dir: string;
let env: Record<string, string>;

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'monitor-config-'));
  const policy = join(dir, 'policy.json');
  writeFileSync(policy, JSON.stringify({ tenants: ['manufracture'] }));
  env = {
    IOTA_NORTH_URL: 'http://iot-agent:4041',
    IOTA_JSON_NORTH_URL: 'http://iot-agent-json:4041',
    ORION_URL: 'http://orion:1026',
    KEYCLOAK_JWKS_URL: 'http://keycloak/realms/kitt4sme/protocol/openid-connect/certs',
    POLICY_DATA_FILE: policy,
    MONITOR_STATE_FILE: join(dir, 'state.json'),
  };
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('the monitor configuration', () => {
  it('has no exception to the outbound and announce rules by default', () => {
    const c = loadConfig(env);
    expect(c.webhookAllowedHosts).toEqual([]);
    expect(c.announceAllowedHosts).toEqual([]);
    expect(c.minGraceSeconds).toBe(5);
    expect(c.tenants).toEqual(['manufracture']);
  });

  it('reads the lab exceptions as trimmed, lower-cased lists', () => {
    const c = loadConfig({
      ...env,
      MONITOR_ANNOUNCE_ALLOWED_HOSTS: ' 127.0.0.1:8080, Lab-Agent ,',
      MONITOR_WEBHOOK_ALLOWED_HOSTS: 'Hooks.Lab',
      MONITOR_MIN_GRACE_SECONDS: '1',
    });
    expect(c.announceAllowedHosts).toEqual(['127.0.0.1:8080', 'lab-agent']);
    expect(c.webhookAllowedHosts).toEqual(['hooks.lab']);
    expect(c.minGraceSeconds).toBe(1);
  });

  it('names a wrong grace', () => {
    expect(() => loadConfig({ ...env, MONITOR_MIN_GRACE_SECONDS: '-1' })).toThrow(
      /MONITOR_MIN_GRACE_SECONDS/,
    );
  });

  it('reads numbers only as decimal, never an empty or hexadecimal value as a number', () => {
    const c = loadConfig({ ...env, MONITOR_PORT: '9090', MONITOR_GRACE_RATIO: '0.25' });
    expect([c.port, c.graceRatio]).toEqual([9090, 0.25]);
    // z.coerce.number() took '' as port 0 (a random port) and '0x10' as 16.
    expect(() => loadConfig({ ...env, MONITOR_PORT: '' })).toThrow(
      'MONITOR_PORT: a whole number from 0 to 65535, in decimal digits',
    );
    expect(() => loadConfig({ ...env, MONITOR_EVENTS_PORT: '0x10' })).toThrow(
      'MONITOR_EVENTS_PORT: a whole number from 0 to 65535, in decimal digits',
    );
    expect(() => loadConfig({ ...env, MONITOR_GRACE_RATIO: ' 1' })).toThrow(
      'MONITOR_GRACE_RATIO: a number from 0 to 10, in decimal',
    );
  });
});
