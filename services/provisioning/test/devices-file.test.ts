/**
 * The devices file (`npm run provision -- -f`): what it refuses before any call, each at the
 * field it names: a service path listed twice, a device id twice within a path, two groups of
 * one protocol on a path. The same device id on two paths is two devices, and is accepted.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { describe, expect, it } from '@jest/globals';

import type { PlatformError } from '../../../platform/errors.js';
import { DevicesFile, readDevicesFile } from '../src/devices-file.js';

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
