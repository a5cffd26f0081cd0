/**
 * The console's entry point: settings from the environment (services/console/src/service.ts),
 * graceful shutdown on SIGTERM/SIGINT, exit 1 when the assets are missing or a setting is wrong.
 */
import { runServer } from '../../runtime/src/index.js';
import { loadSettings, startConsole } from '../src/service.js';

runServer('console', async () => {
  const settings = loadSettings();
  const running = await startConsole(settings);
  process.stderr.write(`console: serving ${settings.config.path}/ on ${running.url}\n`);
  return running;
});
