// Jest's test sequencer for `npm test`, whose test files run on several workers at once
// (scripts/test.mjs): the order decides how long the run takes. A worker takes the next file
// of the order as soon as it is free, so the slowest files go first (a slow file started last
// is a tail the other workers wait out), and the files that start the machine's one kube
// node (testing/real/kube-node.ts; they take turns at it under a machine lock) are far apart
// in the order, so that neither waits for the other.
//
// SLOWEST is an ordering hint only: a file missing from it, or a duration that changed, makes
// a run slower, never wrong. The figures are each file's seconds in a run on the 2-core
// machine with one worker (fresh-clone CI, 2026-12-05); refresh them from
// .cache/jest-results.json when they drift.
'use strict';

const { relative } = require('node:path');
const Sequencer = require('@jest/test-sequencer').default;

/**
 * The slowest test files, about slowest first; a file that starts the machine's kube node
 * (`kubeNode`) goes first, and the other one once the first has long ended.
 */
const SLOWEST = [
  { file: 'services/fleet/test/gitops.test.ts', seconds: 208, kubeNode: true },
  { file: 'testing/test/argocd-sync.test.ts', seconds: 214 },
  { file: 'services/fleet/test/fleet.test.ts', seconds: 133 },
  { file: 'scenarios/test/cli.test.ts', seconds: 103 },
  { file: 'services/ops/test/platform-cli.test.ts', seconds: 99 },
  { file: 'services/console/test/console.browser.test.ts', seconds: 93 },
  { file: 'testing/test/argocd-fleet.test.ts', seconds: 92 },
  { file: 'scenarios/test/local-stack.test.ts', seconds: 84 },
  { file: 'testing/test/kubelet.test.ts', seconds: 90, kubeNode: true },
  { file: 'testing/test/agent-pipeline.test.ts', seconds: 48 },
  { file: 'services/provisioning/test/provision-cli.test.ts', seconds: 43 },
  { file: 'services/identity/test/keycloak.test.ts', seconds: 36 },
  { file: 'services/ops/test/cli.test.ts', seconds: 34 },
  { file: 'testing/test/alertmanager.test.ts', seconds: 33 },
];

class Sequencer_ extends Sequencer {
  async sort(tests) {
    // Jest's order (a failed file first, then by recorded duration or size), the hint ahead.
    const sorted = await super.sort(tests);
    const file = (t) => relative(t.context.config.rootDir, t.path);
    const rank = new Map(SLOWEST.map((s, i) => [s.file, i]));
    const hinted = sorted.filter((t) => rank.has(file(t)));
    hinted.sort((a, b) => rank.get(file(a)) - rank.get(file(b)));
    return [...hinted, ...sorted.filter((t) => !rank.has(file(t)))];
  }
}

module.exports = Sequencer_;
module.exports.SLOWEST = SLOWEST;
