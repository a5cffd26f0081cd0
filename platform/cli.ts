/**
 * Shared conventions of the project's command-line tools.
 *
 * Exit codes: 0 ok, 1 check failed, 2 usage error, 3 environment missing (cluster or tool
 * unreachable), 130 interrupted. Results go to stdout, logs and progress to stderr.
 */
import type { Command } from 'commander';
import { CommanderError } from 'commander';

import { PlatformError } from './errors.js';

export const EXIT = { ok: 0, failed: 1, usage: 2, environment: 3, interrupted: 130 } as const;

export interface CliOptions {
  /** Default: process.argv. */
  argv?: readonly string[];
  /** The exit code of a documented error the command lets through; default EXIT.usage. */
  exitCode?: (err: PlatformError) => number;
}

/**
 * Prints a documented error the project's way: `<command>: <what went wrong>`, then the fix
 * and the code, on stderr; with `--json` also `{"error": {code, message, fix}}` on stdout, so
 * a script reading stdout gets a document for every error that comes through here (a command
 * that reports some failures itself says so in its --help).
 */
export function reportError(
  name: string,
  err: PlatformError,
  argv: readonly string[] = process.argv,
): void {
  console.error(`${name}: ${err.message}\n${err.fix} [${err.code}]`);
  if (argv.includes('--json'))
    process.stdout.write(
      `${JSON.stringify({ error: { code: err.code, message: err.message, fix: err.fix } }, null, 2)}\n`,
    );
}

/**
 * Parses argv and runs the command. A usage error (unknown option, bad argument) exits 2
 * instead of commander's 1; a documented error (PlatformError) is reported with reportError and
 * exits with options.exitCode; anything else is a bug and is thrown.
 */
export async function runCli(program: Command, options: CliOptions = {}): Promise<void> {
  const argv = options.argv ?? process.argv;
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
    if (err instanceof PlatformError) {
      reportError(program.name(), err, argv);
      process.exit(options.exitCode ? options.exitCode(err) : EXIT.usage);
    }
    throw err;
  }
}
