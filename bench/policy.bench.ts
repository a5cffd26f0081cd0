#!/usr/bin/env -S npx tsx
/**
 * `npm run bench:policy`: how fast the tenancy policy decides, three ways, side by side:
 *   (a) the wasm in-process with a cached verified token (the signature was checked before),
 *   (b) the wasm in-process including the jose signature verification,
 *   (c) the real OPA server over REST on localhost (keep-alive), which verifies itself.
 * One request at a time; decisions/s and p50/p99 latency each, and the ratios.
 * Target: (a) at least 20 x (c).
 *
 *   npm run bench:policy [-- --iterations 3000] [-- --json]
 */
import { Command } from 'commander';

import { runCli } from '../platform/cli.js';
import { corpusApiKeys, corpusPolicyData, envoyInput } from '../testing/support/corpus.js';
import { startOpa } from '../testing/real/opa.js';
import { generateTestKeys, makeToken } from '../testing/support/tokens.js';
import { TenancyPolicy } from '../services/tenancy/src/policy.js';

interface Stats {
  readonly decisionsPerSecond: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
}

async function measure(iterations: number, once: () => Promise<unknown>): Promise<Stats> {
  for (let i = 0; i < Math.min(200, iterations); i++) await once(); // warm-up
  const lat: number[] = [];
  const started = performance.now();
  for (let i = 0; i < iterations; i++) {
    const t = performance.now();
    await once();
    lat.push(performance.now() - t);
  }
  const total = performance.now() - started;
  lat.sort((x, y) => x - y);
  const q = (p: number) => lat[Math.min(lat.length - 1, Math.floor(p * lat.length))]!;
  return { decisionsPerSecond: (iterations / total) * 1000, p50Ms: q(0.5), p99Ms: q(0.99) };
}

const program = new Command()
  .name('bench:policy')
  .option(
    '--iterations <n>',
    'timed decisions per mode (default 3000)',
    (v) => Number.parseInt(v, 10),
    3000,
  )
  .option('--json', 'print one JSON document on stdout')
  .action(async (opts: { iterations: number; json?: boolean }) => {
    const keys = await generateTestKeys();
    const config = corpusPolicyData();
    // A device measurement: token, tenant, role and the API-key check all in the decision.
    const token = await makeToken(keys, config.issuer, {
      claims: { roles: ['manufracture:device'] },
    });
    const input = envoyInput('POST', '/iota-south/iot/d?k=3z4w&i=foodev', {
      authorization: `Bearer ${token}`,
      'fiware-service': 'manufracture',
    });
    const apikeys = corpusApiKeys();
    const policy = await TenancyPolicy.load({ config });
    policy.setApiKeys(apikeys);
    const opa = await startOpa({ kitt4sme: { config, keys: keys.jwks, apikeys } });
    try {
      const check = async (d: Promise<unknown>) => {
        if (!((await d) as { allowed?: boolean })?.allowed)
          throw new Error('benchmark request was not allowed');
      };
      process.stderr.write('(a) wasm, cached verified token\n');
      const a = await measure(opts.iterations, () => check(policy.decide(input, keys.jwks)));
      process.stderr.write('(b) wasm, with signature verification\n');
      const b = await measure(opts.iterations, () => {
        policy.forgetVerifiedTokens();
        return check(policy.decide(input, keys.jwks));
      });
      process.stderr.write('(c) OPA server over REST\n');
      const c = await measure(opts.iterations, () =>
        check(opa.query('kitt4sme/authz/decision', input)),
      );
      const result = {
        iterations: opts.iterations,
        a_wasmCachedToken: a,
        b_wasmWithVerification: b,
        c_opaServerRest: c,
        ratios: {
          a_over_c: a.decisionsPerSecond / c.decisionsPerSecond,
          b_over_c: b.decisionsPerSecond / c.decisionsPerSecond,
        },
        target: { a_at_least_20x_c: a.decisionsPerSecond / c.decisionsPerSecond >= 20 },
      };
      if (opts.json) {
        process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
        return;
      }
      const row = (name: string, s: Stats) =>
        `  ${name.padEnd(42)}${s.decisionsPerSecond.toFixed(0).padStart(9)} /s   p50 ${s.p50Ms.toFixed(3)} ms   p99 ${s.p99Ms.toFixed(3)} ms`;
      console.log(`policy benchmark (${opts.iterations} decisions per mode, one at a time)`);
      console.log(row('(a) wasm in-process, cached verified token', a));
      console.log(row('(b) wasm in-process, verifying the token', b));
      console.log(row('(c) OPA server, REST on localhost', c));
      console.log(
        `  ratios: a/c ${result.ratios.a_over_c.toFixed(1)}x (target >= 20x: ${result.target.a_at_least_20x_c ? 'met' : 'MISSED'}), b/c ${result.ratios.b_over_c.toFixed(1)}x`,
      );
    } finally {
      await opa.stop();
    }
  });

await runCli(program);
