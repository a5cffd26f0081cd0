/**
 * Devices as code: one file (YAML or JSON) per tenant with its service groups and devices,
 * applied by `npm run provision -- -f <file>`. docs/devices-as-code.md describes it and
 * docs/devices.schema.json (generated from this schema) lets editors validate it.
 */
import { readFileSync } from 'node:fs';

import { parse as parseYaml } from 'yaml';
import { z } from 'zod';

import { provisioningError } from './errors.js';
import { DeviceSpec, GroupSpec, SERVICE_NAME, SERVICE_PATH } from './model.js';
import type { GroupSpec as Group } from './model.js';
import { fieldErrors } from './provisioner.js';

/** One service path of the tenant: its groups (one per protocol) and its devices. */
const ServicePathEntry = z
  .strictObject({
    path: z
      .string()
      .regex(
        SERVICE_PATH,
        'an absolute service path of at most 10 levels of A-Z a-z 0-9 _ (e.g. /floor1)',
      )
      .meta({
        description: 'The fiware-servicepath of the group and devices',
        examples: ['/floor1'],
      }),
    group: GroupSpec.optional().meta({
      description: 'The service group (API key) of this path, when it has one protocol',
    }),
    groups: z
      .array(GroupSpec)
      .optional()
      .meta({ description: 'The service groups of this path, one per protocol' }),
    devices: z.array(DeviceSpec).default([]),
  })
  .superRefine((entry, ctx) => {
    if (entry.group && entry.groups)
      ctx.addIssue({
        code: 'custom',
        path: ['groups'],
        message: 'give either group or groups, not both',
      });
    const protocols = new Map<string, number>();
    (entry.groups ?? []).forEach((g, i) => {
      const first = protocols.get(g.protocol);
      if (first !== undefined)
        ctx.addIssue({
          code: 'custom',
          path: ['groups', i, 'protocol'],
          message: `a second ${g.protocol} group (groups[${first}] is one); a path has one group per protocol`,
        });
      else protocols.set(g.protocol, i);
    });
    const seen = new Map<string, number>();
    entry.devices.forEach((d, i) => {
      const first = seen.get(d.device_id);
      if (first !== undefined) {
        ctx.addIssue({
          code: 'custom',
          path: ['devices', i, 'device_id'],
          message: `device "${d.device_id}" is listed twice under ${entry.path} (first as devices[${first}]); list each device once per service path`,
        });
      } else seen.set(d.device_id, i);
    });
  });

/** The file. */
export const DevicesFile = z
  .strictObject({
    $schema: z.string().optional(),
    tenant: z
      .string()
      .regex(SERVICE_NAME, 'a tenant (fiware-service): 1-50 characters of A-Z a-z 0-9 _')
      .meta({ examples: ['manufracture'] }),
    quantumleapSubscription: z.boolean().default(false).meta({
      description:
        "Ensure the tenant's subscription that feeds QuantumLeap (needs the tenant-admin role)",
    }),
    servicePaths: z.array(ServicePathEntry).min(1),
  })
  .superRefine((file, ctx) => {
    const seen = new Map<string, number>();
    file.servicePaths.forEach((p, i) => {
      const first = seen.get(p.path);
      if (first !== undefined)
        ctx.addIssue({
          code: 'custom',
          path: ['servicePaths', i, 'path'],
          message: `service path ${p.path} is listed twice (first as servicePaths[${first}]); list it once, with all its groups and devices`,
        });
      else seen.set(p.path, i);
    });
  })
  .meta({
    title: 'kitt4sme devices file',
    description:
      'Service groups and devices of one tenant, applied with `npm run provision -- -f <file>`',
  });
export type DevicesFile = z.infer<typeof DevicesFile>;

/** The groups of a service path of a file: `groups`, or its one `group`. */
export function groupsOf(entry: DevicesFile['servicePaths'][number]): Group[] {
  return entry.groups ?? (entry.group ? [entry.group] : []);
}

/** The JSON Schema of the file (input form: defaults are optional). */
export function devicesFileJsonSchema(): Record<string, unknown> {
  return z.toJSONSchema(DevicesFile, { io: 'input', unrepresentable: 'any' }) as Record<
    string,
    unknown
  >;
}

/**
 * Reads and validates a devices file.
 *
 * @throws PlatformError ERR_PROVISION_FILE naming the file, the field and the rule.
 */
export function readDevicesFile(path: string): DevicesFile {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw provisioningError(
      'ERR_PROVISION_FILE',
      `cannot read ${path}: ${(err as Error).message}`,
      err,
    );
  }
  let raw: unknown;
  try {
    raw = path.endsWith('.json') ? JSON.parse(text) : parseYaml(text, { prettyErrors: true });
  } catch (err) {
    throw provisioningError(
      'ERR_PROVISION_FILE',
      `${path} is not valid ${path.endsWith('.json') ? 'JSON' : 'YAML'}: ${(err as Error).message}`,
      err,
    );
  }
  const parsed = DevicesFile.safeParse(raw);
  if (!parsed.success) {
    const lines = fieldErrors(parsed.error).map((e) => `${e.field}: ${e.message}`);
    throw provisioningError(
      'ERR_PROVISION_FILE',
      `${path} does not follow the devices format:\n  ${lines.join('\n  ')}`,
    );
  }
  return parsed.data;
}
