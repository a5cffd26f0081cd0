#!/usr/bin/env -S npx tsx
/**
 * `npm run release:check`: checks that a release tag is v<package.json version> and that the
 * component registry pins every image the release builds at that version; prints the image
 * references the release pushes. `.github/workflows/release.yml` runs it before building.
 *
 *   npm run release:check -- --tag v0.2.0 --owner kitt4sme
 *   npm run release:check -- --tag v0.2.0 --owner kitt4sme --json
 *
 * Exit codes: 0 the tag may be released, 1 a mismatch (each listed), 2 usage.
 */
import { Command } from 'commander';

import { EXIT, runCli } from '../../platform/cli.js';
import { releasePlan } from '../release.js';

const program = new Command()
  .name('release-check')
  .description(
    "Check a release tag against package.json's version and the component registry's image pins; print what the release pushes.",
  )
  .requiredOption('--tag <tag>', 'the git tag, e.g. v0.2.0')
  .requiredOption(
    '--owner <owner>',
    'the account the images are pushed under (ghcr.io/<owner>/...)',
  )
  .option('--json', 'print one JSON document on stdout')
  .action((opts: { tag: string; owner: string; json?: boolean }) => {
    const plan = releasePlan({ tag: opts.tag, owner: opts.owner });
    if (opts.json) {
      process.stdout.write(`${JSON.stringify(plan, null, 2)}\n`);
      return;
    }
    process.stdout.write(
      `release ${plan.version}\n${plan.images.map((i) => `  ${i.reference}  (from ${i.dockerfile}; pinned ${i.pinned})`).join('\n')}\n`,
    );
    for (const i of plan.images)
      if (i.pinned !== i.reference)
        console.error(
          `release-check: ${i.reference} is not the pinned ${i.pinned}: a fork overrides images.${i.service} in platform/config/platform.ts`,
        );
  });

await runCli(program, { exitCode: () => EXIT.failed });
