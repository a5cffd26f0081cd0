/**
 * git in a repository, for what reads and writes the fleet's records: its output, or a
 * documented error (ERR_TOOL_MISSING) that says whether git is missing or what it refused.
 */
import { execFileSync } from 'node:child_process';

import { PLATFORM_ERRORS, catalogueError } from '../errors.js';

/**
 * Runs `git -C root ...args` and returns its standard output (untrimmed).
 * @param failure what a failure means, before git's own message (default: `git <cmd> failed in <root>`)
 * @throws PlatformError ERR_TOOL_MISSING when git is missing or fails.
 */
export function gitIn(root: string, args: readonly string[], failure?: string): string {
  try {
    return execFileSync('git', ['-C', root, ...args], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'pipe'],
      maxBuffer: 64 * 1024 * 1024,
    });
  } catch (err) {
    const e = err as NodeJS.ErrnoException & { stderr?: string };
    throw catalogueError(
      PLATFORM_ERRORS,
      'ERR_TOOL_MISSING',
      e.code === 'ENOENT'
        ? 'git is not installed'
        : `${failure ?? `git ${args[0]} failed in ${root}`}: ${(e.stderr ?? e.message).trim()}`,
      err,
    );
  }
}
