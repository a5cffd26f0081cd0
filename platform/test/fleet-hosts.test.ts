/**
 * A factory host as a node: the labels and taint its join command gives it come from its Host
 * record, and they are what the rendered agents select and tolerate (a pinned agent tolerates
 * its specialised host's taint; a floating one does not, so it never lands there).
 */
import { describe, expect, it } from '@jest/globals';

import { loadPlatformContext } from '../context.js';
import {
  HOST_LABELS,
  NODE_TOKEN_FILE,
  SPECIALISED_TAINT,
  hostNodeLabels,
  hostNodeTaints,
  k3sJoinArgs,
} from '../fleet/hosts.js';
import { agentObjectName, resolveFleet } from '../fleet/resolve.js';
import { renderFleet } from '../../cdk8s/lib/fleet/agents.js';

const ctx = loadPlatformContext();
const uuid = (n: number) => `${String(n).padStart(8, '0')}-0000-4000-8000-000000000000`;
const fleet = resolveFleet(
  [
    {
      path: 'fleet/hosts.yaml',
      text: `kind: Host
name: ipc-1
site: bologna
line: line1
capabilities: [modbus, camera]
---
kind: Host
name: gpu-1
specialised: true
---
kind: Host
name: bare
`,
    },
    {
      path: 'fleet/agents/f.yaml',
      text: `kind: Agent
id: ${uuid(2)}
name: f
tenant: manufracture
image: ghcr.io/x/f:1.0.0
placement: { floating: true }
`,
    },
    {
      path: 'fleet/agents/a.yaml',
      text: `kind: Agent
id: ${uuid(1)}
name: a
tenant: manufracture
image: ghcr.io/x/a:1.0.0
placement: { host: gpu-1 }
`,
    },
  ],
  ctx,
);
const host = (name: string) => fleet.hosts.find((h) => h.name === name)!;

/** Kubernetes' rule: a toleration tolerates a taint (key, effect; Exists or Equal value). */
function tolerates(
  tolerations: { key?: string; operator?: string; value?: string; effect?: string }[],
  taint: string,
) {
  const [, key, value, effect] = /^([^=]+)=([^:]*):(.+)$/.exec(taint)!;
  return tolerations.some(
    (t) =>
      (t.key === undefined || t.key === key) &&
      (t.effect === undefined || t.effect === effect) &&
      (t.operator === 'Exists' || t.value === value),
  );
}

describe('a host as a node', () => {
  it('lets the agents placed on a specialised host tolerate the taint its join gives, and no other agent', () => {
    const objects = renderFleet(ctx, fleet).objects;
    const podOf = (agent: number) =>
      objects.find(
        (o) => o.kind === 'Deployment' && o.metadata.name.startsWith(agentObjectName(uuid(agent))),
      )! as unknown as {
        spec: { template: { spec: { tolerations?: []; nodeSelector?: Record<string, string> } } };
      };
    const [taint] = hostNodeTaints(host('gpu-1'));
    const pinned = podOf(1).spec.template.spec;
    expect(pinned.nodeSelector).toEqual({ 'kubernetes.io/hostname': 'gpu-1' });
    expect(tolerates(pinned.tolerations ?? [], taint!)).toBe(true);
    expect(tolerates(podOf(2).spec.template.spec.tolerations ?? [], taint!)).toBe(false);
  });

  it('carries its site, line and one label per capability, sorted', () => {
    expect(hostNodeLabels(host('ipc-1'))).toEqual({
      [HOST_LABELS.site]: 'bologna',
      [HOST_LABELS.line]: 'line1',
      'fleet.kitt4sme.io/capability-camera': 'true',
      'fleet.kitt4sme.io/capability-modbus': 'true',
    });
    expect(hostNodeLabels(host('bare'))).toEqual({});
  });

  it('is tainted only when specialised', () => {
    expect(hostNodeTaints(host('gpu-1'))).toEqual([`${SPECIALISED_TAINT}=true:NoSchedule`]);
    expect(hostNodeTaints(host('ipc-1'))).toEqual([]);
  });

  it('joins as a k3s agent named as its record, with exactly those labels and taint, the token from a file', () => {
    const args = k3sJoinArgs(host('gpu-1'), 'https://api.example:6443');
    expect(args.slice(0, 8)).toEqual([
      'k3s',
      'agent',
      '--server',
      'https://api.example:6443',
      '--token-file',
      NODE_TOKEN_FILE,
      '--node-name',
      'gpu-1',
    ]);
    expect(args.slice(8)).toEqual(['--node-taint', `${SPECIALISED_TAINT}=true:NoSchedule`]);
    expect(args.join(' ')).not.toMatch(/--token(?!-file)/);
    const ipc = k3sJoinArgs(host('ipc-1'), 'https://api.example:6443');
    expect(ipc.filter((a, i) => ipc[i - 1] === '--node-label')).toEqual(
      Object.entries(hostNodeLabels(host('ipc-1'))).map(([k, v]) => `${k}=${v}`),
    );
  });
});
