/**
 * The composition: every component of the registry (platform/components.ts) in its layer's
 * chart, built by its construct (components/index.ts), and the mesh grants its entry declares.
 */
import { App } from 'cdk8s';

import type { PlatformComponentId, PortKey, ServiceId } from '../../platform/components.js';
import { COMPONENTS, component } from '../../platform/components.js';
import type { PlatformContext } from '../../platform/context.js';
import type { LayerId } from '../../platform/layers.js';
import { LAYERS } from '../../platform/layers.js';
import type { PolicyFile } from '../../platform/policy-data.js';
import { BACKUP_TARGETS } from '../../platform/backup.js';
import { DatabaseBackup } from './backup.js';
import { CONSTRUCTS } from './components/index.js';
import { addGitOps } from './gitops/applications.js';
import { addLocalGitServer } from './gitops/local-git.js';
import { LayerChart } from './layers.js';
import { ingressGateway } from './mesh/identities.js';
import { Ingress } from './mesh/ingress.js';
import { MeshSecurity } from './mesh/security.js';
import { Namespaces } from './namespaces.js';
import type { MeshCaller, Workload } from './workload.js';
import { ExternalIdentity } from './workload.js';

/** What a platform is built from. */
export interface PlatformInputs {
  /** The validated context (platform/context.ts `loadPlatformContext`). */
  readonly context: PlatformContext;
  /** The Rego files of policies/, without tests. */
  readonly policies: readonly PolicyFile[];
}

/** The constructed platform, before synthesis. */
export interface Platform {
  readonly app: App;
  readonly context: PlatformContext;
  /** Every workload of ours, by the component it builds. */
  readonly workloads: ReadonlyMap<ServiceId, Workload>;
}

/** Builds the whole platform as a cdk8s App. */
export function buildPlatform(inputs: PlatformInputs): Platform {
  const ctx = inputs.context;
  const app = new App();
  const chart = (layer: LayerId, file: string) =>
    new LayerChart(app, `${layer}-${file}`, layer, file);
  const context = ctx;

  new Namespaces(chart('namespaces', 'namespaces'), 'Namespaces', { context });
  new Ingress(chart('mesh', 'ingress'), 'Ingress', { context });
  new MeshSecurity(chart('mesh', 'security'), 'Security', { context });

  const workloads = new Map<ServiceId, Workload>();
  for (const id of Object.keys(CONSTRUCTS) as PlatformComponentId[]) {
    const c = COMPONENTS[id];
    workloads.set(id, CONSTRUCTS[id](chart(c.layer, c.service.name), inputs));
  }
  // A scheduled backup of every database, in the database's layer (platform/backup.ts).
  for (const t of Object.values(BACKUP_TARGETS)) {
    const c = COMPONENTS[t.component];
    new DatabaseBackup(chart(c.layer, `${c.service.name}-backup`), 'Backup', {
      context,
      target: t.name,
      database: workloads.get(t.component)!,
    });
  }
  addLocalGitServer(new LayerChart(app, 'bootstrap-local-git', 'bootstrap', 'local-git'), ctx);

  // The calls of every registry entry. Only our workloads carry ALLOW policies, so only they
  // can be called; an upstream chart's workload is a caller with its service account.
  const callerOf = (id: keyof typeof COMPONENTS): MeshCaller => {
    const own = workloads.get(id as ServiceId);
    if (own) return own;
    const c = component(id);
    const sa = c.serviceAccount ?? c.service?.name;
    if (!sa) throw new TypeError(`component ${id} calls, but has no service account to call as`);
    return new ExternalIdentity(ctx.componentNamespace(id), sa, sa);
  };
  for (const id of Object.keys(COMPONENTS) as (keyof typeof COMPONENTS)[]) {
    for (const call of component(id).calls ?? []) {
      const target = workloads.get(call.to as ServiceId);
      if (!target) throw new TypeError(`${id} calls ${call.to}, which is not a platform workload`);
      target.grantAccess(callerOf(id), {
        // Ports, methods and paths were checked when the context loaded (validateComponents).
        ...(call.ports ? { ports: call.ports as readonly PortKey<ServiceId>[] } : {}),
        ...(call.methods ? { methods: call.methods } : {}),
        ...(call.paths || call.realmPaths
          ? {
              paths: [
                ...(call.paths ?? []),
                ...(call.realmPaths ?? []).map((p) => ctx.realmEndpointPath(p)),
              ],
            }
          : {}),
      });
    }
  }

  // The gateway reaches exactly the backends and ports the route table names.
  const gateway = ingressGateway(ctx);
  for (const r of ctx.routes) {
    const target = workloads.get(r.backend.service);
    if (!target && COMPONENTS[r.backend.service].managedBy === 'platform') {
      throw new TypeError(`route ${r.prefix}: no workload serves ${r.backend.service}`);
    }
    target?.grantPort(gateway, r.backend.port);
  }
  // The sidecars of the tenant APIs fetch the realm's signing keys to verify tokens.
  const keycloak = workloads.get('keycloak');
  for (const w of workloads.values()) {
    if (w.servesTenantApi)
      keycloak?.grantAccess(w, { ports: ['web'], methods: ['GET'], paths: [ctx.jwksPath] });
  }

  addGitOps(app, ctx, Object.keys(LAYERS) as LayerId[]);
  return { app, context: ctx, workloads };
}
