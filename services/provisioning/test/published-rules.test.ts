/**
 * The input rules the published documents state (docs/provisioning.openapi.json's request
 * bodies, docs/devices.schema.json), held to samples whose verdict this file states itself.
 *
 * Those documents are generated from the zod schemas the service validates with, so a rule
 * loosened in the code loosens the document too, and `npm run synth` makes the two agree
 * again. What catches the change is this table: every pattern, length, size, bound, enum and
 * constant a document states must have samples here (a new rule without samples fails), and
 * both the service's validation and the document (ajv) must give each sample its verdict.
 */
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { describe, expect, it } from '@jest/globals';
import type { z } from 'zod';

import type { RuleRoot, RuleSamples } from '../../../testing/support/published-rules.js';
import { describePublishedRules, ruleSites } from '../../../testing/support/published-rules.js';

import { loadConfig, DEFAULT_MAX_BATCH } from '../src/config.js';
import { DevicesFile, devicesFileJsonSchema } from '../src/devices-file.js';
import { DeviceBody, DeviceSpec, GroupSpec } from '../src/model.js';
import { buildOpenApi } from '../src/openapi.js';

type Json = Record<string, any>;
const ROOT = fileURLToPath(new URL('../../..', import.meta.url));

type Samples = RuleSamples;

const x = (n: number, c = 'a') => c.repeat(n);

/** NGSI-v2 identifiers: 1-256 printable ASCII, none of whitespace & ? / # < > " ' = ; ( ). */
const NGSI: Samples = {
  valid: ['urn:ngsi:Bot:1', 'T', x(256), '!$%*+,-.:@[\\]^_`{|}~'],
  invalid: [
    '',
    x(257),
    ...[' ', '\t', '&', '?', '/', '#', '<', '>', '"', "'", '=', ';', '(', ')', 'é'].map(
      (c) => `a${c}b`,
    ),
  ],
};
/** An attribute, static attribute or command name: an NGSI-v2 identifier Orion does not reserve. */
const NAME: Samples = {
  ...NGSI,
  invalidInCodeOnly: ['id', 'type', 'dateCreated', 'dateModified', 'dateExpires', '*'],
};
/** Device ids: 1-128 of A-Z a-z 0-9 _ . : - (the IoT Agent, Ultralight's i= and URL paths). */
const DEVICE_ID: Samples = {
  valid: ['d', 'dev-1_a.b:c', x(128)],
  invalid: ['', x(129), 'dev#1', 'dev 1', 'dev/1', 'dev?1', 'dév', 'dev|1', 'dev@1'],
};
/** API keys: 4-64 of A-Z a-z 0-9 _ - (Ultralight's k=). */
const API_KEY: Samples = {
  valid: ['abcd', 'A-z_09', x(64, 'k')],
  invalid: ['', 'abc', x(65, 'k'), 'ab+c', 'ab cd', 'ab/c', 'ab=c', 'ab.c'],
};
/** A measurement name of a JSON device: printable ASCII without whitespace, " or \ (1-64). */
const OBJECT_ID_JSON: Samples = {
  with: { protocol: 'json' },
  valid: ['f', 'a|b', 'a#b', 'a@b', x(64, 'o')],
  invalid: ['', x(65, 'o'), 'a b', 'a"b', 'a\\b', 'é'],
};
const PROTOCOL: Samples = { valid: ['ultralight', 'json'], invalid: ['mqtt', 'UL', '', 'JSON'] };
/** Tenants (fiware-service): 1-50 of A-Z a-z 0-9 _. */
const TENANT: Samples = {
  valid: ['manufracture', 'A_1', x(50)],
  invalid: ['', x(51), 'a-b', 'a b', 'a/b', 'a.b'],
};
/** Service paths: `/`, or 1-10 levels of 1-50 of A-Z a-z 0-9 _. */
const SERVICE_PATH: Samples = {
  valid: ['/', '/floor1', '/a/b', `/${x(50)}`, '/a'.repeat(10)],
  invalid: ['', 'floor1', '/a/', '//', '/a//b', '/a'.repeat(11), `/${x(51)}`, '/a-b', '/#', '/*'],
};
/** Array sizes: the sample is the number of (distinct, valid) items. */
const size = (max: number, min = 0): Samples => ({
  valid: [min, max],
  invalid: [...(min > 0 ? [min - 1] : []), max + 1],
});
const EXPECTED_INTERVAL: Samples = { valid: [1, 60, 604800], invalid: [0, -1, 604801, 1.5] };

/**
 * Every rule a document states, by where it stands: the property, prefixed with its array's
 * name when it belongs to the items of an array (`attributes.name`).
 */
const RULES: Record<string, Samples> = {
  device_id: DEVICE_ID,
  protocol: PROTOCOL,
  entity_name: NGSI,
  entity_type: NGSI,
  apikey: API_KEY,
  attributes: size(100),
  'attributes.object_id': OBJECT_ID_JSON,
  'attributes.name': NAME,
  'attributes.type': NGSI,
  static_attributes: size(100),
  'static_attributes.name': NAME,
  'static_attributes.type': NGSI,
  commands: size(50),
  'commands.name': NAME,
  'commands.type': { valid: ['command'], invalid: ['Command', 'text', ''] },
  expected_interval: EXPECTED_INTERVAL,
  // The document says `format: uri`; the service narrows it to public http(s) hosts.
  endpoint: {
    valid: ['https://devices.example.com/cmd', 'http://example.com:8080/x'],
    invalid: [],
    invalidInCodeOnly: ['ftp://example.com/x', 'http://10.0.0.1/x', 'http://localhost/x', 'x'],
  },
  resource: { valid: ['/iot/d'], invalid: ['/iot/x', ''], invalidInCodeOnly: ['/iot/json'] },
  tenant: TENANT,
  servicePaths: { valid: [1, 3], invalid: [0] },
  'servicePaths.path': SERVICE_PATH,
  devices: size(1000),
};

/** A valid item of each array whose size is a rule, the n-th, distinct from the others. */
const ITEMS: Record<string, (i: number) => unknown> = {
  attributes: (i) => ({ object_id: `o${i}`, name: `a${i}`, type: 'Number' }),
  static_attributes: (i) => ({ name: `s${i}`, type: 'Text', value: i }),
  commands: (i) => ({ name: `c${i}` }),
  servicePaths: (i) => ({ path: `/p${i}` }),
  devices: (i) => ({ ...device(), device_id: `d${i}` }),
};

const device = (): Json => ({
  device_id: 'bot1',
  entity_name: 'urn:ngsi:Bot:1',
  entity_type: 'Bot',
  apikey: 'k3y-of-floor1',
  attributes: [{ object_id: 't', name: 'temperature', type: 'Number' }],
  static_attributes: [{ name: 'site', type: 'Text', value: 'hall 2' }],
  commands: [{ name: 'reset' }],
  expected_interval: 60,
});
const group = (): Json => {
  const { device_id: _d, entity_name: _n, expected_interval: _i, ...rest } = device();
  return rest;
};

const cfg = loadConfig({
  IOTA_NORTH_URL: 'http://iotagent-ul:4041',
  IOTA_JSON_NORTH_URL: 'http://iotagent-json:4041',
  ORION_URL: 'http://orion:1026',
  QUANTUMLEAP_NOTIFY_URL: 'http://quantumleap:8668/v2/notify',
  KEYCLOAK_ISSUER: 'https://kitt4sme.localhost/auth/realms/kitt4sme',
  KEYCLOAK_JWKS_URL:
    'https://kitt4sme.localhost/auth/realms/kitt4sme/protocol/openid-connect/certs',
  POLICY_DATA_FILE: join(ROOT, 'policies/examples/data.json'),
});
/** The document as the service serves it with its default configuration. */
const openapi = buildOpenApi({ maxBatch: cfg.maxBatch }) as Json;
const schemas = openapi.components.schemas as Record<string, Json>;
const strip = ({ $schema: _s, ...rest }: Json) => rest;

const zodCheck = (schema: z.ZodType) => (input: Json) => schema.safeParse(input).success;
const bulkSchema =
  openapi.paths['/v1/devices/bulk'].post.requestBody.content['application/json'].schema;

const ROOTS: Record<string, RuleRoot> = {
  DeviceSpec: {
    document: 'provisioning.openapi.json',
    schema: schemas.DeviceSpec!,
    base: device(),
    accepts: zodCheck(DeviceSpec),
  },
  DeviceBody: {
    document: 'provisioning.openapi.json',
    schema: schemas.DeviceBody!,
    base: device(),
    accepts: zodCheck(DeviceBody),
  },
  GroupSpec: {
    document: 'provisioning.openapi.json',
    schema: schemas.GroupSpec!,
    base: group(),
    accepts: zodCheck(GroupSpec),
  },
  'bulk request': {
    document: 'provisioning.openapi.json',
    schema: bulkSchema,
    base: { devices: [device()] },
    // The service checks each item as a DeviceSpec (above) and the batch against its limit.
    accepts: (input) => (input.devices as unknown[]).length <= cfg.maxBatch,
  },
  'devices file': {
    document: 'devices.schema.json',
    schema: strip(devicesFileJsonSchema()),
    base: { tenant: 'manufracture', servicePaths: [{ path: '/floor1', devices: [device()] }] },
    accepts: zodCheck(DevicesFile),
  },
};

describe('the input rules the published documents state', () => {
  it('are where this file expects them: the bulk limit, every device field and the devices file', () => {
    expect(cfg.maxBatch).toBe(DEFAULT_MAX_BATCH);
    const keys = (root: string) => ruleSites(ROOTS[root]!.schema).map((s) => s.key);
    expect(keys('bulk request')).toEqual(['devices']);
    expect(keys('DeviceSpec')).toEqual(expect.arrayContaining(['device_id', 'attributes.name']));
    expect(keys('devices file')).toEqual(['tenant', 'servicePaths', 'servicePaths.path']);
  });
});

describePublishedRules('the input rules of provisioning.openapi.json and devices.schema.json', {
  roots: ROOTS,
  rules: RULES,
  items: ITEMS,
  refs: [{ $id: 'openapi', components: openapi.components }],
  rebase: (s) =>
    JSON.parse(JSON.stringify(s).replaceAll('"#/components/', '"openapi#/components/')),
});
