/**
 * The fleet service's configuration from its environment: the defaults, the branch and
 * committer derived from the platform, and a wrong value named by its variable.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { loadPlatformContext } from '../../../platform/context.js';
import { loadConfig } from '../src/config.js';

let dir: string;
let env: Record<string, string>;
const ctx = loadPlatformContext();

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'fleet-config-'));
  const policy = join(dir, 'policy.json');
  writeFileSync(policy, JSON.stringify({ tenants: ['manufracture'] }));
  env = {
    FLEET_GIT_URL: 'https://git.example/kit.git',
    KEYCLOAK_JWKS_URL: 'http://keycloak/realms/kitt4sme/protocol/openid-connect/certs',
    POLICY_DATA_FILE: policy,
  };
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('the fleet service configuration', () => {
  it('has defaults, and takes the branch and the committer from the platform', () => {
    const c = loadConfig(env, ctx);
    expect(c.port).toBe(8080);
    expect(c.refreshSeconds).toBe(5);
    expect(c.rolloutIntervalSeconds).toBe(5);
    expect(c.branch).toBe(ctx.config.gitops.targetRevision);
    expect(c.committer).toEqual({
      name: 'kitt4sme fleet service',
      email: `fleet@${ctx.config.ingress.host}`,
    });
    expect(c.eventsUrl).toBeUndefined();
  });

  it('reads the numbers as decimal digits, their bounds included', () => {
    const c = loadConfig(
      {
        ...env,
        FLEET_PORT: '0',
        FLEET_REFRESH_SECONDS: '3600',
        FLEET_ROLLOUT_INTERVAL_SECONDS: '1',
      },
      ctx,
    );
    expect([c.port, c.refreshSeconds, c.rolloutIntervalSeconds]).toEqual([0, 3600, 1]);
  });

  // z.coerce.number() took '' as 0 (port 0: a random port; refresh 0: never) and '0x10' as 16.
  it.each([
    ['FLEET_PORT', '', 'a whole number from 0 to 65535, in decimal digits'],
    ['FLEET_PORT', '0x10', 'a whole number from 0 to 65535, in decimal digits'],
    ['FLEET_REFRESH_SECONDS', '', 'a whole number from 0 to 3600, in decimal digits'],
    ['FLEET_REFRESH_SECONDS', '1e3', 'a whole number from 0 to 3600, in decimal digits'],
    ['FLEET_ROLLOUT_INTERVAL_SECONDS', '0', 'a whole number from 1 to 3600, in decimal digits'],
    ['FLEET_GIT_BRANCH', 'main branch', 'a branch name'],
  ])('names %s=%j with what it wants', (name, value, wanted) => {
    expect(() => loadConfig({ ...env, [name]: value }, ctx)).toThrow(
      `invalid environment:\n  ${name}: ${wanted}`,
    );
  });

  it('names every missing variable in one error', () => {
    expect(() => loadConfig({ POLICY_DATA_FILE: env.POLICY_DATA_FILE! }, ctx)).toThrow(
      'invalid environment:\n  FLEET_GIT_URL: missing\n  KEYCLOAK_JWKS_URL: missing',
    );
  });
});
