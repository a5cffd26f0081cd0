/**
 * The plan of `npm run bootstrap:secrets -- --rotate <id>`, without a cluster: which copies
 * change together, what the running realm must take, what is refused and why, and the fresh
 * values (the same in every copy of a shared value, a TLS pair that belongs together).
 */
import { X509Certificate, createPrivateKey } from 'node:crypto';

import {
  declaredSecrets,
  planRotation,
  rotationIds,
  rotationValues,
} from '../bootstrap-secrets.js';
import type { RotationPlan } from '../bootstrap-secrets.js';
import { loadPlatformContext } from '../context.js';
import { buildRealm } from '../realm.js';

const ctx = loadPlatformContext();
const plan = (id: string): RotationPlan => {
  const p = planRotation(ctx, id);
  if (!p) throw new Error(`no plan for ${id}`);
  return p;
};
/** `namespace/name:key` of every key a plan writes. */
const writes = (p: RotationPlan) =>
  p.secrets.flatMap((s) => s.keys.map((k) => `${s.namespace}/${s.name}:${k}`)).sort();

describe('planRotation', () => {
  it("gives a client secret's copies, Keycloak's and the application's, the same rotation", () => {
    const p = plan('oidc-client:grafana');
    expect(writes(p)).toEqual([
      'fiware/grafana-oidc:client-secret',
      'identity/keycloak-realm:KITT4SME_CLIENT_SECRET_GRAFANA',
    ]);
    expect(p.realm).toEqual([
      {
        kind: 'client-secret',
        id: 'grafana',
        env: 'KITT4SME_CLIENT_SECRET_GRAFANA',
        heldOutside: false,
      },
    ]);
    expect(p.manual).toEqual([]);
    // The same plan from either copy's key, or the application's Secret.
    expect(writes(plan('grafanaOidc/client-secret'))).toEqual(writes(p));
    expect(writes(plan('grafanaOidc'))).toEqual(writes(p));
    expect(writes(plan('keycloakRealm/KITT4SME_CLIENT_SECRET_GRAFANA'))).toEqual(writes(p));
  });

  it("rotates a device client's secret in keycloak-realm only, and says its holders are outside the cluster", () => {
    const p = plan('oidc-client:manufracture-devices');
    expect(writes(p)).toEqual([
      'identity/keycloak-realm:KITT4SME_CLIENT_SECRET_MANUFRACTURE_DEVICES',
    ]);
    expect(p.realm).toEqual([
      {
        kind: 'client-secret',
        id: 'manufracture-devices',
        env: 'KITT4SME_CLIENT_SECRET_MANUFRACTURE_DEVICES',
        heldOutside: true,
      },
    ]);
    expect(p.secrets[0]!.rotation).toEqual({ by: 'keycloak' });
  });

  it("rotates the whole realm Secret with every application's copy, and every client and person in the realm", () => {
    const p = plan('keycloakRealm');
    const realm = buildRealm(ctx);
    expect(p.secrets.map((s) => s.name).sort()).toEqual(
      ['argocd-oidc', 'grafana-oidc', 'keycloak-realm', 'kiali'].sort(),
    );
    expect(p.secrets.find((s) => s.name === 'keycloak-realm')!.keys).toEqual(
      realm.placeholders.map((x) => x.env),
    );
    expect(p.realm.map((c) => `${c.kind}:${c.id}`)).toEqual(
      realm.placeholders.map((x) => `${x.kind}:${x.id}`),
    );
    expect(p.realm.filter((c) => !c.heldOutside).map((c) => c.id)).toEqual([
      'grafana',
      'kiali',
      'argocd',
    ]);
  });

  it('rotates both halves of the TLS pair, whichever is named', () => {
    for (const id of ['ingressTls', 'ingressTls/tls.key', 'ingressTls/tls.crt']) {
      const p = plan(id);
      expect(writes(p)).toEqual([
        'istio-system/kitt4sme-ingress-tls:tls.crt',
        'istio-system/kitt4sme-ingress-tls:tls.key',
      ]);
      expect(p.secrets[0]!.tls).toBe(true);
      expect(p.realm).toEqual([]);
    }
  });

  it('rotates one CrateDB password alone, its readers re-reading mounted files', () => {
    const p = plan('cratedbUsers/reader-smithereens-password');
    expect(writes(p)).toEqual(['fiware/cratedb-users:reader-smithereens-password']);
    expect(p.secrets[0]!.rotation).toEqual({ by: 'restart', filesReloaded: true });
  });

  it('refuses database and admin passwords, with the reason and a procedure for their namespace', () => {
    for (const [id, name, ns, holder] of [
      ['mongodb', 'mongodb-credentials', 'fiware', /MongoDB keeps/],
      ['mongodb/orion-password', 'mongodb-credentials', 'fiware', /MongoDB keeps/],
      ['keycloakDb', 'keycloak-db', 'identity', /PostgreSQL keeps/],
      ['grafanaAdmin/password', 'grafana-admin', 'fiware', /Grafana keeps/],
      ['keycloakAdmin', 'keycloak-admin', 'identity', /Keycloak keeps/],
    ] as const) {
      const p = plan(id);
      expect(p.secrets).toEqual([]);
      expect(p.manual).toHaveLength(1);
      const m = p.manual[0]!;
      expect(m).toMatchObject({ name, namespace: ns });
      expect(m.reason).toMatch(holder);
      expect(m.procedure.join('\n')).toContain(`kubectl -n ${ns} `);
      expect(m.procedure.join('\n')).not.toContain('{ns}');
    }
    expect(plan('mongodb/orion-password').manual[0]!.keys).toEqual(['orion-password']);
  });

  it('knows no other ids', () => {
    for (const id of [
      '',
      'nope',
      'mongodb-credentials', // a Secret's Kubernetes name, not its id
      'mongodb/nope',
      'nope/password',
      'oidc-client:nope',
      'mongodb/',
      '/password',
    ])
      expect(planRotation(ctx, id)).toBeUndefined();
  });

  it('plans every id rotationIds lists, and those are every Secret, key and shared value declared', () => {
    const ids = rotationIds(ctx);
    const declared = declaredSecrets(ctx);
    expect(ids.secrets).toEqual(declared.map((s) => s.id));
    expect(ids.keys).toHaveLength(declared.reduce((n, s) => n + Object.keys(s.keys).length, 0));
    expect(ids.shares).toEqual(
      buildRealm(ctx)
        .placeholders.filter((p) => p.kind === 'client-secret')
        .map((p) => `oidc-client:${p.id}`)
        .sort(),
    );
    for (const id of [...ids.secrets, ...ids.shares, ...ids.keys])
      expect(planRotation(ctx, id)?.id).toBe(id);
  });
});

describe('rotationValues', () => {
  it('gives every copy of a shared value the same fresh value, and other keys values of their own', () => {
    const p = plan('keycloakRealm');
    const a = rotationValues(ctx, p);
    const realm = a.get('keycloakRealm')!;
    expect(a.get('grafanaOidc')).toEqual({ 'client-secret': realm.KITT4SME_CLIENT_SECRET_GRAFANA });
    expect(a.get('kialiOidc')).toEqual({ 'oidc-secret': realm.KITT4SME_CLIENT_SECRET_KIALI });
    expect(a.get('argocdOidc')).toEqual({ clientSecret: realm.KITT4SME_CLIENT_SECRET_ARGOCD });
    expect(Object.keys(realm)).toEqual(p.secrets.find((s) => s.id === 'keycloakRealm')!.keys);
    expect(new Set(Object.values(realm)).size).toBe(Object.keys(realm).length);
    for (const v of Object.values(realm)) expect(v).toMatch(/^[A-Za-z0-9_-]{32}$/);
    // Fresh each time.
    const b = rotationValues(ctx, p).get('keycloakRealm')!;
    for (const k of Object.keys(realm)) expect(b[k]).not.toBe(realm[k]);
  });

  it('makes a new self-signed pair for the ingress host whose halves belong together', () => {
    const v = rotationValues(ctx, plan('ingressTls/tls.key')).get('ingressTls')!;
    const cert = new X509Certificate(v['tls.crt']!);
    expect(cert.subjectAltName).toBe(`DNS:${ctx.config.ingress.host}`);
    expect(cert.checkPrivateKey(createPrivateKey(v['tls.key']!))).toBe(true);
  });
});
