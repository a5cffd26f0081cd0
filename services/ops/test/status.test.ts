/**
 * When an Application or a workload counts as ready: the rules `status` and `wait` apply,
 * on objects shaped as the API server returns them.
 */
import { applicationState, rolloutProblem } from '../src/status.js';

/** The Applications deploy/ sources from the platform repository. */
const GIT = new Set(['fiware']);
const SHA = 'a'.repeat(40);
const app = (status: object, name = 'fiware') => ({ metadata: { name }, status });
const synced = (revision = SHA) => ({
  sync: { status: 'Synced', revision },
  health: { status: 'Healthy' },
});

describe('applicationState', () => {
  it('is ready when Synced and Healthy, at any revision unless one is expected', () => {
    expect(applicationState(app(synced('b'.repeat(40))), { fromPlatformRepo: GIT }).ok).toBe(true);
    expect(applicationState(app(synced()), { fromPlatformRepo: GIT, revision: SHA }).ok).toBe(true);
  });

  it('is not ready at the previous commit, right after a push', () => {
    const s = applicationState(app(synced('b'.repeat(40))), {
      fromPlatformRepo: GIT,
      revision: SHA,
    });
    expect(s.ok).toBe(false);
    expect(s.message).toBe(`synced bbbbbbbbbbbb, waiting for aaaaaaaaaaaa`);
  });

  it('does not hold Helm chart Applications to the git commit', () => {
    const chart = app(synced('1.31.1'), 'istiod');
    expect(applicationState(chart, { fromPlatformRepo: GIT, revision: SHA }).ok).toBe(true);
  });

  it('with syncOnly, is ready when Synced whatever its health, but still not when stale or out of sync', () => {
    const degraded = app({
      sync: { status: 'Synced', revision: SHA },
      health: { status: 'Degraded' },
    });
    expect(applicationState(degraded, { fromPlatformRepo: GIT }).ok).toBe(false);
    expect(applicationState(degraded, { fromPlatformRepo: GIT, syncOnly: true }).ok).toBe(true);
    const stale = app({
      sync: { status: 'Synced', revision: 'b'.repeat(40) },
      health: { status: 'Missing' },
    });
    expect(
      applicationState(stale, { fromPlatformRepo: GIT, revision: SHA, syncOnly: true }).ok,
    ).toBe(false);
    const outOfSync = app({
      sync: { status: 'OutOfSync', revision: SHA },
      health: { status: 'Healthy' },
    });
    expect(applicationState(outOfSync, { fromPlatformRepo: GIT, syncOnly: true }).ok).toBe(false);
  });

  it('is not ready while a sync operation runs, even if the last one left it Synced', () => {
    const s = applicationState(
      app({ ...synced(), operationState: { phase: 'Running', message: 'waiting for hook' } }),
      { fromPlatformRepo: GIT },
    );
    expect(s.ok).toBe(false);
    expect(s.message).toBe('sync running: waiting for hook');
  });

  it('says why: a failed operation first, then an error condition, then health', () => {
    const failed = applicationState(
      app({
        sync: { status: 'OutOfSync' },
        health: { status: 'Degraded', message: 'pod crashing' },
        operationState: { phase: 'Failed', message: 'one or more objects failed to apply' },
        conditions: [{ type: 'ComparisonError', message: 'repo not found' }],
      }),
      { fromPlatformRepo: GIT },
    );
    expect(failed.message).toBe('one or more objects failed to apply');
    const condition = applicationState(
      app({
        sync: { status: 'Unknown' },
        conditions: [{ type: 'ComparisonError', message: 'authentication required' }],
      }),
      { fromPlatformRepo: GIT },
    );
    expect(condition.message).toBe('ComparisonError: authentication required');
    expect(condition.health).toBe('Unknown');
  });
});

describe('rolloutProblem', () => {
  const meta = { name: 'orion', generation: 2 };
  const deployment = (status: object, replicas = 2) => ({
    metadata: meta,
    spec: { replicas },
    status: { observedGeneration: 2, ...status },
  });

  it('a Deployment is ready when every replica is updated, no old one is left, all available', () => {
    expect(
      rolloutProblem(
        'Deployment',
        deployment({ replicas: 2, updatedReplicas: 2, availableReplicas: 2, readyReplicas: 2 }),
      ),
    ).toBeUndefined();
  });

  it.each([
    [
      { replicas: 2, updatedReplicas: 2, availableReplicas: 2, observedGeneration: 1 },
      'the controller has not seen the latest spec',
    ],
    [{ replicas: 3, updatedReplicas: 1, availableReplicas: 3 }, '1 of 2 updated'],
    // Mid-rollout with surge: the new pod is counted, an old one still runs.
    [{ replicas: 3, updatedReplicas: 2, availableReplicas: 2 }, 'old replicas are still running'],
    [{ replicas: 2, updatedReplicas: 2, availableReplicas: 1 }, '1 of 2 available'],
    [
      {
        replicas: 2,
        updatedReplicas: 2,
        availableReplicas: 2,
        conditions: [{ type: 'Progressing', reason: 'ProgressDeadlineExceeded' }],
      },
      'rollout exceeded its progress deadline',
    ],
  ])('a Deployment with %j is not ready: %s', (status, why) => {
    expect(rolloutProblem('Deployment', deployment(status))).toBe(why);
  });

  it('a StatefulSet needs every replica ready and the update finished (or up to its partition)', () => {
    const sts = (status: object, partition = 0) => ({
      metadata: meta,
      spec: {
        replicas: 3,
        updateStrategy: { type: 'RollingUpdate', rollingUpdate: { partition } },
      },
      status: { observedGeneration: 2, ...status },
    });
    expect(
      rolloutProblem(
        'StatefulSet',
        sts({ readyReplicas: 3, currentRevision: 'r2', updateRevision: 'r2' }),
      ),
    ).toBeUndefined();
    expect(rolloutProblem('StatefulSet', sts({ readyReplicas: 2 }))).toBe('2 of 3 ready');
    expect(
      rolloutProblem(
        'StatefulSet',
        sts({ readyReplicas: 3, currentRevision: 'r1', updateRevision: 'r2' }),
      ),
    ).toBe('the update to the latest revision is not finished');
    expect(rolloutProblem('StatefulSet', sts({ readyReplicas: 3, updatedReplicas: 1 }, 1))).toBe(
      '1 of 2 updated',
    );
    expect(
      rolloutProblem('StatefulSet', sts({ readyReplicas: 3, updatedReplicas: 2 }, 1)),
    ).toBeUndefined();
  });

  it('a DaemonSet needs every scheduled pod updated and available', () => {
    const ds = (status: object) => ({
      metadata: meta,
      status: { observedGeneration: 2, desiredNumberScheduled: 2, ...status },
    });
    expect(
      rolloutProblem('DaemonSet', ds({ updatedNumberScheduled: 2, numberAvailable: 2 })),
    ).toBeUndefined();
    expect(rolloutProblem('DaemonSet', ds({ updatedNumberScheduled: 1, numberAvailable: 2 }))).toBe(
      '1 of 2 updated',
    );
    expect(rolloutProblem('DaemonSet', ds({ updatedNumberScheduled: 2, numberAvailable: 1 }))).toBe(
      '1 of 2 available',
    );
  });
});
