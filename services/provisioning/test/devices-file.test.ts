/**
 * The devices file (`npm run provision -- -f`): what it refuses before any call, each at the
 * field it names: a service path listed twice, a device id twice within a path, two groups of
 * one protocol on a path. The same device id on two paths is two devices, and is accepted.
 */
import { describe, expect, it } from '@jest/globals';

import { DevicesFile } from '../src/devices-file.js';

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
    ).toEqual(['servicePaths.2.path: listed twice']);
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
    ).toEqual(['servicePaths.0.devices.2.device_id: duplicate of devices[0]']);
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
});
