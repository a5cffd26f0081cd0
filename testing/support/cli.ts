/**
 * Test support: runs one of the project's TypeScript CLIs as a subprocess (through tsx), with
 * only the environment a test gives it, and collects its exit code and output.
 */
import { spawn } from 'node:child_process';
import { join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

/** The repository root. */
export const REPO_ROOT = fileURLToPath(new URL('../..', import.meta.url));

/** tsx's loader by absolute URL, so a CLI run in another directory still finds it. */
const TSX = pathToFileURL(join(REPO_ROOT, 'node_modules', 'tsx', 'dist', 'loader.mjs')).href;

/** What a CLI run produced. */
export interface CliRun {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** A CLI running in the background: its output so far, and how it ends. */
export interface CliProcess {
  readonly stdout: string;
  readonly stderr: string;
  /** Settles when the process has exited and its output is closed. */
  readonly exited: Promise<CliRun>;
  /** Polls every 100 ms until `seen()` holds or `ms` have passed; returns whether it held. */
  until(seen: (out: { stdout: string; stderr: string }) => boolean, ms?: number): Promise<boolean>;
  kill(signal?: NodeJS.Signals): void;
}

/**
 * Starts `script` (relative to the repository root, or absolute) with `args`, for a command
 * that keeps running (wait, open). The environment is PATH, HOME (`home`), a kubeconfig that
 * does not exist, and `env`; it runs in `cwd` (default: the repository root), where git
 * resolves `--revision` names.
 */
export function startCli(
  script: string,
  args: readonly string[],
  home: string,
  env: Readonly<Record<string, string>> = {},
  cwd: string = REPO_ROOT,
): CliProcess {
  const p = spawn(process.execPath, ['--import', TSX, resolve(REPO_ROOT, script), ...args], {
    cwd,
    env: { PATH: process.env.PATH!, HOME: home, KUBECONFIG: join(home, 'none'), ...env },
  });
  const out = { stdout: '', stderr: '' };
  p.stdout.on('data', (d: Buffer) => (out.stdout += d.toString()));
  p.stderr.on('data', (d: Buffer) => (out.stderr += d.toString()));
  const exited = new Promise<CliRun>((resolve) =>
    p.on('close', (code) => resolve({ code, ...out })),
  );
  return {
    get stdout() {
      return out.stdout;
    },
    get stderr() {
      return out.stderr;
    },
    exited,
    async until(seen, ms = 20_000) {
      const deadline = Date.now() + ms;
      while (!seen(out) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
      return seen(out);
    },
    kill(signal = 'SIGTERM') {
      if (p.exitCode === null && p.signalCode === null) p.kill(signal);
    },
  };
}

/** Runs `script` to its end; see {@link startCli} for the environment. */
export function runCli(
  script: string,
  args: readonly string[],
  home: string,
  env: Readonly<Record<string, string>> = {},
  cwd: string = REPO_ROOT,
): Promise<CliRun> {
  return startCli(script, args, home, env, cwd).exited;
}
