/**
 * The power-savings day solved exactly, without HiGHS, when the routers
 * fall into small independent clusters: the usual shape of a backbone
 * whose routers may only move between the hosts of their own PoP or of a
 * neighbouring one.
 *
 * Clusters. Two routers are in one cluster when they share a candidate
 * host (host capacity and host power couple them), when a virtual link
 * joins two routers that may both change PoP (its delay and traffic
 * depend on both), or when both may send traffic over one substrate link
 * that is not powered in every placement (`always-on.ts`; its power
 * depends on all of them). Across clusters, the energy of a slot is then a
 * sum of per-cluster terms plus a constant: hosts' idle and busy power,
 * links' idle power, and each virtual link's share of the links' busy
 * power (linear in its traffic, so it falls to the cluster of its moving
 * end). What still couples clusters is the per-slot migration budget and
 * the capacity of substrate links shared by several clusters' traffic.
 *
 * Relaxation and certificate. Drop those couplings except the budget into
 * the first slot (the move from today's placement, where the budget binds
 * in practice; later slots change a few routers at a time). Each cluster
 * is then a shortest path through its feasible placements slot by slot,
 * a step costing its slot's energy plus the tie-breaking cost of each
 * router moved: dynamic programming, backwards, the moves between
 * placements being a Hamming distance that a coordinate-wise min-plus pass
 * handles in time linear in the number of placements. Clusters share the
 * first slot's budget through a knapsack over how many moves each takes.
 * That relaxation's optimum is a lower bound on every plan. Its argmin,
 * put back together, is a plan; when that plan keeps every later slot
 * within the budget and passes the checker at every slot's traffic, its
 * cost equals the bound: it is optimal, with the same objective as the
 * joint MIP (`model.ts`: energy plus the tie-breaking cost of migrations).
 * Otherwise, or when a cluster has too many placements, the caller falls
 * back to HiGHS.
 */
import { linksAlwaysOn } from "./always-on.ts";
import { type Candidates, DELAY_EPSILON } from "./candidates.ts";
import { capacityAllowance, checkState } from "./checker.ts";
import type { PeriodSpec } from "./model.ts";
import { hostUsable, type Network } from "./network.ts";
import { pathArcs, pathDelay } from "./substrate.ts";

export interface ClusterDayProblem {
  net: Network;
  candidates: Candidates;
  /** Host of each router before the first slot. */
  origin: Int32Array;
  periods: readonly PeriodSpec[];
  /** Most migrations into each slot (none when absent). */
  budget?: number;
  /** Objective cost of one migration (Wh). */
  migrationWh: number;
  /** Largest number of placements × slots evaluated over all clusters. */
  maxWork?: number;
}

export type ClusterDayResult =
  | {
      ok: true;
      /** Placement of every router in each slot. */
      placements: Int32Array[];
      /** Energy (Wh) plus the migrations' tie-breaking cost: the optimum. */
      objective: number;
      clusters: number;
      /** Placements of the largest cluster. */
      largest: number;
    }
  | { ok: false; reason: string };

const DEFAULT_WORK = 4_000_000;
/** Relative agreement required between the bound and the plan's own cost. */
const AGREEMENT = 1e-9;

/** Per router and candidate: the host, its PoP. */
interface Choice {
  host: number;
  pop: number;
}

interface Cluster {
  routers: number[];
  hosts: number[];
  /** Virtual links whose traffic depends on this cluster's routers. */
  vlinks: number[];
  /** Substrate links not always on whose power depends on this cluster. */
  links: number[];
  /** Number of placements. */
  size: number;
}

class UnionFind {
  readonly parent: Int32Array;
  constructor(n: number) {
    this.parent = Int32Array.from({ length: n }, (_, i) => i);
  }
  find(x: number): number {
    while (this.parent[x] !== x) {
      this.parent[x] = this.parent[this.parent[x]];
      x = this.parent[x];
    }
    return x;
  }
  union(a: number, b: number): void {
    this.parent[this.find(a)] = this.find(b);
  }
}

export function solveDayByClusters(problem: ClusterDayProblem): ClusterDayResult {
  const { net, candidates, origin, periods } = problem;
  const R = net.routers.length;
  const T = periods.length;
  const pops = candidates.pops;
  const moving = (r: number) => pops[r].length > 1;
  if (candidates.empty.length > 0) return { ok: false, reason: "a router has no host" };
  const loadAB = (v: number) => net.peak.linkLoad[2 * v];
  const loadBA = (v: number) => net.peak.linkLoad[2 * v + 1];
  const loaded = net.vlinks.filter((l) => loadAB(l.index) > 0 || loadBA(l.index) > 0);
  /** The PoP pairs a virtual link may take (every pair when an end cannot move). */
  const pairAllowed = (v: number, p: number, q: number) => {
    const l = net.vlinks[v];
    if (l.b < 0 || !moving(l.a) || !moving(l.b)) return true;
    return pathDelay(net.substrate, p, q) <= l.boundMs + DELAY_EPSILON;
  };
  const endPops = (r: number, anchor: number) => (r < 0 ? [anchor] : pops[r]);

  // Links powered whatever the placement; the others couple whoever may cross them.
  const alwaysOn = linksAlwaysOn(net, candidates);
  const uf = new UnionFind(R);
  const hostOwner = new Int32Array(net.hosts.length).fill(-1);
  for (let r = 0; r < R; r++)
    for (const h of candidates.hosts[r]) {
      if (hostOwner[h] >= 0) uf.union(hostOwner[h], r);
      else hostOwner[h] = r;
    }
  const crossers: number[][] = net.links.map(() => []);
  for (const l of loaded) {
    if (l.b >= 0 && moving(l.a) && moving(l.b)) uf.union(l.a, l.b);
    const ends = [l.a, l.b].filter((r) => r >= 0 && moving(r));
    if (ends.length === 0) continue;
    const crossed = new Set<number>();
    for (const p of pops[l.a])
      for (const q of endPops(l.b, l.anchor)) {
        if (!pairAllowed(l.index, p, q)) continue;
        if (loadAB(l.index) > 0) for (const a of pathArcs(net.substrate, p, q)) crossed.add(a >> 1);
        if (loadBA(l.index) > 0) for (const a of pathArcs(net.substrate, q, p)) crossed.add(a >> 1);
      }
    for (const e of crossed) if (!alwaysOn[e]) crossers[e].push(...ends);
  }
  for (const list of crossers) for (let i = 1; i < list.length; i++) uf.union(list[0], list[i]);

  // The clusters, with what belongs to each.
  const byRoot = new Map<number, Cluster>();
  const clusterOf = new Int32Array(R);
  for (let r = 0; r < R; r++) {
    const root = uf.find(r);
    let c = byRoot.get(root);
    if (c === undefined) {
      c = { routers: [], hosts: [], vlinks: [], links: [], size: 1 };
      byRoot.set(root, c);
    }
    c.routers.push(r);
  }
  const clusters = [...byRoot.values()];
  clusters.forEach((c, i) => {
    for (const r of c.routers) clusterOf[r] = i;
  });
  for (let h = 0; h < net.hosts.length; h++)
    if (hostOwner[h] >= 0) clusters[clusterOf[hostOwner[h]]].hosts.push(h);
  const constantVlinks: number[] = [];
  for (const l of loaded) {
    const end = moving(l.a) ? l.a : l.b >= 0 && moving(l.b) ? l.b : -1;
    if (end < 0) constantVlinks.push(l.index);
    else clusters[clusterOf[end]].vlinks.push(l.index);
  }
  crossers.forEach((list, e) => {
    if (list.length > 0) clusters[clusterOf[list[0]]].links.push(e);
  });
  let work = 0;
  let largest = 0;
  for (const c of clusters) {
    for (const r of c.routers) c.size *= candidates.hosts[r].length;
    largest = Math.max(largest, c.size);
    work += c.size * T;
  }
  const maxWork = problem.maxWork ?? DEFAULT_WORK;
  if (work > maxWork)
    return {
      ok: false,
      reason: `the clusters have too many placements (${work} placement-slots, limit ${maxWork})`,
    };

  // Energy and load terms that do not depend on any placement.
  const constLoad = new Float64Array(net.substrate.arcCount);
  let constPerMeanHour = 0;
  const arcBusyPerMbps = (arc: number) => {
    const link = net.links[arc >> 1];
    return (link.busyW - link.idleW) / (2 * net.substrate.arcCapacity[arc]);
  };
  const vlinkBusy = (
    v: number,
    p: number,
    q: number,
    addLoad?: (arc: number, mbps: number) => void,
  ) => {
    let w = 0;
    for (const [from, to, load] of [
      [p, q, loadAB(v)],
      [q, p, loadBA(v)],
    ] as const) {
      if (load <= 0 || from === to) continue;
      for (const arc of pathArcs(net.substrate, from, to)) {
        w += arcBusyPerMbps(arc) * load;
        addLoad?.(arc, load);
      }
    }
    return w;
  };
  for (const v of constantVlinks) {
    const l = net.vlinks[v];
    const p = pops[l.a][0];
    const q = l.b < 0 ? l.anchor : pops[l.b][0];
    constPerMeanHour += vlinkBusy(v, p, q, (arc, mbps) => {
      constLoad[arc] += mbps;
    });
  }
  let constIdleW = 0;
  for (let e = 0; e < net.links.length; e++) if (alwaysOn[e]) constIdleW += net.links[e].idleW;
  const constant = periods.map((s) => (constIdleW + constPerMeanHour * s.meanScale) * s.hours);

  // Each cluster: costs per slot and placement, then the backward pass.
  const eps = problem.migrationWh;
  const perCluster = clusters.map((c) =>
    clusterDay(net, candidates, origin, periods, c, {
      pairAllowed,
      vlinkBusy,
      constLoad,
      eps,
    }),
  );

  // The first slot's budget shared by the clusters: a knapsack over their moves.
  const budget = problem.budget ?? R;
  let best = new Float64Array(budget + 1).fill(Number.POSITIVE_INFINITY);
  best[0] = 0;
  const picks: Int32Array[] = [];
  for (const cd of perCluster) {
    const next = new Float64Array(budget + 1).fill(Number.POSITIVE_INFINITY);
    const pick = new Int32Array(budget + 1).fill(-1);
    for (let b = 0; b <= budget; b++) {
      if (!Number.isFinite(best[b])) continue;
      for (let m = 0; m < cd.firstSlot.length && b + m <= budget; m++) {
        const v = best[b] + cd.firstSlot[m];
        if (v < next[b + m]) {
          next[b + m] = v;
          pick[b + m] = m;
        }
      }
    }
    picks.push(pick);
    best = next;
  }
  let used = -1;
  for (let b = 0; b <= budget; b++) if (used < 0 || best[b] < best[used]) used = b;
  if (!Number.isFinite(best[used]))
    return { ok: false, reason: "no placement fits within the first slot's budget" };
  const bound = best[used] + constant.reduce((a, b) => a + b, 0);
  const moves = new Int32Array(clusters.length);
  for (let i = clusters.length - 1; i >= 0; i--) {
    moves[i] = picks[i][used];
    used -= moves[i];
  }

  // The argmin as a plan, checked in full.
  const placements = periods.map(() => new Int32Array(R).fill(-1));
  perCluster.forEach((cd, i) => {
    const path = cd.path(moves[i]);
    const c = clusters[i];
    for (let t = 0; t < T; t++) {
      const hosts = cd.decode(path[t]);
      c.routers.forEach((r, k) => {
        placements[t][r] = hosts[k];
      });
    }
  });
  let cost = 0;
  let prev = origin;
  for (let t = 0; t < T; t++) {
    const p = placements[t];
    let moved = 0;
    for (let r = 0; r < R; r++) if (p[r] !== prev[r]) moved++;
    if (problem.budget !== undefined && moved > problem.budget)
      return { ok: false, reason: `slot ${t} needs ${moved} migrations, over the budget` };
    const hostsOn = new Uint8Array(net.hosts.length);
    for (const h of p) hostsOn[h] = 1;
    const check = checkState(net, { placement: p, scale: periods[t].scale, hostsOn });
    if (!check.ok) return { ok: false, reason: `slot ${t}: ${check.violations[0].message}` };
    cost += slotEnergy(net, p, hostsOn, periods[t]) + eps * moved;
    prev = p;
  }
  if (Math.abs(cost - bound) > AGREEMENT * Math.max(1, Math.abs(cost)))
    return {
      ok: false,
      reason: `the plan's cost ${cost} differs from the bound ${bound} (not proved optimal)`,
    };
  return { ok: true, placements, objective: cost, clusters: clusters.length, largest };
}

/** A slot's energy (Wh) as `power.ts` accounts it: hosts and links, idle and busy. */
function slotEnergy(net: Network, placement: Int32Array, hostsOn: Uint8Array, s: PeriodSpec) {
  const traffic = new Float64Array(net.hosts.length);
  const cpu = new Float64Array(net.hosts.length);
  for (let r = 0; r < placement.length; r++) {
    traffic[placement[r]] += net.peak.routerLoad[r];
    cpu[placement[r]] += net.routers[r].cpu;
  }
  let w = 0;
  for (const host of net.hosts) {
    if (!hostsOn[host.index]) continue;
    const share = Number.isFinite(host.throughputMbps)
      ? (traffic[host.index] * s.meanScale) / host.throughputMbps
      : cpu[host.index] / host.cpu;
    w += host.idleW + (host.busyW - host.idleW) * share;
  }
  const arcLoad = new Float64Array(net.substrate.arcCount);
  for (const l of net.vlinks) {
    const p = net.hosts[placement[l.a]].pop;
    const q = l.b < 0 ? l.anchor : net.hosts[placement[l.b]].pop;
    if (p === q) continue;
    const ab = net.peak.linkLoad[2 * l.index];
    const ba = net.peak.linkLoad[2 * l.index + 1];
    if (ab > 0) for (const a of pathArcs(net.substrate, p, q)) arcLoad[a] += ab;
    if (ba > 0) for (const a of pathArcs(net.substrate, q, p)) arcLoad[a] += ba;
  }
  for (const link of net.links) {
    const ab = arcLoad[2 * link.index];
    const ba = arcLoad[2 * link.index + 1];
    if (ab <= 0 && ba <= 0) continue;
    w +=
      link.idleW + ((link.busyW - link.idleW) * (ab + ba) * s.meanScale) / (2 * link.capacityMbps);
  }
  return w * s.hours;
}

interface ClusterTerms {
  pairAllowed: (v: number, p: number, q: number) => boolean;
  vlinkBusy: (
    v: number,
    p: number,
    q: number,
    addLoad?: (arc: number, mbps: number) => void,
  ) => number;
  constLoad: Float64Array;
  eps: number;
}

/**
 * One cluster's day: the cost of each placement in each slot (infinite when
 * it breaks a constraint of its own), the backward pass, and the best path
 * for each number of moves into the first slot.
 */
function clusterDay(
  net: Network,
  candidates: Candidates,
  origin: Int32Array,
  periods: readonly PeriodSpec[],
  c: Cluster,
  terms: ClusterTerms,
) {
  const T = periods.length;
  const S = c.size;
  const n = c.routers.length;
  const choices: Choice[][] = c.routers.map((r) =>
    candidates.hosts[r].map((h) => ({ host: h, pop: net.hosts[h].pop })),
  );
  const radix = choices.map((list) => list.length);
  // Stride of each router's digit in the placement number.
  const stride = new Int32Array(n);
  for (let i = 0, s = 1; i < n; i++) {
    stride[i] = s;
    s *= radix[i];
  }
  const digit = (x: number, i: number) => Math.floor(x / stride[i]) % radix[i];
  const decode = (x: number) => choices.map((list, i) => list[digit(x, i)].host);
  const index = new Map<number, number>();
  c.routers.forEach((r, i) => {
    index.set(r, i);
  });
  const hostIndex = new Map<number, number>();
  c.hosts.forEach((h, i) => {
    hostIndex.set(h, i);
  });
  const usable = c.hosts.map((h) => hostUsable(net, h));

  // Per placement, independent of the slot: host sums, the links' busy power, arc loads, idle power.
  const hostCpu = new Float64Array(c.hosts.length);
  const hostMemory = new Float64Array(c.hosts.length);
  const hostRouters = new Float64Array(c.hosts.length);
  const hostTraffic = new Float64Array(c.hosts.length);
  const idleW = new Float64Array(S);
  /** Busy power per unit of mean traffic per hour; and the part that does not scale with traffic. */
  const busyPerMean = new Float64Array(S);
  const busyFixed = new Float64Array(S);
  /** Highest traffic level the placement holds (hosts and arcs); -1 when it never holds. */
  const maxScale = new Float64Array(S);
  const arcLoad = new Float64Array(net.substrate.arcCount);
  const touched: number[] = [];
  const linkOn = new Uint8Array(net.links.length);
  const pop = new Int32Array(n);
  for (let x = 0; x < S; x++) {
    hostCpu.fill(0);
    hostMemory.fill(0);
    hostRouters.fill(0);
    hostTraffic.fill(0);
    let limit = Number.POSITIVE_INFINITY;
    let perMean = 0;
    let fixed = 0;
    for (let i = 0; i < n; i++) {
      const r = c.routers[i];
      const ch = choices[i][digit(x, i)];
      pop[i] = ch.pop;
      const k = hostIndex.get(ch.host)!;
      const router = net.routers[r];
      hostCpu[k] += router.cpu;
      hostMemory[k] += router.memoryMb;
      hostRouters[k] += 1;
      hostTraffic[k] += net.peak.routerLoad[r];
      const host = net.hosts[ch.host];
      if (Number.isFinite(host.throughputMbps))
        perMean += ((host.busyW - host.idleW) * net.peak.routerLoad[r]) / host.throughputMbps;
      else fixed += ((host.busyW - host.idleW) * router.cpu) / host.cpu;
    }
    let idle = 0;
    for (let k = 0; k < c.hosts.length; k++) {
      if (hostRouters[k] === 0) continue;
      const u = usable[k];
      const host = net.hosts[c.hosts[k]];
      idle += host.idleW;
      if (
        hostCpu[k] > capacityAllowance(u.cpu) ||
        hostMemory[k] > capacityAllowance(u.memoryMb) ||
        hostRouters[k] > capacityAllowance(host.maxRouters)
      )
        limit = -1;
      else if (hostTraffic[k] > 0)
        limit = Math.min(limit, capacityAllowance(u.throughputMbps) / hostTraffic[k]);
    }
    // The cluster's virtual links: allowed pairs, busy power, arc loads, links they power.
    for (const a of touched) arcLoad[a] = 0;
    touched.length = 0;
    for (const e of c.links) linkOn[e] = 0;
    for (const v of c.vlinks) {
      const l = net.vlinks[v];
      const ia = index.get(l.a);
      const ib = l.b < 0 ? undefined : index.get(l.b);
      const p = ia !== undefined ? pop[ia] : candidates.pops[l.a][0];
      const q = l.b < 0 ? l.anchor : ib !== undefined ? pop[ib] : candidates.pops[l.b][0];
      if (!terms.pairAllowed(v, p, q)) limit = -1;
      perMean += terms.vlinkBusy(v, p, q, (arc, mbps) => {
        if (arcLoad[arc] === 0) touched.push(arc);
        arcLoad[arc] += mbps;
        linkOn[arc >> 1] = 1;
      });
    }
    for (const arc of touched) {
      const total = arcLoad[arc] + terms.constLoad[arc];
      if (total > 0) limit = Math.min(limit, capacityAllowance(net.arcUsable[arc]) / total);
    }
    for (const e of c.links) if (linkOn[e]) idle += net.links[e].idleW;
    idleW[x] = idle;
    busyPerMean[x] = perMean;
    busyFixed[x] = fixed;
    maxScale[x] = limit < 0 ? -1 : limit;
  }
  const cost = (t: number, x: number): number => {
    const s = periods[t];
    // As permissive as the checker (a hair more, never less: the bound must hold).
    if (maxScale[x] * (1 + 1e-12) < s.scale) return Number.POSITIVE_INFINITY;
    return (idleW[x] + busyFixed[x] + busyPerMean[x] * s.meanScale) * s.hours;
  };

  // Backward pass. value[t][x]: the least cost of slots t.. when slot t-1's placement is x.
  const eps = terms.eps;
  const step: Float64Array[] = [];
  const value: Float64Array[] = new Array(T + 1);
  value[T] = new Float64Array(S);
  for (let t = T - 1; t >= 1; t--) {
    const w = new Float64Array(S);
    for (let x = 0; x < S; x++) w[x] = cost(t, x) + value[t + 1][x];
    step[t] = w;
    value[t] = hammingTransform(w, radix, stride, eps);
  }
  const tail = T > 1 ? value[1] : new Float64Array(S);
  // First slot: from the origin, by the number of moves.
  const originDigits = c.routers.map((r, i) => choices[i].findIndex((ch) => ch.host === origin[r]));
  const firstSlot = new Float64Array(n + 1).fill(Number.POSITIVE_INFINITY);
  const firstArg = new Int32Array(n + 1).fill(-1);
  for (let x = 0; x < S; x++) {
    const v0 = cost(0, x);
    if (!Number.isFinite(v0)) continue;
    let m = 0;
    for (let i = 0; i < n; i++) if (digit(x, i) !== originDigits[i]) m++;
    const v = v0 + eps * m + tail[x];
    if (v < firstSlot[m]) {
      firstSlot[m] = v;
      firstArg[m] = x;
    }
  }
  /** The best path with m moves into the first slot. */
  const path = (m: number): number[] => {
    const out = [firstArg[m]];
    for (let t = 1; t < T; t++) {
      const prev = out[t - 1];
      let bestX = -1;
      let bestV = Number.POSITIVE_INFINITY;
      for (let x = 0; x < S; x++) {
        const w = step[t][x];
        if (!(w < bestV)) continue;
        let d = 0;
        for (let i = 0; i < n; i++) if (digit(x, i) !== digit(prev, i)) d++;
        const v = w + eps * d;
        if (v < bestV) {
          bestV = v;
          bestX = x;
        }
      }
      out.push(bestX);
    }
    return out;
  };
  return { firstSlot, path, decode };
}

/**
 * min over y of w[y] + eps × (number of digits in which x and y differ),
 * for every placement x: one pass per digit, each taking the least over the
 * digit's values plus eps.
 */
function hammingTransform(
  w: Float64Array,
  radix: readonly number[],
  stride: Int32Array,
  eps: number,
): Float64Array {
  const g = Float64Array.from(w);
  const S = g.length;
  for (let i = 0; i < radix.length; i++) {
    const k = radix[i];
    if (k < 2) continue;
    const st = stride[i];
    const block = st * k;
    for (let base = 0; base < S; base += block)
      for (let off = 0; off < st; off++) {
        let least = Number.POSITIVE_INFINITY;
        for (let d = 0; d < k; d++) least = Math.min(least, g[base + off + d * st]);
        const via = least + eps;
        for (let d = 0; d < k; d++) {
          const at = base + off + d * st;
          if (via < g[at]) g[at] = via;
        }
      }
  }
  return g;
}
