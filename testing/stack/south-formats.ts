/**
 * Test support: the south binding of each device protocol of the registry.
 */
import type { DeviceProtocol } from '../../platform/components.js';
import type { IotAgentHandle } from '../real/iot-agent.js';
import { JSON_FORMAT } from './json-south.js';
import type { SouthBinding, SouthBindingOptions, SouthCodec } from './south-binding.js';
import { startSouthBinding } from './south-binding.js';
import { ULTRALIGHT } from './ultralight-south.js';

/** The payload format of each protocol (a protocol without one does not compile). */
export const SOUTH_FORMATS: Readonly<Record<DeviceProtocol, SouthCodec>> = {
  ultralight: ULTRALIGHT,
  json: JSON_FORMAT,
};

/**
 * Starts the south binding of a protocol on a loopback port and installs its provisioning and
 * command handlers in the agent's library. One binding per agent; rejects when the agent has
 * one.
 */
export function startSouth(
  iota: IotAgentHandle,
  protocol: DeviceProtocol,
  opts: SouthBindingOptions = {},
): Promise<SouthBinding> {
  return startSouthBinding(iota, SOUTH_FORMATS[protocol], opts);
}
