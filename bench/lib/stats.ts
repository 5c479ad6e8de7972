// Percentiles of one sample set. Nearest-rank, so every reported value is a
// value that was actually measured (no interpolation between two samples).

export interface Summary {
  n: number;
  p50: number;
  p90: number;
  p99: number;
  max: number;
  mean: number;
}

function rank(sorted: number[], p: number): number {
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[i]!;
}

const round = (x: number): number => Math.round(x * 1000) / 1000;

export function summarize(samples: readonly number[]): Summary {
  if (samples.length === 0) return { n: 0, p50: NaN, p90: NaN, p99: NaN, max: NaN, mean: NaN };
  const s = [...samples].sort((a, b) => a - b);
  const mean = s.reduce((a, b) => a + b, 0) / s.length;
  return { n: s.length, p50: round(rank(s, 50)), p90: round(rank(s, 90)), p99: round(rank(s, 99)), max: round(s[s.length - 1]!), mean: round(mean) };
}
