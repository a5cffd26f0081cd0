/**
 * The provisioning service's entry point: configuration from the environment (see docs/provisioning.md),
 * graceful shutdown on SIGTERM/SIGINT, exit 1 on a configuration error.
 */
import { runServer } from '../../runtime/src/index.js';
import { loadConfig } from '../src/config.js';
import { startService } from '../src/service.js';

runServer('provisioning service', () => startService(loadConfig()));
