/**
 * The order `npm test` runs its files in on several workers (testing/jest/sequencer.cjs):
 * the hint of the slowest files names files that exist, marks exactly the files that start
 * the machine's one kube node, keeps those far apart, and goes ahead of jest's own order.
 */
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';

import { REPO_ROOT } from '../support/cli.js';

interface Hint {
  readonly file: string;
  readonly seconds: number;
  readonly kubeNode?: boolean;
}
interface FakeTest {
  readonly path: string;
  readonly context: unknown;
}
type SequencerClass = (new (options: unknown) => {
  sort(tests: FakeTest[]): Promise<FakeTest[]>;
}) & { SLOWEST: readonly Hint[] };

const Sequencer = createRequire(import.meta.url)('../jest/sequencer.cjs') as SequencerClass;
const { SLOWEST } = Sequencer;

/** Every jest test file of the repository, relative to its root. */
function testFiles(): string[] {
  const out: string[] = [];
  const walk = (dir: string) => {
    for (const e of readdirSync(dir, { withFileTypes: true })) {
      if (e.name === 'node_modules' || e.name.startsWith('.')) continue;
      const p = join(dir, e.name);
      if (e.isDirectory()) walk(p);
      else if (/\/test\/.*\.test\.ts$/.test(p)) out.push(relative(REPO_ROOT, p));
    }
  };
  walk(REPO_ROOT);
  return out.sort();
}

describe('the test order', () => {
  it('hints test files that exist, each once', () => {
    const files = SLOWEST.map((h) => h.file);
    expect(files.filter((f) => !existsSync(join(REPO_ROOT, f)))).toEqual([]);
    expect(new Set(files).size).toBe(files.length);
  });

  it('marks exactly the test files that start the kube node', () => {
    const starting = testFiles().filter((f) =>
      /\bstart(KubeNode|FleetGitops)\(/.test(readFileSync(join(REPO_ROOT, f), 'utf8')),
    );
    expect(starting.length).toBeGreaterThan(0);
    expect(SLOWEST.filter((h) => h.kubeNode).map((h) => h.file)).toEqual(
      expect.arrayContaining(starting),
    );
    expect(SLOWEST.filter((h) => h.kubeNode).length).toBe(starting.length);
  });

  it('keeps the kube node files apart: on two workers, each starts after the one before has ended', () => {
    // With two workers, the file at index i starts about when half the seconds before it
    // have passed; the previous kube node file must have ended by then.
    let before = 0;
    let freeAt = 0;
    for (const h of SLOWEST) {
      if (h.kubeNode) {
        // the file's name in the failure
        expect([h.file, before / 2 >= freeAt]).toEqual([h.file, true]);
        freeAt = before / 2 + h.seconds;
      }
      before += h.seconds;
    }
  });

  it('runs the hinted files first, in the hint order, then the rest in jest order (largest first)', async () => {
    const cacheDirectory = mkdtempSync(join(tmpdir(), 'test-order-'));
    try {
      const sizes = new Map<string, number>();
      const context = {
        config: { rootDir: REPO_ROOT, cacheDirectory, id: 'test-order' },
        hasteFS: { getSize: (p: string) => sizes.get(p) ?? 0 },
      };
      const t = (file: string, size: number): FakeTest => {
        const path = join(REPO_ROOT, file);
        sizes.set(path, size);
        return { path, context };
      };
      const kubelet = SLOWEST.find((h) => h.file === 'testing/test/kubelet.test.ts')!;
      const gitops = SLOWEST.find((h) => h.file === 'services/fleet/test/gitops.test.ts')!;
      const tests = [
        t('platform/test/small.test.ts', 10),
        t(kubelet.file, 1),
        t('platform/test/large.test.ts', 1_000),
        t(gitops.file, 2),
      ];
      const sorted = await new Sequencer({}).sort(tests);
      expect(sorted.map((x) => relative(REPO_ROOT, x.path))).toEqual([
        gitops.file,
        kubelet.file,
        'platform/test/large.test.ts',
        'platform/test/small.test.ts',
      ]);
    } finally {
      rmSync(cacheDirectory, { recursive: true, force: true });
    }
  });
});
