#!/usr/bin/env -S npx tsx
/**
 * `npm run crd-types`: regenerates cdk8s/imports/ (the TypeScript types of the Istio and
 * Argo CD custom resources the constructs write) from the upstream CRDs at the versions the
 * platform deploys, fetched through the Go module proxy like `npm run setup` does.
 *
 *   npm run crd-types              write the files
 *   npm run crd-types -- --check   exit 1 when a file differs from a fresh generation
 *
 * Exit codes: 0 up to date (or written), 1 a file differs (--check), 3 Go or the CRDs missing.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

import { Command } from 'commander';

import { EXIT, runCli } from '../../platform/cli.js';
import { generateCrdTypes } from '../crd-types.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

const program = new Command()
  .name('crd-types')
  .description(
    'Regenerate cdk8s/imports/ from the upstream Istio and Argo CD CRDs (through the Go module proxy).',
  )
  .option('--check', 'write nothing; exit 1 when a file differs from a fresh generation')
  .action(async (opts: { check?: boolean }) => {
    let stale = 0;
    for (const { file, text } of await generateCrdTypes()) {
      const path = join(root, file);
      let current: string | undefined;
      try {
        current = readFileSync(path, 'utf8');
      } catch {
        current = undefined;
      }
      if (current === text) {
        console.error(`crd-types: ${file} is up to date`);
      } else if (opts.check) {
        stale++;
        console.error(`crd-types: ${file} differs from a fresh generation`);
      } else {
        writeFileSync(path, text);
        console.error(`crd-types: wrote ${relative(root, path)}`);
      }
    }
    if (stale > 0) {
      console.error('crd-types: run `npm run crd-types` and commit the result');
      process.exitCode = EXIT.failed;
    }
  });

await runCli(program);
