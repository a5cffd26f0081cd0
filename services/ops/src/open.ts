/**
 * `platform open <console>`: a port-forward to a ready pod of the console's Service, and the
 * URL to open. For when the ingress is not reachable, and for Keycloak's admin console, which
 * the ingress blocks on purpose.
 */
import { createServer } from 'node:net';
import type { AddressInfo, Server, Socket } from 'node:net';
import { Writable } from 'node:stream';

import * as k8s from '@kubernetes/client-node';

import type { Cluster } from '../../../platform/cluster.js';
import { request, statusOf } from '../../../platform/cluster.js';
import type { Endpoint } from './endpoints.js';
import { opsError } from './errors.js';

/** The pod and container port a Service port leads to. */
export interface ForwardTarget {
  readonly namespace: string;
  readonly pod: string;
  readonly port: number;
}

function isReady(p: k8s.V1Pod): boolean {
  return (
    p.status?.phase === 'Running' &&
    !p.metadata?.deletionTimestamp &&
    (p.status.conditions ?? []).some((c) => c.type === 'Ready' && c.status === 'True')
  );
}

/**
 * Finds a running, ready pod behind the endpoint's Service and the container port its
 * Service port targets (by number or by name).
 * @throws PlatformError ERR_NO_READY_POD naming what is there instead.
 */
export async function resolveTarget(cluster: Cluster, e: Endpoint): Promise<ForwardTarget> {
  const core = cluster.kc.makeApiClient(k8s.CoreV1Api);
  const svc = await request(
    cluster,
    { verb: 'get', resource: 'services', namespace: e.namespace },
    () =>
      core
        .readNamespacedService({ name: e.service, namespace: e.namespace })
        .catch((err: unknown) => {
          if (statusOf(err) === 404) return undefined;
          throw err;
        }),
  );
  if (!svc)
    throw opsError(
      'ERR_NO_READY_POD',
      `service ${e.namespace}/${e.service} does not exist: ${e.name} is not deployed yet`,
    );
  const selector = svc.spec?.selector ?? {};
  if (Object.keys(selector).length === 0)
    throw opsError('ERR_NO_READY_POD', `service ${e.namespace}/${e.service} selects no pods`);
  const pods = await request(
    cluster,
    { verb: 'list', resource: 'pods', namespace: e.namespace },
    () =>
      core.listNamespacedPod({
        namespace: e.namespace,
        labelSelector: Object.entries(selector)
          .map(([k, v]) => `${k}=${v}`)
          .join(','),
      }),
  );
  const pod = pods.items
    .filter(isReady)
    .sort((a, b) => a.metadata!.name!.localeCompare(b.metadata!.name!))[0];
  if (!pod) {
    const seen = pods.items.map(
      (p) => `${p.metadata?.name} (${p.status?.phase ?? 'Unknown'}, not ready)`,
    );
    throw opsError(
      'ERR_NO_READY_POD',
      `service ${e.namespace}/${e.service} has no running, ready pod${seen.length ? `: ${seen.join(', ')}` : ' (no pod matches its selector)'}`,
    );
  }
  const svcPort = svc.spec?.ports?.find((p) => p.port === e.port) ?? svc.spec?.ports?.[0];
  const target = svcPort?.targetPort ?? svcPort?.port ?? e.port;
  let port: number | undefined;
  if (typeof target === 'number') port = target;
  else if (/^\d+$/.test(target)) port = Number(target);
  else
    port = pod.spec?.containers
      .flatMap((c) => c.ports ?? [])
      .find((p) => p.name === target)?.containerPort;
  if (port === undefined)
    throw opsError(
      'ERR_NO_READY_POD',
      `pod ${e.namespace}/${pod.metadata!.name} has no container port named ${String(target)}`,
    );
  return { namespace: e.namespace, pod: pod.metadata!.name!, port };
}

/** What this module uses of client-node's port-forward websocket. */
interface Tunnel {
  close(): void;
  on(event: 'close', listener: () => void): unknown;
  on(event: 'error', listener: (err: Error) => void): unknown;
}

/** A listening port-forward. */
export interface Forward {
  readonly target: ForwardTarget;
  readonly localPort: number;
  readonly url: string;
  close(): Promise<void>;
}

/**
 * Listens on 127.0.0.1 and forwards each connection to the pod through the API server.
 * A failed connection is reported through `onError` (ERR_PORT_FORWARD) and closed; the
 * forward keeps listening, as kubectl's does.
 */
export async function startForward(
  cluster: Cluster,
  e: Endpoint,
  opts: { localPort?: number; onError?: (err: Error) => void } = {},
): Promise<Forward> {
  const target = await resolveTarget(cluster, e);
  const forward = new k8s.PortForward(cluster.kc);
  const onError = opts.onError ?? (() => {});
  const fail = (socket: Socket, why: string, cause?: unknown) => {
    onError(
      opsError(
        'ERR_PORT_FORWARD',
        `port-forward to pod ${target.namespace}/${target.pod}:${target.port} failed: ${why}`,
        cause,
      ),
    );
    socket.destroy();
  };
  // Every connection has its own websocket through the API server; both are closed together,
  // and close() ends them all (server.close alone would wait for open browser connections).
  const sockets = new Set<Socket>();
  const server: Server = createServer((socket) => {
    sockets.add(socket);
    let ws: Tunnel | null = null;
    const closeWs = () => {
      try {
        ws?.close();
      } catch {
        // already closed
      }
    };
    socket.on('close', () => {
      sockets.delete(socket);
      closeWs();
    });
    socket.on('error', () => socket.destroy());
    const errors = new Writable({
      write(chunk: Buffer, _enc, done) {
        const text = chunk.toString('utf8').trim();
        if (text) fail(socket, text);
        done();
      },
    });
    forward
      .portForward(target.namespace, target.pod, [target.port], socket, errors, socket)
      .then((opened) => {
        ws = (typeof opened === 'function' ? opened() : opened) as Tunnel | null;
        if (socket.destroyed) closeWs();
        ws?.on('close', () => socket.end());
        ws?.on('error', (err: Error) => fail(socket, err.message, err));
      })
      .catch((err: unknown) => fail(socket, err instanceof Error ? err.message : String(err), err));
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.localPort ?? 0, '127.0.0.1', () => resolve());
  });
  const localPort = (server.address() as AddressInfo).port;
  return {
    target,
    localPort,
    url: `http://127.0.0.1:${localPort}${e.path}`,
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
}
