/**
 * Writing a build: deploy/ replaced whole, the generated files and docs/architecture.md's generated section; and
 * finding what is stale against a build (`npm run synth -- --check`).
 */
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';

import { listFiles } from '../cdk8s/lib/files.js';
import { DEPLOY_DIR } from '../cdk8s/lib/gitops/applications.js';
import type { Build } from './index.js';

/** The document with the generated section (diagram, routes, rights, versions). */
export const ARCHITECTURE_DOC = 'docs/architecture.md';

/** Markers of the generated section of {@link ARCHITECTURE_DOC}. */
export const SECTION_MARKERS = {
  begin: '<!-- BEGIN GENERATED: architecture (npm run synth) -->',
  end: '<!-- END GENERATED: architecture -->',
} as const;

/** The document with its generated section replaced by `section`. */
export function withGeneratedSection(doc: string, section: string): string {
  const start = doc.indexOf(SECTION_MARKERS.begin);
  const end = doc.indexOf(SECTION_MARKERS.end);
  if (start < 0 || end < start) {
    throw new TypeError(
      `${ARCHITECTURE_DOC} lacks the ${SECTION_MARKERS.begin} ... ${SECTION_MARKERS.end} markers`,
    );
  }
  return `${doc.slice(0, start + SECTION_MARKERS.begin.length)}\n${section}${doc.slice(end)}`;
}

const inDeploy = (file: string) => file.startsWith(`${DEPLOY_DIR}/`);

/**
 * Writes deploy/ (replacing it whole), the architecture document's section and the other
 * generated files.
 * deploy/ is built next to the old tree and swapped in with renames, and everything that can
 * fail is computed before the first write, so a failed run never leaves a half-written tree.
 */
export function writeOutput(root: string, out: Build): void {
  const readmePath = join(root, ARCHITECTURE_DOC);
  const readme = readFileSync(readmePath, 'utf8');
  const updated = withGeneratedSection(readme, out.architectureSection);

  const target = join(root, DEPLOY_DIR);
  const staging = join(root, `.${DEPLOY_DIR}.staging`);
  const old = join(root, `.${DEPLOY_DIR}.old`);
  rmSync(staging, { recursive: true, force: true });
  rmSync(old, { recursive: true, force: true });
  for (const [file, content] of out.files) {
    if (!inDeploy(file)) continue;
    const path = join(staging, file.slice(DEPLOY_DIR.length + 1));
    mkdirSync(dirname(path), { recursive: true });
    writeFileSync(path, content);
  }
  if (existsSync(target)) renameSync(target, old);
  renameSync(staging, target);
  rmSync(old, { recursive: true, force: true });

  if (updated !== readme) writeFileSync(readmePath, updated);
  for (const [file, content] of out.files) {
    if (inDeploy(file)) continue;
    mkdirSync(dirname(join(root, file)), { recursive: true });
    writeFileSync(join(root, file), content);
  }
}

/** Paths whose committed content differs from a build (missing and extra files in deploy/ too). */
export function staleFiles(root: string, out: Build): string[] {
  const stale: string[] = [];
  const onDisk = new Set(listFiles(join(root, DEPLOY_DIR)).map((f) => relative(root, f)));
  for (const [file, content] of out.files) {
    const path = join(root, file);
    if (!existsSync(path) || readFileSync(path, 'utf8') !== content) stale.push(file);
    onDisk.delete(file);
  }
  stale.push(...[...onDisk].map((f) => `${f} (not produced by synth)`));
  const readme = readFileSync(join(root, ARCHITECTURE_DOC), 'utf8');
  if (withGeneratedSection(readme, out.architectureSection) !== readme)
    stale.push(`${ARCHITECTURE_DOC} (generated section)`);
  return stale.sort();
}

/**
 * Replaces the git-ignored preview directory `dir` (e.g. deploy-preview/fleet) with `files`
 * (paths relative to the repository root, all inside `dir`).
 */
export function writePreview(root: string, dir: string, files: ReadonlyMap<string, string>): void {
  rmSync(join(root, dir), { recursive: true, force: true });
  for (const [file, content] of files) {
    if (!file.startsWith(`${dir}/`)) throw new TypeError(`${file} is outside ${dir}/`);
    mkdirSync(dirname(join(root, file)), { recursive: true });
    writeFileSync(join(root, file), content);
  }
}
