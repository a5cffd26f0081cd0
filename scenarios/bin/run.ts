#!/usr/bin/env -S npx tsx
/**
 * `npm run scenarios -- [scenario...]`: runs the platform's acceptance scenarios against an
 * ingress (a minikube cluster, a real one, or the local test stack) and says, step by step,
 * what holds and what does not.
 *
 * Exit codes: 0 every step passed, 1 a step failed or was skipped, 2 usage error, 3 the
 * ingress or Keycloak unreachable, or no credentials.
 */
import { existsSync, writeFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';

import { Command, InvalidArgumentError } from 'commander';

import { EXIT, runCli } from '../../platform/cli.js';
import { PlatformError } from '../../platform/errors.js';
import { SCENARIOS } from '../index.js';
import { scenarioEnv } from '../lib/env.js';
import type { ScenarioEnv } from '../lib/env.js';
import { SCENARIO_ERRORS } from '../lib/errors.js';
import type { ScenarioErrorCode } from '../lib/errors.js';
import { runScenarios } from '../lib/framework.js';
import { Platform } from '../lib/platform.js';
import { jsonReport, junitXml, progressReporter, summaryText } from '../lib/report.js';

interface Opts {
  baseUrl?: string;
  keycloakUrl?: string;
  context?: string;
  measurements: number;
  settleTimeout: number;
  stepTimeout: number;
  skip: string[];
  json?: boolean;
  junit?: string;
  list?: boolean;
}

const integer = (min: number, max: number) => (v: string) => {
  const n = Number(v);
  if (!Number.isInteger(n) || n < min || n > max) {
    throw new InvalidArgumentError(`expected an integer from ${min} to ${max}, got "${v}"`);
  }
  return n;
};

const names = SCENARIOS.map((s) => s.name);

const program = new Command()
  .name('scenarios')
  .description(
    `Run the platform's acceptance scenarios against its ingress: ${names.join(', ')} (all by default).`,
  )
  .argument('[scenario...]', `scenarios to run, in the order given (${names.join(', ')})`)
  .option(
    '--base-url <url>',
    'the platform ingress (default: $KITT4SME_BASE_URL, else the configured ingress host)',
  )
  .option(
    '--keycloak-url <url>',
    'Keycloak base URL ending in /auth (default: $KITT4SME_KEYCLOAK_URL, else <base-url>/auth)',
  )
  .option('--context <name>', 'kubeconfig context to read client secrets from (default: current)')
  .option(
    '--measurements <n>',
    'measurements per device, in its protocol (basic-sense)',
    integer(1, 100),
    3,
  )
  .option(
    '--settle-timeout <s>',
    'seconds Orion and QuantumLeap may take to show new data',
    integer(1, 600),
    20,
  )
  .option('--step-timeout <s>', 'seconds a step may take', integer(1, 3600), 120)
  .option(
    '--skip <step>',
    'deselect a step (<scenario>/<step>) or a scenario; repeatable',
    (v: string, acc: string[]) => [...acc, v],
    [] as string[],
  )
  .option('--json', 'print one JSON report on stdout')
  .option('--junit <file>', 'also write a JUnit XML report to <file>')
  .option('--list', 'list the scenarios and their steps; run nothing')
  .addHelpText(
    'after',
    `
Credentials: client secrets of <tenant>-scenarios and <tenant>-devices from
KITT4SME_CLIENT_SECRET_<TENANT>_SCENARIOS / _DEVICES, else from the cluster's keycloak-realm
Secret. KITT4SME_EXPIRED_TOKEN: a realm token past its expiry (tenant-isolation/expired-token).

Exit codes: 0 every step passed, 1 a step failed or was skipped, 2 usage or invalid scenario
data, 3 the ingress or Keycloak unreachable or no credentials.

Examples:
  npm run scenarios -- --base-url https://kitt4sme.localhost
  npm run scenarios -- versions tenant-isolation --json > report.json
  npm run scenarios -- --junit scenarios.xml --skip tenant-isolation/expired-token`,
  )
  .action(async (selected: string[], opts: Opts) => {
    const unknown = selected.filter((s) => !names.includes(s));
    if (unknown.length > 0) {
      console.error(
        `scenarios: no scenario ${unknown.join(', ')}; choose from ${names.join(', ')}`,
      );
      process.exit(EXIT.usage);
    }
    const chosen = selected.length
      ? selected.map((n) => SCENARIOS.find((s) => s.name === n)!)
      : [...SCENARIOS];
    const platform = new Platform({
      ...(opts.baseUrl || process.env.KITT4SME_BASE_URL
        ? { baseUrl: opts.baseUrl ?? process.env.KITT4SME_BASE_URL! }
        : {}),
      ...(opts.keycloakUrl || process.env.KITT4SME_KEYCLOAK_URL
        ? { keycloakUrl: opts.keycloakUrl ?? process.env.KITT4SME_KEYCLOAK_URL! }
        : {}),
      ...(opts.context ? { kubeContext: opts.context } : {}),
    });
    let env: ScenarioEnv;
    try {
      env = scenarioEnv(platform, {
        measurements: opts.measurements,
        settleTimeoutMs: opts.settleTimeout * 1000,
      });
    } catch (err) {
      if (!(err instanceof PlatformError || err instanceof TypeError)) throw err;
      console.error(`scenarios: invalid scenario data: ${err.message}`);
      process.exit(EXIT.usage);
    }
    if (opts.list) {
      list(chosen, env, !!opts.json);
      return;
    }
    const unknownSkips = opts.skip.filter((s) => !knownStep(s, env));
    if (unknownSkips.length > 0) {
      console.error(
        `scenarios: --skip ${unknownSkips.join(', ')} names no scenario or step; see --list`,
      );
      process.exit(EXIT.usage);
    }
    if (opts.junit && !existsSync(dirname(resolve(opts.junit)))) {
      console.error(`scenarios: --junit ${opts.junit}: the directory does not exist`);
      process.exit(EXIT.usage);
    }
    // versions alone needs no token.
    await preflight(
      platform,
      !!opts.json,
      chosen.some((s) => s.name !== 'versions'),
    );
    const { results, summary } = await runScenarios(chosen, env, {
      skip: opts.skip,
      stepTimeoutMs: opts.stepTimeout * 1000,
      reporter: progressReporter(process.stderr),
    });
    if (opts.junit) writeFileSync(opts.junit, junitXml(results, summary));
    if (opts.json) {
      process.stdout.write(`${JSON.stringify(jsonReport(results, summary, platform), null, 2)}\n`);
    } else {
      process.stdout.write(`${summaryText(results, summary)}\n`);
    }
    process.exit(summary.ok ? EXIT.ok : EXIT.failed);
  });

function knownStep(skip: string, env: ScenarioEnv): boolean {
  const [scenario, step] = skip.split('/');
  const s = SCENARIOS.find((x) => x.name === scenario);
  return !!s && (step === undefined || s.steps(env).some((x) => x.id === step));
}

function list(chosen: typeof SCENARIOS, env: ScenarioEnv, json: boolean): void {
  const all = chosen.map((s) => ({
    name: s.name,
    description: s.description,
    steps: s.steps(env).map((x) => ({ id: x.id, title: x.title })),
  }));
  if (json) {
    process.stdout.write(`${JSON.stringify(all, null, 2)}\n`);
    return;
  }
  for (const s of all) {
    process.stdout.write(`${s.name}: ${s.description}\n`);
    for (const x of s.steps) process.stdout.write(`  ${s.name}/${x.id}  ${x.title}\n`);
  }
}

/**
 * Before any step: the ingress answers, and every token the scenarios need can be fetched.
 * Exits 3 with the reason otherwise, instead of failing every step for the same cause.
 */
async function preflight(platform: Platform, json: boolean, tokens: boolean): Promise<void> {
  const fail = (code: ScenarioErrorCode, message: string) => {
    const { fix } = SCENARIO_ERRORS[code];
    if (json) process.stdout.write(`${JSON.stringify({ ok: false, code, message, fix })}\n`);
    console.error(`scenarios: ${message}\n${fix}`);
    process.exit(EXIT.environment);
  };
  try {
    await fetch(platform.url('orion', '/version'), { signal: AbortSignal.timeout(10_000) });
  } catch (err) {
    const cause = (err as { cause?: { code?: string } }).cause?.code ?? (err as Error).message;
    fail('ERR_TARGET_UNREACHABLE', `cannot reach the ingress at ${platform.baseUrl} (${cause})`);
  }
  if (!tokens) return;
  try {
    for (const tenant of platform.tenants) {
      await platform.token(tenant, 'scenarios');
      await platform.token(tenant, 'devices');
    }
  } catch (err) {
    if (err instanceof PlatformError) {
      fail('ERR_SCENARIO_CREDENTIALS', `${err.message} [${err.code}]`);
    }
    throw err;
  }
}

// What reaches here is an invalid platform config or scenario data (an unreachable target or
// Keycloak is reported in the action, exit 3).
await runCli(program, { exitCode: () => EXIT.usage });
