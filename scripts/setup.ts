#!/usr/bin/env -S npx tsx
/**
 * `npm run setup`: installs the pinned real components the tests need into .cache/tools: OPA
 * (go install), Keycloak (keycloak-quarkus-dist from Maven Central) and, when missing, Debian's
 * chromium. The test command runs it first; it does nothing when all are in place.
 *
 * Exit codes: 0 ready, 3 a component could not be installed.
 */
import { PlatformError } from '../services/lib/errors.js';
import { ensureChromium, ensureKeycloak, ensureOpa, java21Home } from './tools.js';

try {
  ensureOpa();
  ensureKeycloak();
  java21Home();
  ensureChromium();
} catch (err) {
  if (err instanceof PlatformError) {
    console.error(`setup: ${err.message}\n${err.fix} [${err.code}]`);
    process.exit(3);
  }
  throw err;
}
