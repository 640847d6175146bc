/** Small statistics for the benchmark: medians and percentiles of samples. */
export function percentile(xs: number[], p: number): number {
  if (xs.length === 0) return NaN;
  const sorted = [...xs].sort((a, b) => a - b);
  const idx = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[idx] as number;
}

export const median = (xs: number[]): number => percentile(xs, 50);

export const MiB = 1024 * 1024;

export function mibPerSec(bytes: number, ms: number): number {
  return bytes / MiB / (ms / 1000);
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
