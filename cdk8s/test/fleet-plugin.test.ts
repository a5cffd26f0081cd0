/**
 * The fleet's Config Management Plugin as synth generates it: the fleet Application and its
 * project in deploy/apps, the plugin configuration and the repo-server sidecar in the argo-cd
 * chart values. testing/test/argocd-fleet.test.ts runs it with the real Argo CD.
 */
import { FLEET_NAMESPACED_KINDS, FLEET_PLUGIN_NAME } from '../lib/gitops/fleet-plugin.js';
import { argoCdValues } from '../lib/gitops/chart-values.js';
import { renderFleet } from '../lib/fleet/agents.js';
import { LAYERS } from '../../platform/layers.js';
import { FLEET_DIR } from '../../platform/fleet/records.js';
import { loadFleet } from '../../platform/fleet/resolve.js';
import { ROOT, synth } from '../../testing/support/synth.js';

const out = synth();
const ctx = out.platform.context;
const appsObjects = out.objects.filter((o) => o.file.includes('apps/'));
const find = (kind: string, name: string) =>
  out.objects.map((o) => o.object as any).find((o) => o.kind === kind && o.metadata.name === name);

describe('the fleet Application', () => {
  const app = find('Application', 'fleet');
  const project = find('AppProject', 'fleet');

  it('renders the repository root with the fleet plugin, in the fleet project, after every platform layer but the fleet service', () => {
    expect(appsObjects.length).toBeGreaterThan(0);
    expect(app.spec.source).toEqual({
      repoURL: ctx.config.gitops.repoURL,
      targetRevision: ctx.config.gitops.targetRevision,
      path: '.',
      plugin: { name: FLEET_PLUGIN_NAME },
    });
    expect(app.spec.project).toBe('fleet');
    const wave = (o: any) => Number(o.metadata.annotations['argocd.argoproj.io/sync-wave']);
    // The fleet service's layer comes after: its Roles live in the agents' namespaces, which
    // this Application creates.
    for (const layer of Object.keys(LAYERS))
      expect([layer, wave(find('Application', layer)) < wave(app)]).toEqual([
        layer,
        layer !== 'fleet-service',
      ]);
    expect(wave(project)).toBeLessThan(wave(app));
    expect(app.spec.syncPolicy.automated).toEqual({ prune: true, selfHeal: true });
  });

  it("lets the project create exactly the kinds and namespaces of the example fleet's rendering", () => {
    const rendered = renderFleet(ctx, loadFleet(ROOT, FLEET_DIR, ctx)).objects;
    const group = (apiVersion: string) =>
      apiVersion.includes('/') ? apiVersion.split('/')[0] : '';
    const namespaced = new Set(
      rendered.filter((o) => o.kind !== 'Namespace').map((o) => `${group(o.apiVersion)}/${o.kind}`),
    );
    expect([...namespaced].sort()).toEqual(
      FLEET_NAMESPACED_KINDS.map((k) => `${k.group}/${k.kind}`).sort(),
    );
    expect(project.spec.namespaceResourceWhitelist).toEqual(
      FLEET_NAMESPACED_KINDS.map((k) => ({ ...k })),
    );
    expect(project.spec.clusterResourceWhitelist).toEqual([{ group: '', kind: 'Namespace' }]);
    const allowed = project.spec.destinations.map((d: any) => d.namespace).sort();
    const used = [...new Set(rendered.map((o) => o.metadata.namespace ?? o.metadata.name))].sort();
    expect(allowed).toEqual(used);
    expect(allowed).toContain(app.spec.destination.namespace);
    // No Secret, no cluster-wide RBAC, nothing cluster-wide but the agents' namespaces. The
    // only Roles are the agents' clients' job's, on Secrets and Deployments of an agents
    // namespace, bound to that job alone (cdk8s/lib/fleet/identity.ts).
    expect(JSON.stringify(project.spec)).not.toMatch(/Secret|ClusterRole|\*/);
    const roles = rendered.filter((o) => o.kind === 'Role' || o.kind === 'RoleBinding') as any[];
    expect(roles.length).toBe(2 * ctx.config.tenants.length);
    for (const r of roles) {
      expect(r.metadata.namespace).toMatch(/^agents-/);
      if (r.kind === 'Role')
        expect(r.rules).toEqual([
          {
            apiGroups: [''],
            resources: ['secrets'],
            verbs: ['get', 'list', 'create', 'patch', 'delete'],
          },
          { apiGroups: ['apps'], resources: ['deployments'], verbs: ['list', 'patch'] },
        ]);
      else
        expect(r.subjects).toEqual([
          { kind: 'ServiceAccount', name: 'agent-clients', namespace: 'identity' },
        ]);
    }
  });
});

describe('the fleet plugin in the argo-cd chart values', () => {
  const values = argoCdValues(ctx) as any;

  it('configures the plugin: discovered by fleet/ records, generating with the image render command', () => {
    expect(values.configs.cmp.create).toBe(true);
    expect(values.configs.cmp.plugins[FLEET_PLUGIN_NAME]).toEqual({
      discover: { find: { glob: 'fleet/**/*.y*ml' } },
      generate: { command: ['node', '/app/dist/cdk8s/bin/fleet-render.js'] },
    });
  });

  it("runs the sidecar from the pinned image, as Argo CD's user, on the shared plugin socket directory", () => {
    const [sidecar] = values.repoServer.extraContainers;
    expect(sidecar.image).toBe(ctx.image('argocdFleetPlugin'));
    expect(sidecar.image).toMatch(/^ghcr\.io\/[^:]+:\d+\.\d+\.\d+$/);
    expect(sidecar.command).toEqual(['/var/run/argocd/argocd-cmp-server']);
    expect(sidecar.securityContext).toMatchObject({
      runAsNonRoot: true,
      runAsUser: 999,
      allowPrivilegeEscalation: false,
      readOnlyRootFilesystem: true,
      capabilities: { drop: ['ALL'] },
    });
    const mounts = Object.fromEntries(sidecar.volumeMounts.map((m: any) => [m.mountPath, m]));
    expect(mounts['/var/run/argocd'].name).toBe('var-files');
    expect(mounts['/home/argocd/cmp-server/plugins'].name).toBe('plugins');
    expect(mounts['/home/argocd/cmp-server/config/plugin.yaml']).toMatchObject({
      subPath: `${FLEET_PLUGIN_NAME}.yaml`,
    });
    const volumes = values.repoServer.volumes.map((v: any) => v.name);
    for (const m of sidecar.volumeMounts.filter(
      (m: any) => !['var-files', 'plugins'].includes(m.name),
    ))
      expect(volumes).toContain(m.name);
  });

  it('follows a fork: another image pin is the sidecar image', () => {
    const fork = synth({
      config: (c) =>
        void (c.images = {
          ...c.images,
          argocdFleetPlugin: {
            repository: 'ghcr.io/acme/fleet-plugin',
            tag: '1.2.3',
            why: 'our own build',
          },
        }),
    });
    const values = argoCdValues(fork.platform.context) as any;
    expect(values.repoServer.extraContainers[0].image).toBe('ghcr.io/acme/fleet-plugin:1.2.3');
  });
});
