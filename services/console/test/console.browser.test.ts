/**
 * The web console in Debian's Chromium (playwright-core), against the local stack with the
 * real Keycloak, the real provisioning and fleet services and the real gateway and OPA (one
 * stack for the file): sign-in through Keycloak's page, each view with the stack's data, an
 * operator's action and its refusal for a viewer (no button, and the API refuses the viewer's
 * own token), sign-out ending the Keycloak session, the main flow by keyboard only, and
 * axe-core on every view (no critical or serious violation; the results per view are written
 * to .cache/console-axe.json and printed).
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';

import { chromium } from 'playwright-core';
import type { Browser, BrowserContext, Page, Request } from 'playwright-core';

import { CONSOLE_CLIENT } from '../../../platform/identity.js';
import { REPO_ROOT } from '../../../testing/support/cli.js';
import {
  CONSOLE_VIEWS,
  VIEWS_FILE,
  committedViews,
  outlineDigest,
  showView,
  showViewAsCommitted,
  signIn as signInAt,
  viewOutline,
} from '../../../testing/support/console-views.js';
import { waitFor } from '../../../testing/support/processes.js';
import type { ConsoleStack } from '../../../testing/stack/console-stack.js';
import {
  CONSOLE_TENANT as TENANT,
  ROLLOUT_AGENT as AGENT,
  startConsoleStack,
} from '../../../testing/stack/console-stack.js';
import { ensureChromium } from '../../../toolchain/tools.js';

const AXE = readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');

let cs: ConsoleStack;
let browser: Browser;
const axeResults: Record<string, Record<string, number>> = {};

const consoleUrl = () => cs.consoleUrl;
const fleet: ConsoleStack['fleet'] = (...args) => cs.fleet(...args);

beforeAll(async () => {
  const executablePath = ensureChromium();
  cs = await startConsoleStack();
  browser = await chromium.launch({
    executablePath,
    args: ['--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking'],
  });
}, 600_000);

afterAll(async () => {
  await browser?.close();
  await cs?.close();
  if (Object.keys(axeResults).length > 0) {
    const dir = join(REPO_ROOT, '.cache');
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, 'console-axe.json'), `${JSON.stringify(axeResults, null, 2)}\n`);
    process.stderr.write(`axe-core per view: ${JSON.stringify(axeResults)}\n`);
  }
}, 60_000);

/** A fresh browser (no Keycloak cookie), the console's API calls and CSP reports recorded. */
async function open(): Promise<{
  context: BrowserContext;
  page: Page;
  calls: Request[];
  cspErrors: string[];
}> {
  const context = await browser.newContext();
  const page = await context.newPage();
  page.setDefaultTimeout(15_000);
  page.on('pageerror', (e) => process.stderr.write(`console page error: ${e.message}\n`));
  const calls: Request[] = [];
  const cspErrors: string[] = [];
  page.on('request', (r) => {
    if (/\/(fleet|provisioning|monitor)\//.test(new URL(r.url()).pathname)) calls.push(r);
  });
  page.on('console', (m) => {
    if (/Content Security Policy/i.test(m.text())) cspErrors.push(m.text());
  });
  return { context, page, calls, cspErrors };
}

const signIn = (page: Page, who: 'operator' | 'viewer' | 'platform-admin') =>
  signInAt(page, consoleUrl(), cs.people[who].username, cs.people[who].password);
const show = showView;

/** axe-core on the page: counts by impact, recorded under `view`. */
async function axe(page: Page, view: string): Promise<Record<string, number>> {
  // Through DevTools, which the page's CSP does not govern (its own policy stays on).
  await page.evaluate(AXE);
  const violations = (await page.evaluate(
    '(async () => (await axe.run(document)).violations.map((v) => ({ id: v.id, impact: v.impact })))()',
  )) as { id: string; impact: string }[];
  const counts: Record<string, number> = { critical: 0, serious: 0, moderate: 0, minor: 0 };
  for (const v of violations) counts[v.impact] = (counts[v.impact] ?? 0) + 1;
  axeResults[view] = counts;
  const bad = violations.filter((v) => v.impact === 'critical' || v.impact === 'serious');
  expect(bad).toEqual([]);
  return counts;
}

const claimsOf = (auth: string | undefined) =>
  JSON.parse(Buffer.from((auth ?? '').split('.')[1] ?? '', 'base64url').toString('utf8'));

describe('web console in Chromium', () => {
  it("signs an operator in through Keycloak's page (code + PKCE S256) and shows each view with the stack's data", async () => {
    const { context, page, calls, cspErrors } = await open();
    try {
      await page.goto(consoleUrl());
      await axe(page, 'sign-in');
      await page.getByRole('button', { name: 'Sign in' }).click();
      await page.waitForURL(/\/protocol\/openid-connect\/auth/);
      expect(page.url()).toContain('code_challenge_method=S256');
      expect(page.url()).toContain(`client_id=${CONSOLE_CLIENT}`);
      await page.fill('#username', `${TENANT}-demo`);
      await page.fill('#password', cs.people.operator.password);
      await page.click('#kc-login');
      await page.getByTestId('user').waitFor();
      expect(await page.getByTestId('user').textContent()).toBe(`${TENANT}-demo`);
      // The code is gone from the address; no token in any storage.
      expect(page.url()).toBe(`${consoleUrl()}`);
      const stored = await page.evaluate(
        'JSON.stringify({ ...localStorage, ...sessionStorage, cookie: document.cookie })',
      );
      expect(stored).not.toMatch(/eyJ/);

      // Devices: the provisioned example devices, from the provisioning service.
      await show(page, 'Devices');
      await page.getByLabel('Service path').fill('/floor1');
      await page.getByRole('button', { name: 'Show' }).click();
      await page.getByRole('table').getByText('foodev').waitFor();
      const main = (await page.getByRole('main').textContent()) ?? '';
      expect(main).toContain('foodev');
      const devices = page.getByRole('table');
      await expect(devices.getByRole('rowheader', { name: 'foodev' }).count()).resolves.toBe(1);
      await expect(devices.getByRole('rowheader', { name: 'bardev' }).count()).resolves.toBe(1);
      // The monitor's verdict on each device, from its own API (the view refreshes).
      await devices
        .getByRole('row')
        .filter({ hasText: 'foodev' })
        .filter({ hasText: /fresh|silent|nudged|offline/ })
        .waitFor();
      expect(await page.getByRole('link', { name: /in Grafana/ }).getAttribute('href')).toMatch(
        /^\/grafana\/d\/meas-[0-9a-f]{16}$/,
      );
      await axe(page, 'devices');

      // Fleet: the matrix of the fleet service's status; a cell opens its reason.
      await show(page, 'Fleet');
      const api = await fleet('GET', '/v1/status');
      const pairs = new Set((api.body.targets as any[]).map((t) => `${t.agent.name} on ${t.host}`));
      const cells = page.getByTestId('fleet-matrix').getByRole('button');
      const labels = await cells.evaluateAll((bs) =>
        bs.map((b) => b.querySelector('.sr-only')!.textContent!.replace(/:\s*$/, '')),
      );
      expect(labels.length).toBeGreaterThan(0);
      for (const l of labels) expect(pairs).toContain(l);
      await cells.first().click();
      const reason = (await page.getByTestId('reason').textContent()) ?? '';
      const [agent, host] = labels[0]!.split(' on ');
      const target = (api.body.targets as any[]).find(
        (t) => t.agent.name === agent && t.host === host,
      );
      expect(reason.length).toBeGreaterThan(0);
      expect(typeof target.reason).toBe('string');
      await axe(page, 'fleet');

      // Rollouts: the one under way, with its waves.
      await show(page, 'Rollouts');
      const article = page.getByRole('article').filter({ hasText: AGENT });
      await expect(article.getByText('Wave 1 of 2').count()).resolves.toBe(1);
      expect(await article.getByRole('button', { name: 'Pause' }).count()).toBe(1);
      await axe(page, 'rollouts');

      // Events: the monitor's journal, newest first, with the provisioning service's events of
      // the example devices and the fleet's of the rollout; the filter asks the API.
      await show(page, 'Events');
      const journal = page.getByRole('table');
      await journal.getByText('devices/foodev').first().waitFor();
      const rows = await journal.getByRole('row').allTextContents();
      expect(rows.some((r) => r.includes('eu.kitt4sme.provisioning.device.provisioned'))).toBe(
        true,
      );
      expect(rows.some((r) => r.includes(`agents/${AGENT}`))).toBe(true);
      await page.getByLabel('Subject').fill('devices/bar*');
      await page.getByRole('button', { name: 'Filter' }).click();
      await journal.getByText('devices/foodev').waitFor({ state: 'detached' });
      const filtered = await journal.getByRole('row').allTextContents();
      expect(filtered.slice(1).length).toBeGreaterThan(0);
      expect(filtered.slice(1).every((r) => r.includes('devices/bardev'))).toBe(true);
      await axe(page, 'events');

      // No platform view for a tenant's person.
      expect(
        await page
          .getByRole('navigation', { name: 'Views' })
          .getByRole('link', { name: 'Platform' })
          .count(),
      ).toBe(0);

      // Every API call carried the user's own token, issued to the console's client.
      expect(calls.length).toBeGreaterThan(3);
      for (const c of calls) {
        const claims = claimsOf((await c.allHeaders()).authorization?.replace(/^Bearer /, ''));
        expect(claims).toMatchObject({ azp: CONSOLE_CLIENT, preferred_username: `${TENANT}-demo` });
        expect((await c.allHeaders())['fiware-service']).toBe(TENANT);
      }
      expect(cspErrors).toEqual([]);
    } finally {
      await context.close();
    }
  });

  it('matches the committed screenshots: each view shows what docs/console/views.json says', async () => {
    const committed = committedViews();
    const stale: string[] = [];
    for (const view of CONSOLE_VIEWS) {
      const { context, page } = await open();
      try {
        await signIn(page, view.user);
        await showViewAsCommitted(page, view.label);
        const outline = await viewOutline(page);
        const record = committed[view.id];
        if (record?.digest !== outlineDigest(outline))
          stale.push(
            `${view.id}: committed ${record?.digest ?? 'nothing'}, now ${outlineDigest(outline)}:\n  ${outline.join('\n  ')}`,
          );
      } finally {
        await context.close();
      }
    }
    expect({
      stale,
      fix: `run npm run console:screenshots and commit docs/console/ (${VIEWS_FILE})`,
    }).toEqual({
      stale: [],
      fix: expect.any(String),
    });
  });

  it("lets an operator pause the rollout from the panel, and the fleet service's record says paused", async () => {
    const { context, page } = await open();
    try {
      await signIn(page, 'operator');
      await show(page, 'Rollouts');
      const article = page.getByRole('article').filter({ hasText: AGENT });
      await article.getByRole('button', { name: 'Pause' }).click();
      await page.getByRole('status').filter({ hasText: 'pause done' }).waitFor();
      // The fleet service's list follows its clone, refreshed every second here: wait for it.
      await waitFor(
        async () =>
          (await fleet('GET', '/v1/rollouts')).body.rollouts.find(
            (x: any) => x.agent.name === AGENT,
          ).phase === 'paused',
        30_000,
        () => new Error(`the rollout of ${AGENT} never became paused`),
      );
      // And the panel follows (it reads the rollouts again every few seconds).
      await article.getByRole('button', { name: 'Resume' }).waitFor({ timeout: 30_000 });
    } finally {
      await context.close();
    }
  });

  it('shows a viewer no action, and the fleet service refuses the action with their own token', async () => {
    const { context, page, calls } = await open();
    try {
      await signIn(page, 'viewer');
      await show(page, 'Rollouts');
      const article = page.getByRole('article').filter({ hasText: AGENT });
      await article.waitFor();
      expect(await article.getByRole('button').count()).toBe(0);
      // The viewer's own token, as the console sent it, cannot do what the button would.
      const token = (await calls[calls.length - 1]!.allHeaders()).authorization!.slice(7);
      expect(claimsOf(token)).toMatchObject({ preferred_username: cs.people.viewer.username });
      const phase = async () =>
        (await fleet('GET', '/v1/rollouts')).body.rollouts.find((x: any) => x.agent.name === AGENT)
          .phase as string;
      const before = await phase();
      for (const action of ['pause', 'resume', 'cancel']) {
        const refused = await fleet(
          'POST',
          `/v1/agents/${AGENT}/rollout/${action}`,
          undefined,
          token,
        );
        expect(refused.status).toBe(403);
      }
      expect(await phase()).toBe(before);
    } finally {
      await context.close();
    }
  });

  it("shows platform admins the platform's Argo CD state view", async () => {
    const { context, page } = await open();
    try {
      await signIn(page, 'platform-admin');
      await show(page, 'Platform');
      // The fleet service's answer: the Applications, or its problem (this stack has no Argo CD).
      const text = (await page.getByRole('main').textContent()) ?? '';
      const api = await fleet('GET', '/v1/platform/applications', undefined, undefined);
      if (api.status === 200) expect(page.getByRole('table')).toBeTruthy();
      else expect(text).toMatch(/Could not load the Argo CD Applications: .*\(HTTP \d{3}/);
      await axe(page, 'platform');
    } finally {
      await context.close();
    }
  });

  it('signs out through Keycloak: the next sign-in asks for the password again', async () => {
    const { context, page } = await open();
    try {
      await signIn(page, 'operator');
      await page.getByRole('button', { name: 'Sign out' }).click();
      await page.waitForURL(consoleUrl());
      await page.getByRole('button', { name: 'Sign in' }).waitFor();
      await page.getByRole('button', { name: 'Sign in' }).click();
      // Without the session, Keycloak shows its login form instead of coming straight back.
      await page.waitForSelector('#username');
      expect(page.url()).toContain('/protocol/openid-connect/auth');
    } finally {
      await context.close();
    }
  });

  it('takes the main flow by keyboard only: sign in, the fleet view, a target’s details', async () => {
    const { context, page } = await open();
    try {
      await page.goto(consoleUrl());
      await page.getByRole('button', { name: 'Sign in' }).waitFor();
      await page.keyboard.press('Tab');
      const active = () => page.evaluate('document.activeElement?.textContent');
      expect(await active()).toBe('Sign in');
      await page.keyboard.press('Enter');
      await page.waitForSelector('#username');
      await page.keyboard.type(`${TENANT}-demo`);
      await page.keyboard.press('Tab');
      await page.keyboard.type(cs.people.operator.password);
      await page.keyboard.press('Enter');
      await page.getByTestId('user').waitFor();
      // Skip link first, then the views.
      await page.keyboard.press('Tab');
      expect(await active()).toBe('Skip to content');
      const focused = async () =>
        (await page.evaluate(
          '({ text: document.activeElement?.textContent, outline: getComputedStyle(document.activeElement).outlineStyle })',
        )) as { text: string; outline: string };
      for (let i = 0; i < 10; i++) {
        await page.keyboard.press('Tab');
        const f = await focused();
        expect(f.outline).not.toBe('none');
        if (f.text === 'Fleet') break;
      }
      expect((await focused()).text).toBe('Fleet');
      await page.keyboard.press('Enter');
      await page.getByTestId('fleet-matrix').waitFor();
      // Through the banner's controls to the matrix's first cell.
      for (let i = 0; i < 15; i++) {
        await page.keyboard.press('Tab');
        const isCell = await page.evaluate("document.activeElement?.classList.contains('cell')");
        if (isCell) break;
      }
      expect(await page.evaluate("document.activeElement?.classList.contains('cell')")).toBe(true);
      await page.keyboard.press('Enter');
      await page.getByTestId('reason').waitFor();
      expect(await page.getByRole('button', { expanded: true }).count()).toBe(1);
    } finally {
      await context.close();
    }
  });
});
