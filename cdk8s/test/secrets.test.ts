import { X509Certificate, createPrivateKey } from 'node:crypto';

import { generateSecret, planSecrets, randomPassword } from '../lib/bootstrap-secrets.js';
import { BOOTSTRAP_SECRETS } from '../lib/secrets.js';
import { podSpecOf } from '../lib/validate/rules.js';
import { synth } from './support/synth.js';

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

  const declared = new Set(
    Object.values(BOOTSTRAP_SECRETS).flatMap((s) =>
      Object.keys(s.keys).map(
        (k) => `${out.platform.context.namespace(s.namespace)}/${s.name}:${k}`,
      ),
    ),
  );

  it('all point at a declared bootstrap Secret and key, in the same namespace', () => {
    expect(refs.length).toBeGreaterThan(0);
    expect(refs.filter((r) => !declared.has(r))).toEqual([]);
  });

  it('use every declared password (no stale Secret to generate)', () => {
    const used = new Set(refs);
    const tls = out.platform.context.namespace('mesh');
    const unused = [...declared].filter((d) => !used.has(d) && !d.startsWith(`${tls}/`));
    expect(unused).toEqual([]);
    // The TLS pair is read by the gateway through the Gateway's credentialName.
    expect(JSON.stringify(out.objects.map((o) => o.object))).toContain(
      `"credentialName":"${BOOTSTRAP_SECRETS.ingressTls.name}"`,
    );
  });

  it('never inline a password: no env value looks like one and no manifest has stringData', () => {
    const text = [...out.deployFiles.values()].join('\n');
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
      'iotagent-password',
      'orion-password',
      'root-password',
    ]);
    expect(new Set(Object.values(s.stringData)).size).toBe(3);
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
    const existing = new Set(['fiware/mongodb-credentials', 'identity/keycloak-db']);
    const plan = planSecrets(ctx, (ns, name) => existing.has(`${ns}/${name}`));
    expect(plan.existing.map((s) => s.id).sort()).toEqual(['keycloakDb', 'mongodb']);
    expect(plan.missing.map((s) => s.id).sort()).toEqual([
      'grafanaAdmin',
      'ingressTls',
      'keycloakAdmin',
    ]);
  });
});
