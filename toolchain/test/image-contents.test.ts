/**
 * The runtime image's /app tree (toolchain/image-contents.ts): it starts the service on its own,
 * carries only the packages the compiled service imports, is the same tree twice, and stops with
 * a documented error on an import it cannot account for.
 */
import { spawn, spawnSync } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  cpSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';

import { PlatformError } from '../../platform/errors.js';
import type { ImageContents } from '../image-contents.js';
import {
  assembleImageContents,
  imageManifest,
  importGraph,
  imageService,
  moduleReferences,
  REPO_ROOT,
  treeFiles,
  verifyTree,
} from '../image-contents.js';

const work = mkdtempSync(join(tmpdir(), 'image-contents-test-'));
const quiet = () => undefined;
let first: ImageContents;

beforeAll(() => {
  first = assembleImageContents({ service: 'provisioning', out: join(work, 'a'), log: quiet });
}, 180_000);

afterAll(() => rmSync(work, { recursive: true, force: true }));

const rootManifest = JSON.parse(readFileSync(join(REPO_ROOT, 'package.json'), 'utf8')) as {
  dependencies: Record<string, string>;
  devDependencies: Record<string, string>;
};

/** The environment the service needs (docs/provisioning.md); upstreams that refuse connections. */
const serviceEnv = (): NodeJS.ProcessEnv => ({
  PATH: process.env.PATH,
  NODE_ENV: 'production',
  PROVISIONING_PORT: '0',
  IOTA_NORTH_URL: 'http://127.0.0.1:9/iota',
  IOTA_JSON_NORTH_URL: 'http://127.0.0.1:9/iota-json',
  ORION_URL: 'http://127.0.0.1:9/orion',
  QUANTUMLEAP_NOTIFY_URL: 'http://127.0.0.1:9/v2/notify',
  KEYCLOAK_ISSUER: 'http://127.0.0.1:9/auth/realms/kitt4sme',
  KEYCLOAK_JWKS_URL: 'http://127.0.0.1:9/auth/realms/kitt4sme/protocol/openid-connect/certs',
  POLICY_DATA_FILE: join(REPO_ROOT, 'policies', 'examples', 'data.json'),
});

/** Starts the tree's command in `app`; resolves with its URL once it logs that it listens. */
function start(app: string, command: readonly string[]) {
  const child: ChildProcess = spawn(process.execPath, command.slice(1), {
    cwd: app,
    env: serviceEnv(),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
  const listening = new Promise<string>((resolve, reject) => {
    child.stdout!.on('data', (chunk: Buffer) => {
      stdout += chunk.toString();
      const m = /"port":(\d+)[^\n]*provisioning service listening/.exec(stdout);
      if (m) resolve(`http://127.0.0.1:${m[1]}`);
    });
    child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    void exited.then((code) =>
      reject(new Error(`exited ${code} before listening:\n${stderr}${stdout}`)),
    );
  });
  return { child, listening, exited, output: () => stderr + stdout };
}

/** Node looks for packages in every ancestor's node_modules: none may lend the tree one. */
function assertNoAncestorNodeModules(dir: string): void {
  for (let d = dirname(dir); ; d = dirname(d)) {
    expect(existsSync(join(d, 'node_modules'))).toBe(false);
    if (dirname(d) === d) break;
  }
}

/** Every path, its mode, mtime and content hash: equal digests mean the same tree. */
function treeDigest(dir: string): string {
  const h = createHash('sha256');
  for (const rel of treeFiles(dir)) {
    const st = statSync(join(dir, rel));
    h.update(`${rel}\0${st.mode}\0${st.mtimeMs}\0`);
    if (st.isFile()) h.update(readFileSync(join(dir, rel)));
  }
  return h.digest('hex');
}

describe('assembleImageContents (provisioning)', () => {
  it('starts the service from the tree alone: /healthz and /readyz answer, the policy wasm loads', async () => {
    assertNoAncestorNodeModules(first.out);
    const run = start(first.out, first.command);
    try {
      const url = await run.listening;
      const health = await fetch(`${url}/healthz`);
      expect(health.status).toBe(200);
      // Ready means startService got past TenancyPolicy.load, which reads dist/policies/build/authz.wasm.
      const ready = await fetch(`${url}/readyz`);
      expect(await ready.json()).toEqual({ status: 'ready' });
      expect(ready.status).toBe(200);
    } finally {
      run.child.kill('SIGTERM');
      await run.exited;
    }
  });

  it('derives the dependencies from the imports: only the packages the compiled service loads', () => {
    expect(Object.keys(first.dependencies)).toEqual([
      '@open-policy-agent/opa-wasm',
      'express',
      'jose',
      'pino',
      'prom-client',
      'zod',
    ]);
    for (const [name, version] of Object.entries(first.dependencies))
      expect(version).toBe(rootManifest.dependencies[name]);
    const manifest = JSON.parse(readFileSync(join(first.out, 'package.json'), 'utf8')) as Record<
      string,
      unknown
    >;
    expect(manifest.type).toBe('module');
    expect(manifest.dependencies).toEqual(first.dependencies);
    expect(manifest).not.toHaveProperty('devDependencies');
    expect(manifest).not.toHaveProperty('scripts');
  });

  it('carries no typescript, cdk8s or other package the service does not run', () => {
    const top = new Set(first.installed.filter((p) => !p.includes('/node_modules/')));
    for (const name of [
      'typescript',
      'cdk8s',
      'cdk8s-plus-33',
      'constructs',
      '@kubernetes/client-node',
      'commander',
      'openid-client',
      ...Object.keys(rootManifest.devDependencies),
    ]) {
      expect(top.has(name) ? name : undefined).toBeUndefined();
      expect(existsSync(join(first.out, 'node_modules', name))).toBe(false);
    }
    expect(existsSync(join(first.out, 'node_modules', '.bin'))).toBe(false);
    expect(existsSync(join(first.out, 'package-lock.json'))).toBe(false);
    // Only the modules the entry point reaches, compiled, and the policy.
    const dist = treeFiles(join(first.out, 'dist')).filter((p) =>
      statSync(join(first.out, 'dist', p)).isFile(),
    );
    expect(dist.filter((p) => !p.endsWith('.js'))).toEqual(['policies/build/authz.wasm']);
    expect(dist).toContain(imageService('provisioning').entry);
    expect(dist.some((p) => p.includes('/test/') || p.startsWith('cdk8s/'))).toBe(false);
    expect(first.bytes.nodeModules).toBeLessThan(40 * 1024 * 1024);
  });

  it('is the same tree when assembled again (paths, modes, mtimes, contents)', () => {
    const again = assembleImageContents({
      service: 'provisioning',
      out: join(work, 'b'),
      log: quiet,
      npmNetwork: 'offline',
    });
    expect(treeDigest(again.out)).toBe(treeDigest(first.out));
    expect(statSync(join(again.out, 'package.json')).mtimeMs).toBe(0);
  }, 180_000);

  it('fails to start, and fails verification, when a package it imports is missing', async () => {
    const broken = join(work, 'no-jose');
    cpSync(first.out, broken, { recursive: true });
    rmSync(join(broken, 'node_modules', 'jose'), { recursive: true });
    const run = start(broken, first.command);
    await expect(run.listening).rejects.toThrow(/Cannot find package 'jose'/);
    const graph = importGraph(join(first.out, 'dist'), imageService('provisioning').entry);
    const lock = JSON.parse(readFileSync(join(REPO_ROOT, 'package-lock.json'), 'utf8')) as {
      packages: Record<string, { version?: string }>;
    };
    expect(() => verifyTree(first.out, graph, lock)).not.toThrow();
    expect(() => verifyTree(broken, graph, lock)).toThrow(/imports 'jose', which is not installed/);
  });

  it('fails verification when an installed version differs from package-lock.json', () => {
    const graph = importGraph(join(first.out, 'dist'), imageService('provisioning').entry);
    const lock = JSON.parse(readFileSync(join(REPO_ROOT, 'package-lock.json'), 'utf8')) as {
      packages: Record<string, { version?: string }>;
    };
    lock.packages['node_modules/express'] = { version: '4.0.0' };
    expect(() => verifyTree(first.out, graph, lock)).toThrow(
      /node_modules\/express was installed at 5\.3\.0 but package-lock\.json has 4\.0\.0/,
    );
  });
});

describe('services/provisioning/Dockerfile', () => {
  const dockerfile = readFileSync(
    join(REPO_ROOT, 'services', 'provisioning', 'Dockerfile'),
    'utf8',
  );

  it('builds /app with the image-contents tool and runs the command the tree names', () => {
    expect(dockerfile).toMatch(
      /^RUN npm run -s image:contents -- --service provisioning --out \/app\b/m,
    );
    expect(dockerfile).toMatch(/^COPY --from=build \/app\/ \.\/$/m);
    const cmd = /^CMD (\[.*\])$/m.exec(dockerfile)?.[1];
    expect(JSON.parse(cmd ?? 'null')).toEqual(first.command);
    // No second copy of what the tree already holds.
    expect(dockerfile).not.toMatch(/npm prune|tsc -p/);
  });
});

describe('the import graph', () => {
  const dist = join(work, 'graph');
  const write = (rel: string, text: string) => {
    mkdirSync(dirname(join(dist, rel)), { recursive: true });
    writeFileSync(join(dist, rel), text);
  };

  it('follows relative imports and re-exports, names packages, skips built-ins and comments', () => {
    write(
      'bin/main.js',
      [
        "import { a } from '../src/a.js';",
        "import fs from 'node:fs';",
        "import path from 'path';",
        "// import 'commented-out';",
        'const s = "import \'in-a-string\'";',
        "const wasm = new URL('../assets/x.wasm', import.meta.url);",
        "await import('@scope/pkg/sub');",
      ].join('\n'),
    );
    write('src/a.js', "export * from './b.js';\nexport { x } from 'lodash/fp';\n");
    write('src/b.js', "import 'side-effect';\n");
    const graph = importGraph(dist, 'bin/main.js');
    expect(graph.modules).toEqual(['bin/main.js', 'src/a.js', 'src/b.js']);
    expect([...graph.packages]).toEqual([
      ['@scope/pkg', ['bin/main.js']],
      ['lodash', ['src/a.js']],
      ['side-effect', ['src/b.js']],
    ]);
    expect(graph.assets).toEqual(['assets/x.wasm']);
  });

  it('fails on a dynamic import of a computed specifier, naming the file and line', () => {
    expect(() => moduleReferences('x.js', "const m = 'a';\nawait import(m);\n")).toThrow(
      expect.objectContaining({
        code: 'ERR_IMAGE_IMPORT_UNRESOLVED',
        message: expect.stringMatching(/^x\.js:2: a dynamic import\(\) of a computed specifier/),
      }) as Error,
    );
  });

  it('fails on an asset URL it cannot derive', () => {
    expect(() =>
      moduleReferences('y.js', 'const f = "a";\nnew URL(`./${f}.sh`, import.meta.url);\n'),
    ).toThrow(/y\.js:2: new URL\(<computed>, import\.meta\.url\)/);
  });

  it('fails on a relative import the compile did not produce', () => {
    write('bin/lost.js', "import './missing.js';\n");
    expect(() => importGraph(dist, 'bin/lost.js')).toThrow(
      /bin\/missing\.js is imported but the compile did not produce it/,
    );
  });
});

describe('imageManifest', () => {
  const root = {
    name: 'p',
    version: '1.2.3',
    dependencies: { express: '5.3.0', typescript: '5.9.3' },
    devDependencies: { jest: '30.5.2' },
  };

  it('keeps only the imported dependencies, at the root versions', () => {
    expect(imageManifest(root, new Map([['express', ['a.js']]]))).toEqual({
      name: 'p',
      version: '1.2.3',
      private: true,
      type: 'module',
      dependencies: { express: '5.3.0' },
    });
  });

  it('fails when the service imports a devDependency, naming the importer', () => {
    expect(() => imageManifest(root, new Map([['jest', ['src/x.js']]]))).toThrow(
      expect.objectContaining({
        code: 'ERR_IMAGE_IMPORT_UNDECLARED',
        message: "src/x.js imports 'jest', which package.json lists only under devDependencies",
      }) as Error,
    );
  });

  it('fails when the service imports a package package.json does not list', () => {
    expect(() => imageManifest(root, new Map([['left-pad', ['a.js', 'b.js']]]))).toThrow(
      "a.js, b.js import 'left-pad', which package.json does not list",
    );
  });
});

describe('npm run image:contents', () => {
  const cli = (...args: string[]) =>
    spawnSync(
      process.execPath,
      ['--import', 'tsx', join(REPO_ROOT, 'toolchain', 'bin', 'image-contents.ts'), ...args],
      { cwd: REPO_ROOT, encoding: 'utf8' },
    );

  it('prints its usage with --help', () => {
    const res = cli('--help');
    expect(res.status).toBe(0);
    expect(res.stdout).toMatch(
      /--service <name>\s+the service or image build \(console, fleet, identity,\s+monitor, provisioning, fleet-plugin, feature-extractor,\s+anomaly-detector\)/,
    );
    expect(res.stdout).toContain('--json');
  });

  it('exits 2 with a documented error for an unknown service, one JSON document with --json', () => {
    const res = cli('--service', 'nope', '--out', join(work, 'unused'), '--json');
    expect(res.status).toBe(2);
    expect(res.stderr).toContain(
      "no image build for service 'nope'; services with one: console, fleet, identity, monitor, provisioning",
    );
    expect(JSON.parse(res.stdout)).toEqual({
      error: expect.objectContaining({ code: 'ERR_IMAGE_SERVICE_UNKNOWN' }) as unknown,
    });
  });

  it('exits 2 when --out already has files, and leaves them alone', () => {
    const res = cli('--service', 'provisioning', '--out', first.out);
    expect(res.status).toBe(2);
    expect(res.stderr).toContain('ERR_IMAGE_OUT_NOT_EMPTY');
    expect(existsSync(join(first.out, 'package.json'))).toBe(true);
  });

  it('the errors are PlatformErrors with a fix', () => {
    expect(() => imageService('nope')).toThrow(PlatformError);
  });
});
