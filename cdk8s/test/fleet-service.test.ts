/**
 * The fleet service as a platform component (cdk8s/lib/components/fleet.ts): exactly the
 * cluster rights it reads with, its one way out of the mesh (the git host), the local-only
 * mode's push port that only its identity may use, its push credential that is never in git,
 * restricted Pod Security, and its route behind the tenancy policy.
 */
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';

import { LOCAL_GIT, LOCAL_GIT_REPO_URL } from '../../platform/config/schema.js';
import { gitRemote } from '../../platform/git-remote.js';
import { routeAtIngress } from '../../testing/istio/ingress.js';
import { IstioMesh } from '../../testing/istio/mesh.js';
import type { MeshObject } from '../../testing/istio/mesh.js';
import { meshPrincipal } from '../../platform/mesh.js';
import type { SynthOutput } from '../lib/synth.js';
import {
  RESTRICTED_CONTAINER,
  ROOT,
  find,
  policyConfigMapOf,
  synth,
} from '../../testing/support/synth.js';

const PRINCIPAL = 'cluster.local/ns/fiware/sa/fleet';
const SUBJECT = { kind: 'ServiceAccount', name: 'fleet', namespace: 'fiware' };
const READ = ['get', 'list', 'watch'];

const objectsOf = (out: SynthOutput, kind: string): any[] =>
  out.objects.filter((o) => o.object.kind === kind).map((o) => o.object as any);
const deployment = (out: SynthOutput) => find(out, 'Deployment', 'fleet', 'fiware');
const podOf = (out: SynthOutput) => deployment(out).spec.template.spec;
const envOf = (out: SynthOutput): Record<string, string> =>
  Object.fromEntries(podOf(out).containers[0].env.map((e: any) => [e.name, e.value]));

/**
 * Every rule granted to the fleet's ServiceAccount, through any (Cluster)RoleBinding of the
 * synthesized objects, as `namespace|*: apiGroup/resource: verbs`.
 */
function fleetRights(out: SynthOutput): string[] {
  const roles = new Map<string, any>();
  for (const r of objectsOf(out, 'ClusterRole')) roles.set(`ClusterRole//${r.metadata.name}`, r);
  for (const r of objectsOf(out, 'Role'))
    roles.set(`Role/${r.metadata.namespace}/${r.metadata.name}`, r);
  const rights: string[] = [];
  for (const b of [...objectsOf(out, 'ClusterRoleBinding'), ...objectsOf(out, 'RoleBinding')]) {
    if (
      !b.subjects?.some(
        (s: any) =>
          s.kind === SUBJECT.kind && s.name === SUBJECT.name && s.namespace === SUBJECT.namespace,
      )
    )
      continue;
    const ns = b.kind === 'ClusterRoleBinding' ? '' : b.metadata.namespace;
    const role = roles.get(
      `${b.roleRef.kind}/${b.roleRef.kind === 'ClusterRole' ? '' : ns}/${b.roleRef.name}`,
    );
    // A binding to a role the platform does not define (cluster-admin, view...) shows as such.
    if (!role) {
      rights.push(`${ns || '*'}: ${b.roleRef.kind} ${b.roleRef.name} (not ours)`);
      continue;
    }
    for (const rule of role.rules)
      for (const g of rule.apiGroups)
        for (const res of rule.resources)
          rights.push(`${ns || '*'}: ${g || 'core'}/${res}: ${[...rule.verbs].sort().join(',')}`);
  }
  return rights.sort();
}

describe('the fleet service, with the repository config (an https remote)', () => {
  const out = synth();

  it('reads exactly nodes, node leases, the agents’ Deployments and pods and Argo CD’s Applications, and writes nothing', () => {
    const verbs = [...READ].sort().join(',');
    expect(fleetRights(out)).toEqual(
      [
        `*: core/nodes: ${verbs}`,
        `kube-node-lease: coordination.k8s.io/leases: ${verbs}`,
        `argocd: argoproj.io/applications: ${verbs}`,
        `agents-manufracture: apps/deployments: ${verbs}`,
        `agents-manufracture: core/pods: ${verbs}`,
        `agents-smithereens: apps/deployments: ${verbs}`,
        `agents-smithereens: core/pods: ${verbs}`,
      ].sort(),
    );
  });

  it('follows the tenant list: a new tenant adds a Role in its agents namespace', () => {
    const more = synth({ config: (c) => c.tenants.push({ name: 'acme_works' }) });
    expect(fleetRights(more).filter((r) => r.startsWith('agents-acme-works:'))).toEqual([
      'agents-acme-works: apps/deployments: get,list,watch',
      'agents-acme-works: core/pods: get,list,watch',
    ]);
  });

  it('runs under restricted Pod Security with a read-only root, the clone and /tmp on emptyDirs', () => {
    const pod = podOf(out);
    expect(pod.securityContext).toMatchObject({
      runAsNonRoot: true,
      runAsUser: 65532,
      seccompProfile: { type: 'RuntimeDefault' },
    });
    expect(pod.hostNetwork ?? false).toBe(false);
    expect(pod.containers).toHaveLength(1);
    expect(pod.initContainers).toBeUndefined();
    expect(pod.containers[0].securityContext).toEqual(RESTRICTED_CONTAINER);
    const mounts = Object.fromEntries(
      pod.containers[0].volumeMounts.map((m: any) => [m.mountPath, m]),
    );
    const volumes = Object.fromEntries(pod.volumes.map((v: any) => [v.name, v]));
    expect(volumes[mounts['/var/lib/fleet'].name].emptyDir).toBeDefined();
    expect(envOf(out).FLEET_CLONE_DIR).toBe('/var/lib/fleet/repo');
    expect(volumes[mounts['/tmp'].name].emptyDir).toBeDefined();
    expect(envOf(out).HOME).toBe('/tmp');
    expect(pod.volumes.filter((v: any) => v.hostPath)).toEqual([]);
    // The API token only because it reads the cluster, declared with its reason.
    expect(pod.automountServiceAccountToken).toBe(true);
    expect(deployment(out).metadata.annotations['policy.kitt4sme.io/exceptions']).toContain(
      'automountServiceAccountToken',
    );
  });

  it('mounts the https token from the generated Secret as a file and gives it to git by askpass only', () => {
    const pod = podOf(out);
    const secretVolumes = pod.volumes.filter((v: any) => v.secret);
    expect(secretVolumes).toEqual([
      { name: 'git-credential', secret: { secretName: 'fleet-git', defaultMode: 0o440 } },
    ]);
    const env = envOf(out);
    expect(env.GIT_ASKPASS).toBe('/usr/local/bin/fleet-git-askpass');
    expect(env.FLEET_GIT_TOKEN_FILE).toBe('/etc/fleet-git/token');
    expect(env.FLEET_GIT_URL).toBe(out.platform.context.config.gitops.repoURL);
    expect(env.FLEET_GIT_BRANCH).toBe(out.platform.context.config.gitops.targetRevision);
    expect(env.GIT_SSH_COMMAND).toBeUndefined();
    // No credential in any variable's value, and none from a secretKeyRef.
    expect(pod.containers[0].env.filter((e: any) => e.valueFrom)).toEqual([]);
    // The askpass helper the env names is the image's.
    expect(readFileSync(join(ROOT, 'services/fleet/Dockerfile'), 'utf8')).toContain(
      '> /usr/local/bin/fleet-git-askpass',
    );
  });

  it('reaches the git host of gitops.repoURL, through a ServiceEntry only its own namespace sees', () => {
    const entries = objectsOf(out, 'ServiceEntry');
    expect(entries.map((e) => e.metadata.name)).toEqual(['fleet-git-host']);
    expect(entries[0].metadata.namespace).toBe('fiware');
    expect(entries[0].spec).toEqual({
      hosts: ['github.com'],
      exportTo: ['.'],
      location: 'MESH_EXTERNAL',
      resolution: 'DNS',
      ports: [{ number: 443, name: 'tls-git-https', protocol: 'TLS' }],
    });
    expect(gitRemote(out.platform.context.config.gitops.repoURL).host).toBe('github.com');
  });

  it('lets only the fleet’s sidecar import the git host: every other sidecar sees the cluster’s own services only', () => {
    const sidecars = objectsOf(out, 'Sidecar');
    const byName = new Map(sidecars.map((s) => [`${s.metadata.namespace}/${s.metadata.name}`, s]));
    // The monitor's own Sidecar passes webhooks through (cdk8s/test/monitor.test.ts); it
    // imports no host either.
    expect([...byName.keys()].sort()).toEqual(['fiware/default', 'fiware/fleet', 'fiware/monitor']);
    expect(byName.get('fiware/monitor').spec.egress).toEqual([{ hosts: ['*/*.cluster.local'] }]);
    // The namespace default (no selector) applies to every pod without a Sidecar of its own.
    expect(byName.get('fiware/default').spec).toEqual({
      egress: [{ hosts: ['*/*.cluster.local'] }],
    });
    expect(byName.get('fiware/fleet').spec).toEqual({
      workloadSelector: { labels: { app: 'fleet' } },
      egress: [{ hosts: ['*/*.cluster.local', './github.com'] }],
    });
    // No other Sidecar selects a pod, and the mesh still refuses unknown hosts.
    expect(JSON.stringify(out.objects)).toContain(
      '"outboundTrafficPolicy":{"mode":"REGISTRY_ONLY"}',
    );
  });

  it('is called by the gateway on its port, and calls Keycloak’s JWKS and the monitor’s events ingest only', () => {
    const allow = find(out, 'AuthorizationPolicy', 'fleet-allow', 'fiware').spec;
    expect(allow.rules).toEqual([
      {
        from: [
          { source: { principals: ['cluster.local/ns/istio-system/sa/istio-ingressgateway'] } },
        ],
        to: [{ operation: { ports: ['8080'] } }],
      },
    ]);
    const grants = objectsOf(out, 'AuthorizationPolicy').flatMap((p) =>
      (p.spec.rules ?? [])
        .filter((r: any) => r.from?.some((f: any) => f.source.principals?.includes(PRINCIPAL)))
        .map((r: any) => ({ policy: `${p.metadata.namespace}/${p.metadata.name}`, to: r.to })),
    );
    expect(grants).toEqual([
      {
        policy: 'identity/keycloak-allow',
        to: [
          {
            operation: {
              ports: ['8080'],
              methods: ['GET'],
              paths: ['/auth/realms/kitt4sme/protocol/openid-connect/certs'],
            },
          },
        ],
      },
      {
        policy: 'fiware/monitor-allow',
        to: [{ operation: { ports: ['8081'], methods: ['POST'], paths: ['/internal/v1/events'] } }],
      },
    ]);
    expect(envOf(out).PLATFORM_EVENTS_URL).toBe('http://monitor.fiware.svc.cluster.local:8081');
  });

  it('is routed at /fleet unchanged, behind the tenancy policy but for its OpenAPI document', () => {
    expect(routeAtIngress(out, '/fleet/groups')).toMatchObject({
      host: 'fleet.fiware.svc.cluster.local',
      port: 8080,
      path: '/fleet/groups',
    });
    const notPaths: string[] = find(out, 'AuthorizationPolicy', 'opa-ext-authz').spec.rules[0].to[0]
      .operation.notPaths;
    expect(notPaths.filter((p) => p.startsWith('/fleet'))).toEqual(['/fleet/openapi.json']);
    const data = JSON.parse(policyConfigMapOf(out, 'fleet').data['policy-data.json'] as string) as {
      routes: { prefix: string; rights: Record<string, string[]> }[];
    };
    expect(data.routes.find((r) => r.prefix === '/fleet')?.rights).toEqual({
      viewer: ['GET', 'HEAD'],
      operator: ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE'],
      'tenant-admin': ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE'],
      'platform-admin': ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE'],
    });
  });

  it('has a project of its own that allows exactly its layer’s kinds and namespaces, and no Secret', () => {
    const project = find(out, 'AppProject', 'fleet-service').spec;
    const layer = out.objects.filter((o) => o.file.startsWith('deploy/fleet-service/'));
    const group = (apiVersion: string) =>
      apiVersion.includes('/') ? apiVersion.split('/')[0] : '';
    const kinds = (scoped: boolean) =>
      [
        ...new Set(
          layer
            .filter((o) => (o.object.metadata.namespace !== undefined) === scoped)
            .map((o) => `${group(o.object.apiVersion)}/${o.object.kind}`),
        ),
      ].sort();
    const listed = (l: { group: string; kind: string }[]) =>
      l.map((k) => `${k.group}/${k.kind}`).sort();
    expect(listed(project.clusterResourceWhitelist)).toEqual(kinds(false));
    // Every namespaced kind of the layer is allowed (PodDisruptionBudget: a profile with more
    // than one replica), and Secrets are not.
    expect(listed(project.namespaceResourceWhitelist)).toEqual(
      [...kinds(true), 'policy/PodDisruptionBudget'].sort(),
    );
    expect(project.destinations.map((d: any) => d.namespace).sort()).toEqual(
      [...new Set(layer.flatMap((o) => o.object.metadata.namespace ?? []))].sort(),
    );
  });

  it('puts no Secret and no key material in deploy/', () => {
    const files = (dir: string): string[] =>
      readdirSync(dir).flatMap((f) => {
        const p = join(dir, f);
        return statSync(p).isDirectory() ? files(p) : [p];
      });
    const text = files(join(ROOT, 'deploy'))
      .map((f) => readFileSync(f, 'utf8'))
      .join('\n');
    expect(text).not.toMatch(/^kind: Secret$/m);
    expect(text).not.toMatch(/PRIVATE KEY|ssh-ed25519 |ghp_|github_pat_/);
    expect(objectsOf(out, 'Secret')).toEqual([]);
  });
});

describe('the fleet service with an ssh remote', () => {
  const out = synth({
    config: (c) => {
      c.gitops.repoURL = 'ssh://git@git.example.org:2222/factory/platform.git';
    },
  });

  it('pushes with the deploy key and the pinned known_hosts of the Secret, never trusting a new host key', () => {
    const env = envOf(out);
    expect(env.FLEET_GIT_URL).toBe('ssh://git@git.example.org:2222/factory/platform.git');
    expect(env.GIT_SSH_COMMAND).toBe(
      'ssh -i /etc/fleet-git/ssh-privatekey -o IdentitiesOnly=yes -o UserKnownHostsFile=/etc/fleet-git/known_hosts -o StrictHostKeyChecking=yes -o BatchMode=yes',
    );
    expect(env.GIT_ASKPASS).toBeUndefined();
  });

  it('reaches that host’s ssh port and nothing else outside the mesh', () => {
    const entries = objectsOf(out, 'ServiceEntry');
    expect(entries.map((e) => [e.spec.hosts, e.spec.ports, e.spec.exportTo])).toEqual([
      [['git.example.org'], [{ number: 2222, name: 'tcp-git-ssh', protocol: 'TCP' }], ['.']],
    ]);
    expect(find(out, 'Sidecar', 'fleet', 'fiware').spec.egress).toEqual([
      { hosts: ['*/*.cluster.local', './git.example.org'] },
    ]);
  });
});

describe('the fleet service in the local-only mode', () => {
  const out = synth({
    config: (c) => {
      c.gitops.repoURL = LOCAL_GIT_REPO_URL;
    },
  });
  const pushPort = String(LOCAL_GIT.pushPort);

  it('pushes to the in-cluster git server’s push port, without a credential or a way out', () => {
    const env = envOf(out);
    expect(env.FLEET_GIT_URL).toBe(
      `git://gitops-repo.argocd.svc.cluster.local:${pushPort}/platform.git`,
    );
    expect(podOf(out).volumes.filter((v: any) => v.secret)).toEqual([]);
    expect(objectsOf(out, 'ServiceEntry')).toEqual([]);
    // The monitor's Sidecar (its webhooks) is its own, whatever the fleet's remote.
    expect(
      objectsOf(out, 'Sidecar').map((s) => `${s.metadata.namespace}/${s.metadata.name}`),
    ).toEqual(['argocd/gitops-repo', 'fiware/monitor']);
  });

  it('lets only the fleet’s mesh identity use the push port; the read-only port stays open', () => {
    const policy = find(out, 'AuthorizationPolicy', 'gitops-repo-allow', 'argocd');
    expect(policy.spec).toEqual({
      selector: { matchLabels: { 'app.kubernetes.io/name': 'gitops-repo' } },
      action: 'ALLOW',
      rules: [
        { to: [{ operation: { ports: [String(LOCAL_GIT.port)] } }] },
        {
          from: [{ source: { principals: [PRINCIPAL] } }],
          to: [{ operation: { ports: [pushPort] } }],
        },
      ],
    });
  });

  it('has no other policy that reaches the git server or grants its push port', () => {
    const policies = objectsOf(out, 'AuthorizationPolicy');
    const others = policies.filter((p) => p.metadata.name !== 'gitops-repo-allow');
    // No other policy in argocd, none selecting the server, none naming the push port.
    expect(others.filter((p) => p.metadata.namespace === 'argocd')).toEqual([]);
    expect(
      others.filter((p) => JSON.stringify(p.spec.selector ?? {}).includes('gitops-repo')),
    ).toEqual([]);
    expect(
      others.filter((p) =>
        (p.spec.rules ?? []).some((r: any) =>
          (r.to ?? []).some((t: any) => t.operation?.ports?.includes(pushPort)),
        ),
      ),
    ).toEqual([]);
    // And no allow-everything rule (`{}`) in any ALLOW policy of the server.
    const rules = find(out, 'AuthorizationPolicy', 'gitops-repo-allow', 'argocd').spec.rules;
    expect(rules.every((r: any) => r.to?.[0]?.operation?.ports?.length === 1)).toBe(true);
  });

  it('admits, by Istio’s authorization semantics, the fleet’s identity on the push port and no other identity of the platform', () => {
    const mesh = new IstioMesh(out.objects.map((o) => o.object as unknown as MeshObject));
    const server = find(out, 'Deployment', 'gitops-repo', 'argocd');
    const workload = { namespace: 'argocd', labels: server.spec.template.metadata.labels };
    const decide = (port: number, principal?: string) =>
      mesh.authorize(workload, {
        port,
        method: 'GET',
        path: '/',
        ...(principal ? { principal } : {}),
      }).action;
    // Every mesh identity the platform runs: each ServiceAccount of deploy/, and the gateway's.
    const identities = [
      ...new Set([
        ...objectsOf(out, 'ServiceAccount').map((a) =>
          meshPrincipal(a.metadata.namespace, a.metadata.name),
        ),
        'cluster.local/ns/istio-system/sa/istio-ingressgateway',
        'cluster.local/ns/agents-manufracture/sa/default',
      ]),
    ].sort();
    expect(identities).toContain(PRINCIPAL);
    expect(identities.length).toBeGreaterThan(10);
    expect(identities.filter((p) => decide(LOCAL_GIT.pushPort, p) === 'allow')).toEqual([
      PRINCIPAL,
    ]);
    // A client outside the mesh (plaintext, no principal) may not push, but may fetch.
    expect(decide(LOCAL_GIT.pushPort)).toBe('deny');
    expect(decide(LOCAL_GIT.port)).toBe('allow');
    expect(identities.every((p) => decide(LOCAL_GIT.port, p) === 'allow')).toBe(true);
  });

  it('keeps the push daemon on loopback: the sidecar delivers to it, and without a sidecar nothing listens', () => {
    const server = find(out, 'Deployment', 'gitops-repo', 'argocd');
    expect(server.spec.template.metadata.labels['sidecar.istio.io/inject']).toBe('true');
    const push = server.spec.template.spec.containers.find((c: any) => c.name === 'git-push');
    expect(push.command).toContain('--listen=127.0.0.1');
    expect(push.command).toContain(`--port=${pushPort}`);
    const sidecar = find(out, 'Sidecar', 'gitops-repo', 'argocd').spec;
    expect(sidecar.workloadSelector).toEqual({
      labels: { 'app.kubernetes.io/name': 'gitops-repo' },
    });
    expect(sidecar.ingress).toEqual([
      {
        port: { number: LOCAL_GIT.port, protocol: 'TCP', name: 'tcp-git' },
        defaultEndpoint: `0.0.0.0:${LOCAL_GIT.port}`,
      },
      {
        port: { number: LOCAL_GIT.pushPort, protocol: 'TCP', name: 'tcp-git-push' },
        defaultEndpoint: `127.0.0.1:${pushPort}`,
      },
    ]);
    const service = find(out, 'Service', 'gitops-repo', 'argocd').spec;
    expect(service.ports.map((p: any) => [p.name, p.port])).toEqual([
      ['tcp-git', LOCAL_GIT.port],
      ['tcp-git-push', LOCAL_GIT.pushPort],
    ]);
  });

  it('puts the server’s Istio objects in the fleet service’s layer, which Argo CD syncs after Istio', () => {
    const inLayer = (kind: string, name: string) =>
      out.objects.find((o) => o.object.kind === kind && o.object.metadata.name === name)!.file;
    expect(inLayer('AuthorizationPolicy', 'gitops-repo-allow')).toBe(
      'deploy/fleet-service/fleet.yaml',
    );
    expect(inLayer('Sidecar', 'gitops-repo')).toBe('deploy/fleet-service/fleet.yaml');
    const project = find(out, 'AppProject', 'fleet-service').spec;
    expect(project.destinations.map((d: any) => d.namespace)).toContain('argocd');
  });
});
