/**
 * Test support: runs a backup target's script exactly as its CronJob in deploy/ runs it (the
 * container's command and environment), with the cluster's addresses, Secrets and volume
 * replaced by a local server's, a temporary directory and the scripts of this repository.
 */
import { spawn } from 'node:child_process';
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';

import type { BackupAction, BackupResult, BackupTargetName } from '../../platform/backup.js';
import {
  BACKUP_SCRIPTS_DIR,
  BACKUP_TARGETS,
  backupCommand,
  backupScriptPath,
  parseBackupResult,
} from '../../platform/backup.js';
import { readDeployObjects } from '../../services/ops/src/deploy.js';

/** The backup container of a target's CronJob, as deploy/ has it. */
export function backupContainer(target: BackupTargetName): Record<string, any> {
  const name = BACKUP_TARGETS[target].cronJob;
  const cronJob = readDeployObjects().find(
    (o) => o.object.kind === 'CronJob' && o.object.metadata.name === name,
  );
  if (!cronJob) throw new Error(`deploy/ has no CronJob ${name}; run npm run synth`);
  return (cronJob.object as any).spec.jobTemplate.spec.template.spec.containers[0];
}

/** What a script run produced. */
export interface ScriptRun {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
  /** The result line it wrote to BACKUP_RESULT, if any. */
  readonly result?: BackupResult;
}

/**
 * Runs a target's script with `action` as its CronJob (backup) or a restore Job made from it
 * runs it: the CronJob's command with the action swapped, the CronJob's environment, with
 * `local` replacing values (every Secret reference must be replaced, and nothing may be set
 * that the CronJob does not set). `path` goes first on PATH: the tools of the local server.
 */
export function runBackupScript(
  target: BackupTargetName,
  action: BackupAction,
  opts: {
    readonly local: Readonly<Record<string, string>>;
    readonly path: readonly string[];
    readonly name?: string;
  },
): Promise<ScriptRun> {
  const container = backupContainer(target);
  const command = [...(container.command as string[])];
  // The CronJob runs the backup action; a restore Job runs the same command, another action.
  if (JSON.stringify(command) !== JSON.stringify(backupCommand(target, 'backup')))
    throw new Error(`the CronJob of ${target} runs ${command.join(' ')}`);
  const argv = backupCommand(target, action, opts.name).map((a) =>
    a.startsWith(`${BACKUP_SCRIPTS_DIR}/`) ? backupScriptPath(target) : a,
  );
  const env: Record<string, string> = {};
  for (const e of container.env as { name: string; value?: string; valueFrom?: unknown }[]) {
    if (e.name in opts.local) env[e.name] = opts.local[e.name]!;
    else if (e.valueFrom) throw new Error(`${e.name} comes from a Secret; the test must give it`);
    else env[e.name] = e.value!;
  }
  const extra = Object.keys(opts.local).filter((k) => !(k in env));
  if (extra.length) throw new Error(`the CronJob does not set ${extra.join(', ')}`);
  const resultFile = env.BACKUP_RESULT!;
  if (!existsSync(dirname(resultFile))) throw new Error(`no directory for ${resultFile}`);
  // A result is this run's or none: a failed run after a good one must not show the old one.
  rmSync(resultFile, { force: true });
  return new Promise((resolve, reject) => {
    const p = spawn(argv[0]!, argv.slice(1), {
      env: {
        ...env,
        PATH: [...opts.path, process.env.PATH ?? '/usr/bin:/bin'].join(':'),
        TMPDIR: dirname(resultFile),
      },
    });
    let stdout = '';
    let stderr = '';
    p.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    p.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    p.on('error', reject);
    p.on('close', (code) => {
      const result = existsSync(resultFile)
        ? parseBackupResult(readFileSync(resultFile, 'utf8'))
        : undefined;
      resolve({ code, stdout, stderr, ...(result ? { result } : {}) });
    });
  });
}

/** The result file a test run's script writes: in the test's own directory. */
export function resultFile(dir: string): string {
  return join(dir, 'termination-log');
}
