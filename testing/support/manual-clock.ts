/**
 * Test support: a clock (services/agent-kit/src/clock.ts) that moves only when the test says,
 * so loops with intervals and backoffs are driven step by step, never waited for.
 */
import type { Clock } from '../../services/agent-kit/src/clock.js';

/** A clock at a fixed time that {@link ManualClock.advance} moves. */
export class ManualClock implements Clock {
  private t: number;
  private readonly sleepers: { until: number; ms: number; resolve: () => void }[] = [];
  /** The length of every sleep asked for, in order. */
  readonly sleeps: number[] = [];

  constructor(start = Date.parse('2026-12-02T12:00:00Z')) {
    this.t = start;
  }

  now(): number {
    return this.t;
  }

  sleep(ms: number, signal?: AbortSignal): Promise<void> {
    this.sleeps.push(ms);
    return new Promise((resolve) => {
      if (signal?.aborted) return resolve();
      const s = { until: this.t + ms, ms, resolve };
      this.sleepers.push(s);
      signal?.addEventListener(
        'abort',
        () => {
          this.sleepers.splice(this.sleepers.indexOf(s), 1);
          resolve();
        },
        { once: true },
      );
    });
  }

  /** How many sleeps are pending. */
  get waiting(): number {
    return this.sleepers.length;
  }

  /** Moves the clock by `ms` and wakes every sleep that has ended. */
  advance(ms: number): void {
    this.t += ms;
    for (const s of [...this.sleepers])
      if (s.until <= this.t) {
        this.sleepers.splice(this.sleepers.indexOf(s), 1);
        s.resolve();
      }
  }
}
