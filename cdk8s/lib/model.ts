/**
 * Wraps the typed models of kubernetes-models (Istio, Argo CD) in cdk8s ApiObjects.
 *
 * The models give compile-time types for custom resources `cdk8s import` would otherwise
 * generate (which needs the internet); the validation tests run each model's schema over
 * the synthesized output.
 */
import { ApiObject } from 'cdk8s';
import type { Construct } from 'constructs';

/** Anything with apiVersion, kind and metadata that serializes to a plain object. */
interface TypedModel {
  readonly apiVersion: string;
  readonly kind: string;
  toJSON(): unknown;
}

/** Adds a typed model to the construct tree as an ApiObject. */
export function modelObject(scope: Construct, id: string, model: TypedModel): ApiObject {
  const { apiVersion, kind, ...rest } = model.toJSON() as Record<string, unknown>;
  return new ApiObject(scope, id, {
    apiVersion: apiVersion as string,
    kind: kind as string,
    ...rest,
  });
}
