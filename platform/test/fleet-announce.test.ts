/**
 * The agent nudge's URL rule (platform/fleet/identity.ts): the monitor calls an `announceUrl`
 * an agent reported only when it is an agent pod of the agent's own tenant, on the kit's port
 * and announce path; the URL the fleet renders always passes it.
 */
import { describe, expect, it } from '@jest/globals';

import {
  AGENT_ANNOUNCE_PATH,
  AGENT_KIT_PORT,
  agentAnnounceUrl,
  agentPodHostname,
  announceUrlAllowed,
  announceUrlRefusal,
} from '../fleet/identity.js';

const id = '5d8be2d4-d7b4-4140-a05f-be65778cbd90';
const own = `http://gpu-edge-1.agent-5d8be2d4d7b4-pods.agents-manufracture.svc.cluster.local:${AGENT_KIT_PORT}${AGENT_ANNOUNCE_PATH}`;

describe('agentAnnounceUrl', () => {
  it("names the instance's pod in its agent's headless Service, on the kit's port", () => {
    expect(agentAnnounceUrl(id, 'manufracture', 'gpu-edge-1')).toBe(own);
    expect(agentAnnounceUrl(id, 'manu_facture')).toBe(
      'http://floating.agent-5d8be2d4d7b4-pods.agents-manu-facture.svc.cluster.local:8080/announce',
    );
  });

  it('makes a DNS label of any host name: dotted or long ones are hashed', () => {
    expect(agentPodHostname('line-pc-1')).toBe('line-pc-1');
    expect(agentPodHostname('pc1.factory.example')).toMatch(/^h[0-9a-f]{12}$/);
    expect(agentPodHostname('x'.repeat(50))).toMatch(/^h[0-9a-f]{12}$/);
    expect(agentPodHostname('pc1.factory.example')).not.toBe(
      agentPodHostname('pc2.factory.example'),
    );
  });

  it('passes the rule for its own tenant, whatever the host', () => {
    for (const host of ['gpu-edge-1', 'pc1.factory.example', undefined])
      expect(announceUrlAllowed(agentAnnounceUrl(id, 'manufracture', host), 'manufracture')).toBe(
        true,
      );
  });
});

describe('announceUrlAllowed', () => {
  it.each([
    ['another tenant', 'smithereens', /not an agent pod of agents-smithereens/],
    ['https', own.replace('http:', 'https:'), /scheme https/],
    ['another path', own.replace('/announce', '/healthz'), /path \/healthz/],
    ['a path with a trailing slash', `${own}/`, /path \/announce\//],
    ['a query', `${own}?next=http://169.254.169.254/`, /query/],
    ['an empty query', `${own}?`, /query/],
    ['a fragment', `${own}#x`, /fragment/],
    ['credentials', own.replace('http://', 'http://u:p@'), /credentials/],
    ['another port', own.replace(':8080', ':15000'), /port 15000/],
    ['no port', own.replace(':8080', ''), /port 80,/],
    ['an IP', 'http://10.0.0.7:8080/announce', /not an agent pod/],
    ['https to an IP', 'https://127.0.0.1:8080/announce', /scheme https/],
    [
      'a platform service',
      'http://orion.platform.svc.cluster.local:8080/announce',
      /not an agent pod/,
    ],
    [
      'a service, not a pod',
      'http://agent-5d8be2d4d7b4.agents-manufracture.svc.cluster.local:8080/announce',
      /not an agent pod/,
    ],
    [
      'a look-alike domain',
      'http://p.agent-5d8be2d4d7b4-pods.agents-manufracture.svc.cluster.local.evil.example:8080/announce',
      /not an agent pod/,
    ],
    ['not a URL', 'gpu-edge-1/announce', /not a URL/],
  ])('fails for %s', (_what, url, why) => {
    const u = url === 'smithereens' ? own : url;
    const tenant = url === 'smithereens' ? 'smithereens' : 'manufracture';
    expect(announceUrlAllowed(u, tenant)).toBe(false);
    expect(announceUrlRefusal(u, tenant)).toMatch(why);
  });

  it('relaxes the host and port for the allowed hosts, never the scheme or the path', () => {
    const lab = 'http://127.0.0.1:43123/announce';
    expect(announceUrlAllowed(lab, 'manufracture')).toBe(false);
    expect(announceUrlAllowed(lab, 'manufracture', ['127.0.0.1'])).toBe(true);
    expect(
      announceUrlAllowed('https://127.0.0.1:43123/announce', 'manufracture', ['127.0.0.1']),
    ).toBe(false);
    expect(announceUrlAllowed('http://127.0.0.1:43123/admin', 'manufracture', ['127.0.0.1'])).toBe(
      false,
    );
    expect(
      announceUrlAllowed('http://127.0.0.1:43123/announce?x=1', 'manufracture', ['127.0.0.1']),
    ).toBe(false);
  });
});
