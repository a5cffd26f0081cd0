#!/usr/bin/env -S npx tsx
/**
 * `npm run console:screenshots`: a screenshot of each view of the web console under
 * docs/console/ (<view>.png), taken in Debian's Chromium against the console stack
 * (testing/stack/console-stack.ts: the local stack, the example devices, a rollout under way),
 * and docs/console/views.json: each view's outline (testing/support/console-views.ts) and its
 * digest. The console's browser test fails when a view's outline no longer matches the digest
 * committed here: run this again and commit the result.
 *
 * It starts its own Keycloak (about a minute); the whole run takes two to three minutes.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

import { chromium } from 'playwright-core';

import { buildRealm } from '../../platform/realm.js';
import { ensureChromium } from '../../toolchain/tools.js';
import { platformContext, startKeycloak, stopKeycloak } from '../real/keycloak.js';
import { REPO_ROOT } from '../support/cli.js';
import type { ViewRecord } from '../support/console-views.js';
import {
  CONSOLE_VIEWS,
  SCREENSHOTS_DIR,
  VIEWS_FILE,
  outlineDigest,
  showViewAsCommitted,
  signIn,
  viewOutline,
} from '../support/console-views.js';
import { startConsoleStack } from '../stack/console-stack.js';

if (process.argv.includes('--help') || process.argv.includes('-h')) {
  console.log(
    'Usage: npm run console:screenshots\n\nWrites docs/console/<view>.png and docs/console/views.json (the outlines whose digests the browser test checks).',
  );
  process.exit(0);
}
const log = (m: string) => process.stderr.write(`console:screenshots: ${m}\n`);

const executablePath = ensureChromium(log);
const dir = join(REPO_ROOT, '.cache', 'console-screenshots');
mkdirSync(dir, { recursive: true });
log('starting Keycloak (about a minute)…');
const keycloak = await startKeycloak([buildRealm(platformContext())], {
  dir,
  whileThisProcessLives: true,
});
let exitCode = 0;
try {
  log('starting the local stack with the example data…');
  const cs = await startConsoleStack({ keycloak });
  const browser = await chromium.launch({
    executablePath,
    args: ['--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking'],
  });
  try {
    const out: Record<string, ViewRecord> = {};
    mkdirSync(join(REPO_ROOT, SCREENSHOTS_DIR), { recursive: true });
    for (const view of CONSOLE_VIEWS) {
      const context = await browser.newContext({ viewport: { width: 1280, height: 720 } });
      const page = await context.newPage();
      try {
        const who = cs.people[view.user];
        await signIn(page, cs.consoleUrl, who.username, who.password);
        await showViewAsCommitted(page, view.label);
        const outline = await viewOutline(page);
        const screenshot = `${SCREENSHOTS_DIR}/${view.id}.png`;
        await page.screenshot({ path: join(REPO_ROOT, screenshot) });
        out[view.id] = { screenshot, digest: outlineDigest(outline), outline };
        log(`${screenshot} (${out[view.id]!.digest})`);
      } finally {
        await context.close();
      }
    }
    writeFileSync(join(REPO_ROOT, VIEWS_FILE), `${JSON.stringify(out, null, 2)}\n`);
    log(`wrote ${VIEWS_FILE}`);
  } finally {
    await browser.close();
    await cs.close();
  }
} catch (err) {
  log(`failed: ${(err as Error).stack ?? String(err)}`);
  exitCode = 1;
} finally {
  stopKeycloak(keycloak);
}
process.exit(exitCode);
