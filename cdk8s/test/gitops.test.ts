import { LIVENESS_METRIC, LIVENESS_VALUE } from '../../platform/liveness.js';
import { LAYERS } from '../../platform/layers.js';
import { build, find, synth } from '../../testing/support/synth.js';

const apps = (out: ReturnType<typeof synth>) =>
  out.objects.filter((o) => o.object.kind === 'Application').map((o) => o.object as any);
const wave = (a: any) => Number(a.metadata.annotations['argocd.argoproj.io/sync-wave']);

describe('the app-of-apps', () => {
  const out = synth();
  const byName = new Map(apps(out).map((a) => [a.metadata.name, a]));

  it('has one Application per layer, syncing its deploy/ directory', () => {
    for (const [layer, spec] of Object.entries(LAYERS)) {
      const app = byName.get(layer);
      expect(app.spec.source).toEqual({
        repoURL: 'https://github.com/kitt4sme/fiware-platform-kit.git',
        targetRevision: 'main',
        path: `deploy/${layer}`,
      });
      expect(wave(app)).toBe(spec.wave);
      // The fleet service's layer has a project of its own (applications.ts NOTE 7).
      expect(app.spec.project).toBe(layer === 'fleet-service' ? 'fleet-service' : 'platform');
      expect([...out.manifests.keys()].some((f) => f.startsWith(`deploy/${layer}/`))).toBe(true);
    }
  });

  it('has a root Application that manages deploy/apps, itself included', () => {
    const root = byName.get('root');
    expect(root.spec.source.path).toBe('deploy/apps');
    expect(root.spec.project).toBe('gitops');
    expect(out.manifests.has('deploy/apps/root.yaml')).toBe(true);
    expect(wave(root)).toBeLessThan(
      Math.min(
        ...apps(out)
          .filter((a) => a !== root)
          .map(wave),
      ),
    );
  });

  it('orders waves so CRDs and namespaces come before what uses them', () => {
    const w = (n: string) => wave(byName.get(n));
    expect(w('argo-cd')).toBeLessThan(w('namespaces'));
    expect(w('namespaces')).toBeLessThan(w('istio-base'));
    expect(w('istio-base')).toBeLessThan(w('istiod'));
    expect(w('istio-cni')).toBeLessThanOrEqual(w('istiod'));
    expect(w('istiod')).toBeLessThan(w('istio-ingressgateway'));
    // Istio custom resources (mesh layer) need the CRDs; workloads need mTLS and default-deny first.
    expect(w('istio-base')).toBeLessThan(w('mesh'));
    expect(w('istiod')).toBeLessThan(w('mesh'));
    for (const l of ['data', 'identity', 'security', 'fiware', 'observability', 'monitor'])
      expect(w('mesh')).toBeLessThan(w(l));
    expect(w('data')).toBeLessThan(w('fiware'));
    expect(w('security')).toBeLessThan(w('fiware'));
    // The monitor watches the FIWARE layer's devices; Prometheus (its Alertmanager) comes first.
    expect(w('fiware')).toBeLessThan(w('monitor'));
    expect(w('prometheus')).toBeLessThan(w('monitor'));
  });

  it('makes Argo CD wait for child Applications to be healthy between waves', () => {
    const values = byName.get('argo-cd').spec.source.helm.valuesObject;
    expect(values.configs.cm['resource.customizations.health.argoproj.io_Application']).toContain(
      'obj.status.health.status',
    );
  });

  it('installs every upstream chart at the version the config pins', () => {
    const charts = apps(out).filter((a) => a.spec.source.chart);
    expect(
      charts.map((a) => `${a.spec.source.chart}@${a.spec.source.targetRevision}`).sort(),
    ).toEqual(
      [
        'argo-cd@10.10.0',
        'base@1.31.1',
        'cni@1.31.1',
        'gateway@1.31.1',
        'istiod@1.31.1',
        'jaeger@4.12.0',
        'kiali-server@2.31.0',
        'prometheus@29.36.1',
        'sealed-secrets@2.19.3',
      ].sort(),
    );
  });

  it("loads the liveness monitor's offline rule into Prometheus, on the monitor's own gauge", () => {
    const values = byName.get('prometheus').spec.source.helm.valuesObject;
    const rules = values.serverFiles['alerting_rules.yml'].groups.flatMap((g: any) => g.rules);
    expect(rules).toEqual([
      expect.objectContaining({
        alert: 'TargetOffline',
        expr: `${LIVENESS_METRIC} == ${LIVENESS_VALUE.offline}`,
      }),
    ]);
    expect(LIVENESS_VALUE.offline).toBe(3);
  });

  it('never cascades the deletion of Argo CD, the root or the namespaces', () => {
    for (const n of ['argo-cd', 'root', 'namespaces'])
      expect(byName.get(n).metadata.finalizers).toBeUndefined();
    expect(byName.get('fiware').metadata.finalizers).toEqual([
      'resources-finalizer.argocd.argoproj.io',
    ]);
  });

  it('syncs the AppProjects before any Application that uses them', () => {
    const projects = out.objects
      .filter((o) => o.object.kind === 'AppProject')
      .map((o) => o.object as any);
    expect(projects.map((p) => p.metadata.name).sort()).toEqual([
      'fleet',
      'fleet-service',
      'gitops',
      'infrastructure',
      'platform',
    ]);
    const firstApp = Math.min(...apps(out).map(wave));
    for (const p of projects) expect(wave(p)).toBeLessThan(firstApp);
    for (const a of apps(out))
      expect(projects.map((p) => p.metadata.name)).toContain(a.spec.project);
  });

  it('lets deploy/apps create Applications and AppProjects only, in argocd only', () => {
    const p = find(out, 'AppProject', 'gitops').spec;
    expect(p.destinations).toEqual([
      { server: 'https://kubernetes.default.svc', namespace: 'argocd' },
    ]);
    expect(p.clusterResourceWhitelist).toEqual([]);
    expect(p.namespaceResourceWhitelist).toEqual([
      { group: 'argoproj.io', kind: 'Application' },
      { group: 'argoproj.io', kind: 'AppProject' },
    ]);
  });

  it('installs upstream charts from their Helm repositories only, never from the git repo', () => {
    const p = find(out, 'AppProject', 'infrastructure').spec;
    expect(p.sourceRepos).not.toContain('https://github.com/kitt4sme/fiware-platform-kit.git');
    for (const a of apps(out).filter((x) => x.spec.project === 'infrastructure')) {
      expect(a.spec.source.chart).toBeDefined();
      expect(p.sourceRepos).toContain(a.spec.source.repoURL);
    }
  });

  it('keeps the platform project to its namespaces, its repo and no Secrets', () => {
    const p = find(out, 'AppProject', 'platform').spec;
    expect(p.sourceRepos).toEqual(['https://github.com/kitt4sme/fiware-platform-kit.git']);
    expect(p.destinations.map((d: any) => d.namespace).sort()).toEqual([
      'fiware',
      'identity',
      'istio-system',
    ]);
    expect(p.clusterResourceWhitelist).toEqual([{ group: '', kind: 'Namespace' }]);
    expect(p.namespaceResourceBlacklist).toEqual([{ group: '', kind: 'Secret' }]);
  });

  it("gives every Application a destination its project allows (Argo CD refuses '' otherwise)", () => {
    const projects = new Map(
      out.objects
        .filter((o) => o.object.kind === 'AppProject')
        .map((o) => [o.object.metadata.name, (o.object as any).spec.destinations]),
    );
    for (const a of apps(out)) {
      const { server, namespace } = a.spec.destination;
      expect([a.metadata.name, typeof namespace === 'string' && namespace !== '']).toEqual([
        a.metadata.name,
        true,
      ]);
      expect(projects.get(a.spec.project)).toContainEqual({ server, namespace });
    }
  });

  it('follows a fork: changing the repo URL changes every git source and nothing else', () => {
    const fork = synth({
      config: (c) => void (c.gitops.repoURL = 'https://git.example.com/acme/platform.git'),
    });
    const gitSources = apps(fork).filter((a) => a.spec.source.path);
    // The layers, the root and the fleet (the repository root, rendered by the plugin).
    expect(gitSources.length).toBe(Object.keys(LAYERS).length + 2);
    for (const a of gitSources)
      expect(a.spec.source.repoURL).toBe('https://git.example.com/acme/platform.git');
    // The manifests and what is generated beside them (cluster.env names the repository too).
    const text = [
      ...build({
        config: (c) => void (c.gitops.repoURL = 'https://git.example.com/acme/platform.git'),
      }).files.values(),
    ].join('\n');
    expect(text).not.toContain('github.com/kitt4sme');
  });

  it('ignores only the webhook fields istiod rewrites at run time', () => {
    expect(byName.get('istiod').spec.ignoreDifferences).toHaveLength(2);
    expect(byName.get('istiod').spec.syncPolicy.syncOptions).toContain(
      'RespectIgnoreDifferences=true',
    );
    expect(byName.get('fiware').spec.ignoreDifferences).toBeUndefined();
  });
});
