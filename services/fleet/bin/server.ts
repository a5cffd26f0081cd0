/**
 * The fleet service's entry point: configuration from the environment (services/fleet/src/
 * config.ts lists the variables), graceful shutdown on SIGTERM/SIGINT, exit 1 on a configuration
 * error or when the GitOps repository cannot be cloned.
 */
import { runServer } from '../../runtime/src/index.js';
import { loadConfig } from '../src/config.js';
import { startFleet } from '../src/service.js';

runServer('fleet', () => startFleet(loadConfig()));
