/**
 * Typed Kubernetes objects as cdk8s ApiObjects.
 *
 * The custom resources' types are generated from the upstream CRDs into cdk8s/imports/
 * (`npm run crd-types`); core kinds take client-node's types. Both are checked at compile time
 * with TypeScript's excess-property check at every depth, and the validation tests have a real
 * kube-apiserver (with the same CRDs) validate every synthesized object strictly.
 */
import type {
  V1NetworkPolicyIngressRule,
  V1NetworkPolicyPeer,
  V1NetworkPolicySpec,
  V1ObjectMeta,
} from '@kubernetes/client-node';
import { ApiObject } from 'cdk8s';
import type { Construct } from 'constructs';

/** Anything with apiVersion, kind and metadata. */
interface TypedObject {
  readonly apiVersion: string;
  readonly kind: string;
  readonly metadata: object;
}

/** Adds a typed object to the construct tree as an ApiObject. */
export function modelObject(scope: Construct, id: string, object: TypedObject): ApiObject {
  const { apiVersion, kind, ...rest } = object;
  return new ApiObject(scope, id, { apiVersion, kind, ...rest });
}

/** An ingress rule; client-node spells its `from` as `_from` (a reserved word in its generator). */
type NetworkPolicyIngressRule = Omit<V1NetworkPolicyIngressRule, '_from'> & {
  from?: V1NetworkPolicyPeer[];
};

/** A networking.k8s.io/v1 NetworkPolicy. */
export interface NetworkPolicy {
  apiVersion: 'networking.k8s.io/v1';
  kind: 'NetworkPolicy';
  metadata: V1ObjectMeta;
  spec?: Omit<V1NetworkPolicySpec, 'ingress'> & { ingress?: NetworkPolicyIngressRule[] };
}

/** A NetworkPolicy: `body` with its `apiVersion` and `kind`. */
export function NetworkPolicy(body: Omit<NetworkPolicy, 'apiVersion' | 'kind'>): NetworkPolicy {
  return { apiVersion: 'networking.k8s.io/v1', kind: 'NetworkPolicy', ...body };
}
