/**
 * Test support: one IoT Agent (the real `iotagent-node-lib`, in-memory registry) and the south
 * binding of its protocol, in this process. Started by `startIotAgentProcess`
 * (testing/real/iot-agent.ts) for a second agent beside the one a test process runs itself.
 * Prints `iot-agent-ready {"northUrl": ..., "southUrl": ...}` on a line of its own (the library
 * logs JSON lines to stdout too), then runs until SIGTERM.
 *
 *   tsx testing/bin/iot-agent.ts --protocol json --orion-url http://127.0.0.1:1026
 */
import { parseArgs } from 'node:util';

import type { DeviceProtocol } from '../../platform/components.js';
import { DEVICE_PROTOCOLS } from '../../platform/components.js';
import { READY, startIotAgent } from '../real/iot-agent.js';
import { startSouth } from '../stack/south-formats.js';

const { values } = parseArgs({
  options: { protocol: { type: 'string' }, 'orion-url': { type: 'string' } },
});
const protocol = values.protocol as DeviceProtocol;
if (!DEVICE_PROTOCOLS.includes(protocol) || !values['orion-url']) {
  console.error(`usage: iot-agent.ts --protocol ${DEVICE_PROTOCOLS.join('|')} --orion-url <url>`);
  process.exit(2);
}
const iota = await startIotAgent({ orionUrl: values['orion-url'], protocol });
const south = await startSouth(iota, protocol);
process.stdout.write(
  `${READY} ${JSON.stringify({ northUrl: iota.northUrl, southUrl: south.url })}\n`,
);
let stopping = false;
process.on('SIGTERM', () => {
  if (stopping) return;
  stopping = true;
  // Out within 5 s even when a connection keeps a server from closing.
  setTimeout(() => process.exit(0), 5_000).unref();
  void south
    .close()
    .then(() => iota.stop())
    .finally(() => process.exit(0));
});
