// Latencies of one run, and their percentiles.

/** Growable list of latencies, kept as doubles so that a run of a million responses stays small. */
export class Samples {
  private values = new Float64Array(65_536);
  length = 0;

  push(value: number): void {
    if (this.length === this.values.length) {
      const grown = new Float64Array(this.values.length * 2);
      grown.set(this.values);
      this.values = grown;
    }
    this.values[this.length] = value;
    this.length += 1;
  }

  /** Returns nearest-rank percentiles of the samples, where rank 100 is the maximum. NaN for every rank when there are none. */
  percentiles(ranks: number[]): number[] {
    const sorted = this.values.slice(0, this.length).sort();
    return ranks.map((rank) => sorted[Math.max(0, Math.ceil((rank / 100) * sorted.length) - 1)] ?? Number.NaN);
  }
}

/** The percentiles that every run reports, in milliseconds. */
export interface LatencyPercentiles {
  p50Ms: number;
  p90Ms: number;
  p99Ms: number;
  p999Ms: number;
  maxMs: number;
}

/** Returns the reported percentiles of samples in milliseconds. */
export function latencyPercentiles(samples: Samples): LatencyPercentiles {
  const [p50Ms = Number.NaN, p90Ms = Number.NaN, p99Ms = Number.NaN, p999Ms = Number.NaN, maxMs = Number.NaN] = samples.percentiles([50, 90, 99, 99.9, 100]);
  return { p50Ms, p90Ms, p99Ms, p999Ms, maxMs };
}
