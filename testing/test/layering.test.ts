/**
 * The layering of the repository (dependency-rules.cjs), checked by dependency-cruiser over the
 * real tree, and the rules themselves proved on small trees that break each of them.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';

import { cruise } from 'dependency-cruiser';
import type { ICruiseResult, IConfiguration } from 'dependency-cruiser';

import { ROOT } from '../support/synth.js';

const require = createRequire(import.meta.url);
const rules = require(join(ROOT, 'dependency-rules.cjs')) as IConfiguration;

/** The top-level folders that hold code. */
const FOLDERS = [
  'platform',
  'cdk8s',
  'services',
  'scenarios',
  'generate',
  'testing',
  'toolchain',
  'scripts',
  'bench',
];

/** Cruises `folders` below `baseDir` with the repository's rules. */
async function check(baseDir: string, folders: string[]): Promise<ICruiseResult> {
  const { output } = await cruise(folders, {
    ...rules.options,
    ruleSet: { forbidden: rules.forbidden },
    baseDir,
    tsConfig: { fileName: join(ROOT, 'tsconfig.json') },
    validate: true,
  });
  return output as ICruiseResult;
}

/** The rules a tree breaks, as `rule: from → to`. */
function broken(result: ICruiseResult): string[] {
  return result.summary.violations.map((v) => `${v.rule.name}: ${v.from} → ${v.to}`).sort();
}

describe('the layering of the repository', () => {
  it('holds: no rule of dependency-rules.cjs is broken and nothing is unresolved', async () => {
    const result = await check(ROOT, FOLDERS);
    expect(broken(result)).toEqual([]);
    const unresolved = result.modules.flatMap((m) =>
      m.dependencies
        .filter((d) => d.couldNotResolve && d.module.startsWith('.'))
        .map((d) => `${m.source} → ${d.module}`),
    );
    expect(unresolved).toEqual([]);
    // The cruise saw the whole tree, not an empty one.
    expect(result.summary.totalCruised).toBeGreaterThan(150);
  }, 120_000);
});

describe('the rules', () => {
  let dir: string;
  const write = (files: Record<string, string>) => {
    for (const [path, text] of Object.entries(files)) {
      mkdirSync(dirname(join(dir, path)), { recursive: true });
      writeFileSync(join(dir, path), text);
    }
  };
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'layering-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it.each([
    [
      'cdk8s-does-not-import-services',
      {
        'cdk8s/lib/a.ts': "import { b } from '../../services/x/src/b.js';\nexport const a = b;\n",
        'services/x/src/b.ts': 'export const b = 1;\n',
      },
    ],
    [
      'services-do-not-import-cdk8s',
      {
        'services/x/src/b.ts':
          "import { a } from '../../../cdk8s/lib/a.js';\nexport const b = a;\n",
        'cdk8s/lib/a.ts': 'export const a = 1;\n',
      },
    ],
    [
      'ground-floor-imports-nothing-above-it',
      {
        'platform/a.ts': "import { b } from '../cdk8s/lib/b.js';\nexport const a = b;\n",
        'cdk8s/lib/b.ts': 'export const b = 1;\n',
      },
    ],
    [
      'product-code-never-imports-the-test-harness',
      {
        'services/x/src/b.ts':
          "import { f } from '../../../testing/fakes/f.js';\nexport const b = f;\n",
        'testing/fakes/f.ts': 'export const f = 1;\n',
      },
    ],
    [
      'only-tests-import-tests',
      {
        'services/x/src/b.ts': "import { s } from '../test/support.js';\nexport const b = s;\n",
        'services/x/test/support.ts': 'export const s = 1;\n',
      },
    ],
    [
      'a-service-does-not-import-another-services-commands',
      {
        'services/x/src/b.ts': "import { c } from '../../y/bin/c.js';\nexport const b = c;\n",
        'services/y/bin/c.ts': 'export const c = 1;\n',
      },
    ],
    [
      'toolchain-stands-on-platform',
      {
        'toolchain/t.ts': "import { b } from '../services/x/src/b.js';\nexport const t = b;\n",
        'services/x/src/b.ts': 'export const b = 1;\n',
      },
    ],
    [
      'nothing-below-imports-generate',
      {
        'cdk8s/lib/a.ts': "import { g } from '../../generate/g.js';\nexport const a = g;\n",
        'generate/g.ts': 'export const g = 1;\n',
      },
    ],
    [
      'no-cycle',
      {
        'services/x/src/a.ts': "import { b } from '../../y/src/b.js';\nexport const a = () => b;\n",
        'services/y/src/b.ts': "import { a } from '../../x/src/a.js';\nexport const b = () => a;\n",
      },
    ],
    [
      'no-cycle',
      {
        'platform/a.ts': "import type { B } from './b.js';\nexport interface A { b?: B }\n",
        'platform/b.ts': "import type { A } from './a.js';\nexport interface B { a?: A }\n",
      },
    ],
  ])('catch %s', async (rule, files) => {
    write(files as Record<string, string>);
    const found = broken(
      await check(
        dir,
        FOLDERS.filter((f) => Object.keys(files).some((p) => p.startsWith(`${f}/`))),
      ),
    );
    // The rule named catches it (an import may break a more general rule as well).
    expect(found.filter((v) => v.startsWith(`${rule}:`))).not.toEqual([]);
  });

  it('let a tree that keeps them pass, tests and the harness included', async () => {
    write({
      'platform/p.ts': 'export const p = 1;\n',
      'cdk8s/lib/c.ts': "import { p } from '../../platform/p.js';\nexport const c = p;\n",
      'services/x/src/s.ts': "import { p } from '../../../platform/p.js';\nexport const s = p;\n",
      'scenarios/z.ts': "import { s } from '../services/x/src/s.js';\nexport const z = s;\n",
      'testing/fakes/f.ts': "import { c } from '../../cdk8s/lib/c.js';\nexport const f = c;\n",
      'services/x/test/s.test.ts':
        "import { f } from '../../../testing/fakes/f.js';\nexport const t = f;\n",
    });
    expect(
      broken(await check(dir, ['platform', 'cdk8s', 'services', 'scenarios', 'testing'])),
    ).toEqual([]);
  });
});
