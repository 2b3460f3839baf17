/**
 * Substrate links that carry traffic whatever the placement, so are
 * powered in every plan: the power model (`model.ts`) then needs no on/off
 * column for them, and its LP relaxation no longer pretends such a link
 * can be partly off (a link's on/off column is otherwise bounded below
 * only by its load over its capacity, a small fraction).
 *
 * A link can be off only if every virtual link with traffic takes a pair
 * of PoPs whose paths avoid it, and the pairs fit together: each router
 * sits in one PoP of its candidates, and a pair of routers that may both
 * leave their PoP keeps their link within its delay bound (the pairs
 * `model.ts` allows). That is a small constraint problem over the routers
 * that may change PoP: domains narrowed to arc consistency, then a
 * depth-first search for one assignment that avoids the link. A link is
 * reported always on only when the search proves there is none; a search
 * that runs out of its node budget reports nothing (the link keeps its
 * column). Loads scale with the traffic level, so the answer holds for
 * every level above zero.
 */
import type { Candidates } from "./candidates.ts";
import type { Network } from "./network.ts";
import { pathArcs, pathDelay } from "./substrate.ts";

/** Search nodes per link before giving up on a proof. */
const NODE_BUDGET = 20_000;

/** A virtual link with traffic, seen from the routers that may move. */
interface Constraint {
  a: number;
  /** Router at end b, or -1 when b is fixed (external link or single-PoP router). */
  b: number;
  /** PoP of a fixed end a, or -1. */
  fixedA: number;
  /** PoP of a fixed end b, or -1. */
  fixedB: number;
  /** Whether the pair (p, q) is allowed for the link (delay bound). */
  allowed: (p: number, q: number) => boolean;
  /** Whether the pair's traffic crosses the link. */
  crosses: (p: number, q: number) => boolean;
}

/** Per substrate link: 1 when some traffic crosses it in every placement the candidates allow. */
export function linksAlwaysOn(net: Network, candidates: Candidates): Uint8Array {
  const E = net.links.length;
  const out = new Uint8Array(E);
  const pops = candidates.pops;
  const single = (r: number) => (pops[r].length === 1 ? pops[r][0] : -1);
  const loaded = net.vlinks.filter(
    (l) =>
      (net.peak.linkLoad[2 * l.index] > 0 || net.peak.linkLoad[2 * l.index + 1] > 0) &&
      pops[l.a].length > 0 &&
      (l.b < 0 || pops[l.b].length > 0),
  );
  for (let e = 0; e < E; e++) {
    const usesLink = (from: number, to: number): boolean => {
      if (from === to) return false;
      const arcs = pathArcs(net.substrate, from, to);
      for (let i = 0; i < arcs.length; i++) if (arcs[i] >> 1 === e) return true;
      return false;
    };
    const constraints: Constraint[] = [];
    let constant = false;
    for (const l of loaded) {
      const ab = net.peak.linkLoad[2 * l.index] > 0;
      const ba = net.peak.linkLoad[2 * l.index + 1] > 0;
      const fixedA = single(l.a);
      const fixedB = l.b < 0 ? l.anchor : single(l.b);
      const crosses = (p: number, q: number) => (ab && usesLink(p, q)) || (ba && usesLink(q, p));
      if (fixedA >= 0 && fixedB >= 0) {
        if (crosses(fixedA, fixedB)) constant = true;
        continue;
      }
      const bothMove = fixedA < 0 && fixedB < 0;
      constraints.push({
        a: fixedA < 0 ? l.a : -1,
        b: fixedB < 0 ? l.b : -1,
        fixedA,
        fixedB,
        allowed: (p, q) => !bothMove || pathDelay(net.substrate, p, q) <= l.boundMs + 1e-9,
        crosses,
      });
    }
    if (constant) {
      out[e] = 1;
      continue;
    }
    if (constraints.length > 0 && !avoidable(net.routers.length, pops, constraints)) out[e] = 1;
  }
  return out;
}

/** Whether some assignment of PoPs satisfies every constraint without crossing the link. */
function avoidable(R: number, pops: readonly number[][], constraints: Constraint[]): boolean {
  const ok = (c: Constraint, p: number, q: number) => c.allowed(p, q) && !c.crosses(p, q);
  // Domains of the routers the constraints involve.
  const domain = new Map<number, number[]>();
  const byRouter = new Map<number, Constraint[]>();
  for (const c of constraints)
    for (const r of [c.a, c.b])
      if (r >= 0) {
        if (!domain.has(r)) domain.set(r, [...pops[r]]);
        const list = byRouter.get(r) ?? [];
        list.push(c);
        byRouter.set(r, list);
      }
  // Unary constraints (one end fixed), then arc consistency on the binary ones.
  for (const c of constraints) {
    if (c.a >= 0 && c.b < 0)
      domain.set(
        c.a,
        domain.get(c.a)!.filter((p) => ok(c, p, c.fixedB)),
      );
    if (c.b >= 0 && c.a < 0)
      domain.set(
        c.b,
        domain.get(c.b)!.filter((q) => ok(c, c.fixedA, q)),
      );
  }
  const binary = constraints.filter((c) => c.a >= 0 && c.b >= 0);
  for (let changed = true; changed; ) {
    changed = false;
    for (const c of binary) {
      const da = domain.get(c.a)!;
      const db = domain.get(c.b)!;
      const na = da.filter((p) => db.some((q) => ok(c, p, q)));
      const nb = db.filter((q) => na.some((p) => ok(c, p, q)));
      if (na.length !== da.length || nb.length !== db.length) changed = true;
      domain.set(c.a, na);
      domain.set(c.b, nb);
    }
  }
  for (const d of domain.values()) if (d.length === 0) return false;
  // Depth-first search, smallest domains first.
  const order = [...domain.keys()].sort((x, y) => domain.get(x)!.length - domain.get(y)!.length);
  const at = new Int32Array(R).fill(-1);
  let nodes = 0;
  const consistent = (r: number): boolean => {
    for (const c of byRouter.get(r) ?? []) {
      if (c.a < 0 || c.b < 0) continue;
      const p = at[c.a];
      const q = at[c.b];
      if (p >= 0 && q >= 0 && !ok(c, p, q)) return false;
    }
    return true;
  };
  const search = (i: number): boolean | null => {
    if (i === order.length) return true;
    const r = order[i];
    for (const p of domain.get(r)!) {
      if (++nodes > NODE_BUDGET) return null;
      at[r] = p;
      if (consistent(r)) {
        const found = search(i + 1);
        if (found !== false) return found;
      }
    }
    at[r] = -1;
    return false;
  };
  // Out of budget: not proved unavoidable.
  return search(0) !== false;
}
