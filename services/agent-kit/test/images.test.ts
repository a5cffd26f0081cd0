/**
 * The example modules as the fleet runs them: each template names the image pinned once in
 * platform/fleet/example-images.ts; every agent and pipeline module of fleet/ built on one of
 * them has a config the module accepts, on every host it is placed on; each Dockerfile builds
 * the image-contents tree of its module and runs the command that tree names; and that tree,
 * alone (no repository, no dev dependencies), runs the module.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';

import { afterAll, describe, expect, it } from '@jest/globals';
import { parse } from 'yaml';
import type { z } from 'zod';

import { EXIT } from '../../../platform/cli.js';
import {
  EXAMPLE_AGENT_IMAGES,
  exampleImage,
  exampleModuleDir,
} from '../../../platform/fleet/example-images.js';
import type { ExampleModule } from '../../../platform/fleet/example-images.js';
import { FLEET_DIR } from '../../../platform/fleet/records.js';
import { configFor, loadFleet } from '../../../platform/fleet/resolve.js';
import { platformContext } from '../../../testing/real/keycloak.js';
import { assembleImageContents, REPO_ROOT } from '../../../toolchain/image-contents.js';
import { parseAgentConfig } from '../src/index.js';
import { DetectorConfig } from '../examples/anomaly-detector/src/detector.js';
import { ExtractorConfig } from '../examples/feature-extractor/src/extractor.js';

const MODULES = Object.keys(EXAMPLE_AGENT_IMAGES) as ExampleModule[];
const SCHEMAS: Record<ExampleModule, z.ZodType> = {
  'feature-extractor': ExtractorConfig,
  'anomaly-detector': DetectorConfig,
};

describe('the example modules in fleet/', () => {
  it.each(MODULES)('%s: its template names the pinned image', (m) => {
    const dir = join(REPO_ROOT, FLEET_DIR, 'templates');
    const templates = readdirSync(dir).map(
      (f) => parse(readFileSync(join(dir, f), 'utf8')) as { name: string; image: string },
    );
    expect(templates.find((t) => t.name === m)?.image).toBe(exampleImage(m));
  });

  it('every agent built on one has a config its module accepts, on each of its hosts', () => {
    const ctx = platformContext();
    const agents = loadFleet(REPO_ROOT, FLEET_DIR, ctx).agents.filter((a) =>
      MODULES.some((m) => a.image === exampleImage(m)),
    );
    expect(agents.map((a) => a.name)).toEqual(
      expect.arrayContaining(['anomalies-extractor', 'anomalies-detector', 'watchdog']),
    );
    for (const a of agents) {
      const m = MODULES.find((x) => a.image === exampleImage(x))!;
      const hosts = a.placement.hosts.length ? a.placement.hosts.map((h) => h.name) : [''];
      for (const host of hosts)
        expect(() => parseAgentConfig(SCHEMAS[m], configFor(a, host))).not.toThrow();
    }
  });
});

describe.each(MODULES)('the image of %s', (m) => {
  const out = join(mkdtempSync(join(tmpdir(), `${m}-`)), 'app');
  const tree = assembleImageContents({ service: m, out, log: () => undefined });
  afterAll(() => rmSync(dirname(out), { recursive: true, force: true }));
  const dockerfile = readFileSync(join(REPO_ROOT, exampleModuleDir(m), 'Dockerfile'), 'utf8');

  it('is built by the image-contents tool and runs the command its tree names', () => {
    expect(dockerfile).toMatch(
      new RegExp(`^RUN npm run -s image:contents -- --service ${m} --out /app\\b`, 'm'),
    );
    expect(dockerfile).toMatch(/^COPY --from=build \/app\/ \.\/$/m);
    expect(JSON.parse(/^CMD (\[.*\])$/m.exec(dockerfile)?.[1] ?? 'null')).toEqual(tree.command);
    expect(dockerfile).toMatch(/^USER 65532:65532$/m);
    // No package the module does not import (openid-client: the kit asks for tokens with fetch).
    expect(Object.keys(tree.dependencies)).not.toContain('openid-client');
  });

  it('runs from its tree alone: a missing environment stops it with exit code 2', () => {
    const [node, ...args] = tree.command;
    expect(node).toBe('node');
    const run = spawnSync(process.execPath, args, {
      cwd: out,
      env: { PATH: process.env.PATH },
      encoding: 'utf8',
      timeout: 30_000,
    });
    expect(run.status).toBe(EXIT.usage);
    expect(run.stderr).toMatch(new RegExp(`^${m}: invalid environment:\\n {2}AGENT_ID: missing`));
  });
});
