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
  DEVICES_PATH,
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
import { devicesOf, scenarioData } from '../../../scenarios/lib/fiware.js';
import {
  CONSOLE_TENANT as TENANT,
  MEASURED_VALUE,
  ROLLOUT_AGENT as AGENT,
  SINGLE_AGENT,
  SINGLE_HOST,
  startConsoleStack,
} from '../../../testing/stack/console-stack.js';
import { ensureChromium } from '../../../toolchain/tools.js';

const AXE = readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');

let cs: ConsoleStack;
let browser: Browser;
const axeResults: Record<string, Record<string, number>> = {};

const consoleUrl = () => cs.consoleUrl;
const fleet: ConsoleStack['fleet'] = (...args) => cs.fleet(...args);
const provisioning: ConsoleStack['provisioning'] = (...args) => cs.provisioning(...args);
/** The fleet service's record of an agent, as its list answers. */
const agentRecord = async (name: string) =>
  ((await fleet('GET', '/v1/agents')).body.agents as any[]).find((a) => a.name === name);

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
    if (/\/(fleet|provisioning|monitor|orion)\//.test(new URL(r.url()).pathname)) calls.push(r);
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
      // Its last values, as Orion holds them (the FIWARE route, with the user's token).
      const foodev = scenarioData([TENANT])
        .flatMap(devicesOf)
        .find((d) => d.device.device_id === 'foodev')!;
      const values = devices.getByRole('row').filter({ hasText: 'foodev' }).locator('td.values');
      await values.filter({ hasText: String(MEASURED_VALUE) }).waitFor();
      for (const a of foodev.device.attributes)
        expect(await values.textContent()).toContain(`${a.name} ${MEASURED_VALUE}`);
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
      // The filters: a state keeps only its cells; drift only the cells whose observed
      // revision is not the desired one.
      const states = page.getByRole('group', { name: 'Filter the targets' });
      const shownCells = () =>
        cells.evaluateAll((bs) =>
          bs.map((b) => ({
            state: b.querySelector('.state')!.textContent,
            rev: b.querySelector('.rev')!.textContent!,
          })),
        );
      const someState = (await shownCells())[0]!.state!;
      await states.getByLabel('State').selectOption(someState);
      await page
        .getByRole('status')
        .filter({ hasText: /targets match/ })
        .waitFor();
      const byState = await shownCells();
      expect(byState.length).toBeGreaterThan(0);
      expect(byState.every((c) => c.state === someState)).toBe(true);
      await states.getByLabel('State').selectOption('');
      await states.getByLabel(/Only drifted/).check();
      await page
        .getByRole('status')
        .filter({ hasText: /targets match/ })
        .waitFor();
      for (const c of await shownCells()) {
        const [observed, desired] = c.rev.split('/');
        expect(observed).not.toBe(desired);
      }
      await axe(page, 'fleet (filtered)');
      await states.getByLabel(/Only drifted/).uncheck();
      await axe(page, 'fleet');

      // Agents: the fleet service's records; one opens its revisions and its rollout history.
      await show(page, 'Agents');
      const names = ((await fleet('GET', '/v1/agents')).body.agents as any[]).map((a) => a.name);
      const table = page.getByTestId('agents');
      const shown = await table.getByRole('rowheader').allTextContents();
      expect(shown.map((n) => n.trim())).toEqual([...names].sort((a, b) => a.localeCompare(b)));
      expect(names).toEqual(expect.arrayContaining([AGENT, SINGLE_AGENT]));
      await table.getByRole('button', { name: AGENT, exact: true }).click();
      const revisions = page.getByTestId('revisions').getByRole('listitem');
      await revisions.first().waitFor();
      const history = (await fleet('GET', `/v1/agents/${AGENT}/history`)).body.revisions as any[];
      expect(await revisions.count()).toBe(history.length);
      expect(await revisions.first().textContent()).toContain(history[0].commit.slice(0, 12));
      // Its rollout's events, from the monitor's journal: it started in waves.
      await page
        .getByTestId('agent-events')
        .getByRole('cell', { name: 'rollout.started' })
        .waitFor();
      await axe(page, 'agents');

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
      await journal.getByText('devices/foodev').first().waitFor({ state: 'detached' });
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

  it('lets an operator stop and resume an agent, and deploy it to a group only after a preview of the hosts it reaches', async () => {
    const { context, page } = await open();
    try {
      await signIn(page, 'operator');
      await show(page, 'Agents');
      await page.getByRole('button', { name: SINGLE_AGENT, exact: true }).click();
      const details = page.locator('#agent-details');
      const status = details.getByRole('status');

      // Stop: the record in git says stopped; the button becomes Resume once the list follows.
      await details.getByRole('button', { name: 'Stop' }).click();
      await status.filter({ hasText: 'stop committed' }).waitFor();
      await waitFor(
        async () => (await agentRecord(SINGLE_AGENT)).state === 'stopped',
        30_000,
        () => new Error(`${SINGLE_AGENT} never became stopped`),
      );
      await details.getByRole('button', { name: 'Resume' }).click({ timeout: 30_000 });
      await status.filter({ hasText: 'resume committed' }).waitFor();
      await waitFor(
        async () => (await agentRecord(SINGLE_AGENT)).state === 'running',
        30_000,
        () => new Error(`${SINGLE_AGENT} never ran again`),
      );
      await details.getByRole('button', { name: 'Stop' }).waitFor({ timeout: 30_000 });

      // Deploy to a group: the preview is the fleet service's dry run; nothing is committed.
      const group = ((await fleet('GET', '/v1/groups')).body.groups as any[]).find(
        (g) => g.name === 'line-pcs',
      );
      const before = await agentRecord(SINGLE_AGENT);
      expect(before.placement).toEqual({ host: SINGLE_HOST });
      await details.getByRole('combobox', { name: /^Group/ }).selectOption('line-pcs');
      await details.getByLabel('Hosts per wave').fill('1');
      await details.getByRole('button', { name: 'Preview' }).click();
      const preview = page.getByTestId('deploy-preview');
      await preview.waitFor();
      // Host, result, wave, reason of each row: every host of the group, one wave each.
      const rows = await preview
        .locator('tbody tr')
        .evaluateAll((trs) =>
          trs.map((tr) => [...tr.children].map((c) => (c.textContent ?? '').trim())),
        );
      expect(rows.map((r) => r[0]).sort()).toEqual([...group.hosts].sort());
      expect(rows.every((r) => r[1] === 'accepted')).toBe(true);
      expect(rows.map((r) => r[2]).sort()).toEqual(
        group.hosts.map((_: string, i: number) => String(i + 1)),
      );
      await axe(page, 'agents (deploy preview)');
      await page.waitForTimeout(1500);
      const still = await agentRecord(SINGLE_AGENT);
      expect(still.placement).toEqual({ host: SINGLE_HOST });
      expect(still.etag).toBe(before.etag);

      // A changed form needs a new preview before it can be committed.
      await details.getByLabel('Hosts per wave').fill('');
      await preview.waitFor({ state: 'detached' });
      await details.getByRole('button', { name: 'Preview' }).click();
      await details.getByRole('button', { name: 'Deploy to line-pcs' }).click();
      await status
        .filter({ hasText: `${SINGLE_AGENT} deployed to group line-pcs: commit` })
        .waitFor();
      await waitFor(
        async () => (await agentRecord(SINGLE_AGENT)).placement.group === 'line-pcs',
        30_000,
        () => new Error(`${SINGLE_AGENT} never moved to the group line-pcs`),
      );
    } finally {
      await context.close();
    }
  });

  it('refuses a stale write: an action on a record changed meanwhile answers 409 and says so', async () => {
    const { context, page } = await open();
    try {
      await signIn(page, 'operator');
      // The page keeps the agents' list it read first (its refreshes get the same answer), so
      // the ETag it holds goes stale when someone else writes.
      let first: string | undefined;
      await page.route('**/fleet/v1/agents', async (route) => {
        first ??= await (await route.fetch()).text();
        await route.fulfill({ status: 200, contentType: 'application/json', body: first });
      });
      await show(page, 'Agents');
      await page.getByRole('button', { name: SINGLE_AGENT, exact: true }).click();
      const details = page.locator('#agent-details');
      await details.getByRole('button', { name: 'Stop' }).waitFor();
      // Someone else stops it: the record's ETag the page holds is stale now.
      expect((await fleet('POST', `/v1/agents/${SINGLE_AGENT}/stop`)).status).toBe(200);
      const after = await agentRecord(SINGLE_AGENT);
      await details.getByRole('button', { name: 'Stop' }).click();
      await details.getByRole('status').filter({ hasText: 'stop refused' }).waitFor();
      expect(await details.getByRole('status').textContent()).toMatch(/HTTP 409/);
      await page.waitForTimeout(1500);
      // The other's write stands: nothing was committed over it.
      expect((await agentRecord(SINGLE_AGENT)).etag).toBe(after.etag);
      expect((await fleet('POST', `/v1/agents/${SINGLE_AGENT}/resume`)).status).toBe(200);
    } finally {
      await context.close();
    }
  });

  it('lets an operator check and provision a device from the form; bad input gets the field error and writes nothing', async () => {
    const { context, page } = await open();
    const id = 'console-dev';
    try {
      await signIn(page, 'operator');
      await showViewAsCommitted(page, 'Devices');
      await page.getByText(`Provision a device at ${DEVICES_PATH}`).click();
      const form = page.locator('.device-form form');
      await form.getByLabel('Device id').fill(id);
      await form.getByLabel('Protocol').selectOption('json');
      await form.getByLabel('Entity type').fill('Machine');
      await form.getByLabel(/Measurements/).fill('t temperature Number\nrpm speed Number');
      await form.getByLabel('Commands').fill('reset');
      await form.getByLabel(/Expected interval/).fill('30');
      await axe(page, 'devices (form)');

      // Check: a dry run says what would happen; nothing is written.
      await form.getByRole('button', { name: 'Check' }).click();
      await form.getByRole('status').filter({ hasText: 'would be created' }).waitFor();
      expect((await provisioning('GET', `/v1/devices/${id}`, DEVICES_PATH)).status).toBe(404);

      // Bad input: the API's field error is shown, and still nothing is written.
      await form.getByLabel('Entity type').fill('Bad type');
      await form.getByRole('button', { name: 'Provision' }).click();
      const refusal = form.getByRole('status').filter({ hasText: 'was not provisioned' });
      await refusal.waitFor();
      expect(await refusal.textContent()).toMatch(
        /entity_type.*HTTP 422, ERR_PROVISIONING_INVALID/,
      );
      expect((await provisioning('GET', `/v1/devices/${id}`, DEVICES_PATH)).status).toBe(404);

      // Provision: the device is there, as the form said, and the inventory lists it.
      await form.getByLabel('Entity type').fill('Machine');
      await form.getByRole('button', { name: 'Provision' }).click();
      await form
        .getByRole('status')
        .filter({ hasText: `${id}: created` })
        .waitFor();
      const stored = await provisioning('GET', `/v1/devices/${id}`, DEVICES_PATH);
      expect(stored.status).toBe(200);
      expect(stored.body).toMatchObject({
        device_id: id,
        protocol: 'json',
        entity_type: 'Machine',
        entity_name: `urn:ngsi-ld:Machine:${id}`,
        expected_interval: 30,
        commands: [{ name: 'reset', type: 'command' }],
      });
      expect(stored.body.attributes).toEqual([
        { object_id: 't', name: 'temperature', type: 'Number' },
        { object_id: 'rpm', name: 'speed', type: 'Number' },
      ]);
      await page.getByRole('table').getByRole('rowheader', { name: id }).waitFor();
    } finally {
      await provisioning('DELETE', `/v1/devices/${id}`, DEVICES_PATH);
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

      // No stop, resume or deploy on an agent, and no device form; the APIs refuse them too.
      await show(page, 'Agents');
      await page.getByRole('button', { name: SINGLE_AGENT, exact: true }).click();
      const details = page.locator('#agent-details');
      await details.getByTestId('revisions').waitFor();
      expect(await details.getByRole('button').count()).toBe(0);
      expect(await details.locator('form').count()).toBe(0);
      const state = (await agentRecord(SINGLE_AGENT)).state;
      for (const action of ['stop', 'resume']) {
        const refused = await fleet(
          'POST',
          `/v1/agents/${SINGLE_AGENT}/${action}`,
          undefined,
          token,
        );
        expect(refused.status).toBe(403);
      }
      expect((await agentRecord(SINGLE_AGENT)).state).toBe(state);
      await showViewAsCommitted(page, 'Devices');
      expect(await page.locator('.device-form').count()).toBe(0);
      const device = {
        protocol: 'ultralight',
        entity_type: 'Machine',
        entity_name: 'urn:ngsi-ld:Machine:viewer-dev',
        attributes: [],
      };
      const put = await provisioning('PUT', '/v1/devices/viewer-dev', DEVICES_PATH, device, token);
      expect(put.status).toBe(403);
      expect((await provisioning('GET', '/v1/devices/viewer-dev', DEVICES_PATH)).status).toBe(404);
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
