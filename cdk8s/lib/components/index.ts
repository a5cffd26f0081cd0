/**
 * How each component of the registry (platform/components.ts) that the platform builds itself
 * is built: one construct per entry, in the order the composition creates them (what is used
 * before what uses it). A registry entry with `managedBy: 'platform'` and no line here does not
 * compile.
 */
import type { Construct } from 'constructs';

import type { PlatformComponentId } from '../../../platform/components.js';
import type { PlatformContext } from '../../../platform/context.js';
import type { PolicyFile } from '../../../platform/policy-data.js';
import type { Workload } from '../workload.js';
import { Console } from './console.js';
import { CrateDb } from './cratedb.js';
import { Fleet } from './fleet.js';
import { Grafana } from './grafana.js';
import { IotAgent } from './iot-agent.js';
import { Keycloak, KeycloakPostgres } from './keycloak.js';
import { MongoDb } from './mongodb.js';
import { Monitor } from './monitor.js';
import { Opa } from './opa.js';
import { Orion } from './orion.js';
import { Provisioning } from './provisioning.js';
import { QuantumLeap } from './quantumleap.js';

/** What a component's construct is built from. */
export interface ComponentInputs {
  readonly context: PlatformContext;
  /** The Rego files of policies/, without tests (OPA's bundle). */
  readonly policies: readonly PolicyFile[];
}

/** Builds one component's construct in its chart. */
export type ComponentFactory = (scope: Construct, inputs: ComponentInputs) => Workload;

/** The construct of every platform component, in build order; construct ids are a contract. */
export const CONSTRUCTS: { readonly [C in PlatformComponentId]: ComponentFactory } = {
  mongodb: (s, { context }) => new MongoDb(s, 'MongoDb', { context }),
  cratedb: (s, { context }) => new CrateDb(s, 'CrateDb', { context }),
  keycloakPostgres: (s, { context }) => new KeycloakPostgres(s, 'Postgres', { context }),
  keycloak: (s, { context }) => new Keycloak(s, 'Keycloak', { context }),
  opa: (s, { context, policies }) => new Opa(s, 'Opa', { context, policies }),
  orion: (s, { context }) => new Orion(s, 'Orion', { context }),
  iotAgentUl: (s, { context }) =>
    new IotAgent(s, 'IotAgentUl', { context, component: 'iotAgentUl' }),
  iotAgentJson: (s, { context }) =>
    new IotAgent(s, 'IotAgentJson', { context, component: 'iotAgentJson' }),
  quantumleap: (s, { context }) => new QuantumLeap(s, 'QuantumLeap', { context }),
  provisioning: (s, { context }) => new Provisioning(s, 'Provisioning', { context }),
  grafana: (s, { context }) => new Grafana(s, 'Grafana', { context }),
  console: (s, { context }) => new Console(s, 'Console', { context }),
  fleet: (s, { context }) => new Fleet(s, 'Fleet', { context }),
  monitor: (s, { context }) => new Monitor(s, 'Monitor', { context }),
};
