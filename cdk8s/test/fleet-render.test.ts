/**
 * `npm run fleet:render`, the command of the fleet's Config Management Plugin, as Argo CD runs
 * it: in a checkout (here a copy of the example fleet/), YAML on stdout and nothing else,
 * errors with their codes on stderr, and its exit codes.
 */
import { cpSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { parseAllDocuments } from 'yaml';

import { FLEET_PREVIEW_DIR, FLEET_PREVIEW_HEADER, renderFleet } from '../lib/fleet/agents.js';
import { loadPlatformContext } from '../../platform/context.js';
import { FLEET_DIR } from '../../platform/fleet/records.js';
import { loadFleet } from '../../platform/fleet/resolve.js';
import { writePreview } from '../../generate/write.js';
import { runCli } from '../../testing/support/cli.js';
import { ROOT } from '../../testing/support/synth.js';

const CLI = 'cdk8s/bin/fleet-render.ts';
let repo: string;
let home: string;

const render = (...args: string[]) => runCli(CLI, args, home, {}, repo);
const edit = (file: string, change: (text: string) => string) =>
  writeFileSync(join(repo, file), change(readFileSync(join(repo, file), 'utf8')));

beforeEach(() => {
  home = mkdtempSync(join(tmpdir(), 'fleet-render-home-'));
  repo = mkdtempSync(join(tmpdir(), 'fleet-render-repo-'));
  cpSync(join(ROOT, 'fleet'), join(repo, 'fleet'), { recursive: true });
});
afterEach(() => {
  rmSync(repo, { recursive: true, force: true });
  rmSync(home, { recursive: true, force: true });
});

describe('npm run fleet:render', () => {
  it('prints exactly the documents synth writes into deploy-preview/fleet/, in order, and only them', async () => {
    const run = await render();
    expect([run.code, run.stderr]).toEqual([0, expect.stringMatching(/3 agent\(s\), \d+ objects/)]);
    // What synth writes (generate/bin/synth.ts: writePreview of renderFleet's files).
    const ctx = loadPlatformContext();
    const preview = mkdtempSync(join(tmpdir(), 'fleet-render-preview-'));
    try {
      writePreview(
        preview,
        FLEET_PREVIEW_DIR,
        renderFleet(ctx, loadFleet(repo, FLEET_DIR, ctx)).files,
      );
      const files = readdirSync(join(preview, FLEET_PREVIEW_DIR)).sort();
      // One per tenant, and the agents' clients' job.
      expect(files.length).toBe(ctx.config.tenants.length + 1);
      const bodies = files.map((f) => {
        const text = readFileSync(join(preview, FLEET_PREVIEW_DIR, f), 'utf8');
        expect(text.startsWith(FLEET_PREVIEW_HEADER)).toBe(true);
        return text.slice(FLEET_PREVIEW_HEADER.length);
      });
      expect(run.stdout).toBe(bodies.join('---\n'));
    } finally {
      rmSync(preview, { recursive: true, force: true });
    }
    // A stream of Kubernetes objects and nothing else: every document parses into one.
    const docs = parseAllDocuments(run.stdout).map((d) => d.toJS() as Record<string, unknown>);
    expect(docs.every((d) => typeof d.apiVersion === 'string' && typeof d.kind === 'string')).toBe(
      true,
    );
    const kinds = new Set(docs.map((d) => d.kind));
    for (const k of ['Namespace', 'ServiceAccount', 'Deployment', 'AuthorizationPolicy'])
      expect([k, kinds.has(k)]).toEqual([k, true]);
  }, 60_000);

  it('renders a changed record: a stopped agent is a Deployment of 0 replicas', async () => {
    const before = await render('--json');
    edit('fleet/agents/smithereens-watchdog.yaml', (t) =>
      t.replace('state: stopped', 'state: running'),
    );
    const after = await render('--json');
    const replicas = (out: string) =>
      (
        JSON.parse(out) as {
          objects: {
            kind: string;
            metadata: { labels?: Record<string, string> };
            spec: { replicas: number };
          }[];
        }
      ).objects
        .filter(
          (o) =>
            o.kind === 'Deployment' &&
            o.metadata.labels?.['fleet.kitt4sme.io/agent'] === 'watchdog',
        )
        .map((o) => o.spec.replicas);
    expect([before.code, after.code]).toEqual([0, 0]);
    expect(replicas(before.stdout)).toEqual([0]);
    expect(replicas(after.stdout)).toEqual([1]);
  }, 60_000);

  it('fails with exit 1, nothing on stdout and the codes on stderr when a record is invalid', async () => {
    edit('fleet/agents/smithereens-watchdog.yaml', (t) =>
      t.replace('template: anomaly-detector', 'template: no-such-template'),
    );
    const run = await render();
    expect(run.code).toBe(1);
    expect(run.stdout).toBe('');
    expect(run.stderr).toContain('[ERR_FLEET_UNKNOWN_TEMPLATE]');
    expect(run.stderr).toContain('[ERR_FLEET_INVALID]');
    expect(run.stderr).toContain('fleet/agents/smithereens-watchdog.yaml');
  }, 60_000);

  it('fails with exit 2 and ERR_FLEET_NO_RECORDS when the directory has no fleet/, rather than render nothing', async () => {
    rmSync(join(repo, 'fleet'), { recursive: true });
    const run = await render();
    expect(run.code).toBe(2);
    expect(run.stdout).toBe('');
    expect(run.stderr).toMatch(/fleet is not a directory/);
    expect(run.stderr).toContain('[ERR_FLEET_NO_RECORDS]');
    // --root names another checkout.
    const other = await runCli(CLI, ['--root', join(ROOT)], home, {}, repo);
    expect(other.code).toBe(0);
  }, 60_000);

  it('has --help, exit 0', async () => {
    const run = await render('--help');
    expect(run.code).toBe(0);
    expect(run.stdout).toMatch(/Config Management Plugin/);
  }, 60_000);
});
