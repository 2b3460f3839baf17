/**
 * Where each router may go: the per-router constraints of the paper's
 * section 5 that do not depend on the other routers' load.
 *
 * - Platform: the host's vendor is the router's, the host's software release
 *   is one the router accepts, and the host takes the router's migration
 *   technique.
 * - Capabilities: every feature the router needs is offered by the host; a
 *   number (ACL entries, ...) must be at least the router's, a yes/no
 *   function must be present (a positive number counts as present).
 * - Latency: a router's PoP must keep each of its external links within the
 *   link's bound, and for every virtual link some PoP of the other end must
 *   be within bound. The second condition couples routers, so the PoP
 *   domains are narrowed to a fixed point (arc consistency, AC-3): a PoP
 *   stays in a router's domain only while every one of its virtual links has
 *   a partner PoP left in the other end's domain. This does not decide the
 *   placement; it removes hosts no feasible placement can use, which keeps
 *   the MIP small (`model.ts`).
 *
 * Hosts can also be excluded (evacuated, trial hosts, powered off) and
 * routers pinned to a host.
 */
import type { Network } from "./network.ts";
import { pathDelay } from "./substrate.ts";

/** Tolerance on delay comparisons (ms): float sums of link delays. */
export const DELAY_EPSILON = 1e-9;

export interface CandidateOptions {
  /** Hosts no router may be placed on. */
  excluded?: ReadonlySet<number>;
  /** Routers that must be on one given host. */
  pinned?: ReadonlyMap<number, number>;
  /** Extra per-router host filter (service deployment keeps backbone routers off trial hosts). */
  allow?: (router: number, host: number) => boolean;
}

export interface Candidates {
  /** Per router, the hosts it may be placed on (ascending). */
  hosts: number[][];
  /** Per router, the PoPs of those hosts (ascending). */
  pops: number[][];
  /** Routers left without any host, with the reason. */
  empty: EmptyCandidate[];
}

export interface EmptyCandidate {
  router: number;
  reason: string;
  /** Lost its last host only because a neighbour had none. */
  cascade: boolean;
}

/** Why host h cannot take router r on platform or capability grounds, or null. */
export function platformRejection(net: Network, r: number, h: number): string | null {
  const router = net.routers[r];
  const host = net.hosts[h];
  if (host.vendor !== router.vendor) return `vendor ${host.vendor}, router needs ${router.vendor}`;
  if (router.software !== null && !router.software.includes(host.software))
    return `software ${host.software}, router runs on ${router.software.join(" or ")}`;
  if (!host.techniques.has(router.technique))
    return `no ${router.technique} migration (has ${[...host.techniques].join(", ")})`;
  for (const [feature, need] of router.needs) {
    const have = host.features.get(feature);
    if (typeof need === "number") {
      if (typeof have !== "number" || have < need)
        return `feature ${feature} ${have === undefined ? "missing" : String(have)}, router needs ${need}`;
    } else if (need === true) {
      if (have === undefined || have === false || have === 0) return `feature ${feature} missing`;
    }
  }
  return null;
}

function withinBound(delay: number, bound: number): boolean {
  return delay <= bound + DELAY_EPSILON;
}

export function computeCandidates(net: Network, options: CandidateOptions = {}): Candidates {
  const R = net.routers.length;
  const P = net.pops.length;
  const excluded = options.excluded ?? new Set<number>();
  const empty: EmptyCandidate[] = [];
  const reasonOf = new Map<number, string>();
  const cascaded = new Set<number>();

  // Static filter: platform, capabilities, exclusions, pins.
  const allowedHosts: number[][] = [];
  for (let r = 0; r < R; r++) {
    const pin = options.pinned?.get(r);
    const list: number[] = [];
    const rejected = new Map<string, number>();
    const hosts = pin !== undefined ? [pin] : net.hosts.map((h) => h.index);
    for (const h of hosts) {
      let why: string | null = excluded.has(h) ? "excluded" : platformRejection(net, r, h);
      if (why === null && options.allow && !options.allow(r, h))
        why = "not allowed for this router";
      if (why === null) list.push(h);
      else rejected.set(why, (rejected.get(why) ?? 0) + 1);
    }
    allowedHosts.push(list);
    if (list.length === 0) {
      const parts = [...rejected].map(([why, n]) => `${n} host${n === 1 ? "" : "s"}: ${why}`);
      reasonOf.set(r, `no host passes platform and capability checks (${parts.join("; ")})`);
    }
  }

  // PoP domains, narrowed by external links first.
  const inDomain = new Uint8Array(R * P);
  for (let r = 0; r < R; r++) {
    for (const h of allowedHosts[r]) inDomain[r * P + net.hosts[h].pop] = 1;
    for (const v of net.vlinksByRouter[r]) {
      const l = net.vlinks[v];
      if (l.b >= 0) continue;
      for (let p = 0; p < P; p++) {
        if (inDomain[r * P + p] && !withinBound(pathDelay(net.substrate, l.anchor, p), l.boundMs))
          inDomain[r * P + p] = 0;
      }
    }
    if (!reasonOf.has(r) && !domainHasAny(inDomain, r, P)) {
      const ext = net.vlinksByRouter[r]
        .map((v) => net.vlinks[v])
        .filter((l) => l.b < 0)
        .map((l) => `${l.name} (≤ ${l.boundMs.toFixed(2)} ms from ${net.pops[l.anchor].name})`);
      reasonOf.set(r, `no allowed host is close enough to its external links ${ext.join(", ")}`);
    }
  }

  // Why `other` may not use the hosts of the PoP `self` runs in today.
  const whyNotNear = (self: number, other: number): string => {
    const pop = net.hosts[net.routers[self].host].pop;
    const reasons: string[] = [];
    for (const h of net.hostsByPop[pop]) {
      if (allowedHosts[other].includes(h)) continue;
      let why: string | null = excluded.has(h) ? "excluded" : platformRejection(net, other, h);
      const pin = options.pinned?.get(other);
      if (why === null && pin !== undefined && pin !== h) why = "the router is pinned elsewhere";
      reasons.push(`${net.hosts[h].name}: ${why ?? "not allowed for this router"}`);
    }
    return reasons.length > 0
      ? ` (in ${net.pops[pop].name}, router "${net.routers[other].name}" cannot use ${reasons.join("; ")})`
      : "";
  };

  // AC-3 over internal virtual links.
  const queue: [number, number][] = [];
  const queued = new Uint8Array(net.vlinks.length * 2);
  const enqueue = (v: number, side: number) => {
    if (!queued[2 * v + side]) {
      queued[2 * v + side] = 1;
      queue.push([v, side]);
    }
  };
  for (const l of net.vlinks) {
    if (l.b < 0) continue;
    enqueue(l.index, 0);
    enqueue(l.index, 1);
  }
  for (let head = 0; head < queue.length; head++) {
    const [v, side] = queue[head];
    queued[2 * v + side] = 0;
    const l = net.vlinks[v];
    const self = side === 0 ? l.a : l.b;
    const other = side === 0 ? l.b : l.a;
    let changed = false;
    const partners: number[] = [];
    for (let q = 0; q < P; q++) if (inDomain[other * P + q]) partners.push(q);
    for (let p = 0; p < P; p++) {
      if (!inDomain[self * P + p]) continue;
      let supported = false;
      for (let k = 0; k < partners.length && !supported; k++)
        supported = withinBound(net.substrate.delay[p * P + partners[k]], l.boundMs);
      if (!supported) {
        inDomain[self * P + p] = 0;
        changed = true;
      }
    }
    if (!changed) continue;
    if (!domainHasAny(inDomain, self, P) && !reasonOf.has(self)) {
      if (reasonOf.has(other)) cascaded.add(self);
      reasonOf.set(
        self,
        reasonOf.has(other)
          ? `its virtual link ${l.name} (≤ ${l.boundMs.toFixed(2)} ms) ends at router "${net.routers[other].name}", which has no host`
          : `no allowed host keeps virtual link ${l.name} within ${l.boundMs.toFixed(2)} ms of any allowed host of router "${net.routers[other].name}"${whyNotNear(self, other)}`,
      );
    }
    for (const w of net.vlinksByRouter[self]) {
      if (w === v || net.vlinks[w].b < 0) continue;
      const lw = net.vlinks[w];
      enqueue(w, lw.a === self ? 1 : 0);
    }
  }

  const hosts: number[][] = [];
  const pops: number[][] = [];
  for (let r = 0; r < R; r++) {
    const hs = allowedHosts[r].filter((h) => inDomain[r * P + net.hosts[h].pop] === 1);
    hosts.push(hs);
    pops.push([...new Set(hs.map((h) => net.hosts[h].pop))].sort((x, y) => x - y));
    if (hs.length === 0)
      empty.push({
        router: r,
        reason: reasonOf.get(r) ?? "no host left after the latency checks",
        cascade: cascaded.has(r),
      });
  }
  return { hosts, pops, empty };
}

function domainHasAny(inDomain: Uint8Array, r: number, P: number): boolean {
  for (let p = 0; p < P; p++) if (inDomain[r * P + p]) return true;
  return false;
}

/**
 * The same candidates without some (router, host) pairs (moves found to have
 * no safe order); PoP lists follow, latency domains are not narrowed again.
 */
export function withoutMoves(
  net: Network,
  candidates: Candidates,
  forbidden: ReadonlyMap<number, ReadonlySet<number>>,
): Candidates {
  const hosts = candidates.hosts.map((list, r) => {
    const gone = forbidden.get(r);
    return gone ? list.filter((h) => !gone.has(h)) : list;
  });
  const pops = hosts.map((list) =>
    [...new Set(list.map((h) => net.hosts[h].pop))].sort((x, y) => x - y),
  );
  const empty = [...candidates.empty];
  hosts.forEach((list, r) => {
    if (list.length === 0 && candidates.hosts[r].length > 0)
      empty.push({
        router: r,
        reason: "every host it may use is out of reach by a safe migration",
        cascade: false,
      });
  });
  return { hosts, pops, empty };
}
