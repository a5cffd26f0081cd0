/**
 * The devices file (`npm run provision -- -f`): what it refuses before any call, each at the
 * field it names: a service path listed twice, a device id twice within a path, two groups of
 * one protocol on a path. The same device id on two paths is two devices, and is accepted.
 * Reading it: YAML or JSON by the file's name, and the error for a file that cannot be read,
 * does not parse or breaks the format; and the groups a path's entry gives.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { describe, expect, it } from '@jest/globals';

import type { PlatformError } from '../../../platform/errors.js';
import { PROVISIONING_ERRORS } from '../src/errors.js';
import {
  DevicesFile,
  devicesFileJsonSchema,
  groupsOf,
  readDevicesFile,
} from '../src/devices-file.js';

const device = (device_id: string) => ({
  device_id,
  entity_name: `urn:ngsi:Bot:${device_id}`,
  entity_type: 'Bot',
});
const file = (servicePaths: unknown[]) => ({ tenant: 'manufracture', servicePaths });
const problems = (f: unknown) => {
  const r = DevicesFile.safeParse(f);
  return r.success ? [] : r.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`);
};

describe('the devices file', () => {
  it('accepts distinct paths and the same device id on two paths', () => {
    expect(
      problems(
        file([
          { path: '/floor1', group: { entity_type: 'Bot' }, devices: [device('d1'), device('d2')] },
          { path: '/floor2', group: { entity_type: 'Bot' }, devices: [device('d1')] },
        ]),
      ),
    ).toEqual([]);
  });

  it('refuses a service path listed twice, naming the second', () => {
    expect(
      problems(
        file([
          { path: '/floor1', group: { entity_type: 'Bot' }, devices: [device('d1')] },
          { path: '/floor2', group: { entity_type: 'Bot' }, devices: [device('d2')] },
          { path: '/floor1', group: { entity_type: 'Bot' }, devices: [device('d3')] },
        ]),
      ),
    ).toEqual([
      'servicePaths.2.path: service path /floor1 is listed twice (first as servicePaths[0]); list it once, with all its groups and devices',
    ]);
  });

  it('refuses a device id twice within a path, naming the first', () => {
    expect(
      problems(
        file([
          {
            path: '/floor1',
            group: { entity_type: 'Bot' },
            devices: [device('d1'), device('d2'), device('d1')],
          },
        ]),
      ),
    ).toEqual([
      'servicePaths.0.devices.2.device_id: device "d1" is listed twice under /floor1 (first as devices[0]); list each device once per service path',
    ]);
  });

  it('refuses two groups of one protocol on a path', () => {
    expect(
      problems(
        file([
          {
            path: '/floor1',
            groups: [
              { protocol: 'ultralight', entity_type: 'Bot' },
              { protocol: 'ultralight', entity_type: 'Other' },
            ],
            devices: [device('d1')],
          },
        ]),
      ),
    ).toEqual([
      'servicePaths.0.groups.1.protocol: a second ultralight group (groups[0] is one); a path has one group per protocol',
    ]);
  });

  it('fails reading a file with both duplicates, naming the file, each field and the fix', () => {
    const dir = mkdtempSync(join(tmpdir(), 'devices-file-'));
    const path = join(dir, 'manufracture.devices.yaml');
    writeFileSync(
      path,
      [
        'tenant: manufracture',
        'servicePaths:',
        '  - path: /floor1',
        '    devices:',
        '      - { device_id: d1, entity_name: "urn:ngsi:Bot:d1", entity_type: Bot }',
        '      - { device_id: d1, entity_name: "urn:ngsi:Bot:d1b", entity_type: Bot }',
        '  - path: /floor1',
        '    devices: []',
        '',
      ].join('\n'),
    );
    try {
      let thrown: unknown;
      try {
        readDevicesFile(path);
      } catch (err) {
        thrown = err;
      }
      expect((thrown as PlatformError).code).toBe('ERR_PROVISION_FILE');
      expect((thrown as Error).message).toBe(
        [
          `${path} does not follow the devices format:`,
          '  servicePaths[0].devices[1].device_id: device "d1" is listed twice under /floor1 (first as devices[0]); list each device once per service path',
          '  servicePaths[1].path: service path /floor1 is listed twice (first as servicePaths[0]); list it once, with all its groups and devices',
        ].join('\n'),
      );
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('reading a devices file', () => {
  /** Writes `text` as `name` in a fresh folder and reads it; the error, or the file. */
  function read(
    name: string,
    text: string | undefined,
  ): { file?: DevicesFile; err?: PlatformError; path: string } {
    const dir = mkdtempSync(join(tmpdir(), 'devices-file-'));
    const path = join(dir, name);
    if (text !== undefined) writeFileSync(path, text);
    try {
      return { file: readDevicesFile(path), path };
    } catch (err) {
      return { err: err as PlatformError, path };
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }
  const YAML = ['tenant: manufracture', 'servicePaths:', '  - path: /floor1', ''].join('\n');

  it('reads YAML, and JSON when the name ends in .json, filling the defaults', () => {
    const expected = {
      tenant: 'manufracture',
      quantumleapSubscription: false,
      servicePaths: [{ path: '/floor1', devices: [] }],
    };
    expect(read('m.devices.yaml', YAML).file).toEqual(expected);
    expect(read('m.devices.yml', YAML).file).toEqual(expected);
    const json = JSON.stringify({ tenant: 'manufracture', servicePaths: [{ path: '/floor1' }] });
    expect(read('m.devices.json', json).file).toEqual(expected);
  });

  it('says a file that cannot be read, with the reason and the fix', () => {
    const { err, path } = read('missing.yaml', undefined);
    expect(err?.code).toBe('ERR_PROVISION_FILE');
    expect(err?.message).toMatch(new RegExp(`^cannot read ${path}: ENOENT`));
    expect(err?.fix).toBe(PROVISIONING_ERRORS.ERR_PROVISION_FILE.fix);
    expect((err?.cause as NodeJS.ErrnoException).code).toBe('ENOENT');
  });

  it('says which syntax a file breaks: JSON for .json, YAML for the rest', () => {
    const json = read('m.devices.json', YAML);
    expect(json.err?.code).toBe('ERR_PROVISION_FILE');
    expect(json.err?.message).toMatch(new RegExp(`^${json.path} is not valid JSON: `));
    expect(json.err?.cause).toBeInstanceOf(SyntaxError);
    const yaml = read('m.devices.yaml', 'tenant: [manufracture\n');
    expect(yaml.err?.code).toBe('ERR_PROVISION_FILE');
    expect(yaml.err?.message).toMatch(new RegExp(`^${yaml.path} is not valid YAML: .+`));
    // Where, as the YAML parser's pretty errors say it: the line and column of the fault.
    expect(yaml.err?.message).toMatch(/at line 2, column 1:/);
    // A JSON file is valid YAML: it is read whatever its name.
    expect(
      read('m.devices.yaml', '{"tenant": "m", "servicePaths": [{"path": "/"}]}').file?.tenant,
    ).toBe('m');
  });

  it('says what breaks the format: the tenant, an empty list, a bad path, an unknown field', () => {
    const { err } = read(
      'm.devices.yaml',
      ['tenant: manu-fracture', 'servicePaths: []', 'colour: red', ''].join('\n'),
    );
    expect(err?.message.split('\n').slice(1)).toEqual([
      '  tenant: a tenant (fiware-service): 1-50 characters of A-Z a-z 0-9 _',
      '  servicePaths: Too small: expected array to have >=1 items',
      '  colour: unknown field',
    ]);
    const path = read(
      'm.devices.yaml',
      ['tenant: m', 'servicePaths:', '  - path: floor1', ''].join('\n'),
    );
    expect(path.err?.message).toContain(
      'servicePaths[0].path: an absolute service path of at most 10 levels of A-Z a-z 0-9 _ (e.g. /floor1)',
    );
  });
});

describe('the groups of a service path', () => {
  const parse = (entry: Record<string, unknown>) =>
    DevicesFile.parse({ tenant: 'm', servicePaths: [{ path: '/', ...entry }] }).servicePaths[0]!;

  it('are its groups, or its one group, or none', () => {
    expect(groupsOf(parse({}))).toEqual([]);
    const one = groupsOf(parse({ group: { entity_type: 'Bot' } }));
    expect(one).toHaveLength(1);
    expect(one[0]).toMatchObject({ entity_type: 'Bot', protocol: 'ultralight' });
    const two = groupsOf(
      parse({ groups: [{ entity_type: 'A' }, { entity_type: 'B', protocol: 'json' }] }),
    );
    expect(two.map((g) => [g.entity_type, g.protocol])).toEqual([
      ['A', 'ultralight'],
      ['B', 'json'],
    ]);
  });

  it('are given one way: group or groups, not both', () => {
    expect(
      problems(file([{ path: '/', group: { entity_type: 'A' }, groups: [{ entity_type: 'B' }] }])),
    ).toEqual(['servicePaths.0.groups: give either group or groups, not both']);
  });
});

describe('the devices file as an editor sees it (its published JSON Schema)', () => {
  const schema = devicesFileJsonSchema() as any;
  const entry = schema.properties.servicePaths.items;

  it('titles and describes the file and every field a person writes', () => {
    expect(schema.title).toBe('kitt4sme devices file');
    expect(schema.description).toMatch(/npm run provision -- -f <file>/);
    for (const field of [
      schema.properties.quantumleapSubscription,
      entry.properties.path,
      entry.properties.group,
      entry.properties.groups,
    ]) {
      expect(field.description).toMatch(/\w{3,}/);
    }
    expect(schema.properties.quantumleapSubscription.description).toMatch(/QuantumLeap/);
    expect(entry.properties.group.description).toMatch(/one protocol/);
    expect(entry.properties.groups.description).toMatch(/one per protocol/);
  });

  it('gives examples of a tenant and a service path', () => {
    expect(schema.properties.tenant.examples).toEqual(['manufracture']);
    expect(entry.properties.path.examples).toEqual(['/floor1']);
  });
});

describe('the refusals of a devices file, as zod issues', () => {
  // Callers other than readDevicesFile (an editor plugin, a test) read the issues themselves.
  it('are custom issues at the field at fault', () => {
    const r = DevicesFile.safeParse(
      file([
        {
          path: '/a',
          group: { entity_type: 'Bot' },
          groups: [
            { entity_type: 'Bot', protocol: 'json' },
            { entity_type: 'Bot', protocol: 'json' },
          ],
          devices: [device('d1'), device('d1')],
        },
        { path: '/a' },
      ]),
    );
    expect(r.success).toBe(false);
    expect(r.error!.issues.map((i) => [i.code, i.path.join('.')])).toEqual([
      ['custom', 'servicePaths.0.groups'],
      ['custom', 'servicePaths.0.groups.1.protocol'],
      ['custom', 'servicePaths.0.devices.1.device_id'],
      ['custom', 'servicePaths.1.path'],
    ]);
  });
});
