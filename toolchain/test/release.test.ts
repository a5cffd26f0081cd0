/**
 * The release: `npm run release:check` (toolchain/release.ts) and the workflow that runs it
 * (.github/workflows/release.yml), held to the invariants a reviewer would check by hand.
 */
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

import { parse } from 'yaml';

import { COMPONENTS } from '../../platform/components.js';
import { imageServices, REPO_ROOT } from '../image-contents.js';
import { releasePlan } from '../release.js';

const { version } = JSON.parse(readFileSync(join(REPO_ROOT, 'package.json'), 'utf8')) as {
  version: string;
};

interface Step {
  id?: string;
  name?: string;
  uses?: string;
  run?: string;
  with?: Record<string, unknown>;
  env?: Record<string, string>;
}
interface Job {
  permissions?: Record<string, string>;
  steps: Step[];
}
const WORKFLOW = join(REPO_ROOT, '.github', 'workflows', 'release.yml');
const text = readFileSync(WORKFLOW, 'utf8');
const workflow = parse(text) as {
  on: Record<string, unknown>;
  permissions: Record<string, string>;
  jobs: Record<string, Job>;
};
const jobs = Object.values(workflow.jobs);
const steps = jobs.flatMap((j) => j.steps);
const indexOf = (pred: (s: Step) => boolean) => steps.findIndex(pred);

describe('releasePlan', () => {
  it("releases each image at package.json's version under the registry's pinned name", () => {
    const plan = releasePlan({ tag: `v${version}`, owner: 'kitt4sme' });
    expect(plan.version).toBe(version);
    expect(plan.images.map((i) => i.service).sort()).toEqual(imageServices().map((s) => s.name));
    const pin = COMPONENTS.provisioning.image;
    expect(plan.images[0]).toEqual({
      service: 'provisioning',
      dockerfile: 'services/provisioning/Dockerfile',
      pinned: `${pin.repository}:${pin.tag}`,
      name: pin.repository,
      reference: `${pin.repository}:${version}`,
    });
  });

  it("pushes a fork's release under its own (lower-cased) owner", () => {
    const plan = releasePlan({ tag: `v${version}`, owner: 'SomeFork' });
    expect(plan.images[0]!.reference).toBe(`ghcr.io/somefork/provisioning:${version}`);
  });

  it("fails when the tag is not v<package.json's version>", () => {
    expect(() => releasePlan({ tag: 'v99.0.0', owner: 'kitt4sme' })).toThrow(
      expect.objectContaining({
        code: 'ERR_RELEASE_MISMATCH',
        message: `the tag v99.0.0 is not v${version} (package.json's version)`,
      }) as Error,
    );
    expect(() => releasePlan({ tag: version, owner: 'kitt4sme' })).toThrow(/is not v/);
  });

  it('fails when the registry pins another tag than the version, naming the entry', () => {
    expect(() =>
      releasePlan({
        tag: `v${version}`,
        owner: 'kitt4sme',
        pinOf: () => ({ repository: 'ghcr.io/kitt4sme/provisioning', tag: '0.0.1' }),
      }),
    ).toThrow(
      `COMPONENTS.provisioning.image pins ghcr.io/kitt4sme/provisioning:0.0.1, not version ${version}`,
    );
    expect(() =>
      releasePlan({ tag: `v${version}`, owner: 'kitt4sme', pinOf: () => undefined }),
    ).toThrow('the component registry has no image for the service provisioning');
  });

  it('npm run release:check exits 1 on a mismatch and prints the plan with --json', () => {
    const cli = (...args: string[]) =>
      spawnSync(
        process.execPath,
        ['--import', 'tsx', join(REPO_ROOT, 'toolchain', 'bin', 'release-check.ts'), ...args],
        { cwd: REPO_ROOT, encoding: 'utf8' },
      );
    const ok = cli('--tag', `v${version}`, '--owner', 'kitt4sme', '--json');
    expect(ok.status).toBe(0);
    expect(JSON.parse(ok.stdout)).toEqual(releasePlan({ tag: `v${version}`, owner: 'kitt4sme' }));
    const bad = cli('--tag', 'v0.0.0-nope', '--owner', 'kitt4sme');
    expect(bad.status).toBe(1);
    expect(bad.stderr).toContain('ERR_RELEASE_MISMATCH');
  });
});

describe('.github/workflows/release.yml', () => {
  it('runs on v* tags only', () => {
    expect(workflow.on).toEqual({ push: { tags: ['v*'] } });
  });

  it('grants nothing by default and each job only what it uses', () => {
    expect(workflow.permissions).toEqual({});
    for (const job of jobs)
      expect(job.permissions).toEqual({
        contents: 'read',
        packages: 'write',
        'id-token': 'write',
        attestations: 'write',
      });
  });

  it('pins every action to a full commit SHA with its release in a comment', () => {
    const uses = steps.filter((s) => s.uses).map((s) => s.uses!);
    expect(uses.length).toBeGreaterThanOrEqual(6);
    for (const u of uses) {
      expect(u).toMatch(/^[\w.-]+\/[\w./-]+@[0-9a-f]{40}$/);
      expect(text).toMatch(
        new RegExp(`uses: ${u.replace(/[./]/g, '\\$&')} # v\\d+\\.\\d+\\.\\d+$`, 'm'),
      );
    }
  });

  it('checks the tag before it logs in, builds or pushes', () => {
    const check = indexOf((s) => /npm run -s release:check -- --tag "\$TAG"/.test(s.run ?? ''));
    expect(check).toBeGreaterThanOrEqual(0);
    expect(steps[check]!.id).toBe('release');
    expect(steps[check]!.env).toEqual({
      TAG: '${{ github.ref_name }}',
      OWNER: '${{ github.repository_owner }}',
    });
    for (const action of ['docker/login-action', 'docker/build-push-action'])
      expect(indexOf((s) => s.uses?.startsWith(`${action}@`) ?? false)).toBeGreaterThan(check);
  });

  it("builds each service's Dockerfile and pushes the reference the check derived from the registry's pin", () => {
    const builds = steps.filter((s) => s.uses?.startsWith('docker/build-push-action@'));
    expect(builds.map((b) => b.with?.file)).toEqual(
      releasePlan({ tag: `v${version}`, owner: 'kitt4sme' }).images.map((i) => i.dockerfile),
    );
    const build = builds[0]!;
    expect(build.with).toMatchObject({
      context: '.',
      push: true,
      tags: '${{ steps.release.outputs.reference }}',
    });
    // The output the build pushes is the plan's reference of that service.
    const check = steps.find((s) => s.id === 'release')!;
    expect(check.run).toContain('select(.service == "provisioning")');
    expect(check.run).toContain('reference=\\(.reference)');
  });

  it('attests the digest it pushed under the same name', () => {
    const build = steps.find((s) => s.uses?.startsWith('docker/build-push-action@'))!;
    const attest = steps.find((s) => s.uses?.startsWith('actions/attest-build-provenance@'))!;
    expect(steps.indexOf(attest)).toBeGreaterThan(steps.indexOf(build));
    expect(attest.with).toEqual({
      'subject-name': '${{ steps.release.outputs.name }}',
      'subject-digest': `\${{ steps.${build.id}.outputs.digest }}`,
      'push-to-registry': true,
    });
  });

  it('never expands an expression inside a shell script (inputs go through env)', () => {
    for (const s of steps) expect(s.run ?? '').not.toContain('${{');
  });

  it('does not keep the token in the checkout', () => {
    const checkout = steps.find((s) => s.uses?.startsWith('actions/checkout@'))!;
    expect(checkout.with).toEqual({ 'persist-credentials': false });
  });
});
