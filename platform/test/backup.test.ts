/**
 * The backup targets and their scripts on the ground floor: the scripts pass ShellCheck as
 * POSIX sh (the images' /bin/sh is dash) and compile as Python; the command and the result
 * line the CLI and the CronJobs share.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';

import {
  BACKUP_TARGETS,
  BACKUP_TARGET_NAMES,
  backupCommand,
  backupScriptFiles,
  backupScriptPath,
  parseBackupResult,
} from '../backup.js';
import { ensureShellcheck } from '../../toolchain/tools.js';

describe('the backup scripts', () => {
  const dir = dirname(backupScriptPath('mongodb'));

  it('pass ShellCheck as POSIX sh', () => {
    const shell = BACKUP_TARGET_NAMES.filter((t) => BACKUP_TARGETS[t].script.interpreter === 'sh');
    const files = [...new Set(shell.flatMap((t) => Object.keys(backupScriptFiles(t))))];
    expect(files.sort()).toEqual(['keycloak-postgres.sh', 'lib.sh', 'mongodb.sh']);
    const r = spawnSync(ensureShellcheck(), ['-s', 'sh', '-x', ...files], {
      cwd: dir,
      encoding: 'utf8',
    });
    expect(r.stdout + r.stderr).toBe('');
    expect(r.status).toBe(0);
  });

  it('compile as Python 3', () => {
    const cache = mkdtempSync(join(tmpdir(), 'pycache-'));
    const r = spawnSync('python3', ['-m', 'py_compile', backupScriptPath('cratedb')], {
      encoding: 'utf8',
      env: { ...process.env, PYTHONPYCACHEPREFIX: cache },
    });
    rmSync(cache, { recursive: true, force: true });
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
  });

  it('say how to use them when the action is missing, and exit 1', () => {
    const r = spawnSync('python3', [backupScriptPath('cratedb')], { encoding: 'utf8' });
    expect(r.status).toBe(1);
    expect(r.stderr).toContain('usage: cratedb.py backup | restore NAME|latest | list');
  });
});

describe('backupCommand', () => {
  it('runs the target’s script from the mounted ConfigMap, with the action and a name to restore', () => {
    expect(backupCommand('mongodb', 'backup')).toEqual(['sh', '/scripts/mongodb.sh', 'backup']);
    expect(backupCommand('cratedb', 'restore', 'latest')).toEqual([
      'python3',
      '/scripts/cratedb.py',
      'restore',
      'latest',
    ]);
    expect(() => backupCommand('keycloak-postgres', 'restore')).toThrow(TypeError);
  });
});

describe('parseBackupResult', () => {
  it('reads the last line of a termination message when it is a result', () => {
    const line =
      '{"target":"mongodb","action":"backup","name":"mongodb-20260101-023000.archive.gz","bytes":12}';
    expect(parseBackupResult(`${line}\n`)).toEqual(JSON.parse(line));
    expect(parseBackupResult(`some log\n${line}`)?.name).toBe('mongodb-20260101-023000.archive.gz');
  });

  it('is undefined for a failed job’s log tail, another document or nothing', () => {
    expect(parseBackupResult('2026-01-01T02:30:00Z error: MONGODB_URI is not set')).toBeUndefined();
    expect(parseBackupResult('{"target":"redis","action":"backup"}')).toBeUndefined();
    expect(parseBackupResult('{"target":"mongodb","action":"drop"}')).toBeUndefined();
    expect(parseBackupResult('{not json')).toBeUndefined();
    expect(parseBackupResult(undefined)).toBeUndefined();
  });
});
