/**
 * The console's build: esbuild bundles the browser app (services/console/web) into hashed,
 * minified static assets, gzips each beside it, and writes the index.html that loads them.
 * Nothing inline: the page has one script and one stylesheet, both files, so the server's
 * Content-Security-Policy can forbid inline script and style.
 */
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';

import { build } from 'esbuild';

import { CONSOLE_PATH } from '../../../platform/realm.js';
import { CONSOLE_DIST } from './paths.js';

export { CONSOLE_DIST };

/** The web app's entry point. */
const ENTRY = fileURLToPath(new URL('../web/main.tsx', import.meta.url));

/** The budget of the first load, JS and CSS gzipped (issue 22). */
export const FIRST_LOAD_BUDGET = 150 * 1024;

/** One built asset. */
export interface BuiltAsset {
  /** The URL path the page loads it from, e.g. `/console/assets/main-AB12CD34.js`. */
  readonly url: string;
  readonly bytes: number;
  readonly gzipBytes: number;
}

/** What a build wrote. */
export interface ConsoleBuild {
  readonly dir: string;
  readonly js: BuiltAsset;
  readonly css: BuiltAsset;
  /** JS and CSS of the first load, gzipped. */
  readonly firstLoadGzip: number;
}

/** Builds the console into `dir` (replaced whole). */
export async function buildConsole(dir: string = CONSOLE_DIST): Promise<ConsoleBuild> {
  rmSync(dir, { recursive: true, force: true });
  const assets = join(dir, 'assets');
  mkdirSync(assets, { recursive: true });
  const result = await build({
    entryPoints: { main: ENTRY },
    bundle: true,
    minify: true,
    format: 'esm',
    target: ['chrome120', 'firefox121', 'safari17'],
    jsx: 'automatic',
    jsxImportSource: 'preact',
    entryNames: '[name]-[hash]',
    assetNames: '[name]-[hash]',
    outdir: assets,
    metafile: true,
    legalComments: 'linked',
    logLevel: 'silent',
    define: { 'process.env.NODE_ENV': '"production"' },
  });
  const outputs = Object.keys(result.metafile.outputs);
  const pick = (ext: string): BuiltAsset => {
    const file = outputs.find((o) => o.endsWith(ext));
    if (!file) throw new TypeError(`the console build wrote no ${ext} file`);
    const body = readFileSync(file);
    const gz = gzipSync(body, { level: 9 });
    writeFileSync(`${file}.gz`, gz);
    return {
      url: `${CONSOLE_PATH}/assets/${basename(file)}`,
      bytes: body.length,
      gzipBytes: gz.length,
    };
  };
  const js = pick('.js');
  const css = pick('.css');
  writeFileSync(join(dir, 'index.html'), indexHtml(js.url, css.url));
  return { dir, js, css, firstLoadGzip: js.gzipBytes + css.gzipBytes };
}

/** The page: the stylesheet, the module script, and what shows before it runs. */
function indexHtml(js: string, css: string): string {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>KITT4SME console</title>
<link rel="stylesheet" href="${css}">
<script type="module" src="${js}"></script>
</head>
<body>
<div id="app"><p class="loading">Loading the console…</p></div>
<noscript><p>The KITT4SME console needs JavaScript.</p></noscript>
</body>
</html>
`;
}
