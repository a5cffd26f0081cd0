/**
 * The monitor's entry point: configuration from the environment (see docs/monitor.md),
 * graceful shutdown on SIGTERM/SIGINT (the state is saved after every pass), exit 1 on a
 * configuration or state error.
 */
import { PlatformError } from '../../../platform/errors.js';
import { loadConfig } from '../src/config.js';
import { startMonitor } from '../src/service.js';

async function main(): Promise<void> {
  const service = await startMonitor(loadConfig());
  const stop = () => {
    service.server.close(() => process.exit(0));
  };
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
}

main().catch((err: unknown) => {
  if (err instanceof PlatformError) {
    process.stderr.write(`${err.code}: ${err.message}\n  fix: ${err.fix}\n`);
  } else {
    process.stderr.write(`monitor failed to start: ${(err as Error).stack ?? String(err)}\n`);
  }
  process.exit(1);
});
