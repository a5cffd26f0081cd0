import { X509Certificate, createPrivateKey } from 'node:crypto';

import {
  declaredSecrets,
  generateSecret,
  planSecrets,
  randomPassword,
} from '../../platform/bootstrap-secrets.js';
import { buildRealm } from '../../platform/realm.js';
import { BOOTSTRAP_SECRETS } from '../../platform/secrets.js';
import { podSpecOf } from '../lib/validate/rules.js';
import { build, synth } from '../../testing/support/synth.js';

describe('secret references in deploy/', () => {
  const out = synth();

  /** Every secretKeyRef of every pod, as `namespace/secret:key`. */
  const refs = out.objects.flatMap(({ object }) => {
    const pod: any = podSpecOf(object);
    if (!pod) return [];
    return [...(pod.containers ?? []), ...(pod.initContainers ?? [])].flatMap((c: any) =>
      (c.env ?? [])
        .filter((e: any) => e.valueFrom?.secretKeyRef)
        .map(
          (e: any) =>
            `${object.metadata.namespace}/${e.valueFrom.secretKeyRef.name}:${e.valueFrom.secretKeyRef.key}`,
        ),
    );
  });

  /** Every Secret a pod mounts as a volume, as `namespace/secret`. */
  const volumes = out.objects.flatMap(({ object }) => {
    const pod: any = podSpecOf(object);
    return (pod?.volumes ?? [])
      .filter((v: any) => v.secret)
      .map((v: any) => `${object.metadata.namespace}/${v.secret.secretName}`);
  });

  const declared = new Set(
    declaredSecrets(out.platform.context).flatMap((s) =>
      Object.keys(s.keys).map(
        (k) => `${out.platform.context.namespace(s.namespace)}/${s.name}:${k}`,
      ),
    ),
  );

  it('all point at a declared bootstrap Secret and key, in the same namespace', () => {
    expect(refs.length).toBeGreaterThan(0);
    expect(refs.filter((r) => !declared.has(r))).toEqual([]);
  });

  it('mount only declared bootstrap Secrets as volumes, in the same namespace', () => {
    const names = new Set([...declared].map((d) => d.split(':')[0]));
    // CrateDB's users reconciler reads the passwords as files (no restart for a new tenant);
    // git reads the fleet's push credential as a file (GIT_ASKPASS or GIT_SSH_COMMAND).
    expect(volumes.sort()).toEqual(['fiware/cratedb-users', 'fiware/fleet-git']);
    expect(volumes.filter((v) => !names.has(v))).toEqual([]);
  });

  it('use every declared password (no stale Secret to generate)', () => {
    const used = new Set(refs);
    const unused = [...declared].filter((d) => !used.has(d));
    // Read by the gateway (credentialName), the kiali-server chart (its Secret `kiali`) and
    // Argo CD (`$argocd-oidc:clientSecret` in oidc.config), not through env; the fleet's token
    // is a mounted file.
    expect(unused.sort()).toEqual([
      'argocd/argocd-oidc:clientSecret',
      'fiware/fleet-git:token',
      'istio-system/kiali:oidc-secret',
      'istio-system/kitt4sme-ingress-tls:tls.crt',
      'istio-system/kitt4sme-ingress-tls:tls.key',
    ]);
    const all = JSON.stringify(out.objects.map((o) => o.object));
    expect(all).toContain('clientSecret: $argocd-oidc:clientSecret');
    expect(all).toContain('"strategy":"openid"');
    // The TLS pair is read by the gateway through the Gateway's credentialName.
    expect(JSON.stringify(out.objects.map((o) => o.object))).toContain(
      `"credentialName":"${BOOTSTRAP_SECRETS.ingressTls.name}"`,
    );
  });

  it('never inline a password: no env value looks like one and no manifest has stringData', () => {
    const text = [...build().files.values()].join('\n');
    expect(text).not.toContain('stringData:');
    expect(text).not.toMatch(/PASSWORD\n\s+value:/);
  });
});

describe('bootstrap secrets', () => {
  const ctx = synth().platform.context;

  it('are fresh, long, URL-safe random passwords', () => {
    const a = randomPassword();
    expect(a).toMatch(/^[A-Za-z0-9_-]{32}$/);
    expect(new Set(Array.from({ length: 50 }, randomPassword)).size).toBe(50);
  });

  it('generate every key of a Secret, in its namespace, with distinct values', () => {
    const s = generateSecret(ctx, 'mongodb');
    expect(s.metadata).toMatchObject({ name: 'mongodb-credentials', namespace: 'fiware' });
    expect(Object.keys(s.stringData).sort()).toEqual([
      'iotagent-json-password',
      'iotagent-password',
      'orion-password',
      'root-password',
    ]);
    expect(new Set(Object.values(s.stringData)).size).toBe(4);
    expect(s.type).toBe('Opaque');
  });

  it('make a TLS pair for the ingress host that belongs together', () => {
    const s = generateSecret(ctx, 'ingressTls');
    expect(s.type).toBe('kubernetes.io/tls');
    expect(s.metadata.namespace).toBe('istio-system');
    const cert = new X509Certificate(s.stringData['tls.crt']!);
    expect(cert.subjectAltName).toBe('DNS:kitt4sme.localhost');
    expect(cert.checkPrivateKey(createPrivateKey(s.stringData['tls.key']!))).toBe(true);
    expect(new Date(cert.validTo).getTime()).toBeGreaterThan(Date.now() + 300 * 24 * 3600 * 1000);
  });

  it('plan to create only what the cluster lacks, never replacing an existing Secret', () => {
    const existing: Record<string, Record<string, string>> = {
      'fiware/mongodb-credentials': {
        'root-password': 'r',
        'orion-password': 'o',
        'iotagent-password': 'i',
        'iotagent-json-password': 'j',
      },
      'identity/keycloak-db': { password: 'p' },
    };
    const plan = planSecrets(ctx, (ns, name) => existing[`${ns}/${name}`]);
    expect(plan.existing.map((s) => s.id).sort()).toEqual(['keycloakDb', 'mongodb']);
    expect(plan.create.map((s) => s.id).sort()).toEqual([
      'argocdOidc',
      'cratedbUsers',
      'grafanaAdmin',
      'grafanaOidc',
      'ingressTls',
      'keycloakAdmin',
      'keycloakRealm',
      'kialiOidc',
    ]);
    expect(plan.addKeys).toEqual([]);
    expect(plan.conflicts).toEqual([]);
  });

  it('give Keycloak and each application the same client secret, and every realm placeholder a value', () => {
    const plan = planSecrets(ctx, () => undefined);
    const data = (id: string) => plan.create.find((s) => s.id === id)!.secret.stringData;
    const realm = data('keycloakRealm');
    expect(data('grafanaOidc')['client-secret']).toBe(realm.KITT4SME_CLIENT_SECRET_GRAFANA);
    expect(data('kialiOidc')['oidc-secret']).toBe(realm.KITT4SME_CLIENT_SECRET_KIALI);
    expect(data('argocdOidc').clientSecret).toBe(realm.KITT4SME_CLIENT_SECRET_ARGOCD);
    expect(plan.create.find((s) => s.id === 'argocdOidc')!.secret.metadata.labels).toMatchObject({
      'app.kubernetes.io/part-of': 'argocd',
    });
    expect(Object.keys(realm).sort()).toEqual(
      buildRealm(ctx)
        .placeholders.map((p) => p.env)
        .sort(),
    );
    // Distinct clients, distinct secrets.
    expect(new Set(Object.values(realm)).size).toBe(Object.keys(realm).length);
  });

  it('add only the missing keys of an existing Secret, reusing the value a share already has', () => {
    const grafana = 'grafana-secret-already-in-the-cluster';
    const cluster: Record<string, Record<string, string>> = {
      'keycloak-realm': { KITT4SME_CLIENT_SECRET_MANUFRACTURE_SCENARIOS: 'kept' },
      'grafana-oidc': { 'client-secret': grafana },
    };
    const plan = planSecrets(ctx, (_ns, name) => cluster[name]);
    const realm = plan.addKeys.find((s) => s.id === 'keycloakRealm')!;
    expect(realm.keys).not.toContain('KITT4SME_CLIENT_SECRET_MANUFRACTURE_SCENARIOS');
    expect(realm.keys).toContain('KITT4SME_CLIENT_SECRET_SMITHEREENS_SCENARIOS');
    expect(realm.values.KITT4SME_CLIENT_SECRET_GRAFANA).toBe(grafana);
    expect(plan.existing.map((s) => s.id)).toContain('grafanaOidc');
  });

  it("add a new IoT Agent's registry password to an existing MongoDB Secret, keeping the others", () => {
    const cluster: Record<string, Record<string, string>> = {
      'mongodb-credentials': {
        'root-password': 'r',
        'orion-password': 'o',
        'iotagent-password': 'i',
      },
    };
    const plan = planSecrets(ctx, (_ns, name) => cluster[name]);
    const mongo = plan.addKeys.find((s) => s.id === 'mongodb')!;
    expect(mongo.keys).toEqual(['iotagent-json-password']);
    expect(mongo.values['iotagent-json-password']).toMatch(/^[A-Za-z0-9_-]{32}$/);
  });

  it('report copies of a client secret that differ instead of overwriting either', () => {
    const cluster: Record<string, Record<string, string>> = {
      'keycloak-realm': { KITT4SME_CLIENT_SECRET_KIALI: 'one' },
      kiali: { 'oidc-secret': 'two' },
    };
    const plan = planSecrets(ctx, (_ns, name) => cluster[name]);
    expect(plan.conflicts).toEqual([
      'identity/keycloak-realm:KITT4SME_CLIENT_SECRET_KIALI differs from another copy of oidc-client:kiali',
    ]);
  });
});
