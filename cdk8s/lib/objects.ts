/**
 * The shape of synthesized Kubernetes objects, shared by synthesis, the manifest rules and the
 * budget.
 */

/** The shape every Kubernetes object has. */
export interface KubeObject {
  readonly apiVersion: string;
  readonly kind: string;
  readonly metadata: {
    readonly name: string;
    readonly namespace?: string;
    readonly labels?: Record<string, string>;
    readonly annotations?: Record<string, string>;
  };
  readonly [key: string]: unknown;
}

/** A synthesized Kubernetes object and the file it is written to. */
export interface SynthObject {
  /** Path relative to the repository root, e.g. `deploy/fiware/orion.yaml`. */
  readonly file: string;
  readonly object: KubeObject;
}
