/**
 * The platform context: the validated config, the size profile, the route table, the pins and
 * the names derived from them. Everything that builds, serves or tests the platform asks
 * {@link loadPlatformContext} for one; nothing builds a context by hand.
 */
import type {
  ChartId,
  ChartSpec,
  ComponentId,
  ImageId,
  ImageSpec,
  RealmPath,
  ServiceId,
} from './components.js';
import {
  CHARTS,
  CHART_IDS,
  IMAGE_IDS,
  SERVICES,
  component,
  servicePort,
  validateComponents,
} from './components.js';
import { platform } from './config/platform.js';
import type { SizeProfile, WorkloadSize } from './config/profiles.js';
import { PROFILES } from './config/profiles.js';
import type { PlatformConfig, PlatformConfigInput } from './config/schema.js';
import { ConfigError, parsePlatformConfig, registryPinIssues } from './config/schema.js';
import type { NamespaceRole } from './layers.js';
import type { RouteSpec } from './routes.js';
import { ROUTES, validateRoutes } from './routes.js';

/** What a context is loaded from; every part defaults to the repository's own. */
export interface PlatformInputs {
  /** The config as written (platform.ts's shape). @default platform/config/platform.ts */
  readonly config?: PlatformConfigInput | unknown;
  /** The route table. @default the routes of the component registry */
  readonly routes?: readonly RouteSpec[];
}

/**
 * Loads and validates everything a context holds, once: the config (with the registry's pins
 * and the config's overrides of them), the component registry and the route table.
 *
 * @throws ConfigError for a bad config value or pin, RouteTableError for a bad route,
 *   ComponentRegistryError for a registry entry that names what does not exist.
 */
export function loadPlatformContext(inputs: PlatformInputs = {}): PlatformContext {
  checkRegistry();
  const config = parsePlatformConfig(inputs.config ?? platform);
  const images = Object.fromEntries(
    IMAGE_IDS.map((id) => [id, config.images?.[id] ?? REGISTRY_IMAGES[id]]),
  ) as Record<ImageId, ImageSpec>;
  const charts = Object.fromEntries(
    CHART_IDS.map((id) => [id, config.charts?.[id] ?? CHARTS[id]]),
  ) as Record<ChartId, ChartSpec>;
  const routes = inputs.routes ?? ROUTES;
  validateRoutes(routes);
  return new PlatformContext(LOADED, config, routes, images, charts);
}

/** The registry's own image pins, by component. */
const REGISTRY_IMAGES = Object.fromEntries(
  IMAGE_IDS.map((id) => [id, component(id).image!]),
) as Readonly<Record<ImageId, ImageSpec>>;

let registryChecked = false;

/**
 * The registry and its pins are constants: checked on the first load of a process, not on
 * every one. The config's overrides are checked with the config; the registry's own pins by
 * the same rules.
 */
function checkRegistry(): void {
  if (registryChecked) return;
  validateComponents();
  const pins = registryPinIssues(REGISTRY_IMAGES, CHARTS);
  if (pins.length > 0) throw new ConfigError(pins);
  registryChecked = true;
}

const LOADED = Symbol('loaded by loadPlatformContext');

/** Read-only facts about the platform, handed to every construct, service and scenario. */
export class PlatformContext {
  readonly profile: SizeProfile;

  /** @internal Use {@link loadPlatformContext}, which validates what the context holds. */
  constructor(
    token: typeof LOADED,
    readonly config: PlatformConfig,
    readonly routes: readonly RouteSpec[],
    private readonly images: Readonly<Record<ImageId, ImageSpec>>,
    private readonly charts: Readonly<Record<ChartId, ChartSpec>>,
  ) {
    if (token !== LOADED) throw new TypeError('get a PlatformContext from loadPlatformContext()');
    this.profile = PROFILES[config.profile];
  }

  /** The namespace of a namespace role, e.g. `platform` → `fiware`. */
  namespace(role: NamespaceRole): string {
    switch (role) {
      case 'platform':
        return this.config.namespaces.platform;
      case 'identity':
        return this.config.namespaces.identity;
      case 'mesh':
        return 'istio-system';
      case 'argocd':
        return 'argocd';
    }
  }

  /** Every namespace the platform manages, in a stable order. */
  get managedNamespaces(): readonly { role: NamespaceRole; name: string }[] {
    return (['argocd', 'mesh', 'platform', 'identity'] as const).map((role) => ({
      role,
      name: this.namespace(role),
    }));
  }

  /** The pinned image of a component: the config's override, else the registry's pin. */
  imageSpec(id: ImageId): ImageSpec {
    return this.images[id];
  }

  /** `repository:tag` (or `repository@sha256:...`) of a component's pinned image. */
  image(id: ImageId): string {
    const img = this.images[id];
    return img.tag.startsWith('sha256:')
      ? `${img.repository}@${img.tag}`
      : `${img.repository}:${img.tag}`;
  }

  /** A pinned upstream chart: the config's override, else the registry's pin. */
  chart(id: ChartId): ChartSpec {
    return this.charts[id];
  }

  /** The size of a component in the chosen profile. */
  size(id: ComponentId): WorkloadSize {
    return component(id).sizes[this.config.profile];
  }

  /** The namespace a component runs in. */
  componentNamespace(id: ComponentId): string {
    return this.namespace(component(id).namespace);
  }

  /** The cluster-local DNS name of a service, e.g. `orion.fiware.svc.cluster.local`. */
  serviceHost(id: ServiceId): string {
    return `${SERVICES[id].name}.${this.componentNamespace(id)}.svc.cluster.local`;
  }

  /** The port number of a service port, e.g. `port('orion', 'api')` → 1026. */
  port<S extends ServiceId>(id: S, key: keyof (typeof SERVICES)[S]['ports'] & string): number {
    return servicePort(id, key).port;
  }

  /** An in-cluster URL of a service port, e.g. `http://orion.fiware.svc.cluster.local:1026`. */
  serviceUrl<S extends ServiceId>(
    id: S,
    port: keyof (typeof SERVICES)[S]['ports'] & string,
  ): string {
    return `http://${this.serviceHost(id)}:${this.port(id, port)}`;
  }

  /**
   * The route of a backend at the gateway: its first route, or the one to `port`.
   * @throws TypeError when no route reaches it.
   */
  route(service: ServiceId, port?: string): RouteSpec {
    const r = this.routes.find(
      (x) => x.backend.service === service && (port === undefined || x.backend.port === port),
    );
    if (!r) throw new TypeError(`no route reaches ${service}${port ? `/${port}` : ''}`);
    return r;
  }

  /** The gateway prefix of a backend's route, e.g. `/grafana`. */
  routePrefix(service: ServiceId, port?: string): string {
    return this.route(service, port).prefix;
  }

  /** The public base URL users and tokens see, e.g. `https://kitt4sme.localhost`. */
  get publicUrl(): string {
    return `${this.config.ingress.tls ? 'https' : 'http'}://${this.config.ingress.host}`;
  }

  /** The path of the platform realm on Keycloak, publicly and in the cluster alike. */
  get realmPath(): string {
    return `${this.routePrefix('keycloak')}/realms/${this.config.identity.realm}`;
  }

  /** The OIDC issuer of the platform realm, as it appears in the `iss` claim. */
  get issuer(): string {
    return `${this.publicUrl}${this.realmPath}`;
  }

  /** The path of the realm's signing keys (JWKS) on Keycloak. */
  get jwksPath(): string {
    return this.realmEndpointPath('jwks');
  }

  /** A path of the realm's OpenID Connect endpoints on Keycloak. */
  realmEndpointPath(kind: RealmPath): string {
    const oidc = `${this.realmPath}/protocol/openid-connect`;
    return `${oidc}/${kind === 'jwks' ? 'certs' : kind}`;
  }

  /** Where the mesh fetches the realm's signing keys from, inside the cluster. */
  get jwksUri(): string {
    return `${this.serviceUrl('keycloak', 'web')}${this.jwksPath}`;
  }
}
