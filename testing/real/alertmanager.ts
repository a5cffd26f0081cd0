/**
 * Test support: a real Alertmanager (the pinned version, built by `npm run setup` from the Go
 * module proxy) on a free loopback port, with the configuration a test gives it, alone (no
 * gossip cluster), its data in a temporary directory.
 */
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { stringify } from 'yaml';

import { ensureAlertmanager } from '../../toolchain/tools.js';
import { spawnLogged, tailFile, terminate, waitFor } from '../support/processes.js';
import { freePort } from './opa.js';

/** One alert as Prometheus posts it to `/api/v2/alerts`. */
export interface PostableAlert {
  readonly labels: Readonly<Record<string, string>>;
  readonly annotations?: Readonly<Record<string, string>>;
  readonly startsAt?: string;
  readonly endsAt?: string;
  readonly generatorURL?: string;
}

/** A running Alertmanager. */
export interface AlertmanagerServer {
  readonly url: string;
  /** Posts alerts as Prometheus does; throws unless Alertmanager accepts them. */
  postAlerts(alerts: readonly PostableAlert[]): Promise<void>;
  /** The last lines of its log. */
  log(): string;
  stop(): Promise<void>;
}

/**
 * Starts Alertmanager with `config` (alertmanager.yml as an object) and waits until it is
 * ready; an invalid config fails here with Alertmanager's own message.
 */
export async function startAlertmanager(
  config: Record<string, unknown>,
  opts: { timeoutMs?: number } = {},
): Promise<AlertmanagerServer> {
  const bin = ensureAlertmanager();
  const dir = mkdtempSync(join(tmpdir(), 'alertmanager-test-'));
  const configFile = join(dir, 'alertmanager.yml');
  const logFile = join(dir, 'alertmanager.log');
  writeFileSync(configFile, stringify(config));
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const proc: ChildProcess = spawnLogged(
    bin,
    [
      `--config.file=${configFile}`,
      `--storage.path=${join(dir, 'data')}`,
      `--web.listen-address=127.0.0.1:${port}`,
      // One instance: no gossip (an empty address turns clustering off).
      '--cluster.listen-address=',
      '--log.level=debug',
    ],
    logFile,
  );
  const timeoutMs = opts.timeoutMs ?? 30_000;
  await waitFor(
    async () => {
      if (proc.exitCode !== null) return true;
      return (await fetch(`${url}/-/ready`)).ok;
    },
    timeoutMs,
    () => new Error(`Alertmanager did not start within ${timeoutMs} ms:\n${tailFile(logFile, 20)}`),
  );
  if (proc.exitCode !== null) {
    const log = tailFile(logFile, 20);
    rmSync(dir, { recursive: true, force: true });
    throw new Error(`Alertmanager exited (${proc.exitCode}):\n${log}`);
  }
  return {
    url,
    async postAlerts(alerts) {
      const r = await fetch(`${url}/api/v2/alerts`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(alerts),
      });
      if (!r.ok) throw new Error(`Alertmanager answered ${r.status}: ${await r.text()}`);
    },
    log: () => tailFile(logFile, 40),
    async stop() {
      await terminate(proc);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
