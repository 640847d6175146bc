/**
 * Routes, compiled once per config. A route is symmetric; an end is an identity, `*.<rest>` or
 * `*`, where `*` stands for exactly one leftmost label (alone: any one-label identity, as
 * Flock's fr-adm names parties).
 */
export type RouteEnd = { exact: string } | { suffix: string };

export interface CompiledRoute {
  /** The route as written, e.g. "aggregator.flock <-> *.flock": a bounded label for metrics. */
  readonly name: string;
  readonly ends: readonly [RouteEnd, RouteEnd];
}

function compileEnd(end: string): RouteEnd {
  return end === "*" ? { suffix: "" } : end.startsWith("*.") ? { suffix: end.slice(1) } : { exact: end };
}

function matches(end: RouteEnd, identity: string): boolean {
  if ("exact" in end) return end.exact === identity;
  // "*.flock" matches "x.flock" but neither "flock" nor "a.b.flock": one label, no dots. "*"
  // matches "0" but not "0.user1".
  if (!identity.endsWith(end.suffix)) return false;
  const label = identity.slice(0, identity.length - end.suffix.length);
  return label.length > 0 && !label.includes(".");
}

export class RouteTable {
  private readonly routes: readonly CompiledRoute[];
  private readonly exact = new Map<string, CompiledRoute>();

  constructor(routes: readonly (readonly [string, string])[]) {
    this.routes = routes.map(([a, b]) => ({ name: `${a} <-> ${b}`, ends: [compileEnd(a), compileEnd(b)] as const }));
    // Exact pairs are the common case: one map lookup instead of a scan.
    for (const r of this.routes) {
      const [a, b] = r.ends;
      if ("exact" in a && "exact" in b) {
        this.exact.set(pairKey(a.exact, b.exact), r);
        this.exact.set(pairKey(b.exact, a.exact), r);
      }
    }
  }

  /** The route that lets `a` and `b` talk, if any. A party never reaches itself. */
  find(a: string, b: string): CompiledRoute | undefined {
    if (a === b) return undefined;
    const hit = this.exact.get(pairKey(a, b));
    if (hit) return hit;
    return this.routes.find(({ ends: [x, y] }) => (matches(x, a) && matches(y, b)) || (matches(x, b) && matches(y, a)));
  }

  get size(): number {
    return this.routes.length;
  }
}

function pairKey(a: string, b: string): string {
  return `${a}\n${b}`;
}
