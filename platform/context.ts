/**
 * What every construct needs to know about the platform being synthesized: the validated
 * config, the chosen size profile, the route table and the names derived from them.
 */
import type { SizeProfile, SizedWorkload, WorkloadSize } from './config/profiles.js';
import { PROFILES } from './config/profiles.js';
import type { RouteSpec } from './routes.js';
import type { ImageId, PlatformConfig } from './config/schema.js';
import type { NamespaceRole, ServiceId } from './services.js';
import { SERVICES } from './services.js';

/** Read-only facts about the platform, handed to every construct through its props. */
export class PlatformContext {
  readonly profile: SizeProfile;

  constructor(
    readonly config: PlatformConfig,
    readonly routes: readonly RouteSpec[],
  ) {
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

  /** `repository:tag` of a pinned image. */
  image(id: ImageId): string {
    const img = this.config.images[id];
    return img.tag.startsWith('sha256:')
      ? `${img.repository}@${img.tag}`
      : `${img.repository}:${img.tag}`;
  }

  /** The size of a workload in the chosen profile. */
  size(workload: SizedWorkload): WorkloadSize {
    return this.profile.workloads[workload];
  }

  /** The cluster-local DNS name of a service, e.g. `orion.fiware.svc.cluster.local`. */
  serviceHost(id: ServiceId): string {
    const svc = SERVICES[id];
    return `${svc.name}.${this.namespace(svc.namespace)}.svc.cluster.local`;
  }

  /** An in-cluster URL of a service port, e.g. `http://orion.fiware.svc.cluster.local:1026`. */
  serviceUrl<S extends ServiceId>(
    id: S,
    port: keyof (typeof SERVICES)[S]['ports'] & string,
  ): string {
    const spec = (SERVICES[id].ports as Record<string, { port: number }>)[port];
    if (!spec) throw new TypeError(`service ${id} has no port ${port}`);
    return `http://${this.serviceHost(id)}:${spec.port}`;
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
    return `/auth/realms/${this.config.identity.realm}`;
  }

  /** The OIDC issuer of the platform realm, as it appears in the `iss` claim. */
  get issuer(): string {
    return `${this.publicUrl}${this.realmPath}`;
  }

  /** The path of the realm's signing keys (JWKS) on Keycloak. */
  get jwksPath(): string {
    return `${this.realmPath}/protocol/openid-connect/certs`;
  }

  /** Where the mesh fetches the realm's signing keys from, inside the cluster. */
  get jwksUri(): string {
    return `${this.serviceUrl('keycloak', 'web')}${this.jwksPath}`;
  }
}
