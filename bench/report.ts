/**
 * One line of the benchmark table. `frelay` is the relay as installed (the native splice(2)
 * path where built), `js` the same relay forced onto its JavaScript data path; `socat` is the
 * reference (socat tuned: -b 65536, nodelay), `socatDefault` socat with its defaults. The
 * ratio is frelay/socat (tuned).
 */
export interface Row {
  metric: string;
  frelay: number;
  js?: number;
  socat?: number;
  socatDefault?: number;
  /** The load generator's own figure over a direct TCP connection. */
  ceiling?: number;
  target?: string;
  met?: boolean;
  lowerIsBetter?: boolean;
}

const fmt = (x: number | undefined) => (x === undefined || Number.isNaN(x) ? "" : x >= 100 ? x.toFixed(0) : x >= 10 ? x.toFixed(1) : x.toFixed(2));

export function printTable(rows: Row[]): void {
  const header = ["metric", "frelay", "frelay JS path", "socat tuned (ref)", "frelay/socat tuned", "socat default", "direct TCP", "target", "met"];
  const lines = rows.map((r) => [
    r.metric,
    fmt(r.frelay),
    fmt(r.js),
    fmt(r.socat),
    r.socat ? `${(r.frelay / r.socat).toFixed(2)}×` : "",
    fmt(r.socatDefault),
    fmt(r.ceiling),
    r.target ?? "",
    r.met === undefined ? "" : r.met ? "yes" : "NO",
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...lines.map((l) => l[i]!.length)));
  const show = (cells: string[]) => cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join("  ");
  console.log(show(header));
  console.log(widths.map((w) => "-".repeat(w)).join("  "));
  for (const l of lines) console.log(show(l));
}
