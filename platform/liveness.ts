/**
 * The liveness monitor's vocabulary that other layers read: its states, the Prometheus gauge
 * it exports per target, and the alerting rule on that gauge the platform's Prometheus loads
 * (cdk8s/lib/gitops/chart-values.ts). Defined once here, so the service's metric and the rule
 * cannot drift apart.
 */

/** The states of a monitored target, in the order a silence walks through them. */
export const LIVENESS_STATES = ['fresh', 'silent', 'nudged', 'offline'] as const;
export type LivenessState = (typeof LIVENESS_STATES)[number];

/**
 * The attribute the monitor writes its verdict in, on each watched device's entity (so it
 * reaches QuantumLeap and Grafana like a measurement), and on each agent instance's heartbeat
 * entity. Its value is the state, its `since` metadata when the state began.
 */
export const DEVICE_HEALTH_ATTRIBUTE = 'deviceHealth';
export const AGENT_HEALTH_ATTRIBUTE = 'agentHealth';

/**
 * The command a silent device is nudged with when it declares it (MONITOR_NUDGE_COMMAND's
 * default): a device answers it like any command, and the answer counts as a sign of life.
 */
export const DEFAULT_NUDGE_COMMAND = 'ping';

/** The gauge the monitor exports per target; its value is the state's index. */
export const LIVENESS_METRIC = 'monitor_target_liveness';

/** The gauge's value of each state: 0 fresh, 1 silent, 2 nudged, 3 offline. */
export const LIVENESS_VALUE: Readonly<Record<LivenessState, number>> = Object.fromEntries(
  LIVENESS_STATES.map((s, i) => [s, i]),
) as Record<LivenessState, number>;

/**
 * The alerting rule group for Prometheus's rule file: a target is offline. No `for:` is
 * needed, the monitor already waited for three unanswered nudges; the alert resolves when the
 * target is heard from again (the `recovered` event), so every alert has its "resolved".
 */
export function livenessAlertRules() {
  return {
    groups: [
      {
        name: 'kitt4sme-liveness',
        rules: [
          {
            alert: 'TargetOffline',
            expr: `${LIVENESS_METRIC} == ${LIVENESS_VALUE.offline}`,
            labels: { severity: 'warning' },
            annotations: {
              summary:
                'A monitored target is offline: three nudges went unanswered (labels: tenant, kind, id)',
              runbook: 'docs/monitor.md',
            },
          },
        ],
      },
    ],
  };
}
