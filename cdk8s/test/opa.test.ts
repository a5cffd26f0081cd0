import {
  DECISION_PATH,
  POLICY_DATA_PATH,
  apiKeyBundleFlags,
  readPolicyFiles,
} from '../../platform/policy-data.js';
import { API_KEY_PATTERN } from '../../platform/tenancy.js';
import { loadPlatformContext } from '../../platform/context.js';
import {
  find,
  opaPolicyConfigMap,
  opaPolicyData,
  policyFiles,
  ROOT,
  synth,
} from '../../testing/support/synth.js';
import { join } from 'node:path';

const policyConfigMap = opaPolicyConfigMap;
const opaDeployment = (out: ReturnType<typeof synth>) => find(out, 'Deployment', 'opa');

describe('OPA', () => {
  const out = synth();

  it('mounts every Rego file of policies/ (tests excluded) and the generated data', () => {
    const cm = policyConfigMap(out);
    const volume = opaDeployment(out).spec.template.spec.volumes.find(
      (v: any) => v.name === 'policy',
    );
    expect(volume.configMap.name).toBe(cm.metadata.name);
    const paths = volume.configMap.items.map((i: any) => i.path);
    expect(paths).toEqual([...policyFiles().map((f) => f.path), POLICY_DATA_PATH].sort());
    expect(paths.some((p: string) => p.endsWith('_test.rego'))).toBe(false);
    for (const item of volume.configMap.items) expect(cm.data[item.key]).toBeDefined();
    expect(cm.data['kitt4sme.authz.rego']).toContain('package kitt4sme.authz');
  });

  it('reads only Rego sources, sorted, without tests', () => {
    const files = readPolicyFiles(join(ROOT, 'policies')).map((f) => f.path);
    expect(files).toEqual([...files].sort());
    expect(files).toContain('kitt4sme/authz.rego');
    expect(files.every((f) => f.endsWith('.rego') && !f.endsWith('_test.rego'))).toBe(true);
  });

  it('rolls the pod when a policy changes, and only then', () => {
    const changed = synth({
      policies: policyFiles().map((f) =>
        f.path === 'kitt4sme/authz.rego'
          ? { ...f, content: `${f.content}\n# a comment is a change too\n` }
          : f,
      ),
    });
    const name = (o: ReturnType<typeof synth>) => policyConfigMap(o).metadata.name;
    expect(name(changed)).not.toBe(name(out));
    expect(JSON.stringify(opaDeployment(changed).spec.template)).not.toBe(
      JSON.stringify(opaDeployment(out).spec.template),
    );
    expect(name(synth())).toBe(name(out));
  });

  it('runs the Envoy ext_authz plugin on the decision path, REST API on localhost only', () => {
    const args: string[] = opaDeployment(out).spec.template.spec.containers[0].args;
    expect(args).toEqual(
      expect.arrayContaining([
        'run',
        '--server',
        '--addr=localhost:8181',
        `--set=plugins.envoy_ext_authz_grpc.path=${DECISION_PATH}`,
        '--set=plugins.envoy_ext_authz_grpc.addr=:9191',
        '--ignore=.*',
        '/policy',
      ]),
    );
  });

  it('is ready only when its plugins are, and never logs credentials', () => {
    const c = opaDeployment(out).spec.template.spec.containers[0];
    // Every plugin but the API-key bundle: without it only device routes are refused.
    expect(c.readinessProbe.httpGet).toEqual({
      path: '/health?plugins&exclude-plugin=bundle',
      port: 8282,
    });
    const mask = policyConfigMap(out).data['system.log.rego'];
    expect(mask).toContain('mask contains "/input/attributes/request/http/headers/authorization"');
  });

  it('generates its data from the route table and the config', () => {
    const data = opaPolicyData(out);
    expect(data).toMatchObject({
      version: 1,
      issuer: 'https://kitt4sme.localhost/auth/realms/kitt4sme',
      jwks_uri:
        'http://keycloak.identity.svc.cluster.local:8080/auth/realms/kitt4sme/protocol/openid-connect/certs',
      audiences: ['kitt4sme-fiware', 'kitt4sme-provisioning'],
      algorithms: ['RS256', 'ES256'],
      claims: { tenants: 'tenants', roles: 'roles' },
      clock_skew_seconds: 30,
      max_token_length: 8192,
      tenants: ['manufracture', 'smithereens'],
      service_paths: {},
      public_paths: [
        '/orion/version',
        '/quantumleap/version',
        '/iota-north/iot/about',
        '/iota-json-north/iot/about',
        '/provisioning/openapi.json',
        '/fleet/openapi.json',
        '/monitor/openapi.json',
      ],
    });
    expect(data.routes.map((r: any) => r.prefix)).toEqual([
      '/orion',
      '/quantumleap',
      '/iota-north',
      '/iota-north/iot/services',
      '/iota-north/iot/groups',
      '/iota-north/admin',
      '/iota-north/metrics',
      '/iota-south',
      '/iota-json-north',
      '/iota-json-north/iot/services',
      '/iota-json-north/iot/groups',
      '/iota-json-north/admin',
      '/iota-json-north/metrics',
      '/iota-json-south',
      '/provisioning',
      '/fleet',
      '/monitor',
    ]);
    expect(data.routes.find((r: any) => r.prefix === '/iota-south').api_key_param).toBe('k');
    expect(data.routes.find((r: any) => r.prefix === '/iota-json-south').rights).toEqual({
      device: ['GET', 'POST'],
      'platform-admin': ['GET', 'POST'],
    });
    expect(data.routes.find((r: any) => r.prefix === '/iota-south').rights).toEqual({
      device: ['GET', 'POST'],
      'platform-admin': ['GET', 'POST'],
    });
  });
});

describe('the IoT Agents and the API-key check', () => {
  const out = synth();
  const agents = ['iotagent-ul', 'iotagent-json'];

  it('set a default API key the policy never admits (the agents find a device of any tenant by it)', () => {
    for (const name of agents) {
      const env = find(out, 'Deployment', name).spec.template.spec.containers[0].env as {
        name: string;
        value?: string;
      }[];
      const key = env.find((e) => e.name === 'IOTA_DEFAULT_KEY')?.value;
      expect([name, typeof key]).toEqual([name, 'string']);
      expect([name, API_KEY_PATTERN.test(key!)]).toEqual([name, false]);
    }
  });

  it('polls the API-key bundle of the provisioning service, and is ready without it', () => {
    const args = opaDeployment(out).spec.template.spec.containers[0].args as string[];
    const url = loadPlatformContext().serviceUrl('provisioning', 'api');
    expect(args).toEqual(expect.arrayContaining(apiKeyBundleFlags(url)));
    expect(args.join(' ')).toContain('bundles.apikeys.resource=bundles/apikeys.tar.gz');
    const probe = opaDeployment(out).spec.template.spec.containers[0].readinessProbe;
    expect(probe.httpGet.path).toBe('/health?plugins&exclude-plugin=bundle');
  });
});
