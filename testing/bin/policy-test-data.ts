#!/usr/bin/env -S npx tsx
/**
 * Writes the data `opa test` runs with: the corpus' policy config, keys generated for this
 * run (public JWKS and private JWKs for signing in Rego) and the materialized corpus.
 * Nothing it writes is committed (.cache/ is ignored); every run makes new keys.
 *
 *   tsx testing/bin/policy-test-data.ts [out.json]
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { corpusApiKeys, corpusPolicyData, materializeCorpus } from '../support/corpus.js';
import { generateTestKeys } from '../support/tokens.js';

const out =
  process.argv[2] ??
  join(fileURLToPath(new URL('../..', import.meta.url)), '.cache', 'policy-test', 'data.json');
const keys = await generateTestKeys();
const cases = await materializeCorpus(keys);
// The moment the corpus' tokens are relative to (each signed a moment before): the Rego corpus
// tests decide at it, however long after the run starts.
const nowNs = Date.now() * 1_000_000;
mkdirSync(dirname(out), { recursive: true });
writeFileSync(
  out,
  JSON.stringify({
    test: {
      config: corpusPolicyData(),
      keys: keys.jwks,
      apikeys: corpusApiKeys(),
      private: keys.privateJwks,
      cases,
      now_ns: nowNs,
    },
  }),
);
console.error(`policy-test-data: ${cases.length} corpus cases and fresh keys in ${out}`);
