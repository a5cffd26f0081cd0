/**
 * The provisioning model: service groups and devices as the service accepts them, validated
 * with zod against the NGSI-v2 identifier rules and the IoT Agent's device model.
 *
 * The same schemas produce the OpenAPI components (openapi.ts) and the devices-as-code JSON
 * Schema (devices-file.ts), so the documents cannot drift from what is enforced.
 *
 * @see https://fiware.github.io/specifications/ngsiv2/stable/ (Field syntax restrictions)
 * @see https://iotagent-node-lib.readthedocs.io/en/latest/api.html (device and group model)
 */
import { z } from 'zod';

import { API_KEY_PATTERN } from '../../../platform/tenancy.js';
import { PUBLIC_HOST_RULE, isPublicHost } from '../../../platform/outbound.js';
import type { DeviceProtocol } from '../../../platform/components.js';
import {
  DEFAULT_DEVICE_PROTOCOL,
  DEVICE_PROTOCOLS,
  iotAgentSpec,
} from '../../../platform/components.js';

/**
 * NGSI-v2 field syntax: 1-256 printable ASCII characters, none of the characters the spec
 * forbids in identifiers (whitespace, `&?/#`) or anywhere in a request (`<>"'=;()`).
 */
const NGSI_IDENTIFIER = /^[!$%*+,\-.0-9:@A-Z[\\\]^_`a-z{|}~]{1,256}$/;
/** Attribute names Orion reserves for itself. */
const RESERVED_ATTRIBUTES = new Set([
  'id',
  'type',
  'dateCreated',
  'dateModified',
  'dateExpires',
  '*',
]);
/**
 * What a measurement's name (`object_id`) may be in each protocol. Any: a JSON key of printable
 * ASCII without whitespace, quotes or backslashes; Ultralight 2.0 also separates fields with
 * `|`, values with `@` and groups with `#`, so its names are narrower.
 */
const OBJECT_ID = /^[!#-[\]-~]{1,64}$/;
export const OBJECT_ID_RULES: Readonly<
  Record<DeviceProtocol, { readonly pattern: RegExp; readonly message: string }>
> = {
  ultralight: {
    pattern: /^[A-Za-z0-9_.:-]{1,64}$/,
    message:
      'Ultralight object id: 1-64 characters of A-Z a-z 0-9 _ . : - (Ultralight separates fields with |, values with @ and groups with #)',
  },
  json: {
    pattern: OBJECT_ID,
    message: 'JSON object id: 1-64 printable ASCII characters without whitespace, " or \\',
  },
};
/** The device protocols, as the IoT Agents of the registry speak them. */
export const Protocol = z
  .enum(DEVICE_PROTOCOLS)
  .default(DEFAULT_DEVICE_PROTOCOL)
  .meta({
    description: `The device protocol, which decides the IoT Agent: ${DEVICE_PROTOCOLS.map((p) => `${p} (${iotAgentSpec(p).label}, south resource ${iotAgentSpec(p).resource})`).join(', ')}`,
  });
/** The HTTP resource of each protocol's south API (`IOTA_DEFAULT_RESOURCE`). */
export const RESOURCES = Object.fromEntries(
  DEVICE_PROTOCOLS.map((p) => [p, iotAgentSpec(p).resource]),
) as Readonly<Record<DeviceProtocol, string>>;
/** A device id the IoT Agent, Ultralight's `i=` parameter and a URL path all carry as is. */
const DEVICE_ID = /^[A-Za-z0-9_.:-]{1,128}$/;
/** Orion: a service name is 1-50 characters of `[A-Za-z0-9_]`, compared in lower case. */
export const SERVICE_NAME = /^[A-Za-z0-9_]{1,50}$/;
/** Orion: an absolute path of at most 10 levels, each 1-50 characters of `[A-Za-z0-9_]`. */
export const SERVICE_PATH = /^\/$|^(\/[A-Za-z0-9_]{1,50}){1,10}$/;

const ngsiId = (what: string) =>
  z
    .string()
    .regex(
      NGSI_IDENTIFIER,
      `${what}: 1-256 printable ASCII characters without whitespace or any of & ? / # < > " ' = ; ( )`,
    );

export const EntityName = ngsiId('NGSI-v2 entity id').meta({
  description: 'Id of the Orion entity the device feeds (NGSI-v2 identifier rules)',
  examples: ['urn:ngsi:bot:1'],
});
export const EntityType = ngsiId('NGSI-v2 entity type').meta({ examples: ['Bot'] });
const AttributeName = ngsiId('NGSI-v2 attribute name').refine((n) => !RESERVED_ATTRIBUTES.has(n), {
  message: 'reserved by Orion (id, type, dateCreated, dateModified, dateExpires, *)',
});
const AttributeType = ngsiId('NGSI-v2 attribute type');

export const DeviceId = z
  .string()
  .regex(DEVICE_ID, 'device id: 1-128 characters of A-Z a-z 0-9 _ . : -')
  .meta({ examples: ['foodev'] });
/** An API key (Ultralight's `k=`), generated as 24 base64url characters when not given. */
export const ApiKey = z
  .string()
  .regex(API_KEY_PATTERN, 'API key: 4-64 characters of A-Z a-z 0-9 _ -');
/** Time zones already checked: building an Intl.DateTimeFormat costs more than the rest of a device. */
const KNOWN_ZONES = new Map<string, boolean>();

/** Whether `tz` is a time zone this runtime knows (IANA name or offset). */
function isTimeZone(tz: string): boolean {
  let known = KNOWN_ZONES.get(tz);
  if (known === undefined) {
    try {
      new Intl.DateTimeFormat('en', { timeZone: tz });
      known = true;
    } catch {
      known = false;
    }
    // Bounded: the IANA database has some 600 names; a flood of invalid ones is not kept.
    if (KNOWN_ZONES.size < 2048) KNOWN_ZONES.set(tz, known);
  }
  return known;
}

const Timezone = z
  .string()
  .refine(isTimeZone, 'an IANA time zone, e.g. Europe/Zurich')
  .meta({ examples: ['Europe/Zurich'] });

/** A measured attribute: Ultralight's `object_id` mapped onto an entity attribute. */
export const Attribute = z.strictObject({
  object_id: z
    .string()
    .regex(OBJECT_ID, 'object id: 1-64 printable ASCII characters without whitespace, " or \\')
    .meta({
      description:
        'Name of the measurement in the payload (`f` in Ultralight `f|3`, `"f"` in JSON `{"f": 3}`); each protocol narrows it',
    }),
  name: AttributeName,
  type: AttributeType,
});
export type Attribute = z.infer<typeof Attribute>;

/** A JSON value. */
export type Json = string | number | boolean | null | Json[] | { [key: string]: Json };
/** Any JSON value (a static attribute's value); named, so documents can refer to it. */
export const JsonValue: z.ZodType<Json> = z
  .lazy(() =>
    z.union([
      z.string(),
      z.number(),
      z.boolean(),
      z.null(),
      z.array(JsonValue),
      z.record(z.string(), JsonValue),
    ]),
  )
  .meta({ id: 'JsonValue' });

/** A static attribute: the same value on every update of the entity. */
export const StaticAttribute = z.strictObject({
  name: AttributeName,
  type: AttributeType,
  value: JsonValue,
});
export type StaticAttribute = z.infer<typeof StaticAttribute>;

/** A command Orion forwards to the device through the IoT Agent. */
export const Command = z.strictObject({
  name: AttributeName,
  type: z.literal('command').default('command'),
});
export type Command = z.infer<typeof Command>;

/**
 * Names must be unique across a device's attributes, static attributes and commands, and
 * each measurement name must be one its protocol can carry.
 */
function uniqueNames(
  d: {
    protocol: DeviceProtocol;
    attributes: Attribute[];
    static_attributes: StaticAttribute[];
    commands: Command[];
  },
  ctx: z.RefinementCtx,
): void {
  const rule = OBJECT_ID_RULES[d.protocol];
  d.attributes.forEach((a, i) => {
    // An object id the general rule refused already has its message: one per fault.
    if (OBJECT_ID.test(a.object_id) && !rule.pattern.test(a.object_id))
      ctx.addIssue({ code: 'custom', path: ['attributes', i, 'object_id'], message: rule.message });
  });
  const seen = new Map<string, string>();
  for (const list of ['attributes', 'static_attributes', 'commands'] as const) {
    d[list].forEach((a, i) => {
      const first = seen.get(a.name);
      if (first) {
        ctx.addIssue({
          code: 'custom',
          path: [list, i, 'name'],
          message: `attribute name "${a.name}" is already used by ${first}`,
        });
      } else seen.set(a.name, `${list}[${i}]`);
    });
  }
  const objectIds = new Set<string>();
  d.attributes.forEach((a, i) => {
    if (objectIds.has(a.object_id)) {
      ctx.addIssue({
        code: 'custom',
        path: ['attributes', i, 'object_id'],
        message: `object id "${a.object_id}" appears twice; each measurement name maps to one attribute`,
      });
    }
    objectIds.add(a.object_id);
  });
}

const deviceFields = {
  protocol: Protocol.meta({
    description: `${Protocol.description}. A new device without one is ${DEFAULT_DEVICE_PROTOCOL}; an existing device moves to another protocol's agent only when the item names that protocol (without one, an item for a device of another protocol fails with ERR_PROVISIONING_CONFLICT)`,
  }),
  entity_name: EntityName,
  entity_type: EntityType,
  timezone: Timezone.optional(),
  apikey: ApiKey.optional().meta({
    description:
      'API key of the service group the device belongs to; when omitted the device is found through the group of its service path',
  }),
  attributes: z.array(Attribute).max(100).default([]),
  static_attributes: z.array(StaticAttribute).max(100).default([]),
  commands: z.array(Command).max(50).default([]),
  endpoint: z
    .url({ protocol: /^https?$/, error: 'an http(s) URL the IoT Agent pushes commands to' })
    // Zod runs the refinement on a value the URL check refused too: only a URL is judged.
    .refine((u) => !URL.canParse(u) || isPublicHost(u), { message: PUBLIC_HOST_RULE })
    .optional()
    .meta({ description: 'Push commands to this URL; without it the device polls for them' }),
  expected_interval: z
    .number()
    .int()
    .min(1)
    .max(7 * 24 * 3600)
    .optional()
    .meta({
      description:
        'Seconds between two measurements of a healthy device; the inventory calls the device stale after N of them without data',
    }),
};

/** A device, as PUT /devices/{id} takes it (the id is in the path). */
export const DeviceBody = z
  .strictObject({ device_id: DeviceId.optional(), ...deviceFields })
  .superRefine(uniqueNames);
export type DeviceBody = z.infer<typeof DeviceBody>;

/** A device with its id, as bulk requests and the devices file carry it. */
export const DeviceSpec = z
  .strictObject({ device_id: DeviceId, ...deviceFields })
  .superRefine(uniqueNames)
  .meta({ id: 'DeviceSpec' });
export type DeviceSpec = z.infer<typeof DeviceSpec>;

/** A provisioned device, as the service returns it. */
export const Device = z.object({
  device_id: DeviceId,
  service: z.string(),
  service_path: z.string(),
  ...deviceFields,
  protocol: z.enum(DEVICE_PROTOCOLS),
});
export type Device = z.infer<typeof Device>;

/** A service group: the API key and defaults of the devices of one service path. */
export const GroupSpec = z
  .strictObject({
    protocol: Protocol,
    resource: z
      .enum(Object.values(RESOURCES) as [string, ...string[]])
      .optional()
      .meta({
        description:
          "The HTTP resource of the group's devices; it follows from the protocol, so give it only to say the same",
      }),
    apikey: ApiKey.optional().meta({
      description:
        'Generated (24 random base64url characters) when omitted and no group exists yet',
    }),
    entity_type: EntityType,
    timezone: Timezone.optional(),
    attributes: z.array(Attribute).max(100).default([]),
    static_attributes: z.array(StaticAttribute).max(100).default([]),
    commands: z.array(Command).max(50).default([]),
    autoprovision: z.boolean().default(false).meta({
      description:
        'Let unknown device ids with this API key create entities. Off by default: only provisioned devices may send data',
    }),
  })
  .superRefine((g, ctx) => {
    uniqueNames(g, ctx);
    if (g.resource !== undefined && g.resource !== RESOURCES[g.protocol])
      ctx.addIssue({
        code: 'custom',
        path: ['resource'],
        message: `a ${g.protocol} group's resource is ${RESOURCES[g.protocol]}`,
      });
  })
  .meta({ id: 'GroupSpec' });
export type GroupSpec = z.infer<typeof GroupSpec>;

/** A provisioned group, as the service returns it (the API key only to operators and admins). */
export const Group = z.object({
  service: z.string(),
  service_path: z.string(),
  protocol: z.enum(DEVICE_PROTOCOLS),
  resource: z.string(),
  apikey: z.string().optional().meta({
    description:
      'API key of the service group (the `k` parameter); left out for callers that may only read',
  }),
  entity_type: z.string(),
  timezone: z.string().optional(),
  attributes: z.array(Attribute),
  static_attributes: z.array(StaticAttribute),
  commands: z.array(Command),
  autoprovision: z.boolean(),
});
export type Group = z.infer<typeof Group>;

/** What a write did. */
export const WriteStatus = z.enum(['created', 'updated', 'unchanged', 'failed']);
export type WriteStatus = z.infer<typeof WriteStatus>;
