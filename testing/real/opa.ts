/**
 * Test support: a real OPA server (the pinned binary) on a free loopback port, serving the
 * repository's policies with the data a test gives it.
 */
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { apiKeyBundleFlags } from '../../platform/policy-data.js';
import { ensureOpa } from '../../toolchain/tools.js';
import { terminate } from '../support/processes.js';

/** The policy directory the platform deploys (tests excluded at load time by OPA's own rules). */
export const POLICY_DIR = fileURLToPath(new URL('../../policies/kitt4sme', import.meta.url));

/** The decision-log masking policy the platform's OPA loads with the tenancy policy. */
export const MASK_POLICY_DIR = fileURLToPath(new URL('../../policies/system', import.meta.url));

/** One entry of OPA's console decision log (the fields the local stack shows). */
export interface OpaDecisionLog {
  readonly decision_id: string;
  readonly path: string;
  readonly input?: unknown;
  readonly result?: unknown;
  readonly erased?: readonly string[];
  readonly masked?: readonly string[];
  readonly timestamp?: string;
}

/** The decision-log entry of one line of OPA's JSON log, if it is one. */
export function decisionLogEntry(line: string): OpaDecisionLog | undefined {
  if (!line.startsWith('{')) return undefined;
  try {
    const o = JSON.parse(line) as { msg?: string; decision_id?: unknown };
    return o.msg === 'Decision Log' && typeof o.decision_id === 'string'
      ? (o as OpaDecisionLog)
      : undefined;
  } catch {
    return undefined;
  }
}

/** A running OPA server. */
export interface OpaServer {
  readonly url: string;
  /** Evaluates a rule (slash path, e.g. `kitt4sme/authz/decision`) with an input. */
  query(path: string, input: unknown): Promise<unknown>;
  stop(): Promise<void>;
}

/** A free TCP port on the loopback interface. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      srv.close(() =>
        typeof addr === 'object' && addr ? resolve(addr.port) : reject(new Error('no port')),
      );
    });
  });
}

/**
 * Starts OPA with the platform policy (or the policies in `policyDir`) and `data` (a document
 * merged at the data root), and waits until it answers.
 */
export async function startOpa(
  data: Record<string, unknown>,
  opts: {
    timeoutMs?: number;
    policyDir?: string;
    /** Poll the API-key bundle from a provisioning service at this base URL, as the cluster's OPA does. */
    apiKeysFrom?: string;
    /**
     * Log each decision here, as the cluster's OPA logs them to its console: with the
     * platform's masking policy (policies/system), so no token or API key is in an entry.
     */
    decisionLog?: (entry: OpaDecisionLog) => void;
  } = {},
): Promise<OpaServer> {
  const bin = ensureOpa();
  const dir = mkdtempSync(join(tmpdir(), 'opa-test-'));
  writeFileSync(join(dir, 'data.json'), JSON.stringify(data));
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const proc: ChildProcess = spawn(
    bin,
    [
      'run',
      '--server',
      `--addr=127.0.0.1:${port}`,
      ...(opts.decisionLog
        ? ['--set=decision_logs.console=true', '--log-format=json', '--log-level=info']
        : ['--log-level=error']),
      '--ignore=*_test.rego',
      ...(opts.apiKeysFrom ? apiKeyBundleFlags(opts.apiKeysFrom) : []),
      opts.policyDir ?? POLICY_DIR,
      ...(opts.decisionLog ? [MASK_POLICY_DIR] : []),
      join(dir, 'data.json'),
    ],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  let stderr = '';
  let partial = '';
  proc.stderr?.on('data', (d: Buffer) => {
    if (!opts.decisionLog) {
      stderr += d.toString();
      return;
    }
    const lines = (partial + d.toString()).split('\n');
    partial = lines.pop() ?? '';
    for (const line of lines) {
      const entry = decisionLogEntry(line);
      if (entry) opts.decisionLog(entry);
      // Other lines are kept (bounded) for the start-up error message.
      else stderr = `${stderr}${line}\n`.slice(-20_000);
    }
  });
  const deadline = Date.now() + (opts.timeoutMs ?? 20_000);
  for (;;) {
    if (proc.exitCode !== null) throw new Error(`OPA exited (${proc.exitCode}): ${stderr}`);
    try {
      const r = await fetch(`${url}/health`);
      if (r.ok) break;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) {
      proc.kill('SIGKILL');
      throw new Error(`OPA did not start within ${opts.timeoutMs ?? 20_000} ms: ${stderr}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  return {
    url,
    async query(path, input) {
      const r = await fetch(`${url}/v1/data/${path}`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ input }),
      });
      if (!r.ok) throw new Error(`OPA answered ${r.status}: ${await r.text()}`);
      return ((await r.json()) as { result?: unknown }).result;
    },
    async stop() {
      await terminate(proc);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
