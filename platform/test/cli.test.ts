/**
 * The CLI conventions every command shares (platform/cli.ts), on a small command run as a
 * subprocess: exit codes of usage errors, documented errors and bugs, and where each goes.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';

import { REPO_ROOT, runCli } from '../../testing/support/cli.js';

let dir: string;
let script: string;
const run = (args: string[]) => runCli(script, args, dir);

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'cli-conventions-'));
  script = join(dir, 'probe.mts');
  const url = (p: string) => pathToFileURL(join(REPO_ROOT, p)).href;
  // A command that fails the way its argument says: a documented error, or a bug.
  writeFileSync(
    script,
    `import { Command } from '${url('node_modules/commander/esm.mjs')}';
import { EXIT, runCli } from '${url('platform/cli.ts')}';
import { PlatformError } from '${url('platform/errors.ts')}';

const program = new Command()
  .name('probe')
  .argument('<what>')
  .option('--json', 'JSON on stdout')
  .action((what: string) => {
    if (what === 'ok') return void process.stdout.write('fine\\n');
    if (what === 'bug') throw new TypeError('a bug');
    throw new PlatformError(what === 'late' ? 'ERR_LATE' : 'ERR_BAD', 'it went wrong', 'do this');
  });
await runCli(program, { exitCode: (err) => (err.code === 'ERR_LATE' ? EXIT.environment : EXIT.failed) });
`,
  );
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('runCli', () => {
  it('runs the command: exit 0, the result on stdout', async () => {
    expect(await run(['ok'])).toMatchObject({ code: 0, stdout: 'fine\n' });
  });

  it('a documented error: what, fix and code on stderr, nothing on stdout, the code the command maps it to', async () => {
    const bad = await run(['bad']);
    expect(bad).toMatchObject({ code: 1, stdout: '' });
    expect(bad.stderr).toBe('probe: it went wrong\ndo this [ERR_BAD]\n');
    expect((await run(['late'])).code).toBe(3);
  });

  it('with --json, the documented error is also one JSON document on stdout', async () => {
    const bad = await run(['bad', '--json']);
    expect(bad.code).toBe(1);
    expect(JSON.parse(bad.stdout)).toEqual({
      error: { code: 'ERR_BAD', message: 'it went wrong', fix: 'do this' },
    });
  });

  it('a usage error exits 2, --help exits 0', async () => {
    const usage = await run(['ok', '--nope']);
    expect(usage.code).toBe(2);
    expect(usage.stderr).toContain("unknown option '--nope'");
    expect((await run(['--help'])).code).toBe(0);
  });

  it('anything but a documented error is a bug: it is thrown with its stack, not dressed up', async () => {
    const bug = await run(['bug']);
    expect(bug.code).toBe(1);
    expect(bug.stderr).toContain('TypeError: a bug');
    expect(bug.stderr).not.toContain('probe: a bug');
  });
});
