#!/usr/bin/env -S npx tsx
/**
 * `npm run image:contents`: writes the /app tree a service's runtime image carries (the
 * compiled modules the entry point reaches, their assets, a package.json with only the packages
 * they import, and those packages' production node_modules). services/provisioning/Dockerfile
 * runs it in its build stage; a locally assembled image uses the same tree.
 *
 *   npm run image:contents -- --service provisioning --out /tmp/app
 *   npm run image:contents -- --service provisioning --out /tmp/app --json
 *
 * Progress goes to stderr; the summary (or with --json one document) to stdout.
 * Exit codes: 0 written, 1 the tree could not be assembled (an import that is undeclared or
 * cannot be followed, a compile or install failure), 2 usage (unknown service, --out not
 * empty), 3 npm or the compiler missing.
 */
import { Command, Option } from 'commander';

import { EXIT, runCli } from '../../platform/cli.js';
import type { PlatformError } from '../../platform/errors.js';
import { assembleImageContents, imageBuilds } from '../image-contents.js';

const MB = 1024 * 1024;

const program = new Command()
  .name('image-contents')
  .description(
    "Write the /app tree of a service's runtime image: compiled modules, assets, a reduced package.json and its production node_modules.",
  )
  .requiredOption(
    '--service <name>',
    `the service or image build (${imageBuilds()
      .map((s) => s.name)
      .join(', ')})`,
  )
  .requiredOption('--out <dir>', 'a new or empty directory to write the tree into')
  .addOption(
    new Option('--npm-network <mode>', "npm's registry access")
      .choices(['prefer-offline', 'offline', 'online'])
      .default('prefer-offline'),
  )
  .option('--json', 'print one JSON document with the summary on stdout')
  .action(
    (opts: {
      service: string;
      out: string;
      npmNetwork: 'prefer-offline' | 'offline' | 'online';
      json?: boolean;
    }) => {
      const contents = assembleImageContents({
        service: opts.service,
        out: opts.out,
        npmNetwork: opts.npmNetwork,
      });
      if (opts.json) {
        process.stdout.write(`${JSON.stringify(contents, null, 2)}\n`);
        return;
      }
      const mb = (n: number) => `${(n / MB).toFixed(1)} MB`;
      process.stdout.write(
        [
          `${contents.service}: ${contents.out}`,
          `  command:      ${contents.command.join(' ')}`,
          `  modules:      ${contents.modules.length}`,
          `  assets:       ${contents.assets.join(', ') || '(none)'}`,
          `  dependencies: ${Object.entries(contents.dependencies)
            .map(([n, v]) => `${n}@${v}`)
            .join(', ')}`,
          `  installed:    ${contents.installed.length} packages`,
          `  size:         ${mb(contents.bytes.total)} (node_modules ${mb(contents.bytes.nodeModules)}), apparent`,
          '',
        ].join('\n'),
      );
    },
  );

await runCli(program, {
  exitCode: (err: PlatformError) =>
    err.code === 'ERR_IMAGE_SERVICE_UNKNOWN' || err.code === 'ERR_IMAGE_OUT_NOT_EMPTY'
      ? EXIT.usage
      : err.code === 'ERR_TOOL_MISSING'
        ? EXIT.environment
        : EXIT.failed,
});
