/**
 * Every place the platform does not follow its own rules, with the reason.
 *
 * Container-level exceptions travel as annotations on the workloads that declare them (see
 * policy-exceptions.ts); the ones below are platform-level: things the manifest rules cannot
 * check because they are not in deploy/, or that are relaxed on purpose. A test lists them
 * all, so a new one is a reviewed change.
 */
import type { PlatformContext } from '../../platform/context.js';
import { helmReleases } from './gitops/chart-values.js';
import { INGRESS_GATEWAY_RELEASE } from '../../platform/mesh.js';
import { POD_SECURITY } from './namespaces.js';

/** One platform-level exception. */
export interface PlatformException {
  /** What it applies to, e.g. `namespace istio-system`. */
  readonly subject: string;
  /** Which rule or posture it relaxes. */
  readonly rule: string;
  readonly reason: string;
}

/** The platform-level exceptions of a platform. */
export function platformExceptions(ctx: PlatformContext): PlatformException[] {
  const releases = helmReleases(ctx);
  const out: PlatformException[] = [];
  for (const { role, name } of ctx.managedNamespaces) {
    const pss = POD_SECURITY[role];
    if (pss.level !== 'restricted') {
      out.push({
        subject: `namespace ${name}`,
        rule: `Pod Security ${pss.level}, not restricted`,
        reason: pss.reason ?? '',
      });
    }
  }
  out.push({
    subject: 'upstream chart workloads (' + releases.map((r) => r.releaseName).join(', ') + ')',
    rule: 'manifest rules (probes, security context, read-only root) not checked',
    reason:
      'Argo CD renders them from the pinned upstream charts, so they are not in deploy/; their resources come from the size profile through the generated values',
  });
  out.push({
    subject: 'istio-cni in kube-system',
    rule: 'privileged: runs as root with NET_ADMIN, SYS_ADMIN and host paths',
    reason:
      'the CNI node agent configures pod networking on the node; in exchange no application pod needs the NET_ADMIN istio-init container, so the platform namespaces enforce restricted',
  });
  out.push({
    subject: `Service ${INGRESS_GATEWAY_RELEASE}`,
    rule: `type ${ctx.config.profile === 'laptop' ? 'NodePort' : 'LoadBalancer'}, not ClusterIP`,
    reason: 'it is the ingress gateway itself, the one way into the cluster that the rule protects',
  });
  if (ctx.size('cratedb').replicas > 1) {
    out.push({
      subject: 'cratedb (multi-node)',
      rule: 'needs vm.max_map_count >= 262144 on the nodes',
      reason:
        'a CrateDB cluster keeps its bootstrap checks; the sysctl is set when nodes are provisioned, never by a privileged container of the platform',
    });
  }
  return out;
}
