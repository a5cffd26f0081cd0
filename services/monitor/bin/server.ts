/**
 * The monitor's entry point: configuration from the environment (see docs/monitor.md),
 * graceful shutdown on SIGTERM/SIGINT (both ports drained, a pass in flight ends and saves),
 * exit 1 on a configuration or state error.
 */
import { runServer } from '../../runtime/src/index.js';
import { loadConfig } from '../src/config.js';
import { startMonitor } from '../src/service.js';

runServer('monitor', async () => {
  const monitor = await startMonitor(loadConfig());
  return { ...monitor, otherServers: [monitor.eventsServer] };
});
