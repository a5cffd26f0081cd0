/**
 * Sealing an agent's secret value (`npm run agents -- seal`): the value goes in once, through a
 * pipe into the upstream `kubeseal` (strict scope: only the agent's Secret in the agent's
 * namespace can hold it), and only the SealedSecret it prints is written, into
 * `fleet/secrets/<tenant>/<agent>.yaml`. The value is never written to a file, an argument or
 * an environment variable, and nothing here prints it.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';

import { parse, stringify } from 'yaml';

import type { PlatformContext } from '../../../platform/context.js';
import { PlatformError, catalogueError } from '../../../platform/errors.js';
import { FLEET_DIR, SealedSecretRecord } from '../../../platform/fleet/records.js';
import { loadFleet } from '../../../platform/fleet/resolve.js';
import { SEALED_DIR, SEAL_ERRORS, agentSecretRef } from '../../../platform/fleet/sealed.js';

/** What to seal, and to which cluster's key. */
export interface SealOptions {
  /** The repository whose fleet/ holds the agent. */
  readonly root: string;
  /** The agent's name (a pipeline module's: `<pipeline>-<module>`). */
  readonly agent: string;
  /** Its tenant, when two tenants have an agent of that name. @default the one that has it */
  readonly tenant?: string;
  /** The Secret key, e.g. `API_TOKEN`. */
  readonly key: string;
  /** The value, as read from standard input. */
  readonly value: Buffer;
  /** A PEM file of the target cluster's sealing certificate. */
  readonly cert?: string;
  /** Or the controller to fetch it from (`<namespace>/<name>`), through the kubeconfig. */
  readonly controller?: string;
  /** The kubeseal to run. @default `$KUBESEAL`, else `kubeseal` on the PATH */
  readonly kubeseal?: string;
}

/** What was sealed (never the value). */
export interface SealResult {
  readonly agent: string;
  readonly tenant: string;
  readonly key: string;
  /** The file written, relative to the repository root. */
  readonly file: string;
  /** The Secret the controller unseals it into. */
  readonly secret: { readonly namespace: string; readonly name: string };
  /** Every key the SealedSecret now holds. */
  readonly keys: readonly string[];
  /** Whether the agent's record reads this key (`secrets: [{env, key}]`). */
  readonly referenced: boolean;
}

const KEY = /^[-._a-zA-Z0-9]+$/;

/**
 * Seals one value for one agent and merges it into the agent's SealedSecret file.
 * @throws PlatformError ERR_SEAL_* (see {@link SEAL_ERRORS}), ERR_FLEET_INVALID when the records
 *   do not resolve, ERR_TOOL_MISSING when kubeseal cannot be run.
 */
export function sealAgentSecret(ctx: PlatformContext, o: SealOptions): SealResult {
  if (!KEY.test(o.key))
    throw catalogueError(
      SEAL_ERRORS,
      'ERR_SEAL_KEY',
      `--key ${JSON.stringify(o.key)} is not a Secret key`,
    );
  if (o.value.length === 0)
    throw catalogueError(SEAL_ERRORS, 'ERR_SEAL_EMPTY_VALUE', 'standard input gave an empty value');
  if (!o.cert && !o.controller)
    throw catalogueError(SEAL_ERRORS, 'ERR_SEAL_NO_CERT', 'neither --cert nor --controller given');
  if (o.cert && !existsSync(o.cert))
    throw catalogueError(SEAL_ERRORS, 'ERR_SEAL_NO_CERT', `no certificate file ${o.cert}`);
  const controller = o.controller?.split('/');
  if (controller && (controller.length !== 2 || !controller[0] || !controller[1]))
    throw catalogueError(
      SEAL_ERRORS,
      'ERR_SEAL_NO_CERT',
      `--controller ${JSON.stringify(o.controller)} is not <namespace>/<name>`,
    );

  const fleet = loadFleet(o.root, FLEET_DIR, ctx);
  const matches = fleet.agents.filter(
    (a) => a.name === o.agent && (o.tenant === undefined || a.tenant === o.tenant),
  );
  if (matches.length !== 1)
    throw catalogueError(
      SEAL_ERRORS,
      'ERR_SEAL_UNKNOWN_AGENT',
      matches.length === 0
        ? `no agent ${o.agent}${o.tenant ? ` in tenant ${o.tenant}` : ''}; the agents are ${fleet.agents.map((a) => `${a.tenant}/${a.name}`).join(', ') || 'none'}`
        : `agent ${o.agent} is in tenants ${matches.map((a) => a.tenant).join(' and ')}: add --tenant`,
    );
  const agent = matches[0]!;
  const secret = agentSecretRef(agent);

  // The Secret with the value exists only in this pipe. NOTE (1)
  const plain = JSON.stringify({
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: { name: secret.name, namespace: secret.namespace },
    type: 'Opaque',
    data: { [o.key]: o.value.toString('base64') },
  });
  const kubeseal = o.kubeseal ?? process.env.KUBESEAL ?? 'kubeseal';
  const args = [
    '--format',
    'yaml',
    '--scope',
    'strict',
    ...(o.cert
      ? ['--cert', o.cert]
      : ['--controller-namespace', controller![0]!, '--controller-name', controller![1]!]),
  ];
  const r = spawnSync(kubeseal, args, { input: plain, encoding: 'utf8', timeout: 60_000 });
  if (r.error && (r.error as NodeJS.ErrnoException).code === 'ENOENT')
    throw new PlatformError(
      'ERR_TOOL_MISSING',
      `cannot run kubeseal (${kubeseal}): not found`,
      `install the kubeseal of the pinned Sealed Secrets (${ctx.chart('sealedSecrets').appVersion}; \`npm run setup\` builds it into .cache/tools/sealed-secrets-${ctx.chart('sealedSecrets').appVersion}/kubeseal) and put it on the PATH or in KUBESEAL`,
    );
  let sealed: SealedSecretRecord | undefined;
  if (!r.error && r.status === 0) {
    const parsed = SealedSecretRecord.safeParse(parse(r.stdout));
    if (parsed.success) sealed = parsed.data;
  }
  if (!sealed)
    throw catalogueError(
      SEAL_ERRORS,
      'ERR_SEAL_FAILED',
      `kubeseal ${args.join(' ')} failed: ${(r.error?.message ?? r.stderr ?? '').trim() || `exit ${r.status}`}`,
    );

  // Merge into the agent's file: other keys stay sealed as they were.
  const file = join(SEALED_DIR, agent.tenant, `${agent.name}.yaml`);
  const path = join(o.root, file);
  const previous = existsSync(path)
    ? SealedSecretRecord.safeParse(parse(readFileSync(path, 'utf8')))
    : undefined;
  const encryptedData = {
    ...(previous?.success ? previous.data.spec.encryptedData : {}),
    ...sealed.spec.encryptedData,
  };
  // kubeseal's scope annotations (none for strict) stay with the ciphertext they describe.
  const annotations = (sealed.metadata as { annotations?: Record<string, string> }).annotations;
  const record = {
    apiVersion: sealed.apiVersion,
    kind: sealed.kind,
    metadata: {
      name: secret.name,
      namespace: secret.namespace,
      ...(annotations ? { annotations } : {}),
    },
    spec: {
      encryptedData: Object.fromEntries(
        Object.entries(encryptedData).sort(([a], [b]) => a.localeCompare(b)),
      ),
      template: {
        metadata: {
          name: secret.name,
          namespace: secret.namespace,
          ...(annotations ? { annotations } : {}),
        },
        type: 'Opaque',
      },
    },
  };
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(
    path,
    `# yaml-language-server: $schema=../../../docs/fleet.schema.json\n# Sealed secret values of agent ${agent.tenant}/${agent.name} (written by \`npm run agents -- seal\`): only the cluster's Sealed Secrets controller can decrypt them, into Secret ${secret.namespace}/${secret.name}.\n${stringify(record)}`,
  );
  return {
    agent: agent.name,
    tenant: agent.tenant,
    key: o.key,
    file,
    secret,
    keys: Object.keys(record.spec.encryptedData),
    referenced: agent.secrets.some((s) => s.key === o.key),
  };
}

// NOTE
// 1. No plaintext at rest. kubeseal reads the Secret from standard input and writes only the
//    SealedSecret: the value travels from our standard input, through this process's memory,
//    into kubeseal's standard input. No temporary file, argument or environment variable holds
//    it (arguments and environments are visible to other users in /proc). Strict scope binds the
//    ciphertext to this namespace and name: the controller refuses to unseal it anywhere else,
//    so a copied SealedSecret cannot move a value to another agent or tenant.
