/**
 * The rollout runner: moves every rollout in waves of the records (platform/fleet/rollout.ts)
 * one step at a time. Each pass reads the records at the remote's head and the per-target
 * status, decides each rollout's next step from its targets' observed revisions (never an
 * aggregate health: {@link decideRollout}) and commits the step: the next wave begun, the
 * rollout done (its field dropped), or failed (held, its wave's targets reverted when asked).
 *
 * Its state is the records themselves, so a restarted service resumes every rollout where git
 * says it is, and a bake time counts from when the targets became ready (Kubernetes'
 * timestamps), not from when the service started. A person's pause, resume or cancel is a
 * commit too; a step computed before it is dropped (the edit re-checks the rollout it judged).
 */
import type { Logger } from 'pino';

import { PlatformError } from '../../../platform/errors.js';
import type { RolloutRecord } from '../../../platform/fleet/records.js';
import type { ResolvedAgent } from '../../../platform/fleet/resolve.js';
import type { RolloutDecision } from '../../../platform/fleet/rollout.js';
import { decideRollout } from '../../../platform/fleet/rollout.js';
import type { TargetStatus } from '../../../platform/fleet/status.js';
import type { RecordRef } from '../../../platform/fleet/write.js';
import type { Author, Edit, FleetStore, Snapshot, StatusSource } from './contract.js';

/** One rollout as the API shows it: where it is, what it waits for, its targets. */
export interface RolloutProgress {
  readonly id: string;
  readonly agent: {
    readonly id: string;
    readonly name: string;
    readonly tenant: string;
    readonly pipeline?: string;
  };
  readonly kind: 'deploy' | 'upgrade';
  readonly phase: RolloutRecord['phase'];
  /** Waves begun, of `waves.length`. */
  readonly started: number;
  readonly waves: readonly (readonly string[])[];
  readonly image: string;
  readonly from?: string;
  /** The record's revision: what every reached host must run. */
  readonly revision: string;
  readonly maxUnavailable: number;
  readonly bakeSeconds: number;
  readonly revertOnFailure: boolean;
  readonly by: string;
  /** The runner's last judgement: wait, hold, next, complete or fail, and why. */
  readonly decision: RolloutDecision;
  readonly targets: readonly TargetStatus[];
  /** The commit of the records judged. */
  readonly commit: string;
}

/** What a pass did to one rollout. */
export interface RolloutStep {
  readonly rollout: string;
  /** `<tenant>/<name>`. */
  readonly agent: string;
  readonly tenant: string;
  /** The agent's name. */
  readonly name: string;
  /** The rollout's waves (hosts). */
  readonly waves: readonly (readonly string[])[];
  /** The wave begun when it was judged. */
  readonly wave: number;
  readonly decision: RolloutDecision;
  /** The commit of the step; absent when it waited, held, or lost a race with a person. */
  readonly commit?: string;
}

export interface RolloutRunnerOptions {
  readonly store: FleetStore;
  readonly status: StatusSource;
  /** The service's own identity: the author of the steps (the rollout's `by` started it). */
  readonly author: Author;
  readonly now?: () => Date;
  /** Between passes. @default 5000 */
  readonly intervalMs?: number;
  readonly log?: Logger;
  /** Called after each step that committed (events, metrics). */
  readonly onStep?: (step: RolloutStep) => void;
}

/** The record (Agent, or the module's Pipeline) a writer edits for an agent. */
export function recordOf(agent: ResolvedAgent): RecordRef {
  return agent.pipelineId
    ? { kind: 'Pipeline', id: agent.pipelineId }
    : { kind: 'Agent', id: agent.id };
}

/** Thrown by an edit whose rollout moved since it was judged: the step is dropped. */
class Moved extends PlatformError {
  constructor(detail: string) {
    super('ERR_FLEET_ROLLOUT', detail, 'nothing: the next pass judges the rollout again');
  }
}

/**
 * The raw record of `agent` in `snap` with its rollout changed by `change` (which returns the
 * new rollout, or undefined to drop it), after checking that the rollout is the one judged.
 */
export function editRollout(
  snap: Snapshot,
  agent: ResolvedAgent,
  expect: { readonly id: string; readonly started?: number; readonly phase?: string },
  change: (
    r: Record<string, unknown>,
    module: Record<string, unknown>,
  ) => Record<string, unknown> | undefined,
): Edit {
  const ref = recordOf(agent);
  const found = snap.record(ref);
  if (!found) throw new Moved(`${ref.kind} ${ref.id} is gone`);
  const raw = structuredClone(found.raw);
  const module = agent.pipelineId
    ? ((raw.modules as Record<string, unknown>[] | undefined) ?? []).find((m) => m.id === agent.id)
    : raw;
  const r = module?.rollout as Record<string, unknown> | undefined;
  if (
    !module ||
    !r ||
    r.id !== expect.id ||
    (expect.started !== undefined && r.started !== expect.started) ||
    (expect.phase !== undefined && (r.phase ?? 'progressing') !== expect.phase)
  )
    throw new Moved(`the rollout ${expect.id} of ${agent.tenant}/${agent.name} moved`);
  const next = change(r, module);
  if (next) module.rollout = next;
  else delete module.rollout;
  return { put: [raw] };
}

/** The rollouts of a snapshot with their last decision. */
export class RolloutRunner {
  private last = new Map<string, RolloutProgress>();
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<unknown> | undefined;
  private stopped = true;

  constructor(private readonly opts: RolloutRunnerOptions) {}

  /** Every rollout judged by the last pass, by rollout id. */
  progress(): RolloutProgress[] {
    return [...this.last.values()];
  }

  /** One pass over every rollout; returns what it did. Passes never overlap. */
  async pass(): Promise<RolloutStep[]> {
    while (this.running) await this.running.catch(() => undefined);
    const p = this.passOnce();
    this.running = p;
    try {
      return await p;
    } finally {
      this.running = undefined;
    }
  }

  private async passOnce(): Promise<RolloutStep[]> {
    const { store, status, log } = this.opts;
    const now = (this.opts.now ?? (() => new Date()))();
    const snap = await store.snapshot({ fresh: true });
    const rolling = snap.fleet.agents.filter((a) => a.rollout);
    const progress = new Map<string, RolloutProgress>();
    const steps: RolloutStep[] = [];
    if (rolling.length === 0) {
      this.last = progress;
      return steps;
    }
    const observed = await status.status(snap, {
      tenants: [...new Set(rolling.map((a) => a.tenant))],
    });
    for (const agent of rolling) {
      const r = agent.rollout!;
      const targets = observed.targets.filter((t) => t.agent.id === agent.id);
      const decision = decideRollout(r, agent.revision, targets, now);
      progress.set(r.id, {
        id: r.id,
        agent: {
          id: agent.id,
          name: agent.name,
          tenant: agent.tenant,
          ...(agent.pipeline ? { pipeline: agent.pipeline } : {}),
        },
        kind: r.from ? 'upgrade' : 'deploy',
        phase: r.phase,
        started: r.started,
        waves: r.waves,
        image: agent.image,
        ...(r.from ? { from: r.from.image } : {}),
        revision: agent.revision,
        maxUnavailable: r.maxUnavailable,
        bakeSeconds: r.bakeSeconds,
        revertOnFailure: r.revertOnFailure,
        by: r.by,
        decision,
        targets,
        commit: snap.commit,
      });
      if (decision.action === 'wait' || decision.action === 'hold') continue;
      const step = await this.commitStep(agent, r, decision);
      steps.push(step);
      if (step.commit) this.opts.onStep?.(step);
      log?.info(
        { rollout: r.id, agent: `${agent.tenant}/${agent.name}`, decision, commit: step.commit },
        `rollout ${decision.action}`,
      );
    }
    this.last = progress;
    return steps;
  }

  private async commitStep(
    agent: ResolvedAgent,
    r: NonNullable<ResolvedAgent['rollout']>,
    decision: Exclude<RolloutDecision, { action: 'wait' | 'hold' }>,
  ): Promise<RolloutStep> {
    const who = `${agent.tenant}/${agent.name}`;
    const what = {
      rollout: r.id,
      agent: who,
      tenant: agent.tenant,
      name: agent.name,
      waves: r.waves,
      wave: r.started,
      decision,
    };
    const n = r.waves.length;
    const subject =
      decision.action === 'next'
        ? `fleet: rollout of ${who}: wave ${decision.wave}/${n} begins`
        : decision.action === 'complete'
          ? `fleet: rollout of ${who} done: ${n}/${n} waves run ${agent.image}`
          : `fleet: rollout of ${who} failed at wave ${r.started}/${n}${decision.revert ? ', its hosts reverted' : ''}`;
    try {
      const result = await this.opts.store.change({
        author: this.opts.author,
        message: `${subject}\n\n${decision.reason}\nStarted by ${r.by}; rollout ${r.id}.`,
        edit: (snap) =>
          editRollout(
            snap,
            agent,
            { id: r.id, started: r.started, phase: 'progressing' },
            (raw) => {
              if (decision.action === 'next') return { ...raw, started: decision.wave };
              if (decision.action === 'complete') return undefined;
              return {
                ...raw,
                phase: 'failed',
                reason: decision.reason,
                ...(decision.revert ? { started: r.started - 1 } : {}),
              };
            },
          ),
      });
      return { ...what, ...(result.commit ? { commit: result.commit } : {}) };
    } catch (err) {
      if (err instanceof Moved) {
        this.opts.log?.info({ rollout: r.id, agent: who }, err.message);
        return what;
      }
      throw err;
    }
  }

  /** Runs a pass every interval until {@link stop}; a failed pass is logged and retried. */
  start(): void {
    if (!this.stopped) return;
    this.stopped = false;
    const loop = () => {
      if (this.stopped) return;
      this.pass()
        .catch((err: unknown) => this.opts.log?.warn({ err }, 'rollout pass failed; retrying'))
        .finally(() => {
          if (!this.stopped) this.timer = setTimeout(loop, this.opts.intervalMs ?? 5000);
        });
    };
    loop();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    await this.running?.catch(() => undefined);
  }
}
