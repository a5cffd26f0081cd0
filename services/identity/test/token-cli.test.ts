/**
 * `npm run token` end to end against the shared real Keycloak: credentials from the
 * environment or from the cluster's keycloak-realm Secret (a stand-in Kubernetes API server
 * answering the one GET the tool makes), and clear failures with their exit codes.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { secretEnvName } from '../../../platform/identity.js';
import { runCli } from '../../../testing/support/cli.js';
import { json, startStub } from '../../../testing/support/http.js';
import type { StubServer } from '../../../testing/support/http.js';
import type { KeycloakServer } from '../../../testing/real/keycloak.js';
import { sharedKeycloak } from '../../../testing/real/keycloak.js';
import { freePort } from '../../../testing/real/opa.js';
import { peekClaims } from '../src/tokens.js';

const CLI = 'services/identity/bin/token.ts';

let kc: KeycloakServer;
let dir: string;

beforeAll(async () => {
  kc = await sharedKeycloak();
  dir = mkdtempSync(join(tmpdir(), 'token-cli-'));
}, 300_000);
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Runs `npm run token`. */
const run = (args: string[], env: Record<string, string> = {}) => runCli(CLI, args, dir, env);

const secretOf = (clientId: string) => kc.values[secretEnvName('client', clientId)]!;

describe('npm run token', () => {
  it('prints only a token of the tenant on stdout, with the secret from the environment', async () => {
    const r = await run(['--tenant', 'smithereens', '--keycloak-url', kc.url], {
      KITT4SME_CLIENT_SECRET: secretOf('smithereens-scenarios'),
    });
    expect(r.code).toBe(0);
    expect(r.stdout.trim().split('\n')).toHaveLength(1);
    expect(peekClaims(r.stdout.trim())).toMatchObject({
      tenants: ['smithereens'],
      azp: 'smithereens-scenarios',
    });
    expect(r.stderr).toContain('secret from $KITT4SME_CLIENT_SECRET');
    expect(r.stderr).not.toContain(secretOf('smithereens-scenarios'));
  });

  it('gets a user token with --user and --json, reading the per-client variables', async () => {
    const r = await run(
      ['--tenant', 'manufracture', '--user', '--json', '--keycloak-url', kc.url],
      {
        [secretEnvName('client', 'manufracture-scenarios')]: secretOf('manufracture-scenarios'),
        [secretEnvName('user', 'manufracture-demo')]:
          kc.values[secretEnvName('user', 'manufracture-demo')]!,
      },
    );
    expect(r.code).toBe(0);
    const out = JSON.parse(r.stdout);
    expect(out.claims.tenants).toEqual(['manufracture']);
    expect(out.claims.sid).toBeDefined(); // a user session: the password grant, not client credentials
    expect(out.client_id).toBe('manufracture-scenarios');
    expect(peekClaims(out.access_token).sub).toBeDefined();
  });

  it('reads the client secret from the cluster Secret when the environment has none', async () => {
    const key = secretEnvName('client', 'manufracture-devices');
    const api: StubServer = await startStub(
      json(200, {
        apiVersion: 'v1',
        kind: 'Secret',
        metadata: { name: 'keycloak-realm', namespace: 'identity' },
        data: { [key]: Buffer.from(secretOf('manufracture-devices')).toString('base64') },
      }),
    );
    try {
      const kubeconfig = join(dir, 'kubeconfig');
      writeFileSync(
        kubeconfig,
        [
          'apiVersion: v1',
          'kind: Config',
          'clusters: [{name: test, cluster: {server: "' +
            api.url +
            '", insecure-skip-tls-verify: true}}]',
          'users: [{name: test, user: {token: test-token}}]',
          'contexts: [{name: test, context: {cluster: test, user: test}}]',
          'current-context: test',
          '',
        ].join('\n'),
      );
      const r = await run(
        ['--tenant', 'manufracture', '--kind', 'devices', '--keycloak-url', kc.url],
        { KUBECONFIG: kubeconfig },
      );
      expect(r.stderr).toContain('secret from Secret identity/keycloak-realm');
      expect(r.code).toBe(0);
      expect(peekClaims(r.stdout.trim())).toMatchObject({ roles: ['manufracture:device'] });
      expect(api.requests.map((q) => `${q.method} ${q.path}`)).toEqual([
        'GET /api/v1/namespaces/identity/secrets/keycloak-realm',
      ]);

      // RBAC says no: a clear message, exit 3, no token.
      api.handle(json(403, { kind: 'Status', code: 403, reason: 'Forbidden' }));
      const denied = await run(['--tenant', 'manufracture', '--keycloak-url', kc.url], {
        KUBECONFIG: kubeconfig,
      });
      expect(denied.code).toBe(3);
      expect(denied.stdout).toBe('');
      expect(denied.stderr).toContain('RBAC does not let you read Secret identity/keycloak-realm');
      expect(denied.stderr).toContain('[ERR_CREDENTIALS_MISSING]');
    } finally {
      await api.close();
    }
  });

  it.each([
    [
      'a wrong client secret',
      ['--tenant', 'manufracture'],
      { KITT4SME_CLIENT_SECRET: 'wrong' },
      1,
      'ERR_CREDENTIALS_REJECTED',
    ],
    ['no secret and no cluster', ['--tenant', 'manufracture'], {}, 3, 'ERR_CREDENTIALS_MISSING'],
    [
      'plain http to a remote host',
      ['--tenant', 'manufracture', '--keycloak-url', 'http://keycloak.example/auth'],
      { KITT4SME_CLIENT_SECRET: 'x' },
      2,
      'refusing to send credentials to http://keycloak.example',
    ],
    [
      'an unknown tenant',
      ['--tenant', 'acme'],
      { KITT4SME_CLIENT_SECRET: 'x' },
      2,
      'unknown tenant "acme"; the platform config has manufracture, smithereens',
    ],
    [
      '--user on a device client',
      ['--tenant', 'manufracture', '--kind', 'devices', '--user'],
      { KITT4SME_CLIENT_SECRET: 'x' },
      2,
      '--user needs --kind scenarios',
    ],
  ] as const)('fails clearly on %s', async (_what, args, env, code, message) => {
    const r = await run(
      (args as readonly string[]).includes('--keycloak-url')
        ? [...args]
        : [...args, '--keycloak-url', kc.url],
      env,
    );
    expect(r.code).toBe(code);
    expect(r.stdout).toBe('');
    expect(r.stderr).toContain(message);
  });

  it('fails with exit 3 when Keycloak is unreachable', async () => {
    const port = await freePort();
    const r = await run(
      ['--tenant', 'manufracture', '--keycloak-url', `http://127.0.0.1:${port}/auth`],
      { KITT4SME_CLIENT_SECRET: 'x' },
    );
    expect(r.code).toBe(3);
    expect(r.stderr).toContain('ECONNREFUSED');
    expect(r.stderr).toContain('[ERR_KEYCLOAK_UNREACHABLE]');
  });
});

describe('npm run realm:apply (the command around applyRealm, tested in realm-apply.test.ts)', () => {
  const APPLY = 'services/identity/bin/realm-apply.ts';
  const runApply = (args: string[], env: Record<string, string> = {}) =>
    runCli(APPLY, args, dir, env);

  it('needs --keycloak-url (usage error, exit 2)', async () => {
    const r = await runApply([]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("required option '--keycloak-url <url>' not specified");
  });

  it('says where the admin password was looked for when it is nowhere (exit 3)', async () => {
    const r = await runApply(['--keycloak-url', kc.url]);
    expect(r.code).toBe(3);
    expect(r.stderr).toContain('cannot read password of Secret identity/keycloak-admin');
    expect(r.stderr).toContain('[ERR_CREDENTIALS_MISSING]');
  });

  it('refuses a wrong admin password (exit 1) before changing anything', async () => {
    const r = await runApply(['--keycloak-url', kc.url], {
      KEYCLOAK_ADMIN_PASSWORD: 'wrong',
      ...kc.values,
    });
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('Keycloak refused the admin login of "admin"');
  });
});
