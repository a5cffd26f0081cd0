/**
 * The composition: every component in its layer, wired together with mesh grants.
 */
import { App } from 'cdk8s';

import { validateRoutes } from '../../platform/route-validation.js';
import type { RouteSpec } from '../../platform/routes.js';
import type { PlatformConfig } from '../../platform/config/schema.js';
import type { ServiceId } from '../../platform/services.js';
import { SERVICES } from '../../platform/services.js';
import { CrateDb } from './components/cratedb.js';
import { Grafana } from './components/grafana.js';
import { IotAgentUl } from './components/iot-agent.js';
import { Keycloak, KeycloakPostgres } from './components/keycloak.js';
import { realmEndpoints } from './identity/sso.js';
import { MongoDb } from './components/mongodb.js';
import { Opa } from './components/opa.js';
import { Orion } from './components/orion.js';
import { Provisioning } from './components/provisioning.js';
import { QuantumLeap } from './components/quantumleap.js';
import { PlatformContext } from '../../platform/context.js';
import { addGitOps } from './gitops/applications.js';
import { addLocalGitServer } from './gitops/local-git.js';
import type { LayerId } from './layers.js';
import { LAYERS, LayerChart } from './layers.js';
import { ingressGateway } from './mesh/identities.js';
import { Ingress } from './mesh/ingress.js';
import { MeshSecurity } from './mesh/security.js';
import { Namespaces } from './namespaces.js';
import type { PolicyFile } from '../../platform/policy-data.js';
import { Workload } from './workload.js';

/** What a platform is synthesized from. */
export interface PlatformInputs {
  readonly config: PlatformConfig;
  readonly routes: readonly RouteSpec[];
  /** The Rego files of policies/, without tests. */
  readonly policies: readonly PolicyFile[];
}

/** The constructed platform, before synthesis. */
export interface Platform {
  readonly app: App;
  readonly context: PlatformContext;
  /** Every workload of ours, by the service it serves. */
  readonly workloads: ReadonlyMap<ServiceId, Workload>;
}

/**
 * Builds the whole platform as a cdk8s App.
 *
 * @throws RouteTableError when the route table is invalid.
 */
export function buildPlatform(inputs: PlatformInputs): Platform {
  validateRoutes(inputs.routes);
  const ctx = new PlatformContext(inputs.config, inputs.routes);
  const app = new App();
  const chart = (layer: LayerId, file: string) =>
    new LayerChart(app, `${layer}-${file}`, layer, file);
  const context = ctx;

  new Namespaces(chart('namespaces', 'namespaces'), 'Namespaces', { context });
  new Ingress(chart('mesh', 'ingress'), 'Ingress', { context });
  new MeshSecurity(chart('mesh', 'security'), 'Security', { context });

  const mongodb = new MongoDb(chart('data', 'mongodb'), 'MongoDb', { context });
  const cratedb = new CrateDb(chart('data', 'cratedb'), 'CrateDb', { context });
  const keycloakPostgres = new KeycloakPostgres(
    chart('identity', 'keycloak-postgres'),
    'Postgres',
    { context },
  );
  const keycloak = new Keycloak(chart('identity', 'keycloak'), 'Keycloak', {
    context,
    database: keycloakPostgres,
  });
  const opa = new Opa(chart('security', 'opa'), 'Opa', { context, policies: inputs.policies });
  const orion = new Orion(chart('fiware', 'orion'), 'Orion', { context, mongodb });
  const iotAgent = new IotAgentUl(chart('fiware', 'iotagent-ul'), 'IotAgentUl', {
    context,
    mongodb,
    orion,
  });
  const quantumleap = new QuantumLeap(chart('fiware', 'quantumleap'), 'QuantumLeap', {
    context,
    cratedb,
    orion,
  });
  new Provisioning(chart('fiware', 'provisioning'), 'Provisioning', {
    context,
    iotAgent,
    orion,
    quantumleap,
    keycloak,
  });
  new Grafana(chart('observability', 'grafana'), 'Grafana', { context, cratedb });
  addLocalGitServer(new LayerChart(app, 'bootstrap-local-git', 'bootstrap', 'local-git'), ctx);

  // Every workload of the construct tree, by the service it serves.
  const workloads = new Map<ServiceId, Workload>();
  for (const c of app.node.findAll()) {
    if (!(c instanceof Workload)) continue;
    const id = (Object.keys(SERVICES) as ServiceId[]).find((k) => SERVICES[k].name === c.name);
    if (!id || workloads.has(id))
      throw new TypeError(`workload ${c.name} matches no service, or two`);
    workloads.set(id, c);
  }

  // The gateway reaches exactly the backends and ports the route table names, and OPA.
  const gateway = ingressGateway(ctx);
  for (const r of ctx.routes) {
    const target = workloads.get(r.backend.service);
    if (!target && SERVICES[r.backend.service].managedBy === 'platform') {
      throw new TypeError(`route ${r.prefix}: no workload serves ${r.backend.service}`);
    }
    target?.grantPort(gateway, r.backend.port);
  }
  opa.grantAccess(gateway, { ports: ['extauthz'] });
  // OPA and the sidecars of the tenant APIs fetch the realm's signing keys to verify tokens.
  keycloak.grantAccess(opa, { ports: ['web'], methods: ['GET'], paths: [ctx.jwksPath] });
  for (const w of workloads.values()) {
    if (w.servesTenantApi)
      keycloak.grantAccess(w, { ports: ['web'], methods: ['GET'], paths: [ctx.jwksPath] });
  }

  // Grafana redeems login codes and reads userinfo on Keycloak's Service.
  const grafana = workloads.get('grafana');
  if (grafana)
    keycloak.grantAccess(grafana, {
      ports: ['web'],
      methods: ['POST', 'GET'],
      paths: realmEndpoints(ctx).serverPaths,
    });

  addGitOps(app, ctx, Object.keys(LAYERS) as LayerId[]);
  return { app, context: ctx, workloads };
}
