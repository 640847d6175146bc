/** Durations are strings: "500ms", "30s", "5m", "1h". A bare number or "5 minutes" is an error. */
export const DURATION_PATTERN = "^(0|[1-9][0-9]{0,8})(ms|s|m|h)$";
const DURATION_RE = new RegExp(DURATION_PATTERN);
const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

export function parseDuration(text: string): number {
  const m = DURATION_RE.exec(text);
  if (!m) throw new Error(`"${text}" is not a duration (write a number with ms, s, m or h, e.g. "30s")`);
  return Number(m[1]) * (UNIT_MS[m[2] as string] as number);
}
