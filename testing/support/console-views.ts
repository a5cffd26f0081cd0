/**
 * Test support: the web console's views as the browser test and `npm run console:screenshots`
 * see them: signing in through Keycloak's page, opening a view, and a view's outline, the text
 * that says what the view shows (headings, captions, headers, links, buttons, with times,
 * commits and states masked), whose digest judges whether a committed screenshot is stale:
 * pixels vary with fonts and browser builds, the outline does not.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

import type { Page } from 'playwright-core';

import { ROLLOUT_AGENT } from '../stack/console-stack.js';
import { REPO_ROOT } from './cli.js';

/** The views, in the console's order, and who is signed in to show them. */
export const CONSOLE_VIEWS = [
  { id: 'devices', label: 'Devices', user: 'operator' },
  { id: 'fleet', label: 'Fleet', user: 'operator' },
  { id: 'agents', label: 'Agents', user: 'operator' },
  { id: 'rollouts', label: 'Rollouts', user: 'operator' },
  { id: 'events', label: 'Events', user: 'operator' },
  { id: 'platform', label: 'Platform', user: 'platform-admin' },
] as const;
export type ConsoleViewId = (typeof CONSOLE_VIEWS)[number]['id'];

/** Where the screenshots and their outlines are committed. */
export const SCREENSHOTS_DIR = 'docs/console';
/** The outlines and digests of the committed screenshots. */
export const VIEWS_FILE = `${SCREENSHOTS_DIR}/views.json`;

/** A view as committed: its outline and the digest of it. */
export interface ViewRecord {
  readonly screenshot: string;
  readonly digest: string;
  readonly outline: readonly string[];
}

/** Signs in through Keycloak's login page; throws with the page's text when it cannot. */
export async function signIn(
  page: Page,
  consoleUrl: string,
  username: string,
  secret: string,
): Promise<void> {
  try {
    await page.goto(consoleUrl);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.waitForURL(/\/protocol\/openid-connect\/auth/);
    await page.fill('#username', username);
    await page.fill('#password', secret);
    await page.click('#kc-login');
    await page.getByTestId('user').waitFor();
  } catch (err) {
    const text = await page.textContent('body').catch(() => '?');
    throw new Error(
      `signing in ${username} failed at ${page.url()}: ${(err as Error).message}\npage text: ${text?.slice(0, 800)}`,
      { cause: err },
    );
  }
}

/** Opens a view from the navigation and waits until it has loaded. */
export async function showView(page: Page, label: string): Promise<void> {
  await page.getByRole('navigation', { name: 'Views' }).getByRole('link', { name: label }).click();
  await page.getByRole('heading', { level: 1, name: new RegExp(`^${label}`) }).waitFor();
  // A locator's wait, not waitForFunction: a predicate string is eval'd in the page, which
  // the console's CSP (no 'unsafe-eval') refuses.
  await page.locator('.loading').waitFor({ state: 'detached' });
}

/** The service path whose devices the screenshots and the outline check show. */
export const DEVICES_PATH = '/floor1';

/** The agent whose details the Agents screenshot shows: the one rolling out. */
export const AGENTS_OPEN = ROLLOUT_AGENT;

/**
 * Opens a view as its screenshot shows it: the devices of {@link DEVICES_PATH}, the details
 * of {@link AGENTS_OPEN}.
 */
export async function showViewAsCommitted(page: Page, label: string): Promise<void> {
  await showView(page, label);
  if (label === 'Devices') {
    await page.getByLabel('Service path').fill(DEVICES_PATH);
    await page.getByRole('button', { name: 'Show' }).click();
    await page.getByRole('table').waitFor();
  }
  if (label === 'Agents') {
    await page.getByRole('button', { name: AGENTS_OPEN, exact: true }).click();
    await page.getByTestId('revisions').waitFor();
    await page.getByTestId('agent-events').waitFor();
  }
}

/** The outline of the view on the page. */
export async function viewOutline(page: Page): Promise<string[]> {
  const raw = (await page.evaluate(`(() => {
    const main = document.querySelector('main');
    const out = [];
    for (const e of main.querySelectorAll('h1, h2, caption, th, a, button, label, dt')) {
      const c = e.cloneNode(true);
      for (const s of c.querySelectorAll('.state, .ready, .phase, .rev, time, select, input')) s.remove();
      const name = e.getAttribute('aria-label') || c.textContent;
      out.push(e.tagName.toLowerCase() + ' ' + name.replace(/\\s+/g, ' ').trim());
    }
    return out;
  })()`)) as string[];
  return raw.map((l) =>
    l
      .replace(/:$/, '')
      .replace(/\b[0-9a-f]{7,40}\b/g, '<hex>')
      .replace(/\b\d+ of \d+ targets\b/g, 'M of N targets')
      .replace(/\b\d+ (devices|targets)\b/g, 'N $1'),
  );
}

/** The digest of an outline. */
export function outlineDigest(outline: readonly string[]): string {
  return createHash('sha256').update(outline.join('\n')).digest('hex').slice(0, 16);
}

/** The committed outlines, by view. */
export function committedViews(): Record<string, ViewRecord> {
  return JSON.parse(readFileSync(join(REPO_ROOT, VIEWS_FILE), 'utf8')) as Record<
    string,
    ViewRecord
  >;
}
