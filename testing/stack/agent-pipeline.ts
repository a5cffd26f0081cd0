/**
 * Test support: the example pipeline of fleet/ (manufracture's `anomalies`: the feature extractor
 * → the anomaly detector) running as two processes against a local Orion, as the fleet renders
 * them: each module's id, name, revision, heartbeat interval and config (placeholders filled for
 * its host) come from the resolved records (platform/fleet/resolve.ts), its environment has the
 * contract's shape (agentEnvironment), its tokens come from its own client in the real Keycloak
 * (ensureAgentClient).
 *
 * Local differences, each for a reason: ORION_URL is the Orion fake itself, not the local
 * gateway (the policy's agent rights are not on main yet, issue 19); the extractor runs on the
 * first host of its group only; the downstream URL and ports are loopback ones; the heartbeat
 * and poll intervals may be shortened (a test waits for conditions, not for intervals).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { exampleImage } from '../../platform/fleet/example-images.js';
import type { ExampleModule } from '../../platform/fleet/example-images.js';
import { FLEET_DIR } from '../../platform/fleet/records.js';
import { configFor, loadFleet } from '../../platform/fleet/resolve.js';
import type { ResolvedAgent } from '../../platform/fleet/resolve.js';
import type { KeycloakServer } from '../real/keycloak.js';
import { platformContext } from '../real/keycloak.js';
import { freePort } from '../real/opa.js';
import { REPO_ROOT } from '../support/cli.js';
import { terminate } from '../support/processes.js';
import type { AgentProcess } from './agent-modules.js';
import { agentEnvironment, ensureAgentClient, startAgentProcess } from './agent-modules.js';

/** The pipeline run locally. */
export const LOCAL_PIPELINE = { tenant: 'manufracture', pipeline: 'anomalies' } as const;

/** A module of the pipeline, running. */
export interface RunningModule extends AgentProcess {
  readonly agent: ResolvedAgent;
  readonly host: string;
  /** Its instance's heartbeat entity id. */
  readonly entityId: string;
}

/** The running pipeline. */
export interface AgentPipeline {
  readonly extractor: RunningModule;
  readonly detector: RunningModule;
  /** The directory of the modules' logs (removed by close). */
  readonly dir: string;
  close(): Promise<void>;
}

/** Options of {@link startAgentPipeline}. */
export interface AgentPipelineOptions {
  readonly keycloak: KeycloakServer;
  readonly orionUrl: string;
  /** Instead of the records' heartbeat interval. */
  readonly heartbeatSeconds?: number;
  /** Instead of the extractor's config `pollSeconds`. */
  readonly pollSeconds?: number;
  /** Where the logs go. @default a new temporary directory */
  readonly dir?: string;
}

function moduleOf(agents: readonly ResolvedAgent[], m: ExampleModule): ResolvedAgent {
  const a = agents.find(
    (x) =>
      x.tenant === LOCAL_PIPELINE.tenant &&
      x.pipeline === LOCAL_PIPELINE.pipeline &&
      x.image === exampleImage(m),
  );
  if (!a)
    throw new Error(
      `fleet/ has no ${m} in pipeline ${LOCAL_PIPELINE.pipeline} of ${LOCAL_PIPELINE.tenant}`,
    );
  return a;
}

/** Starts the detector, then the extractor sending to it; resolves once both listen. */
export async function startAgentPipeline(opts: AgentPipelineOptions): Promise<AgentPipeline> {
  const ctx = platformContext();
  const realm = ctx.config.identity.realm;
  const { agents } = loadFleet(REPO_ROOT, FLEET_DIR, ctx);
  const dir = opts.dir ?? mkdtempSync(join(tmpdir(), 'agent-pipeline-'));
  const started: AgentProcess[] = [];
  const close = async () => {
    for (const p of started.reverse()) await terminate(p.child);
    if (!opts.dir) rmSync(dir, { recursive: true, force: true });
  };
  const start = async (
    m: ExampleModule,
    extra: { config?: Record<string, unknown>; downstream?: Record<string, string> } = {},
  ): Promise<RunningModule> => {
    const agent = moduleOf(agents, m);
    const host = agent.placement.hosts[0]?.name ?? 'local';
    const credentials = await ensureAgentClient(opts.keycloak, realm, agent);
    const env = agentEnvironment({
      id: agent.id,
      name: agent.name,
      tenant: agent.tenant,
      host,
      revision: agent.revision,
      heartbeatSeconds: opts.heartbeatSeconds ?? agent.heartbeatSeconds,
      config: { ...configFor(agent, host), ...extra.config },
      orionUrl: opts.orionUrl,
      credentials,
      port: await freePort(),
      ...(extra.downstream ? { downstream: extra.downstream } : {}),
    });
    const p = await startAgentProcess(m, env, join(dir, `${m}.log`));
    started.push(p);
    return { ...p, agent, host, entityId: env.AGENT_ENTITY_ID! };
  };
  try {
    const detector = await start('anomaly-detector');
    const extractor = await start('feature-extractor', {
      ...(opts.pollSeconds ? { config: { pollSeconds: opts.pollSeconds } } : {}),
      downstream: { [detector.agent.name]: detector.url },
    });
    return { extractor, detector, dir, close };
  } catch (err) {
    await close();
    throw err;
  }
}
