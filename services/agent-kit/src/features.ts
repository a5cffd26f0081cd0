/**
 * The example modules' arithmetic: a sliding window per measurement and the features of a new
 * value against it (the window's mean and standard deviation before the value), and the
 * z-score the detector flags.
 */

/** A value against its history. */
export interface Features {
  /** The new value. */
  readonly value: number;
  /** How many earlier values the mean and deviation are of. */
  readonly n: number;
  readonly mean: number;
  /** Population standard deviation of the earlier values. */
  readonly stdDev: number;
}

/** The last `size` values of one measurement. */
export class SeriesWindow {
  private readonly values: number[] = [];

  constructor(readonly size: number) {}

  /** The features of `value` against the window, then `value` joins it. */
  push(value: number): Features {
    const n = this.values.length;
    const mean = n === 0 ? 0 : this.values.reduce((a, b) => a + b, 0) / n;
    const variance = n === 0 ? 0 : this.values.reduce((a, b) => a + (b - mean) ** 2, 0) / n;
    this.values.push(value);
    if (this.values.length > this.size) this.values.shift();
    return { value, n, mean, stdDev: Math.sqrt(variance) };
  }
}

/** Fewer earlier values than this say nothing: never flagged. */
export const MIN_HISTORY = 5;

/**
 * How many standard deviations `f.value` is from the mean: Infinity when the history is
 * constant and the value differs, undefined when the history is too short to tell.
 */
export function zScore(f: Features): number | undefined {
  if (f.n < MIN_HISTORY) return undefined;
  const d = Math.abs(f.value - f.mean);
  if (f.stdDev === 0) return d === 0 ? 0 : Infinity;
  return d / f.stdDev;
}

/** A numeric NGSI-v2 attribute's value, or undefined. */
export function numericValue(attr: unknown): number | undefined {
  if (attr === null || typeof attr !== 'object') return undefined;
  const { type, value } = attr as { type?: unknown; value?: unknown };
  if (typeof value === 'number' && Number.isFinite(value)) return value;
  // An IoT Agent may keep a number as text (Ultralight); only when its type says number.
  if (typeof value === 'string' && /^(Number|Integer|Float|Double)$/.test(String(type))) {
    const n = Number(value);
    if (value.trim() !== '' && Number.isFinite(n)) return n;
  }
  return undefined;
}
