/**
 * The grant idiom of {@link Workload.grantAccess} for what the fleet renders: a target owns one
 * ALLOW AuthorizationPolicy, each grant adds one rule for the caller's mesh identity, and with
 * the namespace's default-deny nothing else reaches it. Here the target is named by its
 * namespace and pod labels, not by a registry entry: an agent (built from a record) or a
 * platform service that agents call (whose Workload is synthesized elsewhere, into deploy/;
 * ALLOW policies of one workload add up, so the agents' policy only widens it by their rules).
 */
import { ApiObject, Lazy } from 'cdk8s';
import { Construct } from 'constructs';

import type { HttpMethod } from '../../../platform/roles.js';
import { FIWARE_SERVICE_HEADER } from '../../../platform/tenancy.js';
import type { MeshCaller } from '../workload.js';
import { PART_OF } from '../workload.js';

/** Options of {@link MeshTarget.grantAccess}. */
export interface MeshGrantOptions {
  /** Port numbers the caller may reach. */
  readonly ports: readonly number[];
  /** HTTP methods. @default any */
  readonly methods?: readonly HttpMethod[];
  /** Paths (Istio exact, `prefix*`). @default any */
  readonly paths?: readonly string[];
  /** Only requests whose `fiware-service` header is this tenant. @default any header */
  readonly tenant?: string;
  /** Only requests with these headers (lower-case name → one of the values). @default none */
  readonly headers?: Readonly<Record<string, readonly string[]>>;
  /**
   * Only requests whose bearer token, verified by the target's sidecar (a RequestAuthentication
   * must select the target), has these claims (name → one of the values):
   * `request.auth.claims[<name>]`. @default none: no token needed
   */
  readonly claims?: Readonly<Record<string, readonly string[]>>;
}

/** Props of {@link MeshTarget}. */
export interface MeshTargetProps {
  /** The policy's name. */
  readonly name: string;
  readonly namespace: string;
  /** The pod labels of the target. */
  readonly selector: Readonly<Record<string, string>>;
}

/** A workload that callers are granted access to, one ALLOW policy with a rule per grant. */
export class MeshTarget extends Construct {
  private readonly grants: { caller: MeshCaller; options: MeshGrantOptions }[] = [];
  private policy?: ApiObject;

  constructor(
    scope: Construct,
    id: string,
    private readonly props: MeshTargetProps,
  ) {
    super(scope, id);
  }

  /**
   * Lets `caller` reach the target; adds one rule to its ALLOW policy (created on the first
   * grant).
   * @throws TypeError on an empty list, which Istio reads as any.
   */
  grantAccess(caller: MeshCaller, options: MeshGrantOptions): void {
    const lists = [
      ...Object.entries(options),
      ...Object.entries(options.headers ?? {}).map(([h, v]) => [`headers.${h}`, v] as const),
      ...Object.entries(options.claims ?? {}).map(([c, v]) => [`claims.${c}`, v] as const),
    ];
    for (const [field, list] of lists)
      if (Array.isArray(list) && list.length === 0)
        throw new TypeError(
          `${this.props.name}.grantAccess(${caller.displayName}): ${field} is an empty list, which Istio reads as any`,
        );
    this.grants.push({ caller, options });
    this.policy ??= new ApiObject(this, 'Resource', {
      apiVersion: 'security.istio.io/v1',
      kind: 'AuthorizationPolicy',
      metadata: {
        name: this.props.name,
        namespace: this.props.namespace,
        labels: { 'app.kubernetes.io/part-of': PART_OF },
      },
      spec: {
        selector: { matchLabels: { ...this.props.selector } },
        action: 'ALLOW',
        rules: Lazy.any({ produce: () => this.renderRules() }),
      },
    });
  }

  /** Who may call the target, in the order of the rules. */
  get callers(): readonly { principal: string; options: MeshGrantOptions }[] {
    return this.grants.map((g) => ({ principal: g.caller.meshPrincipal, options: g.options }));
  }

  private renderRules(): unknown[] {
    // One rule per caller and method/path/tenant set, with the union of its ports, sorted: the
    // manifest depends neither on the order of the grants nor on repeats.
    const merged = new Map<
      string,
      { principal: string; o: MeshGrantOptions; ports: Set<string> }
    >();
    for (const { caller, options } of this.grants) {
      const key = JSON.stringify([
        caller.meshPrincipal,
        options.methods ?? null,
        options.paths ?? null,
        options.tenant ?? null,
        sorted(options.headers),
        sorted(options.claims),
      ]);
      const entry = merged.get(key) ?? {
        principal: caller.meshPrincipal,
        o: options,
        ports: new Set<string>(),
      };
      for (const p of options.ports) entry.ports.add(String(p));
      merged.set(key, entry);
    }
    return [...merged]
      .sort(([a], [b]) => a.localeCompare(b))
      .map(([, g]) => {
        const operation: Record<string, unknown> = { ports: [...g.ports].sort() };
        if (g.o.methods) operation.methods = [...g.o.methods];
        if (g.o.paths) operation.paths = [...g.o.paths];
        const when = [
          ...(g.o.tenant
            ? [{ key: `request.headers[${FIWARE_SERVICE_HEADER}]`, values: [g.o.tenant] }]
            : []),
          ...sorted(g.o.headers).map(([h, values]) => ({
            key: `request.headers[${h}]`,
            values: [...values],
          })),
          ...sorted(g.o.claims).map(([c, values]) => ({
            key: `request.auth.claims[${c}]`,
            values: [...values],
          })),
        ];
        return {
          from: [{ source: { principals: [g.principal] } }],
          to: [{ operation }],
          ...(when.length > 0 ? { when } : {}),
        };
      });
  }
}

/** The entries of a condition map, by name. */
function sorted(
  conditions: Readonly<Record<string, readonly string[]>> | undefined,
): [string, readonly string[]][] {
  return Object.entries(conditions ?? {}).sort(([a], [b]) => a.localeCompare(b));
}
