/**
 * Shared conventions of the project's command-line tools.
 *
 * Exit codes: 0 ok, 1 check failed, 2 usage error, 3 environment missing (cluster or tool
 * unreachable), 130 interrupted. Results go to stdout, logs and progress to stderr.
 */
import type { Command } from 'commander';
import { CommanderError } from 'commander';

export const EXIT = { ok: 0, failed: 1, usage: 2, environment: 3, interrupted: 130 } as const;

/** Parses argv; a usage error (unknown option, bad argument) exits 2 instead of commander's 1. */
export async function runCli(
  program: Command,
  argv: readonly string[] = process.argv,
): Promise<void> {
  // Commands added with addCommand() do not inherit the override: set it on every one.
  const override = (c: Command): void => {
    c.exitOverride();
    c.commands.forEach(override);
  };
  override(program);
  process.once('SIGINT', () => process.exit(EXIT.interrupted));
  // A reader that stops early (`| head`) is not an error of ours.
  process.stdout.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code === 'EPIPE') process.exit(EXIT.ok);
    throw err;
  });
  try {
    await program.parseAsync([...argv]);
  } catch (err) {
    if (err instanceof CommanderError) {
      // --help and --version "fail" with exit code 0.
      process.exit(err.exitCode === 0 ? EXIT.ok : EXIT.usage);
    }
    throw err;
  }
}
