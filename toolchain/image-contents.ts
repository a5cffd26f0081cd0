/**
 * The /app tree of a service's runtime image, and nothing else: the compiled modules the
 * service's entry point reaches, the assets they load, a package.json whose dependencies are the
 * packages those modules import, and the production node_modules of just those packages, at
 * package-lock.json's versions.
 *
 * Both the Dockerfile's build stage (`npm run image:contents`) and any locally assembled image
 * use this, so they carry the same tree. Same inputs, same tree: the file list and the
 * dependencies are sorted, the generated package.json has no timestamp, and every file's mtime
 * is set to SOURCE_DATE_EPOCH (default 0).
 *
 * The package list is derived, never written by hand: the compiled ESM is parsed (TypeScript's
 * parser) from the entry point, following relative imports; every bare specifier names a
 * package. A specifier or asset URL that is not a string literal cannot be followed and stops the
 * build, as does a package the root package.json lists only under devDependencies. NOTE (1)
 */
import { spawnSync } from 'node:child_process';
import {
  copyFileSync,
  existsSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  utimesSync,
  writeFileSync,
} from 'node:fs';
import { isBuiltin } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join, posix, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

import ts from 'typescript';

import { catalogueError, PLATFORM_ERRORS } from '../platform/errors.js';
import { EXAMPLE_AGENT_IMAGES, exampleModuleDir } from '../platform/fleet/example-images.js';
import type { ExampleModule } from '../platform/fleet/example-images.js';

/** The repository root. */
export const REPO_ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');

const err = (code: keyof typeof PLATFORM_ERRORS, message: string, cause?: unknown) =>
  catalogueError(PLATFORM_ERRORS, code, message, cause);

/** A service with an image build: services/<name>/tsconfig.build.json naming one entry point. */
export interface ImageService {
  readonly name: string;
  /** services/<name>/tsconfig.build.json, relative to the repository root. */
  readonly tsconfig: string;
  /** The entry point's compiled path under dist/, e.g. `services/provisioning/bin/server.js`. */
  readonly entry: string;
}

/** The services that have an image build, sorted by name. */
export function imageServices(root = REPO_ROOT): ImageService[] {
  const services = join(root, 'services');
  // The fleet plugin's build stage copies no services/.
  if (!existsSync(services)) return [];
  return readdirSync(services)
    .filter((name) => existsSync(join(services, name, 'tsconfig.build.json')))
    .sort()
    .map((name) => imageBuild(root, name, posix.join('services', name)));
}

/**
 * Image builds that are not a service, by name and directory (holding tsconfig.build.json and
 * the Dockerfile): the fleet's Config Management Plugin, the sidecar of Argo CD's repo-server,
 * which runs the construct library (cdk8s/, which services/ may not import). The release
 * (toolchain/release.ts) publishes services only. NOTE (3)
 */
export const OTHER_IMAGE_BUILDS: Readonly<Record<string, string>> = {
  'fleet-plugin': 'cdk8s/fleet-plugin',
  // The example AI modules (agents of the fleet, not platform services): one build each.
  ...Object.fromEntries(
    (Object.keys(EXAMPLE_AGENT_IMAGES) as ExampleModule[]).map((m) => [m, exampleModuleDir(m)]),
  ),
};

/** Every image build: the services', then {@link OTHER_IMAGE_BUILDS}. */
export function imageBuilds(root = REPO_ROOT): ImageService[] {
  return [
    ...imageServices(root),
    ...Object.entries(OTHER_IMAGE_BUILDS).map(([name, dir]) => imageBuild(root, name, dir)),
  ];
}

function imageBuild(root: string, name: string, dir: string): ImageService {
  const tsconfig = posix.join(dir, 'tsconfig.build.json');
  const parsed = ts.parseConfigFileTextToJson(tsconfig, readFileSync(join(root, tsconfig), 'utf8'))
    .config as { include?: string[] } | undefined;
  const include = parsed?.include ?? [];
  if (include.length !== 1 || !include[0]!.endsWith('.ts'))
    throw new TypeError(
      `${tsconfig}: "include" must name exactly the entry point (one .ts file), got ${JSON.stringify(include)}`,
    );
  const entry = posix.join(dir, include[0]!).replace(/\.ts$/, '.js');
  return { name, tsconfig, entry };
}

/** The service named `name`, or ERR_IMAGE_SERVICE_UNKNOWN. */
export function imageService(name: string, root = REPO_ROOT): ImageService {
  const all = imageBuilds(root);
  const found = all.find((s) => s.name === name);
  if (!found)
    throw err(
      'ERR_IMAGE_SERVICE_UNKNOWN',
      `no image build for service '${name}'; services with one: ${all.map((s) => s.name).join(', ')}`,
    );
  return found;
}

/** What the entry point reaches at run time. */
export interface ImportGraph {
  /** Compiled modules, relative to dist/, sorted. */
  readonly modules: string[];
  /** Package names imported, sorted, each with the modules (relative to dist/) importing it. */
  readonly packages: ReadonlyMap<string, readonly string[]>;
  /** Files loaded with `new URL('<literal>', import.meta.url)`, relative to dist/, sorted. */
  readonly assets: string[];
}

/** `@scope/name/sub` -> `@scope/name`, `name/sub` -> `name`. */
export function packageName(specifier: string): string {
  const parts = specifier.split('/');
  return specifier.startsWith('@') ? parts.slice(0, 2).join('/') : parts[0]!;
}

const literal = (node: ts.Node | undefined): string | undefined =>
  node && (ts.isStringLiteral(node) || ts.isNoSubstitutionTemplateLiteral(node))
    ? node.text
    : undefined;

const isImportMetaUrl = (node: ts.Node | undefined): boolean =>
  !!node &&
  ts.isPropertyAccessExpression(node) &&
  node.name.text === 'url' &&
  ts.isMetaProperty(node.expression) &&
  node.expression.keywordToken === ts.SyntaxKind.ImportKeyword;

/** The specifiers and asset URLs of one ES module's text. */
export function moduleReferences(
  file: string,
  text: string,
): { specifiers: string[]; assets: string[] } {
  const source = ts.createSourceFile(file, text, ts.ScriptTarget.ES2022, true, ts.ScriptKind.JS);
  const specifiers: string[] = [];
  const assets: string[] = [];
  const where = (node: ts.Node) => {
    const { line } = source.getLineAndCharacterOfPosition(node.getStart());
    return `${file}:${line + 1}`;
  };
  const visit = (node: ts.Node): void => {
    if (
      (ts.isImportDeclaration(node) || ts.isExportDeclaration(node)) &&
      node.moduleSpecifier !== undefined
    ) {
      specifiers.push(literal(node.moduleSpecifier)!);
    } else if (ts.isCallExpression(node) && node.expression.kind === ts.SyntaxKind.ImportKeyword) {
      const spec = literal(node.arguments[0]);
      if (spec === undefined)
        throw err(
          'ERR_IMAGE_IMPORT_UNRESOLVED',
          `${where(node)}: a dynamic import() of a computed specifier cannot be followed`,
        );
      specifiers.push(spec);
    } else if (
      ts.isCallExpression(node) &&
      ts.isIdentifier(node.expression) &&
      node.expression.text === 'require'
    ) {
      throw err(
        'ERR_IMAGE_IMPORT_UNRESOLVED',
        `${where(node)}: require() in an ES module cannot be followed; use import`,
      );
    } else if (
      ts.isNewExpression(node) &&
      ts.isIdentifier(node.expression) &&
      node.expression.text === 'URL' &&
      isImportMetaUrl(node.arguments?.[1])
    ) {
      const asset = literal(node.arguments![0]);
      if (asset === undefined)
        throw err(
          'ERR_IMAGE_IMPORT_UNRESOLVED',
          `${where(node)}: new URL(<computed>, import.meta.url) names a file that cannot be derived`,
        );
      assets.push(asset);
    }
    ts.forEachChild(node, visit);
  };
  visit(source);
  return { specifiers, assets };
}

/** Walks the compiled ES modules under `dist` from `entry` (relative to dist). */
export function importGraph(dist: string, entry: string): ImportGraph {
  const modules = new Set<string>();
  const packages = new Map<string, Set<string>>();
  const assets = new Set<string>();
  const queue = [entry];
  while (queue.length > 0) {
    const rel = queue.shift()!;
    if (modules.has(rel)) continue;
    const path = join(dist, rel);
    if (!existsSync(path))
      throw err(
        'ERR_IMAGE_IMPORT_UNRESOLVED',
        `${rel} is imported but the compile did not produce it (an import of a file outside the service's tsconfig.build.json, or a missing .js extension)`,
      );
    modules.add(rel);
    const refs = moduleReferences(rel, readFileSync(path, 'utf8'));
    for (const spec of refs.specifiers) {
      if (spec.startsWith('./') || spec.startsWith('../')) {
        queue.push(posix.normalize(posix.join(posix.dirname(rel), spec)));
      } else if (isBuiltin(spec)) {
        continue;
      } else if (spec.startsWith('/') || spec.includes(':')) {
        throw err(
          'ERR_IMAGE_IMPORT_UNRESOLVED',
          `${rel}: the specifier '${spec}' is neither relative, a package nor a Node built-in`,
        );
      } else {
        const name = packageName(spec);
        packages.set(name, (packages.get(name) ?? new Set()).add(rel));
      }
    }
    for (const asset of refs.assets) {
      const target = posix.normalize(posix.join(posix.dirname(rel), asset));
      if (target.startsWith('../'))
        throw err('ERR_IMAGE_IMPORT_UNRESOLVED', `${rel}: the asset '${asset}' lies outside dist/`);
      assets.add(target);
    }
  }
  return {
    modules: [...modules].sort(),
    packages: new Map(
      [...packages.keys()].sort().map((name) => [name, [...packages.get(name)!].sort()]),
    ),
    assets: [...assets].sort(),
  };
}

interface RootManifest {
  name: string;
  version: string;
  license?: string;
  engines?: Record<string, string>;
  dependencies?: Record<string, string>;
  devDependencies?: Record<string, string>;
  overrides?: Record<string, unknown>;
}

/** The image's package.json: the root's identity, `type: module` and only `packages`. */
export function imageManifest(
  root: RootManifest,
  packages: ReadonlyMap<string, readonly string[]>,
) {
  const dependencies: Record<string, string> = {};
  for (const [name, importers] of packages) {
    const version = root.dependencies?.[name];
    if (version === undefined)
      throw err(
        'ERR_IMAGE_IMPORT_UNDECLARED',
        `${importers.join(', ')} import${importers.length === 1 ? 's' : ''} '${name}', which package.json ${
          root.devDependencies?.[name] !== undefined
            ? 'lists only under devDependencies'
            : 'does not list'
        }`,
      );
    dependencies[name] = version;
  }
  return {
    name: root.name,
    version: root.version,
    private: true,
    type: 'module',
    ...(root.license ? { license: root.license } : {}),
    ...(root.engines ? { engines: root.engines } : {}),
    dependencies,
    // The lockfile was resolved with these; npm ci checks them against it.
    ...(root.overrides ? { overrides: root.overrides } : {}),
  };
}

interface LockEntry {
  version?: string;
  link?: boolean;
}

/**
 * Checks that every package npm installed under `out` is at package-lock.json's version for the
 * same path, and that every imported package resolves from each module importing it (Node's
 * lookup: the nearest node_modules/<name> up from the module).
 */
export function verifyTree(
  out: string,
  graph: ImportGraph,
  lock: { packages: Record<string, LockEntry> },
): void {
  const hidden = join(out, 'node_modules', '.package-lock.json');
  const installed = existsSync(hidden)
    ? (JSON.parse(readFileSync(hidden, 'utf8')) as { packages: Record<string, LockEntry> }).packages
    : {};
  for (const [path, entry] of Object.entries(installed)) {
    const locked = lock.packages[path];
    if (!locked || locked.version !== entry.version)
      throw err(
        'ERR_IMAGE_IMPORT_UNRESOLVED',
        `${path} was installed at ${entry.version ?? '?'} but package-lock.json has ${locked?.version ?? 'no such entry'}`,
      );
  }
  for (const [name, importers] of graph.packages) {
    for (const importer of importers) {
      let dir = dirname(join(out, 'dist', importer));
      let found = false;
      for (;;) {
        if (existsSync(join(dir, 'node_modules', name, 'package.json'))) {
          found = true;
          break;
        }
        if (dir === out || dirname(dir) === dir) break;
        dir = dirname(dir);
      }
      if (!found)
        throw err(
          'ERR_IMAGE_IMPORT_UNRESOLVED',
          `dist/${importer} imports '${name}', which is not installed in ${out}`,
        );
    }
  }
  for (const asset of graph.assets)
    if (!existsSync(join(out, 'dist', asset)))
      throw err('ERR_IMAGE_IMPORT_UNRESOLVED', `the asset dist/${asset} is missing in ${out}`);
}

/** Runs a build step; a failure is ERR_IMAGE_BUILD_FAILED naming the command. */
function step(command: string, args: string[], cwd: string, log: (line: string) => void): void {
  const shown = `${command === process.execPath ? 'node' : command} ${args.join(' ')}`;
  log(`image-contents: ${shown}`);
  const run = spawnSync(command, args, {
    cwd,
    encoding: 'utf8',
    // The tool's stdout is its result; a step's output goes to stderr.
    stdio: ['ignore', 'pipe', 'pipe'],
    maxBuffer: 64 * 1024 * 1024,
  });
  const output = `${run.stdout ?? ''}${run.stderr ?? ''}`.trim();
  if (output) log(output);
  if ((run.error as NodeJS.ErrnoException | undefined)?.code === 'ENOENT')
    throw err('ERR_TOOL_MISSING', `${command} is not installed (needed for \`${shown}\`)`);
  if (run.error || run.status !== 0)
    throw err(
      'ERR_IMAGE_BUILD_FAILED',
      `\`${shown}\` (in ${cwd}) ${run.error ? `could not run: ${run.error.message}` : `exited ${run.status ?? run.signal}`}`,
      run.error,
    );
}

/** Apparent size in bytes of every file under `dir` (symbolic links count as themselves). */
export function treeBytes(dir: string): number {
  let total = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    total += entry.isDirectory() ? treeBytes(path) : lstatSync(path).size;
  }
  return total;
}

/** Every path under `dir`, relative, sorted (directories too). */
export function treeFiles(dir: string, prefix = ''): string[] {
  const paths: string[] = [];
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const rel = prefix ? `${prefix}/${entry.name}` : entry.name;
    paths.push(rel);
    if (entry.isDirectory()) paths.push(...treeFiles(join(dir, entry.name), rel));
  }
  return paths.sort();
}

/** What {@link assembleImageContents} wrote. */
export interface ImageContents {
  readonly service: string;
  readonly out: string;
  /** The command the image runs, relative to out (its WORKDIR). */
  readonly command: string[];
  readonly modules: string[];
  readonly assets: string[];
  /** The dependencies of the image's package.json. */
  readonly dependencies: Record<string, string>;
  /** Packages installed under node_modules (direct and transitive), sorted. */
  readonly installed: string[];
  readonly bytes: { readonly total: number; readonly nodeModules: number };
}

export interface AssembleOptions {
  readonly service: string;
  /** A new or empty directory. */
  readonly out: string;
  /** The repository to build from; default this one. */
  readonly root?: string;
  /** Progress lines; default stderr. */
  readonly log?: (line: string) => void;
  /** npm's cache access; default `--prefer-offline` (the registry only for what the cache lacks). */
  readonly npmNetwork?: 'prefer-offline' | 'offline' | 'online';
}

/** Writes the /app tree of `service`'s image into `out`. */
export function assembleImageContents(options: AssembleOptions): ImageContents {
  const root = resolve(options.root ?? REPO_ROOT);
  const out = resolve(options.out);
  const log = options.log ?? ((line: string) => process.stderr.write(`${line}\n`));
  const service = imageService(options.service, root);
  if (existsSync(out) && readdirSync(out).length > 0)
    throw err('ERR_IMAGE_OUT_NOT_EMPTY', `--out ${out} is not empty`);

  // 1. Compile into a scratch dist/ (never the repository's).
  const scratch = mkdtempSync(join(tmpdir(), `image-${service.name}-`));
  try {
    const tsc = join(root, 'node_modules', 'typescript', 'bin', 'tsc');
    step(process.execPath, [tsc, '-p', service.tsconfig, '--outDir', scratch], root, log);

    // 2. What the entry point reaches, and the packages it imports.
    const graph = importGraph(scratch, service.entry);
    const rootManifest = JSON.parse(
      readFileSync(join(root, 'package.json'), 'utf8'),
    ) as RootManifest;
    const manifest = imageManifest(rootManifest, graph.packages);
    log(
      `image-contents: ${graph.modules.length} modules, ${graph.assets.length} assets, packages: ${Object.keys(manifest.dependencies).join(', ')}`,
    );

    // 3. The tree: modules, assets (from the repository, at the same path under dist/),
    //    package.json.
    mkdirSync(out, { recursive: true });
    for (const rel of graph.modules) {
      mkdirSync(dirname(join(out, 'dist', rel)), { recursive: true });
      copyFileSync(join(scratch, rel), join(out, 'dist', rel));
    }
    for (const rel of graph.assets) {
      const from = join(root, rel);
      if (!existsSync(from))
        throw err(
          'ERR_IMAGE_IMPORT_UNRESOLVED',
          `the asset ${rel} (dist/${rel} in the image) does not exist in the repository${rel.endsWith('.wasm') ? '; run `npm run policy:build`' : ''}`,
        );
      mkdirSync(dirname(join(out, 'dist', rel)), { recursive: true });
      copyFileSync(from, join(out, 'dist', rel));
    }
    writeFileSync(join(out, 'package.json'), `${JSON.stringify(manifest, null, 2)}\n`);

    // 4. Production node_modules of just those packages, at the lockfile's versions. NOTE (2)
    const lockText = readFileSync(join(root, 'package-lock.json'), 'utf8');
    writeFileSync(join(out, 'package-lock.json'), lockText);
    const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';
    const network = options.npmNetwork ?? 'prefer-offline';
    step(
      npm,
      [
        'ci',
        '--omit=dev',
        '--ignore-scripts',
        '--no-audit',
        '--no-fund',
        '--no-update-notifier',
        ...(network === 'online' ? [] : [`--${network}`]),
      ],
      out,
      log,
    );
    // The full lockfile describes the repository, not the image; node_modules/.package-lock.json
    // records what was installed.
    rmSync(join(out, 'package-lock.json'));
    rmSync(join(out, 'node_modules', '.bin'), { recursive: true, force: true });
    removeEmptyDirs(join(out, 'node_modules'));
    verifyTree(out, graph, JSON.parse(lockText) as { packages: Record<string, LockEntry> });

    // 5. Reproducible metadata: one mtime for every path.
    const epoch = Number(process.env.SOURCE_DATE_EPOCH ?? 0);
    for (const rel of treeFiles(out).reverse()) utimesSync(join(out, rel), epoch, epoch);
    utimesSync(out, epoch, epoch);

    return {
      service: service.name,
      out,
      command: ['node', `dist/${service.entry}`],
      modules: graph.modules,
      assets: graph.assets,
      dependencies: manifest.dependencies,
      installed: installedPackages(out),
      bytes: { total: treeBytes(out), nodeModules: treeBytes(join(out, 'node_modules')) },
    };
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }
}

/** The package paths npm recorded as installed (e.g. `express`, `a/node_modules/b`), sorted. */
function installedPackages(out: string): string[] {
  const hidden = join(out, 'node_modules', '.package-lock.json');
  if (!existsSync(hidden)) return [];
  const { packages } = JSON.parse(readFileSync(hidden, 'utf8')) as {
    packages: Record<string, unknown>;
  };
  return Object.keys(packages)
    .map((p) => p.replace(/^node_modules\//, ''))
    .sort();
}

/** Removes directories left empty under `dir` (npm leaves some of pruned scopes). */
function removeEmptyDirs(dir: string): void {
  if (!existsSync(dir)) return;
  for (const entry of readdirSync(dir, { withFileTypes: true }))
    if (entry.isDirectory()) removeEmptyDirs(join(dir, entry.name));
  if (readdirSync(dir).length === 0 && dir.split(sep).at(-1) !== 'node_modules') rmSync(dir);
}

// NOTE
// 1. Why walk the compiled ESM and not the sources. The compile erases type-only imports
//    (verbatimModuleSyntax), so what remains is what Node loads: a package imported only for its
//    types (pino's DestinationStream, express's Request) is not installed, and a module reached
//    only through types is not shipped. The TypeScript parser is used instead of a regular
//    expression so that comments and strings that look like imports do not count. Measured on
//    0.2.0 (node_modules as the old Dockerfile built it: npm ci, tsc, npm prune --omit=dev):
//    148 MB of node_modules (du -sh; 129 MB apparent), 162 top-level entries including
//    typescript, cdk8s, cdk8s-plus-33 and @kubernetes/client-node; with this tree 23 MB.
// 2. Why `npm ci` with the repository's whole lockfile and a reduced package.json. npm 11
//    builds the tree from the lockfile's entries reachable from the reduced dependencies, so
//    every version is the locked one (verifyTree checks each against the lock), nothing is
//    resolved anew, and with --prefer-offline the cache of the build stage's own `npm ci`
//    serves every tarball (no registry access in the Dockerfile's build after the first
//    install). `npm prune --omit=dev` after reducing package.json was the other way; it needs a
//    full node_modules first and leaves empty scope directories behind (@babel/, @eslint/, ...).
// 3. The fleet plugin's image. Argo CD renders the fleet records on its repo-server with the
//    construct library (cdk8s/lib/fleet/), which the layering keeps out of services/; so its
//    build lives beside the library (cdk8s/fleet-plugin/: tsconfig.build.json naming
//    cdk8s/bin/fleet-render.ts, and the Dockerfile) and uses this same tree. It is not a
//    release image yet (toolchain/release.ts checks services/<name>/Dockerfile against
//    PROJECT_IMAGE_IDS): a fork builds and pushes it as the Dockerfile says.
