/**
 * Test support: the real IoT Agent provisioning API, `iotagent-node-lib` from npm, started in
 * the test process with its in-memory registry and pointed at an Orion (normally the contract
 * fake of testing/fakes/orion.ts).
 *
 * The library keeps its configuration in module state, so one process (one jest test file)
 * runs at most one agent at a time. Its north port serves `/iot/services`, `/iot/devices`,
 * `/iot/about` and the context-provider endpoints Orion forwards commands to.
 */
import { spawn } from 'node:child_process';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

import type { DeviceProtocol } from '../../platform/components.js';
import { DEFAULT_DEVICE_PROTOCOL, iotAgentSpec } from '../../platform/components.js';

import { freePort } from './opa.js';
import { terminate } from '../support/processes.js';

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
  /** The device protocol, whose resource devices send to. @default the registry's first */
  readonly protocol?: DeviceProtocol;
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
        defaultResource: iotAgentSpec(opts.protocol ?? DEFAULT_DEVICE_PROTOCOL).resource,
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

/** An IoT Agent with its south binding, running in a process of its own. */
export interface IotAgentProcess {
  readonly protocol: DeviceProtocol;
  /** Base URL of the north (provisioning) API. */
  readonly northUrl: string;
  /** Base URL of the south API (devices send to `${southUrl}${resource}`). */
  readonly southUrl: string;
  /** Stops the process (and so the agent, its registry and its binding). */
  stop(): Promise<void>;
  /**
   * Freezes the process (SIGSTOP): it keeps its sockets but answers nothing, as an agent that
   * hangs does, until {@link resume}.
   */
  pause(): void;
  resume(): void;
}

const AGENT_SCRIPT = fileURLToPath(new URL('../bin/iot-agent.ts', import.meta.url));

/** What testing/bin/iot-agent.ts puts before its URLs, to tell them from the library's logs. */
export const READY = 'iot-agent-ready';

/**
 * Starts an IoT Agent and the south binding of its protocol in a child process: the library
 * keeps its state per module, so a second agent (another protocol) needs a process of its own.
 * Rejects when the process does not report its URLs within `timeoutMs`.
 */
export function startIotAgentProcess(o: {
  readonly orionUrl: string;
  readonly protocol: DeviceProtocol;
  readonly timeoutMs?: number;
}): Promise<IotAgentProcess> {
  const child = spawn(
    process.execPath,
    ['--import', 'tsx', AGENT_SCRIPT, '--protocol', o.protocol, '--orion-url', o.orionUrl],
    { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, NODE_NO_WARNINGS: '1' } },
  );
  const running = () => child.exitCode === null && child.signalCode === null;
  const stop = () => terminate(child);
  const pause = () => void (running() && child.kill('SIGSTOP'));
  const resume = () => void (running() && child.kill('SIGCONT'));
  return new Promise((resolve, reject) => {
    let out = '';
    let err = '';
    const timer = setTimeout(() => {
      void stop();
      reject(new Error(`the ${o.protocol} IoT Agent process did not start: ${err.slice(-500)}`));
    }, o.timeoutMs ?? 30_000);
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      const line = out.split('\n').find((l) => l.startsWith(`${READY} `));
      if (line === undefined) return;
      clearTimeout(timer);
      // The library keeps logging to stdout; nobody reads it from here on.
      child.stdout.removeAllListeners('data');
      child.stdout.resume();
      const urls = JSON.parse(line.slice(READY.length + 1)) as {
        northUrl: string;
        southUrl: string;
      };
      resolve({ protocol: o.protocol, ...urls, stop, pause, resume });
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`the ${o.protocol} IoT Agent process exited (${code}): ${err.slice(-500)}`));
    });
  });
}
