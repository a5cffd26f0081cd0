/**
 * The device model's time-zone check, which remembers the zones it has checked (building an
 * Intl.DateTimeFormat per device cost more than the rest of a bulk request's validation).
 */
import { describe, expect, it } from '@jest/globals';

import { DeviceSpec } from '../src/model.js';

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
