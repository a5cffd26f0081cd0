/**
 * Test support: the real IoT Agent provisioning API, `iotagent-node-lib` from npm, started in
 * the test process with its in-memory registry and pointed at an Orion (normally the contract
 * fake of orion-fake.ts).
 *
 * The library keeps its configuration in module state, so one process (one jest test file)
 * runs at most one agent at a time. Its north port serves `/iot/services`, `/iot/devices`,
 * `/iot/about` and the context-provider endpoints Orion forwards commands to.
 */
import { createRequire } from 'node:module';

import { freePort } from './opa.js';

const require = createRequire(import.meta.url);

/** The callback-style part of iotagent-node-lib the tests use. */
interface IotAgentLib {
  activate(config: Record<string, unknown>, cb: (err?: Error | null) => void): void;
  deactivate(cb: (err?: Error | null) => void): void;
  setCommandHandler(
    handler: (
      id: string,
      type: string,
      service: string,
      subservice: string,
      attrs: unknown[],
      cb: (err?: Error | null) => void,
    ) => void,
  ): void;
}

/** A running agent. */
export interface IotAgentHandle {
  /** Base URL of the north (provisioning) API, e.g. `http://127.0.0.1:40411`. */
  readonly northUrl: string;
  /** The library itself, for handlers (commands, south bindings). */
  readonly lib: IotAgentLib;
  /** Stops the north server; the registry is forgotten. */
  stop(): Promise<void>;
}

/** Options of {@link startIotAgent}. */
export interface IotAgentOptions {
  /** Orion's base URL. */
  readonly orionUrl: string;
  /** North port. @default a free port */
  readonly port?: number;
}

let running = false;

/** Starts the agent's north API; rejects when one is already running in this process. */
export async function startIotAgent(opts: IotAgentOptions): Promise<IotAgentHandle> {
  if (running) throw new TypeError('an IoT Agent already runs in this process; stop it first');
  const lib = require('iotagent-node-lib') as IotAgentLib;
  const port = opts.port ?? (await freePort());
  const northUrl = `http://127.0.0.1:${port}`;
  // The library reads IOTA_* variables over its config: keep the test's config authoritative.
  for (const k of Object.keys(process.env)) if (k.startsWith('IOTA_')) delete process.env[k];
  await callback((cb) =>
    lib.activate(
      {
        logLevel: 'FATAL',
        contextBroker: { url: opts.orionUrl, ngsiVersion: 'v2' },
        server: { port, host: '127.0.0.1' },
        deviceRegistry: { type: 'memory' },
        providerUrl: northUrl,
        types: {},
        service: 'default',
        subservice: '/',
        defaultResource: '/iot/d',
        defaultTransport: 'HTTP',
        timestamp: true,
        explicitAttrs: false,
        // An unexpected error must fail the test, not be swallowed by the library's handler.
        dieOnUnexpectedError: true,
      },
      cb,
    ),
  );
  running = true;
  return {
    northUrl,
    lib,
    stop: async () => {
      if (!running) return;
      await callback((cb) => lib.deactivate(cb));
      running = false;
    },
  };
}

function callback(run: (cb: (err?: Error | null) => void) => void): Promise<void> {
  return new Promise((resolve, reject) => run((err) => (err ? reject(err) : resolve())));
}
