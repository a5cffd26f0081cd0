/**
 * The provisioning service's entry point: configuration from the environment (see docs/provisioning.md),
 * graceful shutdown on SIGTERM/SIGINT, exit 1 on a configuration error.
 */
import { PlatformError } from '../../../platform/errors.js';
import { loadConfig } from '../src/config.js';
import { startService } from '../src/service.js';

async function main(): Promise<void> {
  const service = await startService(loadConfig());
  const stop = () => {
    // Let in-flight requests finish; Kubernetes sends SIGKILL after the grace period.
    service.server.close(() => process.exit(0));
  };
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
}

main().catch((err: unknown) => {
  if (err instanceof PlatformError) {
    process.stderr.write(`${err.code}: ${err.message}\n  fix: ${err.fix}\n`);
  } else {
    process.stderr.write(
      `provisioning service failed to start: ${(err as Error).stack ?? String(err)}\n`,
    );
  }
  process.exit(1);
});
