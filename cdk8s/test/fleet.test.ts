/**
 * The fleet rendered (cdk8s/lib/fleet/): placement per mode, stopped, the revision annotation,
 * names that survive a rename, needs as exactly their grants and pipeline connections as the
 * only way into a module, both on the objects and through the Istio interpreter the local
 * gateway uses (with the platform's own policies from deploy/); the project's manifest rules;
 * and the example fleet/ against a real kube-apiserver's strict server-side dry-run.
 */
import { stringify } from 'yaml';

import { loadPlatformContext } from '../../platform/context.js';
import { FLEET_DIR } from '../../platform/fleet/records.js';
import type { Fleet } from '../../platform/fleet/resolve.js';
import { agentObjectName, loadFleet, resolveFleet } from '../../platform/fleet/resolve.js';
import { meshPrincipal } from '../../platform/mesh.js';
import {
  AGENT_ANNOUNCE_PATH,
  AGENT_ENV,
  AGENT_KIT_PORT,
  agentClientId,
  agentInstanceEntityId,
  announceUrlAllowed,
} from '../../platform/fleet/identity.js';
import type { Need } from '../../platform/fleet/records.js';
import { NEEDS, NEED_IDS } from '../../platform/fleet/records.js';
import {
  AGENT_REACHED_SERVICES,
  HEARTBEAT_GRANT,
  gatewayPattern,
} from '../../platform/fleet/rights.js';
import { SERVICES } from '../../platform/components.js';
import { policyData } from '../../platform/policy-data.js';
import { FLEET_LABELS, SPECIALISED_TAINT, renderFleet } from '../lib/fleet/agents.js';
import type { KubeObject, SynthObject } from '../lib/objects.js';
import { ruleContext } from '../lib/synth.js';
import { checkObjects } from '../lib/validate/rules.js';
import type { MeshRequest, MeshWorkload } from '../../testing/istio/mesh.js';
import { IstioMesh } from '../../testing/istio/mesh.js';
import { startKubeApiserver } from '../../testing/real/kube-apiserver.js';
import type { KubeApiserver } from '../../testing/real/kube-apiserver.js';
import { validateOnServer } from '../../testing/support/server-validate.js';
import { ROOT, synth } from '../../testing/support/synth.js';

const ctx = loadPlatformContext();
const uuid = (n: number) => `${String(n).padStart(8, '0')}-0000-4000-8000-000000000000`;

/** Two hosts (h2 specialised), a group of both, a template, and agents of manufracture. */
function records(): Record<string, any>[] {
  return [
    { kind: 'Host', name: 'h1' },
    { kind: 'Host', name: 'h2', specialised: true },
    { kind: 'Host', name: 'h3' },
    { kind: 'Group', id: uuid(1), name: 'g', hosts: ['h1', 'h2'] },
    {
      kind: 'Template',
      id: uuid(2),
      name: 't',
      image: 'ghcr.io/x/detector:1.2.3',
      ports: [8080, 9090],
      config: { host: '{{hostname}}' },
    },
    // [5] pinned, reads Orion
    {
      kind: 'Agent',
      id: uuid(3),
      name: 'pinned',
      tenant: 'manufracture',
      template: 't',
      placement: { host: 'h1' },
      needs: ['orion:read'],
    },
    // [6] on every host of g
    {
      kind: 'Agent',
      id: uuid(4),
      name: 'grouped',
      tenant: 'manufracture',
      template: 't',
      placement: { group: 'g' },
    },
    // [7] floating and stopped, subscribes
    {
      kind: 'Agent',
      id: uuid(5),
      name: 'floater',
      tenant: 'manufracture',
      template: 't',
      state: 'stopped',
      placement: { floating: true },
      needs: ['orion:subscribe', 'quantumleap:read'],
    },
    // [8] a pipeline: up -> down:8080
    {
      kind: 'Pipeline',
      id: uuid(6),
      name: 'p',
      tenant: 'manufracture',
      modules: [
        { id: uuid(7), name: 'up', template: 't', placement: { host: 'h3' } },
        { id: uuid(8), name: 'down', template: 't', placement: { host: 'h3' } },
      ],
      connections: [{ from: 'up', to: 'down:8080' }],
    },
    // [9] an agent of the other tenant that reads Orion too
    {
      kind: 'Agent',
      id: uuid(9),
      name: 'other',
      tenant: 'smithereens',
      template: 't',
      placement: { host: 'h3' },
      needs: ['orion:read'],
    },
  ];
}

const fleetOf = (r: readonly unknown[]): Fleet =>
  resolveFleet(
    r.map((x, i) => ({ path: `fleet/r${i}.yaml`, text: stringify(x) })),
    ctx,
  );
const render = (r: readonly unknown[] = records()) => renderFleet(ctx, fleetOf(r)).objects;
const changed = (change: (r: Record<string, any>[]) => void) => {
  const r = records();
  change(r);
  return r;
};

const deployments = (objects: readonly KubeObject[], id: string): any[] =>
  objects.filter(
    (o) => o.kind === 'Deployment' && o.metadata.labels?.[FLEET_LABELS.agentId] === id,
  );
const env = (d: any): Record<string, any> =>
  Object.fromEntries(
    d.spec.template.spec.containers[0].env.map((e: any) => [e.name, e.value ?? e.valueFrom]),
  );
const find = (objects: readonly KubeObject[], kind: string, name: string): any =>
  objects.find((o) => o.kind === kind && o.metadata.name === name);

describe('fleet placement', () => {
  const objects = render();

  it('pins an agent to its host: one Deployment, the host selected, WAN outages tolerated', () => {
    const [d, ...more] = deployments(objects, uuid(3));
    expect(more).toEqual([]);
    expect(d.metadata.name).toBe(`${agentObjectName(uuid(3))}-h1`);
    const pod = d.spec.template.spec;
    expect(pod.nodeSelector).toEqual({ 'kubernetes.io/hostname': 'h1' });
    // h1 is not specialised: no toleration of the taint; unreachable and not-ready are
    // tolerated without tolerationSeconds, i.e. forever.
    expect(pod.tolerations).toEqual([
      { key: 'node.kubernetes.io/unreachable', operator: 'Exists', effect: 'NoExecute' },
      { key: 'node.kubernetes.io/not-ready', operator: 'Exists', effect: 'NoExecute' },
    ]);
    expect(d.spec.replicas).toBe(1);
    expect(env(d).AGENT_HOST).toBe('h1');
    expect(JSON.parse(env(d).AGENT_CONFIG)).toEqual({ host: 'h1' });
  });

  it("runs a group agent once on every host of the group, tolerating a specialised host's taint there only", () => {
    const ds = deployments(objects, uuid(4));
    expect(ds.map((d) => d.spec.template.spec.nodeSelector['kubernetes.io/hostname'])).toEqual([
      'h1',
      'h2',
    ]);
    const taint = (d: any) =>
      d.spec.template.spec.tolerations.some((t: any) => t.key === SPECIALISED_TAINT);
    expect(ds.map(taint)).toEqual([false, true]);
    expect(ds.map((d) => JSON.parse(env(d).AGENT_CONFIG).host)).toEqual(['h1', 'h2']);
  });

  it('follows group membership: a host added to the group gets an instance, a removed one loses it', () => {
    const grown = render(changed((r) => r[3]!.hosts.push('h3')));
    expect(deployments(grown, uuid(4)).map((d) => d.metadata.name)).toEqual(
      ['h1', 'h2', 'h3'].map((h) => `${agentObjectName(uuid(4))}-${h}`),
    );
    const shrunk = render(changed((r) => (r[3]!.hosts = ['h2'])));
    expect(deployments(shrunk, uuid(4)).map((d) => d.metadata.name)).toEqual([
      `${agentObjectName(uuid(4))}-h2`,
    ]);
  });

  it('runs a floating agent once, anywhere untainted: no selector, no toleration', () => {
    const [d, ...more] = deployments(objects, uuid(5));
    expect(more).toEqual([]);
    expect(d.metadata.name).toBe(agentObjectName(uuid(5)));
    expect(d.spec.template.spec.nodeSelector).toBeUndefined();
    expect(d.spec.template.spec.tolerations).toBeUndefined();
    expect(d.spec.template.spec.containers[0].env).toContainEqual({
      name: 'AGENT_HOST',
      valueFrom: { fieldRef: { fieldPath: 'spec.nodeName' } },
    });
  });

  it('scales a stopped agent to zero and keeps its config; waking it changes nothing else', () => {
    const [stopped] = deployments(objects, uuid(5));
    expect(stopped.spec.replicas).toBe(0);
    const [woken] = deployments(render(changed((r) => (r[7]!.state = 'running'))), uuid(5));
    expect(woken.spec.replicas).toBe(1);
    expect({ ...woken.spec, replicas: 0 }).toEqual(stopped.spec);
  });

  it('renders no workload of an undeployed agent, and nothing else of it changes', () => {
    const undeployed = render(changed((r) => (r[6]!.state = 'undeployed')));
    expect(deployments(undeployed, uuid(4))).toEqual([]);
    const rest = (o: readonly KubeObject[]) => o.filter((x) => !deployments([x], uuid(4)).length);
    expect(rest(undeployed)).toEqual(rest(objects));
  });

  it('renders a rollout host by host: reached hosts the new image, the others their old one or none', () => {
    const byHost = (o: readonly KubeObject[]) =>
      Object.fromEntries(
        deployments(o, uuid(4)).map((d) => [
          d.spec.template.spec.nodeSelector['kubernetes.io/hostname'],
          {
            image: d.spec.template.spec.containers[0].image,
            revision: d.spec.template.metadata.annotations[FLEET_LABELS.revision],
            env: env(d).AGENT_REVISION,
          },
        ]),
      );
    const NEW = 'ghcr.io/x/detector:2.0.0';
    const old = byHost(objects);
    const rollout = {
      id: uuid(20),
      waves: [['h1'], ['h2']],
      started: 1,
      maxUnavailable: 1,
      by: 'a',
    };
    const upgrading = byHost(
      render(
        changed((r) =>
          Object.assign(r[6]!, {
            image: NEW,
            rollout: { ...rollout, from: { image: 'ghcr.io/x/detector:1.2.3' } },
          }),
        ),
      ),
    );
    const done = byHost(render(changed((r) => (r[6]!.image = NEW))));
    expect(upgrading.h1).toEqual(done.h1);
    expect(upgrading.h1!.image).toBe(NEW);
    // h2 keeps exactly what it ran: the same pod template, so Kubernetes leaves it alone.
    expect(upgrading.h2).toEqual(old.h2);
    expect(upgrading.h2!.env).toBe(upgrading.h2!.revision);
    const deploying = byHost(render(changed((r) => Object.assign(r[6]!, { rollout }))));
    expect(Object.keys(deploying)).toEqual(['h1']);
  });
});

describe('the agent nudge', () => {
  const objects = render();

  it("names every instance's pod in its agent's headless Service and tells it its announce URL", () => {
    for (const [n, tenant] of [
      [3, 'manufracture'],
      [4, 'manufracture'],
      [5, 'manufracture'],
      [9, 'smithereens'],
    ] as const) {
      const name = agentObjectName(uuid(n));
      const pods = find(objects, 'Service', `${name}-pods`);
      expect(pods.metadata.namespace).toBe(`agents-${tenant}`);
      expect(pods.spec).toEqual({
        clusterIP: 'None',
        publishNotReadyAddresses: true,
        selector: { app: name },
        ports: [{ name: 'http-agent', port: AGENT_KIT_PORT, targetPort: AGENT_KIT_PORT }],
      });
      for (const d of deployments(objects, uuid(n))) {
        const pod = d.spec.template.spec;
        const host = d.metadata.labels[FLEET_LABELS.host];
        expect(pod.hostname).toBe(host === 'floating' ? 'floating' : host);
        expect(pod.subdomain).toBe(`${name}-pods`);
        const url = env(d)[AGENT_ENV.announceUrl];
        expect(url).toBe(
          `http://${pod.hostname}.${name}-pods.agents-${tenant}.svc.cluster.local:${AGENT_KIT_PORT}${AGENT_ANNOUNCE_PATH}`,
        );
        expect(announceUrlAllowed(url, tenant)).toBe(true);
        expect(
          announceUrlAllowed(url, tenant === 'smithereens' ? 'manufracture' : 'smithereens'),
        ).toBe(false);
      }
    }
  });

  it('renders the headless Service of an agent that declares no port', () => {
    const portless = render(changed((r) => (r[5]!.ports = [])));
    const name = agentObjectName(uuid(3));
    expect(find(portless, 'Service', name)).toBeUndefined();
    expect(find(portless, 'Service', `${name}-pods`).spec.ports).toEqual([
      { name: 'http-agent', port: AGENT_KIT_PORT, targetPort: AGENT_KIT_PORT },
    ]);
  });
});

describe('fleet revision and names', () => {
  const revisions = (objects: readonly KubeObject[], id: string) =>
    deployments(objects, id).map(
      (d) => d.spec.template.metadata.annotations[FLEET_LABELS.revision] as string,
    );
  const before = render();

  it('annotates every pod template of an agent with its revision', () => {
    const r = revisions(before, uuid(4));
    expect(r).toHaveLength(2);
    expect(r[0]).toMatch(/^[0-9a-f]{16}$/);
    expect(r[1]).toBe(r[0]);
    expect(r[0]).toBe(fleetOf(records()).agents.find((a) => a.id === uuid(4))!.revision);
  });

  it('changes the revision iff the rendered record changes', () => {
    const config = render(changed((r) => (r[6]!.config = { threshold: 2 })));
    expect(revisions(config, uuid(4))[0]).not.toBe(revisions(before, uuid(4))[0]);
    // Another agent changed: this one's pods stay as they are.
    const other = render(changed((r) => (r[5]!.config = { threshold: 2 })));
    expect(deployments(other, uuid(4))).toEqual(deployments(before, uuid(4)));
    // The template changed under it: it changes.
    const template = render(changed((r) => (r[4]!.image = 'ghcr.io/x/detector:1.2.4')));
    expect(revisions(template, uuid(4))[0]).not.toBe(revisions(before, uuid(4))[0]);
  });

  it('keeps every object name of a renamed or moved record (they come from its id)', () => {
    const names = (objects: readonly KubeObject[]) =>
      objects
        .filter((o) => o.metadata.labels?.[FLEET_LABELS.agentId] === uuid(3))
        .map((o) => `${o.kind}/${o.metadata.name}`)
        .sort();
    const renamed = render(changed((r) => (r[5]!.name = 'renamed')));
    expect(names(renamed)).toEqual(names(before));
    expect(names(before)).toContain(`ServiceAccount/${agentObjectName(uuid(3))}`);
    // Moved to another file: same objects, byte for byte.
    const moved = records();
    const agent = moved.splice(5, 1)[0]!;
    expect(render([...moved, agent])).toEqual(expect.arrayContaining(deployments(before, uuid(3))));
  });
});

describe('fleet namespaces', () => {
  const objects = render();

  it("gives each tenant an agents namespace: restricted, meshed, with the config's quota and limits", () => {
    for (const t of ctx.config.tenants) {
      const ns = `agents-${t.name}`;
      expect(find(objects, 'Namespace', ns).metadata.labels).toMatchObject({
        'pod-security.kubernetes.io/enforce': 'restricted',
        'istio-injection': 'enabled',
      });
      const quota = objects.find(
        (o) => o.kind === 'ResourceQuota' && o.metadata.namespace === ns,
      ) as any;
      const q = ctx.config.agents.quota;
      expect(quota.spec.hard).toEqual({
        'requests.cpu': `${q.requestsCpuMilli}m`,
        'requests.memory': `${q.requestsMemoryMi}Mi`,
        'limits.cpu': `${q.limitsCpuMilli}m`,
        'limits.memory': `${q.limitsMemoryMi}Mi`,
        pods: q.pods,
      });
      const limits = objects.find(
        (o) => o.kind === 'LimitRange' && o.metadata.namespace === ns,
      ) as any;
      expect(limits.spec.limits[0].default.memory).toBe(
        `${ctx.config.agents.defaultResources.memoryLimitMi}Mi`,
      );
    }
  });

  it("passes the project's manifest rules (restricted pods, pinned images, probes where declared)", () => {
    const withProbes = render(
      changed((r) => (r[4]!.health = { path: '/healthz', port: 8080 })),
    ).map((object) => ({ file: 'fleet', object }) as SynthObject);
    const violations = checkObjects(withProbes, ruleContext(ctx))
      // Agent images are pinned in their records, not in the platform config (by design).
      .filter((v) => v.rule !== 'image-from-config')
      .map((v) => `${v.rule}: ${v.object}: ${v.message}`);
    expect(violations).toEqual([]);
  });
});

describe('fleet authorization, through the Istio interpreter', () => {
  const platform = synth().objects.map((o) => o.object);
  const objects = render();
  const mesh = new IstioMesh([...platform, ...objects]);
  const podLabels = (objs: readonly KubeObject[], kind: string, name: string): MeshWorkload => {
    const o = objs.find((x) => x.kind === kind && x.metadata.name === name) as any;
    return { namespace: o.metadata.namespace, labels: o.spec.template.metadata.labels };
  };
  const orion = podLabels(platform, 'Deployment', 'orion');
  const quantumleap = podLabels(platform, 'Deployment', 'quantumleap');
  const agent = (n: number, tenant = 'manufracture') =>
    meshPrincipal(`agents-${tenant}`, agentObjectName(uuid(n)));
  /** The claims of a token of agent n's Keycloak client (platform/fleet/identity.ts). */
  const tokenOf = (n: number, tenant = 'manufracture') => ({
    iss: ctx.issuer,
    azp: agentClientId(uuid(n)),
    tenants: [tenant],
    needs: [],
  });
  /** A call from agent n's pod with agent n's own token, unless the call says otherwise. */
  const call = (
    principal: string,
    o: Partial<MeshRequest> & { tenant?: string } = {},
  ): MeshRequest => {
    const [, ns, sa] = /\/ns\/([^/]+)\/sa\/(.+)$/.exec(principal) ?? [];
    const own = sa?.startsWith('agent-')
      ? { iss: ctx.issuer, azp: sa, tenants: [ns!.replace(/^agents-/, '')] }
      : undefined;
    return {
      principal,
      port: 1026,
      method: 'GET',
      path: '/v2/entities',
      headers: { 'fiware-service': o.tenant ?? 'manufracture' },
      ...(own ? { jwt: own } : {}),
      ...o,
    };
  };

  it('lets an agent make exactly the calls of its needs, for its own tenant only', () => {
    expect(mesh.authorize(orion, call(agent(3))).action).toBe('allow');
    expect(mesh.authorize(orion, call(agent(3), { path: '/v2/types/Machine' })).action).toBe(
      'allow',
    );
    // orion:read does not write, and does not manage subscriptions.
    expect(mesh.authorize(orion, call(agent(3), { method: 'POST' })).action).toBe('deny');
    expect(mesh.authorize(orion, call(agent(3), { path: '/v2/subscriptions' })).action).toBe(
      'deny',
    );
    // Another tenant's data: refused, and so is a call that names no tenant.
    expect(mesh.authorize(orion, call(agent(3), { tenant: 'smithereens' })).action).toBe('deny');
    expect(mesh.authorize(orion, { ...call(agent(3)), headers: {} }).action).toBe('deny');
    // The smithereens agent with the same need reads smithereens only.
    expect(
      mesh.authorize(orion, call(agent(9, 'smithereens'), { tenant: 'smithereens' })).action,
    ).toBe('allow');
    expect(mesh.authorize(orion, call(agent(9, 'smithereens'))).action).toBe('deny');
  });

  it('refuses an undeclared call: QuantumLeap for an agent without quantumleap:read, Orion for one without needs', () => {
    const ql = { port: 8668, path: '/v2/entities' };
    expect(mesh.authorize(quantumleap, call(agent(3), ql)).action).toBe('deny');
    expect(mesh.authorize(quantumleap, call(agent(5), ql)).action).toBe('allow');
    expect(mesh.authorize(orion, call(agent(4))).action).toBe('deny');
  });

  it("requires the agent's own token on every need: none, another agent's or a person's is refused", () => {
    expect(mesh.authorize(orion, call(agent(3))).action).toBe('allow');
    expect(mesh.authorize(orion, { ...call(agent(3)), jwt: undefined }).action).toBe('deny');
    // Agent 5's token from agent 3's pod (and agent 3's from agent 5's, on QuantumLeap).
    expect(mesh.authorize(orion, call(agent(3), { jwt: tokenOf(5) })).action).toBe('deny');
    const ql = { port: 8668, path: '/v2/entities' };
    expect(mesh.authorize(quantumleap, call(agent(5), ql)).action).toBe('allow');
    expect(mesh.authorize(quantumleap, call(agent(5), { ...ql, jwt: tokenOf(3) })).action).toBe(
      'deny',
    );
    const person = { iss: ctx.issuer, azp: 'manufracture-scenarios', roles: ['platform-admin'] };
    expect(mesh.authorize(orion, call(agent(3), { jwt: person })).action).toBe('deny');
    // A token of the right client from another issuer never counts: the sidecar refuses it.
    expect(
      mesh.authorize(orion, call(agent(3), { jwt: { ...tokenOf(3), iss: 'https://evil' } })).action,
    ).toBe('deny');
  });

  it('verifies tokens in the sidecar of every service a need or the heartbeat reaches', () => {
    const services = [
      ...new Set([...NEED_IDS.flatMap((n) => NEEDS[n].grants.map((g) => g.service)), 'orion']),
    ].sort();
    expect([...AGENT_REACHED_SERVICES]).toEqual(services);
    const auths = platform.filter((o) => o.kind === 'RequestAuthentication') as any[];
    for (const service of AGENT_REACHED_SERVICES) {
      const w = podLabels(platform, 'Deployment', SERVICES[service].name);
      const verifying = auths.filter(
        (a) =>
          a.metadata.namespace === w.namespace &&
          Object.entries(a.spec.selector.matchLabels).every(([k, v]) => w.labels[k] === v),
      );
      expect([service, verifying.map((a) => a.spec.jwtRules[0].issuer)]).toEqual([
        service,
        [ctx.issuer],
      ]);
    }
  });

  it("lets every agent write its own instances' heartbeats, and no other entity that way", () => {
    const hb = (n: number, instance: string, o: Partial<MeshRequest> = {}) =>
      call(agent(n), {
        method: 'PATCH',
        path: `/v2/entities/${agentInstanceEntityId(instance)}/attrs`,
        headers: { 'fiware-service': 'manufracture', 'fiware-servicepath': '/agents' },
        ...o,
      });
    const grouped = agentObjectName(uuid(4)); // on h1 and h2, no needs at all
    expect(mesh.authorize(orion, hb(4, `${grouped}-h1`)).action).toBe('allow');
    expect(mesh.authorize(orion, hb(4, `${grouped}-h2`, { method: 'POST' })).action).toBe('allow');
    expect(mesh.authorize(orion, hb(5, agentObjectName(uuid(5)))).action).toBe('allow');
    // Not a host it runs on, not another agent's instance, not another method.
    expect(mesh.authorize(orion, hb(4, `${grouped}-h3`)).action).toBe('deny');
    expect(mesh.authorize(orion, hb(4, `${agentObjectName(uuid(3))}-h1`)).action).toBe('deny');
    expect(mesh.authorize(orion, hb(4, `${grouped}-h1`, { method: 'DELETE' })).action).toBe('deny');
    // Only in the heartbeat service path, only with its own token, only for its tenant.
    const outside: Record<string, string>[] = [
      { 'fiware-service': 'manufracture' },
      { 'fiware-service': 'manufracture', 'fiware-servicepath': '/' },
      { 'fiware-service': 'smithereens', 'fiware-servicepath': '/agents' },
    ];
    for (const headers of outside)
      expect(mesh.authorize(orion, hb(4, `${grouped}-h1`, { headers })).action).toBe('deny');
    expect(mesh.authorize(orion, hb(4, `${grouped}-h1`, { jwt: tokenOf(3) })).action).toBe('deny');
    expect(mesh.authorize(orion, hb(4, `${grouped}-h1`, { jwt: undefined })).action).toBe('deny');
    // Creating it: POST /v2/entities in /agents, nothing else.
    const create = (o: Partial<MeshRequest> = {}) =>
      hb(4, `${grouped}-h1`, { method: 'POST', path: '/v2/entities', ...o });
    expect(mesh.authorize(orion, create()).action).toBe('allow');
    expect(
      mesh.authorize(orion, create({ headers: { 'fiware-service': 'manufracture' } })).action,
    ).toBe('deny');
    expect(mesh.authorize(orion, create({ method: 'PUT' })).action).toBe('deny');
    expect(mesh.authorize(orion, create({ path: '/v2/op/update' })).action).toBe('deny');
  });

  it('grants at the mesh exactly the rights the policy data gives each need at the gateway', () => {
    const data = policyData(ctx).agents;
    expect(Object.keys(data.needs).sort()).toEqual([...NEED_IDS].sort());
    for (const need of NEED_IDS) {
      // One agent that declares only this need; its rules on the services, minus the heartbeat.
      const only = renderFleet(
        ctx,
        fleetOf([...records().slice(0, 5), { ...records()[5], needs: [need satisfies Need] }]),
      ).objects;
      const azp = agentClientId(uuid(3));
      const granted = only
        .filter((o) => o.kind === 'AuthorizationPolicy' && o.metadata.name.startsWith('agents-'))
        .flatMap((o: any) => {
          const service = AGENT_REACHED_SERVICES.find(
            (s) => o.spec.selector.matchLabels.app === SERVICES[s].name,
          )!;
          return o.spec.rules
            .filter(
              (r: any) =>
                // Rules bound to the agent's token (not its token request to Keycloak).
                (r.when ?? []).some((c: any) => c.values[0] === azp) &&
                !r.when.some((c: any) => c.key === 'request.headers[fiware-servicepath]'),
            )
            .map((r: any) => {
              const port = Object.entries(SERVICES[service].ports).find(
                ([, p]: any) => String(p.port) === r.to[0].operation.ports[0],
              )![0];
              const route = ctx.route(service, port);
              return {
                route: route.prefix,
                methods: r.to[0].operation.methods,
                paths: r.to[0].operation.paths.map((p: string) => gatewayPattern(route, p)),
              };
            });
        });
      expect([need, granted]).toEqual([need, data.needs[need]]);
    }
    // The heartbeat: the same service and service path on both sides.
    expect(data.heartbeat!.route).toBe(ctx.route(HEARTBEAT_GRANT.service).prefix);
    expect(data.heartbeat!.service_path).toBe(HEARTBEAT_GRANT.servicePath);
  });

  it('writes exactly the declared grants into the generated AuthorizationPolicies', () => {
    const policy = find(objects, 'AuthorizationPolicy', 'agents-manufracture-orion');
    expect(policy.metadata.namespace).toBe('fiware');
    expect(policy.spec.selector).toEqual({ matchLabels: { app: 'orion' } });
    // The needs' rules: agents 3 and 5; the heartbeat's (in /agents): every agent of the tenant.
    const heartbeat = (r: any) =>
      r.when.some((c: any) => c.key === 'request.headers[fiware-servicepath]');
    const principalsOf = (rules: any[]) =>
      [...new Set(rules.map((r: any) => r.from[0].source.principals[0]))].sort();
    expect(principalsOf(policy.spec.rules.filter((r: any) => !heartbeat(r)))).toEqual(
      [agent(3), agent(5)].sort(),
    );
    expect(principalsOf(policy.spec.rules.filter(heartbeat))).toEqual(
      [3, 4, 5, 7, 8].map((n) => agent(n)).sort(),
    );
    expect(policy.spec.rules.every((r: any) => r.when[0].values[0] === 'manufracture')).toBe(true);
    // Each rule is bound to the token of the agent its principal names.
    for (const r of policy.spec.rules)
      expect(r.when.at(-1)).toEqual({
        key: 'request.auth.claims[azp]',
        values: [r.from[0].source.principals[0].split('/sa/')[1]],
      });
    const ql = find(objects, 'AuthorizationPolicy', 'agents-manufracture-quantumleap');
    expect(ql.spec.rules.map((r: any) => r.from[0].source.principals[0])).toEqual([agent(5)]);
    // No need, no policy for the platform's other services.
    expect(
      objects
        .filter((o) => o.kind === 'AuthorizationPolicy' && o.metadata.namespace === 'fiware')
        .map((o) => o.metadata.name)
        .sort(),
    ).toEqual([
      'agents-manufracture-orion',
      'agents-manufracture-quantumleap',
      'agents-smithereens-orion',
    ]);
  });

  it("lets only a connection's upstream reach the downstream module, on the connected port only", () => {
    const down = podLabels(objects, 'Deployment', `${agentObjectName(uuid(8))}-h3`);
    const up = podLabels(objects, 'Deployment', `${agentObjectName(uuid(7))}-h3`);
    const req = (principal: string, port = 8080): MeshRequest => ({
      principal,
      port,
      method: 'POST',
      path: '/features',
    });
    expect(mesh.authorize(down, req(agent(7))).action).toBe('allow');
    expect(mesh.authorize(down, req(agent(7), 9090)).action).toBe('deny');
    // Nobody else: another agent of the tenant, the downstream calling back, Orion, no identity.
    for (const other of [agent(3), agent(4), meshPrincipal('fiware', 'orion')])
      expect(mesh.authorize(down, req(other)).action).toBe('deny');
    expect(mesh.authorize(down, { ...req(agent(7)), principal: undefined }).action).toBe('deny');
    expect(mesh.authorize(up, req(agent(8))).action).toBe('deny');
    // The downstream's address is in the upstream's environment, and only there.
    const [upDeployment] = deployments(objects, uuid(7));
    expect(env(upDeployment).DOWNSTREAM_P_DOWN_URL).toBe(
      `http://${agentObjectName(uuid(8))}.agents-manufracture.svc.cluster.local:8080`,
    );
    expect(
      Object.keys(env(deployments(objects, uuid(8))[0])).filter((k) => k.startsWith('DOWNSTREAM_')),
    ).toEqual([]);
  });

  it("lets Orion notify an agent that subscribes, and no other agent's ports", () => {
    const floater = podLabels(objects, 'Deployment', agentObjectName(uuid(5)));
    const pinned = podLabels(objects, 'Deployment', `${agentObjectName(uuid(3))}-h1`);
    const notify: MeshRequest = {
      principal: meshPrincipal('fiware', 'orion'),
      port: 8080,
      method: 'POST',
      path: '/notify',
    };
    expect(mesh.authorize(floater, notify).action).toBe('allow');
    expect(mesh.authorize(pinned, notify).action).toBe('deny');
  });

  it('lets the monitor, and only the monitor, POST /announce on every agent pod, and nothing else', () => {
    const monitor = meshPrincipal(ctx.namespace('platform'), 'monitor');
    const orionPrincipal = meshPrincipal('fiware', 'orion');
    const nudge = (principal: string | undefined, o: Partial<MeshRequest> = {}): MeshRequest => ({
      principal,
      port: AGENT_KIT_PORT,
      method: 'POST',
      path: AGENT_ANNOUNCE_PATH,
      ...o,
    });
    // Orion may notify the subscribing agent 5 on any path of its ports: not on the others.
    const pods: [MeshWorkload, string[]][] = [
      [podLabels(objects, 'Deployment', `${agentObjectName(uuid(3))}-h1`), [orionPrincipal]],
      [podLabels(objects, 'Deployment', `${agentObjectName(uuid(4))}-h2`), [orionPrincipal]],
      [podLabels(objects, 'Deployment', agentObjectName(uuid(5))), []],
      [podLabels(objects, 'Deployment', `${agentObjectName(uuid(9))}-h3`), [orionPrincipal]],
    ];
    for (const [pod, alsoRefused] of pods) {
      expect(mesh.authorize(pod, nudge(monitor)).action).toBe('allow');
      expect(mesh.authorize(pod, nudge(monitor, { method: 'GET' })).action).toBe('deny');
      expect(mesh.authorize(pod, nudge(monitor, { path: '/healthz' })).action).toBe('deny');
      expect(mesh.authorize(pod, nudge(monitor, { path: '/features' })).action).toBe('deny');
      expect(mesh.authorize(pod, nudge(monitor, { port: 9090 })).action).toBe('deny');
      // Another agent of the tenant, a `monitor` account elsewhere, no identity.
      for (const other of [
        agent(7),
        meshPrincipal('agents-manufracture', 'monitor'),
        undefined,
        ...alsoRefused,
      ])
        expect(mesh.authorize(pod, nudge(other)).action).toBe('deny');
    }
  });

  it("admits the agents' namespaces through the platform namespace's network fence", () => {
    const fence = platform.find(
      (o) => o.kind === 'NetworkPolicy' && o.metadata.namespace === 'fiware',
    ) as any;
    const peers = fence.spec.ingress[0].from.map(
      (f: any) => f.namespaceSelector.matchLabels['kubernetes.io/metadata.name'],
    );
    expect(peers).toEqual(expect.arrayContaining(['agents-manufracture', 'agents-smithereens']));
  });
});

describe('the example fleet/, checked by a real kube-apiserver', () => {
  let server: KubeApiserver;
  beforeAll(async () => {
    server = await startKubeApiserver();
  }, 180_000);
  afterAll(async () => {
    await server?.stop();
  });

  it('renders and passes the strict server-side dry-run', async () => {
    const fleet = loadFleet(ROOT, FLEET_DIR, ctx);
    expect(fleet.agents.length).toBeGreaterThanOrEqual(3);
    const objects = renderFleet(ctx, fleet).objects;
    // The platform's namespaces first: the grants on Orion live in its namespace.
    const namespaces = synth()
      .objects.map((o) => o.object)
      .filter((o) => o.kind === 'Namespace');
    const issues = await validateOnServer(server, [...namespaces, ...objects]);
    expect(issues).toEqual([]);
  }, 120_000);

  it('refuses a broken object, so the check can fail', async () => {
    const objects = structuredClone(
      renderFleet(ctx, loadFleet(ROOT, FLEET_DIR, ctx)).objects,
    ) as any[];
    const d = objects.find((o) => o.kind === 'Deployment');
    d.spec.template.spec.tolerations[0].effect = 'Sometimes';
    const namespaces = synth()
      .objects.map((o) => o.object)
      .filter((o) => o.kind === 'Namespace');
    const issues = await validateOnServer(server, [...namespaces, ...objects]);
    expect(issues.map((i) => i.object)).toEqual([
      `Deployment/${d.metadata.namespace}/${d.metadata.name}`,
    ]);
  }, 120_000);
});
