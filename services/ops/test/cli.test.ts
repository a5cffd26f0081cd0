/**
 * The platform CLI's commands that need no cluster, and its usage errors, as a subprocess.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { parse, parseAllDocuments } from 'yaml';

import { loadPlatformContext } from '../../../platform/context.js';
import { runCli } from '../../../testing/support/cli.js';
import type { Endpoints } from '../src/endpoints.js';
import { REQUIRED_RULES } from '../src/status.js';

const CLI = 'services/ops/bin/platform.ts';
const ctx = loadPlatformContext();
let home: string;
const cli = (args: string[]) => runCli(CLI, args, home);

beforeAll(() => {
  home = mkdtempSync(join(tmpdir(), 'platform-cli-'));
});
afterAll(() => rmSync(home, { recursive: true, force: true }));

describe('platform CLI without a cluster', () => {
  it('--help lists every command and the exit codes', async () => {
    const run = await cli(['--help']);
    expect(run.code).toBe(0);
    for (const c of [
      'status',
      'wait',
      'endpoints',
      'token',
      'open',
      'validate',
      'backup',
      'backups',
      'restore',
      'rbac',
    ])
      expect(run.stdout).toMatch(new RegExp(`^  ${c}\\b`, 'm'));
    expect(run.stdout).toContain(
      'Exit codes: 0 ok, 1 not healthy, rejected, or a backup or restore failed, 2 usage (restore without --yes), 3',
    );
  });

  it('endpoints: every console through the ingress, with the path and Service it forwards to', async () => {
    const run = await cli(['endpoints', '--json']);
    expect(run.code).toBe(0);
    const e = JSON.parse(run.stdout) as Endpoints;
    expect(e.ingress).toBe(ctx.publicUrl);
    expect(e.consoles.map((c) => [c.name, c.url, c.namespace, c.service, c.port])).toEqual([
      ['grafana', `${ctx.publicUrl}/grafana/`, ctx.namespace('platform'), 'grafana', 3000],
      ['console', `${ctx.publicUrl}/console/`, ctx.namespace('platform'), 'console', 8080],
      ['kiali', `${ctx.publicUrl}/kiali/`, 'istio-system', 'kiali', 20001],
      ['argocd', `${ctx.publicUrl}/argocd/`, 'argocd', 'argocd-server', 80],
      ['keycloak', `${ctx.publicUrl}/auth/`, ctx.namespace('identity'), 'keycloak', 8080],
    ]);
    expect(e.tenantUsers).toEqual(ctx.config.tenants.map((t) => `${t.name}-demo`));
    // Passwords are never printed, only where to read them.
    expect(e.consoles[0]!.login).toMatch(
      /kubectl -n identity get secret keycloak-realm .*PLATFORM_ADMIN/,
    );
    const text = await cli(['endpoints']);
    expect(text.stdout).toMatch(/^grafana +https:\/\/kitt4sme\.localhost\/grafana\/$/m);
    // What Grafana gives tenant people as built; no Keycloak sign-in offered where it cannot
    // work (the repository's profile is the laptop one, minikube).
    const login = (name: string) => e.consoles.find((c) => c.name === name)!.login;
    expect(ctx.config.profile).toBe('laptop');
    expect(login('grafana')).toContain("tenant people: their tenants' organisations");
    expect(login('grafana')).not.toContain('folder');
    expect(login('kiali')).toMatch(/^Keycloak sign-in does not work on minikube yet/);
    expect(login('argocd')).toMatch(/does not work on minikube yet.*break-glass: admin/);
    expect(login('console')).toMatch(
      /^Keycloak single sign-on: platform-admin.*, or a tenant's demo user; through the ingress/,
    );
  });

  it('rbac: a read-only ClusterRole; port-forward only with --open, as Roles in the consoles’ namespaces', async () => {
    let run = await cli(['rbac']);
    expect(run.code).toBe(0);
    const role = parse(run.stdout) as {
      kind: string;
      rules: { resources: string[]; verbs: string[] }[];
    };
    expect(role.kind).toBe('ClusterRole');
    expect(role.rules).toEqual(REQUIRED_RULES);
    expect(
      role.rules.flatMap((r) => r.verbs).every((v) => ['get', 'list', 'watch'].includes(v)),
    ).toBe(true);
    run = await cli(['rbac', '--open']);
    const docs = parseAllDocuments(run.stdout).map(
      (d) => d.toJS() as { kind: string; metadata: { namespace?: string }; rules: unknown[] },
    );
    expect(docs[0]!.kind).toBe('ClusterRole');
    expect(docs.slice(1).map((d) => [d.kind, d.metadata.namespace])).toEqual([
      ['Role', ctx.namespace('platform')],
      ['Role', 'istio-system'],
      ['Role', 'argocd'],
      ['Role', ctx.namespace('identity')],
    ]);
    expect(docs[1]!.rules).toEqual([
      { apiGroups: [''], resources: ['pods/portforward'], verbs: ['create'] },
    ]);
  });

  it.each([
    [
      ['open', 'prometheus'],
      /value 'prometheus' is invalid for argument 'console'. Allowed choices are grafana, console, kiali, argocd, keycloak/,
    ],
    [['open', 'grafana', '--port', '70000'], /use a port number from 1 to 65535/],
    [['wait', '--timeout', 'soon'], /use a duration such as 90s, 10m/],
    [['wait', '--revision', 'no-such-ref'], /git cannot resolve "no-such-ref" to a commit/],
    [['status', '--bogus'], /unknown option '--bogus'/],
    [['token', '--tenant', 'nobody'], /unknown tenant "nobody"/],
  ])('usage error %j exits 2', async (args, message) => {
    const run = await cli(args);
    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(message);
  });

  it('--json: a failure is one JSON document with the code, the message and the fix', async () => {
    const run = await cli(['status', '--json']);
    expect(run.code).toBe(3);
    const { error } = JSON.parse(run.stdout) as {
      error: { code: string; message: string; fix: string };
    };
    expect(error.code).toBe('ERR_KUBECONFIG');
    expect(error.message).toMatch(/cannot read the kubeconfig .*none/);
    expect(error.fix).toContain('kubectl config use-context');
  });

  it('token without credentials or a cluster exits 3 with the fix', async () => {
    const run = await cli(['token', '--tenant', ctx.config.tenants[0]!.name]);
    expect(run.code).toBe(3);
    expect(run.stderr).toContain('[ERR_CREDENTIALS_MISSING]');
  });
});
