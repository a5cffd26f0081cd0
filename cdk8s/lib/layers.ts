/**
 * The chart of a layer (platform/layers.ts): each layer is one directory under deploy/ and
 * one Argo CD Application; a component's entry names its layer, and its file follows.
 */
import { Chart } from 'cdk8s';
import type { Construct } from 'constructs';

import type { LayerId } from '../../platform/layers.js';

/** A chart that belongs to a layer; synth writes it to `deploy/<layer>/<file>.yaml`. */
export class LayerChart extends Chart {
  constructor(
    scope: Construct,
    id: string,
    /** `bootstrap`: applied by argocd/bootstrap.sh, not synced by an Application. */
    readonly layer: LayerId | 'apps' | 'bootstrap',
    /** File name under the layer directory, without extension. */
    readonly fileName: string,
  ) {
    super(scope, id, { disableResourceNameHashes: true });
  }

  /** Whether a construct is a {@link LayerChart} (constructs avoid `instanceof` across copies). */
  static isLayerChart(x: unknown): x is LayerChart {
    return (
      x instanceof Chart &&
      typeof (x as LayerChart).layer === 'string' &&
      typeof (x as LayerChart).fileName === 'string'
    );
  }
}
