/** Percentiles and the result rows every benchmark returns. */

export interface Row {
  benchmark: string;
  metric: string;
  unit: 'ms' | 's' | '/s';
  keyshift: number;
  floor: number;
  /** `time`: lower is better (ratio = keyshift / floor); `rate`: higher is better (ratio = floor / keyshift). */
  kind: 'time' | 'rate';
}

export interface BenchResult {
  rows: Row[];
  /** Counts, settings and caveats worth keeping in the JSON (not printed as rows). */
  facts: Record<string, unknown>;
}

/** Nearest-rank percentile of an unsorted sample; NaN for an empty one. */
export function percentile(values: number[], p: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length - 1, Math.max(0, rank - 1))]!;
}

export const max = (values: number[]): number => (values.length ? values.reduce((a, b) => Math.max(a, b), -Infinity) : Number.NaN);
export const min = (values: number[]): number => (values.length ? values.reduce((a, b) => Math.min(a, b), Infinity) : Number.NaN);

/** How many times worse than the floor: 1.0 is at the floor, whatever the metric's direction. */
export function ratio(r: Row): number {
  if (!Number.isFinite(r.keyshift) || !Number.isFinite(r.floor) || r.keyshift <= 0 || r.floor <= 0) return Number.NaN;
  return r.kind === 'time' ? r.keyshift / r.floor : r.floor / r.keyshift;
}

/** p50 / p99 / max rows for one latency sample pair. */
export function latencyRows(benchmark: string, label: string, ks: number[], floor: number[], which: Array<'p50' | 'p99' | 'max'> = ['p50', 'p99']): Row[] {
  return which.map((w) => ({
    benchmark,
    metric: `${label} ${w}`,
    unit: 'ms' as const,
    kind: 'time' as const,
    keyshift: w === 'max' ? max(ks) : percentile(ks, w === 'p50' ? 50 : 99),
    floor: w === 'max' ? max(floor) : percentile(floor, w === 'p50' ? 50 : 99),
  }));
}

export const elapsedMs = (start: bigint): number => Number(process.hrtime.bigint() - start) / 1e6;
export const now = (): bigint => process.hrtime.bigint();
export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
