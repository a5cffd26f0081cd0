/**
 * versions: the public endpoints answer without a token, and the rest of each API does not.
 *
 * The public paths come from the route table (the same list the gateway's AuthorizationPolicy
 * exempts from OPA), so a route added there is checked here without an edit.
 */
import type { IotAgentSpec } from '../platform/components.js';
import { component } from '../platform/components.js';
import type { RouteSpec } from '../platform/routes.js';
import { check } from './lib/framework.js';
import type { Scenario, Step } from './lib/framework.js';
import type { ScenarioEnv } from './lib/env.js';
import { expectStatus, snippet } from './lib/platform.js';

/** What a public path must answer with, beyond 200: a field of its JSON body. */
const EXPECTED_FIELD: Record<string, string> = {
  '/orion/version': 'orion',
  '/quantumleap/version': 'version',
  '/provisioning/openapi.json': 'openapi',
};

/** A protected path below each tenant route's prefix (any path but the public ones would do). */
const PROTECTED: Record<string, string> = {
  '/orion': '/v2/entities',
  '/quantumleap': '/v2/entities',
  '/provisioning': '/v1/devices',
};

const agentOf = (route: RouteSpec): IotAgentSpec | undefined =>
  component(route.backend.service).iotAgent;

/** An IoT Agent's north API lists its devices, its south API takes measures at its resource. */
const protectedPath = (route: RouteSpec): string => {
  const agent = agentOf(route);
  if (agent) return route.backend.port === 'south' ? agent.resource : '/iot/devices';
  return PROTECTED[route.prefix] ?? '/';
};

/** Every IoT Agent's north API says its library version at /iot/about. */
const expectedField = (route: RouteSpec, pub: string): string | undefined =>
  agentOf(route) && pub === '/iot/about' ? 'libVersion' : EXPECTED_FIELD[`${route.prefix}${pub}`];

export const versions: Scenario<ScenarioEnv> = {
  name: 'versions',
  description: 'public endpoints answer 200 without a token; protected ones refuse',
  independentSteps: true,
  steps({ platform }) {
    const steps: Step[] = [];
    for (const route of platform.ctx.routes.filter((r) => r.access === 'tenant')) {
      for (const pub of route.publicPaths) {
        const path = `${route.prefix}${pub}`;
        steps.push({
          id: `public${path.replaceAll('/', '-').replaceAll('.', '-')}`,
          title: `GET ${path} answers 200 without a token`,
          async run(signal) {
            const reply = await platform.call({
              service: route.backend.service,
              port: route.backend.port,
              path: pub,
              signal,
            });
            expectStatus(reply, 200, `${path} must be public`);
            const field = expectedField(route, pub);
            if (field) {
              const body = reply.json<Record<string, unknown>>();
              check(
                body && typeof body === 'object' && field in body,
                () => `${path} answered 200 but without "${field}": ${snippet(reply.text)}`,
              );
            }
            return reply.headers.get('content-type')?.split(';')[0] ?? undefined;
          },
        });
      }
      const hidden = protectedPath(route);
      steps.push({
        id: `protected${route.prefix.replaceAll('/', '-')}`,
        title: `GET ${route.prefix}${hidden} without a token is refused with 401`,
        async run(signal) {
          const tenant = platform.tenants[0]!;
          const reply = await platform.call({
            service: route.backend.service,
            port: route.backend.port,
            path: hidden,
            tenant,
            signal,
          });
          expectStatus(reply, 401, `${route.prefix}${hidden} without a token`);
          check(
            /^Bearer\b/i.test(reply.headers.get('www-authenticate') ?? ''),
            `${route.prefix}${hidden} answered 401 without a WWW-Authenticate: Bearer challenge`,
          );
        },
      });
    }
    steps.push({
      id: 'keycloak-discovery',
      title: "Keycloak's OpenID configuration of the realm answers with the realm's issuer",
      async run(signal) {
        const url = `${platform.keycloakUrl}/realms/${encodeURIComponent(platform.realm)}/.well-known/openid-configuration`;
        const res = await fetch(url, {
          signal: AbortSignal.any([signal, AbortSignal.timeout(10_000)]),
        });
        check(res.status === 200, () => `GET ${url}: expected 200, got ${res.status}`);
        const body = (await res.json()) as { issuer?: string };
        // Through the ingress the issuer is the public one the policy expects; a Keycloak
        // reached another way (a port-forward) names itself, so only the realm is checked.
        const expected = `${platform.baseUrl}${platform.ctx.routePrefix('keycloak')}/realms/${platform.realm}`;
        const viaIngress =
          platform.keycloakUrl === `${platform.baseUrl}${platform.ctx.routePrefix('keycloak')}`;
        check(
          viaIngress
            ? body.issuer === expected
            : !!body.issuer?.endsWith(`/realms/${platform.realm}`),
          () =>
            `the realm's issuer is ${body.issuer}, expected ${viaIngress ? expected : `…/realms/${platform.realm}`}: tokens would be refused`,
        );
      },
    });
    const blocked = platform.ctx.routes.flatMap((r) =>
      (r.blockedPaths ?? []).map((p) => `${r.prefix}${p}/`),
    );
    for (const path of blocked) {
      steps.push({
        id: `blocked${path.replace(/\/$/, '').replaceAll('/', '-')}`,
        title: `GET ${path} is refused at the gateway (403)`,
        async run(signal) {
          const res = await fetch(`${platform.baseUrl}${path}`, {
            redirect: 'manual',
            signal: AbortSignal.any([signal, AbortSignal.timeout(10_000)]),
          });
          await res.arrayBuffer();
          check(
            res.status === 403,
            () => `GET ${path}: expected 403, got ${res.status}: the console is reachable`,
          );
        },
      });
    }
    return steps;
  },
};
