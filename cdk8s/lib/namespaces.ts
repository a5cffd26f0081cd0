/**
 * The namespaces the platform manages, labelled for sidecar injection and Pod Security.
 */
import { k8s } from 'cdk8s-plus-33';
import { Construct } from 'constructs';

import type { NamespaceRole } from '../../platform/layers.js';
import type { PlatformContext } from '../../platform/context.js';
import { MESHED_NAMESPACES } from './mesh/security.js';
import { PART_OF } from './workload.js';

/** Pod Security Standards level a namespace enforces. */
export type PodSecurityLevel = 'restricted' | 'baseline';

/** The enforced level per namespace role, with the reason where it is not restricted. */
export const POD_SECURITY: Readonly<
  Record<NamespaceRole, { level: PodSecurityLevel; reason?: string }>
> = {
  platform: { level: 'restricted' },
  identity: { level: 'restricted' },
  // NOTE (1)
  mesh: {
    level: 'baseline',
    reason:
      'upstream charts (gateway, Kiali, Prometheus, Jaeger) are not all restricted-compliant; warned and audited at restricted',
  },
  argocd: {
    level: 'baseline',
    reason:
      'the upstream Argo CD chart is not guaranteed restricted-compliant; warned and audited at restricted',
  },
};

/** Props of {@link Namespaces}. */
export interface NamespacesProps {
  readonly context: PlatformContext;
}

/** One Namespace object per managed namespace. */
export class Namespaces extends Construct {
  constructor(scope: Construct, id: string, props: NamespacesProps) {
    super(scope, id);
    for (const { role, name } of props.context.managedNamespaces) {
      const pss = POD_SECURITY[role];
      new k8s.KubeNamespace(this, role, {
        metadata: {
          name,
          labels: {
            'app.kubernetes.io/part-of': PART_OF,
            'pod-security.kubernetes.io/enforce': pss.level,
            'pod-security.kubernetes.io/warn': 'restricted',
            'pod-security.kubernetes.io/audit': 'restricted',
            // Meshed namespaces get sidecars; the others are left alone (the gateway chart
            // injects its own pods by label, which a namespace-level "disabled" would block).
            ...(MESHED_NAMESPACES.includes(role) ? { 'istio-injection': 'enabled' } : {}),
          },
          annotations: {
            // Never delete a namespace (and the volumes in it) because git stopped listing it.
            'argocd.argoproj.io/sync-options': 'Prune=false,Delete=false',
          },
        },
      });
    }
  }
}

// NOTE
// 1. Baseline where upstream charts run. The platform's own namespaces enforce restricted.
//    istio-system and argocd hold upstream charts whose pods we configure but do not render;
//    enforcing restricted there would turn an upstream securityContext change into a failed
//    rollout of the control plane. warn/audit at restricted make any gap visible.
//    The one workload that needs more than baseline, the Istio CNI agent, runs in
//    kube-system (see gitops/chart-values.ts, NOTE 1).
