/**
 * The device model's time-zone check, which remembers the zones it has checked (building an
 * Intl.DateTimeFormat per device cost more than the rest of a bulk request's validation).
 */
import { describe, expect, it } from '@jest/globals';

import type { z } from 'zod';

import {
  DEFAULT_DEVICE_PROTOCOL,
  DEVICE_PROTOCOLS,
  iotAgentSpec,
} from '../../../platform/components.js';
import { PUBLIC_HOST_RULE } from '../../../platform/outbound.js';
import {
  Device,
  DeviceBody,
  DeviceSpec,
  EntityName,
  EntityType,
  GroupSpec,
  JsonValue,
  OBJECT_ID_RULES,
  Protocol,
  RESOURCES,
  WriteStatus,
} from '../src/model.js';
import { buildOpenApi } from '../src/openapi.js';

const device = (timezone: string) => ({
  device_id: 'dev1',
  entity_name: 'urn:ngsi:Bot:dev1',
  entity_type: 'Bot',
  timezone,
});

describe('a device time zone', () => {
  it('is refused every time when unknown, and accepted every time when known', () => {
    for (let i = 0; i < 3; i++) {
      expect(DeviceSpec.safeParse(device('Mars/Olympus')).success).toBe(false);
      expect(DeviceSpec.safeParse(device('Europe/Zurich')).success).toBe(true);
    }
  });

  it('keeps answering right past the bound of remembered zones', () => {
    for (let i = 0; i < 2100; i++) DeviceSpec.safeParse(device(`Nowhere/Zone${i}`));
    expect(DeviceSpec.safeParse(device('Nowhere/Zone2099')).success).toBe(false);
    expect(DeviceSpec.safeParse(device('America/New_York')).success).toBe(true);
  });
});

describe('NGSI-v2 identifiers (entity ids and types)', () => {
  // Every character the NGSI-v2 spec forbids in identifiers (whitespace, & ? / #) or anywhere in
  // a request (< > " ' = ; ( )), one at a time, plus a control and a non-ASCII character.
  const FORBIDDEN = [
    ' ',
    '\t',
    '&',
    '?',
    '/',
    '#',
    '<',
    '>',
    '"',
    "'",
    '=',
    ';',
    '(',
    ')',
    '\n',
    'é',
  ];

  it.each(FORBIDDEN.map((c) => [JSON.stringify(c), c]))(
    'refuses %s in an entity id and an entity type',
    (_label, c) => {
      expect(EntityName.safeParse(`urn:ngsi:Bot${c}1`).success).toBe(false);
      expect(EntityType.safeParse(`Bot${c}`).success).toBe(false);
    },
  );

  it('accepts every other printable ASCII character, and 1 to 256 of them', () => {
    const allowed = Array.from({ length: 0x7f - 0x21 }, (_, i) => String.fromCharCode(0x21 + i))
      .filter((c) => !FORBIDDEN.includes(c))
      .join('');
    expect(EntityName.safeParse(allowed).success).toBe(true);
    expect(EntityName.safeParse('x'.repeat(256)).success).toBe(true);
    expect(EntityName.safeParse('x'.repeat(257)).success).toBe(false);
    expect(EntityName.safeParse('').success).toBe(false);
  });
});

/** The issues of a refused value: [path, message] pairs. */
/** The issues of a value the schema must refuse. */
function refusal(schema: z.ZodType, value: unknown): z.core.$ZodIssue[] {
  const r = schema.safeParse(value);
  if (r.success) throw new Error(`accepted: ${JSON.stringify(value)}`);
  return r.error.issues;
}

function issuesOf(schema: z.ZodType, value: unknown): [string, string][] {
  return refusal(schema, value).map((i) => [i.path.join('.'), i.message]);
}

const NGSI_RULE =
  '1-256 printable ASCII characters without whitespace or any of & ? / # < > " \' = ; ( )';
const dev = (extra: Record<string, unknown>) => ({
  device_id: 'd1',
  entity_name: 'urn:ngsi:Bot:d1',
  entity_type: 'Bot',
  ...extra,
});
const attr = (name: string, objectId = name, type = 'Number') => ({
  object_id: objectId,
  name,
  type,
});

describe('what the model says about a refused device or group', () => {
  it.each<[string, Record<string, unknown>, [string, string][]]>([
    [
      'device id',
      { device_id: 'd 1' },
      [['device_id', 'device id: 1-128 characters of A-Z a-z 0-9 _ . : -']],
    ],
    ['entity id', { entity_name: 'a b' }, [['entity_name', `NGSI-v2 entity id: ${NGSI_RULE}`]]],
    ['entity type', { entity_type: 'B#' }, [['entity_type', `NGSI-v2 entity type: ${NGSI_RULE}`]]],
    ['API key', { apikey: 'k' }, [['apikey', 'API key: 4-64 characters of A-Z a-z 0-9 _ -']]],
    [
      'time zone',
      { timezone: 'Mars/Olympus' },
      [['timezone', 'an IANA time zone, e.g. Europe/Zurich']],
    ],
    [
      'attribute name reserved by Orion',
      { attributes: [attr('dateModified', 'm')] },
      [
        [
          'attributes.0.name',
          'reserved by Orion (id, type, dateCreated, dateModified, dateExpires, *)',
        ],
      ],
    ],
    [
      'attribute name',
      { attributes: [attr('a b', 'm')] },
      [['attributes.0.name', `NGSI-v2 attribute name: ${NGSI_RULE}`]],
    ],
    [
      'attribute type',
      { attributes: [attr('t', 't', 'a(b)')] },
      [['attributes.0.type', `NGSI-v2 attribute type: ${NGSI_RULE}`]],
    ],
    [
      'object id',
      { attributes: [attr('t', 'a b')] },
      [
        [
          'attributes.0.object_id',
          'object id: 1-64 printable ASCII characters without whitespace, " or \\',
        ],
      ],
    ],
    [
      'Ultralight object id',
      { protocol: 'ultralight', attributes: [attr('t', 'a|b')] },
      [['attributes.0.object_id', OBJECT_ID_RULES.ultralight.message]],
    ],
    [
      'a name used twice',
      {
        attributes: [attr('t')],
        static_attributes: [
          { name: 's', type: 'Text', value: 'x' },
          { name: 't', type: 'Text', value: 'y' },
        ],
        commands: [{ name: 's' }],
      },
      [
        ['static_attributes.1.name', 'attribute name "t" is already used by attributes[0]'],
        ['commands.0.name', 'attribute name "s" is already used by static_attributes[0]'],
      ],
    ],
    [
      'an object id used twice',
      { attributes: [attr('t1', 'x'), attr('t2', 'y'), attr('t3', 'x')] },
      [
        [
          'attributes.2.object_id',
          'object id "x" appears twice; each measurement name maps to one attribute',
        ],
      ],
    ],
    [
      'an endpoint that is not http(s)',
      { endpoint: 'ftp://device.example.com/cmd' },
      [['endpoint', 'an http(s) URL the IoT Agent pushes commands to']],
    ],
    [
      'an endpoint whose scheme only ends in http',
      { endpoint: 'xhttp://device.example.com/cmd' },
      [['endpoint', 'an http(s) URL the IoT Agent pushes commands to']],
    ],
    [
      'an endpoint whose scheme only starts with https',
      { endpoint: 'httpsx://device.example.com/cmd' },
      [['endpoint', 'an http(s) URL the IoT Agent pushes commands to']],
    ],
    [
      'an endpoint that is not a URL',
      { endpoint: 'device' },
      [['endpoint', 'an http(s) URL the IoT Agent pushes commands to']],
    ],
    [
      'an endpoint inside the cluster',
      { endpoint: 'http://10.0.0.7/cmd' },
      [['endpoint', PUBLIC_HOST_RULE]],
    ],
    ['an unknown field', { colour: 'red' }, [['', 'Unrecognized key: "colour"']]],
  ])('%s', (_what, extra, issues) => {
    expect(issuesOf(DeviceSpec, dev(extra))).toEqual(issues);
  });

  it('bounds the expected interval to whole seconds from 1 s to a week', () => {
    for (const ok of [1, 60, 7 * 24 * 3600]) {
      expect(DeviceSpec.safeParse(dev({ expected_interval: ok })).success).toBe(true);
    }
    for (const bad of [0, -1, 7 * 24 * 3600 + 1, 1.5]) {
      expect(issuesOf(DeviceSpec, dev({ expected_interval: bad })).map(([p]) => p)).toEqual([
        'expected_interval',
      ]);
    }
  });

  it('bounds the lists: 100 attributes, 100 static attributes, 50 commands', () => {
    const n = (k: number, f: (i: number) => unknown) => Array.from({ length: k }, (_, i) => f(i));
    const a = (i: number) => attr(`a${i}`);
    const s = (i: number) => ({ name: `s${i}`, type: 'Text', value: i });
    const c = (i: number) => ({ name: `c${i}` });
    expect(DeviceSpec.safeParse(dev({ attributes: n(100, a) })).success).toBe(true);
    expect(DeviceSpec.safeParse(dev({ static_attributes: n(100, s) })).success).toBe(true);
    expect(DeviceSpec.safeParse(dev({ commands: n(50, c) })).success).toBe(true);
    expect(issuesOf(DeviceSpec, dev({ attributes: n(101, a) }))[0]![0]).toBe('attributes');
    expect(issuesOf(DeviceSpec, dev({ static_attributes: n(101, s) }))[0]![0]).toBe(
      'static_attributes',
    );
    expect(issuesOf(DeviceSpec, dev({ commands: n(51, c) }))[0]![0]).toBe('commands');
    for (const [k, f, max] of [
      ['attributes', a, 101],
      ['static_attributes', s, 101],
      ['commands', c, 51],
    ] as const) {
      expect(GroupSpec.safeParse({ entity_type: 'X', [k]: n(max - 1, f) }).success).toBe(true);
      expect(GroupSpec.safeParse({ entity_type: 'X', [k]: n(max, f) }).success).toBe(false);
    }
  });

  it('narrows object ids by protocol: Ultralight refuses its separators, JSON takes them', () => {
    for (const c of ['|', '@', '#', '/', '$']) {
      const item = dev({ attributes: [attr('t', `a${c}b`)] });
      expect(DeviceSpec.safeParse({ ...item, protocol: 'ultralight' }).success).toBe(false);
      expect(DeviceSpec.safeParse({ ...item, protocol: 'json' }).success).toBe(true);
    }
    expect(OBJECT_ID_RULES.ultralight.pattern.test('a'.repeat(64))).toBe(true);
    expect(OBJECT_ID_RULES.ultralight.pattern.test('a'.repeat(65))).toBe(false);
    expect(OBJECT_ID_RULES.json.pattern.test('a'.repeat(64))).toBe(true);
    expect(OBJECT_ID_RULES.json.pattern.test('a'.repeat(65))).toBe(false);
    expect(OBJECT_ID_RULES.json.message).toBe(
      'JSON object id: 1-64 printable ASCII characters without whitespace, " or \\',
    );
  });

  it('fills the defaults of a device and a group, and keeps what is given', () => {
    expect(DeviceSpec.parse(dev({}))).toEqual({
      ...dev({}),
      protocol: DEFAULT_DEVICE_PROTOCOL,
      attributes: [],
      static_attributes: [],
      commands: [],
    });
    expect(DeviceSpec.parse(dev({ commands: [{ name: 'ping' }] })).commands).toEqual([
      { name: 'ping', type: 'command' },
    ]);
    expect(GroupSpec.parse({ entity_type: 'X' })).toEqual({
      entity_type: 'X',
      protocol: DEFAULT_DEVICE_PROTOCOL,
      attributes: [],
      static_attributes: [],
      commands: [],
      autoprovision: false,
    });
    expect(
      GroupSpec.parse({ entity_type: 'X', protocol: 'json', autoprovision: true }),
    ).toMatchObject({
      protocol: 'json',
      autoprovision: true,
    });
    expect(DeviceBody.parse({ entity_name: 'urn:x', entity_type: 'X' })).not.toHaveProperty(
      'device_id',
    );
  });

  it("refuses a group's resource that is not its protocol's, naming the right one", () => {
    for (const protocol of DEVICE_PROTOCOLS) {
      const own = iotAgentSpec(protocol).resource;
      expect(RESOURCES[protocol]).toBe(own);
      expect(GroupSpec.safeParse({ entity_type: 'X', protocol, resource: own }).success).toBe(true);
      for (const other of DEVICE_PROTOCOLS.filter((p) => p !== protocol)) {
        expect(
          issuesOf(GroupSpec, { entity_type: 'X', protocol, resource: RESOURCES[other] }),
        ).toEqual([['resource', `a ${protocol} group's resource is ${own}`]]);
      }
    }
    expect(GroupSpec.safeParse({ entity_type: 'X', resource: '/iot/other' }).success).toBe(false);
  });

  it('checks names across a group too, and says which entry came first', () => {
    expect(
      issuesOf(GroupSpec, {
        entity_type: 'X',
        attributes: [attr('t', 'a'), attr('u', 'b')],
        commands: [{ name: 'u' }],
      }),
    ).toEqual([['commands.0.name', 'attribute name "u" is already used by attributes[1]']]);
  });

  it('takes any JSON value as a static value, and nothing else', () => {
    const value = { a: [1, 'two', null, true, { b: [] }] };
    expect(
      DeviceSpec.parse(dev({ static_attributes: [{ name: 's', type: 'X', value }] }))
        .static_attributes[0]!.value,
    ).toEqual(value);
    for (const bad of [undefined, () => 1, new Date(0), { a: undefined }]) {
      expect(JsonValue.safeParse(bad).success).toBe(false);
    }
  });

  it('answers devices with their protocol always set, and write statuses as documented', () => {
    const out = {
      ...dev({}),
      service: 'm',
      service_path: '/',
      attributes: [],
      static_attributes: [],
      commands: [],
    };
    expect(Device.safeParse(out).success).toBe(false);
    expect(Device.safeParse({ ...out, protocol: 'json' }).success).toBe(true);
    expect(WriteStatus.options).toEqual(['created', 'updated', 'unchanged', 'failed']);
  });

  it("describes the protocols by their agents' labels and resources", () => {
    for (const p of DEVICE_PROTOCOLS) {
      expect(Protocol.description).toContain(
        `${p} (${iotAgentSpec(p).label}, south resource ${iotAgentSpec(p).resource})`,
      );
    }
  });
});

describe("the model's own refusals, as zod issues", () => {
  // Callers that read the issues themselves (an editor plugin, a test) tell them by code.
  it('are custom issues at the field at fault', () => {
    const codes = (schema: z.ZodType, value: unknown) =>
      refusal(schema, value).map((i) => [i.code, i.path.join('.')]);
    expect(
      codes(
        DeviceSpec,
        dev({
          protocol: 'ultralight',
          attributes: [attr('t1', 'a|b'), attr('t2', 'x'), attr('t1', 'x')],
        }),
      ),
    ).toEqual([
      ['custom', 'attributes.0.object_id'],
      ['custom', 'attributes.2.name'],
      ['custom', 'attributes.2.object_id'],
    ]);
    expect(codes(GroupSpec, { entity_type: 'X', protocol: 'json', resource: '/iot/d' })).toEqual([
      ['custom', 'resource'],
    ]);
  });
});

describe('the device and group fields as the published OpenAPI document states them', () => {
  const schemas = (
    buildOpenApi({ maxBatch: 10 }) as { components: { schemas: Record<string, any> } }
  ).components.schemas;
  const field = (schema: string, name: string) => schemas[schema]!.properties[name];

  it('says what the fields a client may not guess mean', () => {
    const protocols = DEVICE_PROTOCOLS.map(
      (p) => `${p} (${iotAgentSpec(p).label}, south resource ${iotAgentSpec(p).resource})`,
    ).join(', ');
    expect(field('GroupSpec', 'protocol').description).toBe(
      `The device protocol, which decides the IoT Agent: ${protocols}`,
    );
    expect(field('DeviceSpec', 'protocol').description).toMatch(
      new RegExp(
        `^The device protocol, which decides the IoT Agent: .+\\. A new device without one is ${DEFAULT_DEVICE_PROTOCOL};`,
      ),
    );
    for (const [schema, name, words] of [
      ['DeviceSpec', 'entity_name', /Orion entity/],
      ['DeviceSpec', 'apikey', /service group/],
      ['DeviceSpec', 'endpoint', /Push commands/],
      ['DeviceSpec', 'expected_interval', /stale/],
      ['GroupSpec', 'resource', /follows from the protocol/],
      ['GroupSpec', 'apikey', /Generated \(24 random base64url characters\)/],
      ['GroupSpec', 'autoprovision', /Off by default/],
      ['Group', 'apikey', /left out for callers that may only read/],
    ] as const) {
      expect([schema, name, field(schema, name).description]).toEqual([
        schema,
        name,
        expect.stringMatching(words),
      ]);
    }
    expect(field('DeviceSpec', 'attributes').items.properties.object_id.description).toMatch(
      /Name of the measurement in the payload/,
    );
  });

  it('gives examples a client can copy: each one valid for its own field', () => {
    const examples: [string, string, z.ZodType][] = [
      ['DeviceSpec', 'device_id', DeviceSpec],
      ['DeviceSpec', 'entity_name', DeviceSpec],
      ['DeviceSpec', 'entity_type', DeviceSpec],
      ['DeviceSpec', 'timezone', DeviceSpec],
      ['GroupSpec', 'entity_type', GroupSpec],
      ['GroupSpec', 'timezone', GroupSpec],
    ];
    for (const [schema, name, zod] of examples) {
      const given = field(schema, name).examples as unknown[];
      expect([schema, name, given.length]).toEqual([schema, name, 1]);
      const base = schema === 'DeviceSpec' ? dev({}) : { entity_type: 'Bot' };
      expect([schema, name, zod.safeParse({ ...base, [name]: given[0] }).success]).toEqual([
        schema,
        name,
        true,
      ]);
    }
    expect(field('DeviceSpec', 'device_id').examples).toEqual(['foodev']);
    expect(field('DeviceSpec', 'timezone').examples).toEqual(['Europe/Zurich']);
    expect(field('DeviceSpec', 'entity_name').examples).toEqual(['urn:ngsi:bot:1']);
    expect(field('GroupSpec', 'entity_type').examples).toEqual(['Bot']);
  });
});
