// The layering of the repository, as rules a build checks (dependency-cruiser; `npm run lint`
// and testing/test/layering.test.ts run them). Read this file to know what may import what.
//
//   top:     scenarios/   generate/ (npm run synth)   bench/
//               |    \________   |   ________/
//   middle:  services/          cdk8s/          scripts/   toolchain/
//                  \_____________|_________________|__________/
//   ground:                  platform/
//
//   testing/ (fakes, real-component runners, the local stack) and every test/ folder may import
//   anything; nothing but tests, testing/ and bench/ imports them.
//
// - platform/ is the ground floor: config and schema, the component registry, routes, tenants,
//   roles, errors and CLI conventions, the secrets model, policy data, the cluster client and
//   loadPlatformContext(). It imports none of the folders above it.
// - cdk8s/ (constructs, synthesis) and services/ (the services and their tools) both stand on
//   platform/ and never import each other, in either direction, tests included.
// - scenarios/ stand on services/ (their clients) and platform/; generate/ on everything it
//   documents. Nothing below imports them.
// - toolchain/ (the pinned-tool installers of npm run setup) stands on platform/ alone.
// - No cycle anywhere, type-only imports included.
/** @type {import('dependency-cruiser').IConfiguration} */
module.exports = {
  forbidden: [
    {
      name: 'no-cycle',
      comment: 'A cycle ties modules into one: break it by moving what both need one floor down.',
      severity: 'error',
      from: {},
      to: { circular: true },
    },
    {
      name: 'ground-floor-imports-nothing-above-it',
      comment: 'platform/ is what everything stands on; it may only import platform/ and packages.',
      severity: 'error',
      from: { path: '^platform/', pathNot: '^platform/test/' },
      to: { path: '^(cdk8s|services|scenarios|generate|testing|toolchain|scripts|bench)/' },
    },
    {
      name: 'cdk8s-does-not-import-services',
      comment: 'What both need belongs to platform/.',
      severity: 'error',
      from: { path: '^cdk8s/' },
      to: { path: '^services/' },
    },
    {
      name: 'services-do-not-import-cdk8s',
      comment: 'What both need belongs to platform/.',
      severity: 'error',
      from: { path: '^services/' },
      to: { path: '^cdk8s/' },
    },
    {
      name: 'cdk8s-stands-on-platform',
      severity: 'error',
      from: { path: '^cdk8s/', pathNot: '/test/' },
      to: { path: '^(scenarios|generate|testing|toolchain|scripts|bench)/' },
    },
    {
      name: 'services-stand-on-platform',
      severity: 'error',
      from: { path: '^services/', pathNot: '/test/' },
      to: { path: '^(scenarios|generate|testing|toolchain|scripts|bench)/' },
    },
    {
      name: 'a-service-does-not-import-another-services-commands',
      comment: 'A bin/ is a command; what two services share is in a src/ (or in platform/).',
      severity: 'error',
      from: { path: '^services/([^/]+)/' },
      to: { path: '^services/[^/]+/bin/', pathNot: '^services/$1/bin/' },
    },
    {
      name: 'scenarios-stand-on-services-and-platform',
      severity: 'error',
      from: { path: '^scenarios/', pathNot: '/test/' },
      to: { path: '^(cdk8s|generate|testing|toolchain|scripts|bench)/' },
    },
    {
      name: 'toolchain-stands-on-platform',
      severity: 'error',
      from: { path: '^toolchain/', pathNot: '/test/' },
      to: { path: '^(cdk8s|services|scenarios|generate|testing|scripts|bench)/' },
    },
    {
      name: 'scripts-stand-on-platform-and-toolchain',
      severity: 'error',
      from: { path: '^scripts/', pathNot: '/test/' },
      to: { path: '^(cdk8s|services|scenarios|generate|testing|bench)/' },
    },
    {
      name: 'nothing-below-imports-generate',
      severity: 'error',
      from: { path: '^(platform|cdk8s|services|scenarios|toolchain|scripts)/', pathNot: '/test/' },
      to: { path: '^generate/' },
    },
    {
      name: 'product-code-never-imports-the-test-harness',
      comment: 'testing/ holds fakes and test runners; a product that needs one has a bug.',
      severity: 'error',
      from: { pathNot: '^(testing|bench)/|/test/' },
      to: { path: '^testing/' },
    },
    {
      name: 'only-tests-import-tests',
      severity: 'error',
      from: { pathNot: '^testing/|/test/' },
      to: { path: '/test/' },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    exclude: { path: '^(node_modules|deploy|\\.cache|dist|coverage)/' },
    // Type-only imports count: a type cycle is still a cycle a reader must untangle.
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    enhancedResolveOptions: { extensions: ['.ts', '.tsx', '.mts', '.js', '.mjs', '.cjs', '.json'] },
  },
};
