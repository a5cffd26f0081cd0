/**
 * The provisioning service's configuration from its environment: each variable's default, its
 * bounds and the error that names it (ERR_PROVISIONING_CONFIG, with the fix), the URL rules and
 * the policy data file. Also the service's logger (JSON lines, level, redaction) and its
 * metrics as a dashboard would query them.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';

import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';

import { DEVICE_PROTOCOLS, iotAgentSpec } from '../../../platform/components.js';
import { PlatformError } from '../../../platform/errors.js';
import { DEFAULT_MAX_BATCH, loadConfig } from '../src/config.js';
import { PROVISIONING_ERRORS } from '../src/errors.js';
import { REDACTED_PATHS, createLogger } from '../src/log.js';
import { Metrics } from '../src/metrics.js';

const FIX = PROVISIONING_ERRORS.ERR_PROVISIONING_CONFIG.fix;
const EXAMPLE_DATA = 'policies/examples/data.json';

let dir: string;
let policyFile: string;
let env: Record<string, string>;

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'provisioning-config-'));
  policyFile = join(dir, 'policy.json');
  writeFileSync(policyFile, JSON.stringify({ version: 1, tenants: ['manufracture'] }));
  env = {
    IOTA_NORTH_URL: 'http://iotagent-ul:4041',
    IOTA_JSON_NORTH_URL: 'http://iotagent-json:4041',
    ORION_URL: 'http://orion:1026',
    QUANTUMLEAP_NOTIFY_URL: 'http://quantumleap:8668/v2/notify',
    KEYCLOAK_ISSUER: 'https://kitt4sme.localhost/auth/realms/kitt4sme',
    KEYCLOAK_JWKS_URL: 'http://keycloak:8080/auth/realms/kitt4sme/protocol/openid-connect/certs',
    POLICY_DATA_FILE: policyFile,
  };
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** The error loadConfig throws for `overrides`, failing the test when there is none. */
function configError(overrides: Record<string, string | undefined>): PlatformError {
  try {
    loadConfig({ ...env, ...overrides });
  } catch (err) {
    expect(err).toBeInstanceOf(PlatformError);
    return err as PlatformError;
  }
  throw new Error('loadConfig accepted the environment');
}

/** The error of one invalid variable: its code, the one line naming it, the fix. */
function expectInvalid(overrides: Record<string, string | undefined>, line: string): void {
  const err = configError(overrides);
  expect(err.code).toBe('ERR_PROVISIONING_CONFIG');
  expect(err.message).toBe(`invalid environment:\n  ${line}`);
  expect(err.fix).toBe(FIX);
}

describe('loadConfig', () => {
  it('reads the required variables and defaults every other one', () => {
    expect(loadConfig(env)).toEqual({
      port: 8080,
      iotaNorthUrls: { ultralight: 'http://iotagent-ul:4041', json: 'http://iotagent-json:4041' },
      orionUrl: 'http://orion:1026',
      quantumLeapNotifyUrl: 'http://quantumleap:8668/v2/notify',
      issuer: 'https://kitt4sme.localhost/auth/realms/kitt4sme',
      jwksUrl: 'http://keycloak:8080/auth/realms/kitt4sme/protocol/openid-connect/certs',
      policyData: { version: 1, tenants: ['manufracture'] },
      logLevel: 'info',
      upstreamTimeoutMs: 5000,
      upstreamAttempts: 3,
      maxBatch: 1000,
      maxBodyBytes: 2 * 1024 * 1024,
      defaultExpectedInterval: 300,
      staleAfterIntervals: 3,
      eventsUrl: undefined,
    });
  });

  it('takes a batch of DEFAULT_MAX_BATCH (1000) devices by default', () => {
    expect(DEFAULT_MAX_BATCH).toBe(1000);
    expect(loadConfig(env).maxBatch).toBe(DEFAULT_MAX_BATCH);
  });

  it('reads every optional variable when set', () => {
    const c = loadConfig({
      ...env,
      PROVISIONING_PORT: '9090',
      LOG_LEVEL: 'debug',
      UPSTREAM_TIMEOUT_MS: '750',
      UPSTREAM_ATTEMPTS: '5',
      MAX_BATCH: '42',
      MAX_BODY_BYTES: '65536',
      DEFAULT_EXPECTED_INTERVAL_S: '60',
      STALE_AFTER_INTERVALS: '7',
      PLATFORM_EVENTS_URL: 'http://monitor:8081',
    });
    expect(c).toMatchObject({
      port: 9090,
      logLevel: 'debug',
      upstreamTimeoutMs: 750,
      upstreamAttempts: 5,
      maxBatch: 42,
      maxBodyBytes: 65536,
      defaultExpectedInterval: 60,
      staleAfterIntervals: 7,
      eventsUrl: 'http://monitor:8081',
    });
  });

  it('reads the north URL of each protocol’s IoT Agent from its own variable', () => {
    expect(DEVICE_PROTOCOLS.map((p) => iotAgentSpec(p).northUrlEnv)).toEqual([
      'IOTA_NORTH_URL',
      'IOTA_JSON_NORTH_URL',
    ]);
    const urls = Object.fromEntries(
      DEVICE_PROTOCOLS.map((p, i) => [
        iotAgentSpec(p).northUrlEnv,
        `http://agent-${i}:${4041 + i}`,
      ]),
    );
    const c = loadConfig({ ...env, ...urls });
    expect(Object.keys(c.iotaNorthUrls)).toEqual([...DEVICE_PROTOCOLS]);
    for (const p of DEVICE_PROTOCOLS) {
      expect(c.iotaNorthUrls[p]).toBe(urls[iotAgentSpec(p).northUrlEnv]);
    }
  });

  describe('numbers', () => {
    it.each([
      ['PROVISIONING_PORT', 'port', 0, 65535],
      ['UPSTREAM_TIMEOUT_MS', 'upstreamTimeoutMs', 100, 120_000],
      ['UPSTREAM_ATTEMPTS', 'upstreamAttempts', 1, 10],
      ['MAX_BATCH', 'maxBatch', 1, 5000],
      ['MAX_BODY_BYTES', 'maxBodyBytes', 1024, 50 * 1024 * 1024],
      ['DEFAULT_EXPECTED_INTERVAL_S', 'defaultExpectedInterval', 1, 7 * 24 * 3600],
      ['STALE_AFTER_INTERVALS', 'staleAfterIntervals', 1, 1000],
    ] as const)('%s (%s) takes integers from %d to %d', (name, key, min, max) => {
      expect(loadConfig({ ...env, [name]: String(min) })[key]).toBe(min);
      expect(loadConfig({ ...env, [name]: String(max) })[key]).toBe(max);
      const wanted = `${name}: a whole number from ${min} to ${max}, in decimal digits`;
      // Out of range, a fraction, words, and what z.coerce.number() would have read as a
      // number: empty (0), padded, hexadecimal, an exponent.
      for (const bad of [min - 1, max + 1, `${min}.5`, 'many', '', ` ${max} `, '0x10', '1e3']) {
        expectInvalid({ [name]: String(bad) }, wanted);
      }
    });

    it('accepts port 0 (any free port, for tests)', () => {
      expect(loadConfig({ ...env, PROVISIONING_PORT: '0' }).port).toBe(0);
    });
  });

  describe('LOG_LEVEL', () => {
    it.each(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'])('takes %s', (level) => {
      expect(loadConfig({ ...env, LOG_LEVEL: level }).logLevel).toBe(level);
    });

    it('fails on any other level, listing the levels', () => {
      const line =
        'LOG_LEVEL: Invalid option: expected one of "fatal"|"error"|"warn"|"info"|"debug"|"trace"|"silent"';
      expectInvalid({ LOG_LEVEL: 'verbose' }, line);
      expectInvalid({ LOG_LEVEL: 'INFO' }, line);
    });
  });

  describe('URLs', () => {
    const WANTS = {
      IOTA_NORTH_URL:
        'the north (provisioning) API of the IoT Agent for Ultralight 2.0, e.g. http://iotagent-ul:4041',
      IOTA_JSON_NORTH_URL:
        'the north (provisioning) API of the IoT Agent for JSON, e.g. http://iotagent-json:4041',
      ORION_URL: "Orion's NGSI-v2 API, e.g. http://orion:1026",
      QUANTUMLEAP_NOTIFY_URL:
        'the URL Orion notifies QuantumLeap at, e.g. http://quantumleap:8668/v2/notify',
      KEYCLOAK_ISSUER: 'the issuer of the platform tokens (iss)',
      KEYCLOAK_JWKS_URL: "the realm's JWKS URL",
      PLATFORM_EVENTS_URL: "the monitor's events port, e.g. http://monitor:8081",
    };

    it.each(Object.entries(WANTS))(
      '%s must be an http(s) URL, and says what it is',
      (name, what) => {
        for (const bad of [
          'orion:1026',
          'not a url',
          'ftp://orion',
          'xhttp://orion',
          'httpx://o',
        ]) {
          expectInvalid({ [name]: bad }, `${name}: ${what}: an http(s) URL`);
        }
        expectInvalid({ [name]: '' }, `${name}: ${what}: an http(s) URL`);
      },
    );

    it.each(Object.keys(WANTS))('%s takes http and https URLs as given', (name) => {
      for (const good of ['http://host:1', 'https://host.example/path/']) {
        const c = loadConfig({ ...env, [name]: good });
        expect(JSON.stringify(c)).toContain(JSON.stringify(good));
      }
    });

    it('leaves device events off without PLATFORM_EVENTS_URL', () => {
      expect(loadConfig({ ...env, PLATFORM_EVENTS_URL: undefined }).eventsUrl).toBeUndefined();
      expect(loadConfig({ ...env, PLATFORM_EVENTS_URL: 'https://monitor:8081' }).eventsUrl).toBe(
        'https://monitor:8081',
      );
    });
  });

  describe('missing variables', () => {
    it.each([
      'IOTA_NORTH_URL',
      'IOTA_JSON_NORTH_URL',
      'ORION_URL',
      'QUANTUMLEAP_NOTIFY_URL',
      'KEYCLOAK_ISSUER',
      'KEYCLOAK_JWKS_URL',
      'POLICY_DATA_FILE',
    ])('fails without %s, naming it', (name) => {
      expectInvalid({ [name]: undefined }, `${name}: missing`);
    });

    it('fails on an empty environment naming every required variable, in order', () => {
      let err: unknown;
      try {
        loadConfig({});
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(PlatformError);
      expect((err as PlatformError).code).toBe('ERR_PROVISIONING_CONFIG');
      expect((err as PlatformError).message).toBe(
        [
          'invalid environment:',
          'IOTA_NORTH_URL: missing',
          'IOTA_JSON_NORTH_URL: missing',
          'ORION_URL: missing',
          'QUANTUMLEAP_NOTIFY_URL: missing',
          'KEYCLOAK_ISSUER: missing',
          'KEYCLOAK_JWKS_URL: missing',
          'POLICY_DATA_FILE: missing',
        ].join('\n  '),
      );
    });

    it('names every invalid variable in one error', () => {
      const err = configError({ PROVISIONING_PORT: 'x', ORION_URL: undefined, MAX_BATCH: '0' });
      expect(err.message).toBe(
        [
          'invalid environment:',
          'PROVISIONING_PORT: a whole number from 0 to 65535, in decimal digits',
          'ORION_URL: missing',
          'MAX_BATCH: a whole number from 1 to 5000, in decimal digits',
        ].join('\n  '),
      );
    });

    it('reads process.env when given no environment', () => {
      const saved = { ...process.env };
      try {
        Object.assign(process.env, env, { MAX_BATCH: '17' });
        expect(loadConfig().maxBatch).toBe(17);
      } finally {
        for (const k of Object.keys(process.env)) if (!(k in saved)) delete process.env[k];
        Object.assign(process.env, saved);
      }
    });
  });

  describe('POLICY_DATA_FILE', () => {
    it('fails on an empty path, saying what the file is', () => {
      expectInvalid(
        { POLICY_DATA_FILE: '' },
        'POLICY_DATA_FILE: the path of the tenancy policy data (JSON) synth generates',
      );
    });

    it('unwraps the document from OPA’s data tree (policies/examples/data.json)', () => {
      const c = loadConfig({ ...env, POLICY_DATA_FILE: EXAMPLE_DATA });
      expect(c.policyData).toMatchObject({ version: 1, tenants: expect.any(Array) });
      expect(c.policyData).not.toHaveProperty('kitt4sme');
    });

    it('fails on a file that is missing or not JSON, with the path, the reason and the cause', () => {
      const missing = join(dir, 'nope.json');
      const err = configError({ POLICY_DATA_FILE: missing });
      expect(err.code).toBe('ERR_PROVISIONING_CONFIG');
      expect(err.fix).toBe(FIX);
      expect(err.message).toBe(
        `POLICY_DATA_FILE ${missing} is not a readable JSON file (ENOENT: no such file or directory, open '${missing}')`,
      );
      expect((err.cause as NodeJS.ErrnoException).code).toBe('ENOENT');

      const broken = join(dir, 'broken.json');
      writeFileSync(broken, '{"tenants": [');
      const bad = configError({ POLICY_DATA_FILE: broken });
      expect(bad.code).toBe('ERR_PROVISIONING_CONFIG');
      expect(bad.message).toMatch(
        new RegExp(`^POLICY_DATA_FILE ${broken.replace(/[.]/g, '\\.')} is not a readable JSON`),
      );
      expect(bad.cause).toBeInstanceOf(SyntaxError);
    });
  });
});

// ---------------------------------------------------------------------------------------------
// The logger
// ---------------------------------------------------------------------------------------------

/** A logger of `level` and the JSON lines it wrote. */
function capture(level: string) {
  const lines: string[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _enc, done) {
      lines.push(...chunk.toString('utf8').split('\n').filter(Boolean));
      done();
    },
  });
  const written = () => lines.map((l) => JSON.parse(l) as Record<string, unknown>);
  return { logger: createLogger(level, stream), lines, written };
}

describe('createLogger', () => {
  it('writes one JSON object per line, with the service name, the level by name and an ISO time', () => {
    const { logger, lines, written } = capture('info');
    logger.info({ tenant: 'manufracture' }, 'group created');
    expect(lines).toHaveLength(1);
    const [line] = written();
    expect(line).toMatchObject({
      level: 'info',
      service: 'provisioning',
      tenant: 'manufracture',
      msg: 'group created',
    });
    expect(line!.time).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
  });

  it('writes nothing below its level', () => {
    const { logger, written } = capture('warn');
    logger.debug('d');
    logger.info('i');
    logger.warn('w');
    logger.error('e');
    expect(written().map((l) => [l.level, l.msg])).toEqual([
      ['warn', 'w'],
      ['error', 'e'],
    ]);
    const silent = capture('silent');
    silent.logger.fatal('f');
    expect(silent.lines).toEqual([]);
  });

  it('redacts API keys and credentials at every path it lists', () => {
    // One secret at each path the list names; the list itself is the product's.
    expect(REDACTED_PATHS).toHaveLength(6);
    const { logger, lines, written } = capture('info');
    logger.info(
      {
        apikey: 'SECRET-top-apikey',
        group: { apikey: 'SECRET-nested-apikey', resource: '/iot/d' },
        request: { group: { apikey: 'SECRET-deep-apikey' } },
        authorization: 'Bearer SECRET-top-authorization',
        upstream: { authorization: 'Bearer SECRET-nested-authorization' },
        req: { headers: { authorization: 'Bearer SECRET-header', accept: 'application/json' } },
      },
      'call',
    );
    const [line] = written();
    expect(line).toMatchObject({
      apikey: '[redacted]',
      group: { apikey: '[redacted]', resource: '/iot/d' },
      request: { group: { apikey: '[redacted]' } },
      authorization: '[redacted]',
      upstream: { authorization: '[redacted]' },
      req: { headers: { authorization: '[redacted]', accept: 'application/json' } },
    });
    expect(lines.join('\n')).not.toContain('SECRET');
  });
});

// ---------------------------------------------------------------------------------------------
// The metrics
// ---------------------------------------------------------------------------------------------

/** The `le` bounds of a histogram's series in the exposition text, `+Inf` included. */
function bucketsOf(exposition: string, name: string): string[] {
  return exposition
    .split('\n')
    .filter((l) => l.startsWith(`${name}_bucket{`))
    .map((l) => /le="([^"]+)"/.exec(l)![1]!);
}

describe('Metrics', () => {
  it('registers exactly the service’s four metrics, by name and type, without process metrics', async () => {
    const m = new Metrics({ processMetrics: false });
    const metrics = await m.registry.getMetricsAsJSON();
    expect(metrics.map((x) => [x.name, x.type, x.help])).toEqual([
      [
        'provisioning_http_request_duration_seconds',
        'histogram',
        'HTTP requests served, by route, method and status',
      ],
      [
        'provisioning_upstream_request_duration_seconds',
        'histogram',
        'Calls to the IoT Agent and Orion, by upstream, method and outcome (status, timeout, unavailable, malformed)',
      ],
      [
        'provisioning_devices_total',
        'counter',
        'Devices written, by tenant and result (created, updated, unchanged, failed)',
      ],
      [
        'provisioning_authz_decisions_total',
        'counter',
        'Authorization decisions of the in-process tenancy policy, by result and status',
      ],
    ]);
  });

  it('exposes the series a dashboard queries, with their labels and buckets', async () => {
    const m = new Metrics({ processMetrics: false });
    m.requests.observe({ route: '/v1/devices', method: 'GET', status: '200' }, 0.02);
    m.upstream.observe({ upstream: 'iot-agent', method: 'POST', outcome: '201' }, 0.3);
    m.devices.inc({ tenant: 'manufracture', status: 'created' }, 2);
    m.decisions.inc({ allowed: 'false', status: '403' });
    const text = await m.registry.metrics();

    expect(bucketsOf(text, 'provisioning_http_request_duration_seconds')).toEqual(
      ['0.005', '0.01', '0.025', '0.05', '0.1', '0.25', '0.5', '1', '2.5', '5', '10', '30'].concat(
        '+Inf',
      ),
    );
    expect(bucketsOf(text, 'provisioning_upstream_request_duration_seconds')).toEqual(
      ['0.005', '0.01', '0.025', '0.05', '0.1', '0.25', '0.5', '1', '2.5', '5', '10'].concat(
        '+Inf',
      ),
    );
    expect(text).toContain(
      'provisioning_http_request_duration_seconds_bucket{le="0.025",route="/v1/devices",method="GET",status="200"} 1',
    );
    expect(text).toContain(
      'provisioning_http_request_duration_seconds_bucket{le="0.01",route="/v1/devices",method="GET",status="200"} 0',
    );
    expect(text).toContain(
      'provisioning_http_request_duration_seconds_count{route="/v1/devices",method="GET",status="200"} 1',
    );
    expect(text).toContain(
      'provisioning_upstream_request_duration_seconds_bucket{le="0.5",upstream="iot-agent",method="POST",outcome="201"} 1',
    );
    expect(text).toContain(
      'provisioning_upstream_request_duration_seconds_sum{upstream="iot-agent",method="POST",outcome="201"} 0.3',
    );
    expect(text).toContain('provisioning_devices_total{tenant="manufracture",status="created"} 2');
    expect(text).toContain('provisioning_authz_decisions_total{allowed="false",status="403"} 1');
  });

  it('refuses a label a metric does not declare', () => {
    const m = new Metrics({ processMetrics: false });
    expect(() => m.requests.observe({ path: '/x' } as never, 1)).toThrow(/path/);
    expect(() => m.upstream.observe({ status: '200' } as never, 1)).toThrow(/status/);
    expect(() => m.devices.inc({ outcome: 'created' } as never)).toThrow(/outcome/);
    expect(() => m.decisions.inc({ tenant: 'x' } as never)).toThrow(/tenant/);
  });

  it('keeps each instance’s metrics apart', async () => {
    const a = new Metrics({ processMetrics: false });
    const b = new Metrics({ processMetrics: false });
    a.devices.inc({ tenant: 't', status: 'created' });
    expect(await b.registry.metrics()).not.toContain('provisioning_devices_total{');
  });

  it('adds Node’s process metrics unless told not to', async () => {
    const names = async (m: Metrics) => (await m.registry.getMetricsAsJSON()).map((x) => x.name);
    for (const m of [new Metrics(), new Metrics({}), new Metrics({ processMetrics: true })]) {
      const all = await names(m);
      expect(all).toEqual(expect.arrayContaining(['process_cpu_user_seconds_total']));
      expect(all).toContain('provisioning_devices_total');
    }
    const without = await names(new Metrics({ processMetrics: false }));
    expect(without.filter((n) => !n.startsWith('provisioning_'))).toEqual([]);
  });
});
