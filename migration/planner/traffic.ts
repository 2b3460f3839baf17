/**
 * Traffic: how much each virtual link carries, and how that changes over the
 * day.
 *
 * Demands. The gravity model (the usual first-order model of backbone
 * traffic matrices): each external link i (a customer or peer attachment)
 * has a mass w_i, and the traffic from i to j ≠ i is
 * T_ij = T · w_i · w_j / (W² − Σ w_k²) with W = Σ w_k, so that the T_ij sum
 * to the network's total T (`traffic.peakMbps`). Explicit router-to-router
 * demands can be added on top.
 *
 * Routing. Demands follow the logical topology: least-cost paths over the
 * virtual links by their IGP cost (ties broken by fewer hops, then by the
 * lower link number). Moving a virtual router does not change the logical
 * topology, so the load of every virtual link is independent of where the
 * routers are placed; only the substrate path under it changes. That is why
 * the loads are computed once here, at the peak hour, and scaled per slot.
 *
 * Diurnal profile. Either 24 hourly multipliers of the peak, or a raised
 * cosine with its maximum at `peakHour` and its minimum (`troughFraction` of
 * the peak) twelve hours later; backbone measurements commonly show the
 * trough at a third to a half of the evening peak.
 *
 * Directions. Load index 2v is virtual link v's a→b direction (for an
 * external link: router → neighbour), 2v+1 is b→a (neighbour → router).
 */
import type { DiurnalSpec } from "./schema.ts";

export interface TrafficRouterLink {
  /** Router at end a. */
  a: number;
  /** Router at end b, or -1 for an external link. */
  b: number;
  igpCost: number;
  /** Gravity mass (external links). */
  weight: number;
}

export interface Demand {
  from: number;
  to: number;
  mbps: number;
}

export interface PeakTraffic {
  /** Per virtual link and direction (2v: a→b, 2v+1: b→a), Mbps at the peak hour. */
  linkLoad: Float64Array;
  /** Traffic each router forwards at the peak (the sum of what enters it). */
  routerLoad: Float64Array;
  /** Total offered traffic (gravity plus explicit demands). */
  totalMbps: number;
}

export type TrafficResult = { ok: true; traffic: PeakTraffic } | { ok: false; errors: string[] };

class MinHeap {
  private items: [number, number, number][] = [];
  get size(): number {
    return this.items.length;
  }
  private less(x: [number, number, number], y: [number, number, number]): boolean {
    return x[0] < y[0] || (x[0] === y[0] && (x[1] < y[1] || (x[1] === y[1] && x[2] < y[2])));
  }
  push(item: [number, number, number]): void {
    const a = this.items;
    a.push(item);
    let i = a.length - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (!this.less(a[i], a[p])) break;
      [a[i], a[p]] = [a[p], a[i]];
      i = p;
    }
  }
  pop(): [number, number, number] {
    const a = this.items;
    const top = a[0];
    const last = a.pop()!;
    if (a.length > 0) {
      a[0] = last;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        if (l < a.length && this.less(a[l], a[m])) m = l;
        if (r < a.length && this.less(a[r], a[m])) m = r;
        if (m === i) break;
        [a[i], a[m]] = [a[m], a[i]];
        i = m;
      }
    }
    return top;
  }
}

/**
 * Computes every virtual link's load at the peak hour. `routerNames` only
 * serves error messages (a demand between routers the logical topology does
 * not connect).
 */
export function peakTraffic(
  routerNames: readonly string[],
  links: readonly TrafficRouterLink[],
  peakMbps: number,
  demands: readonly Demand[],
): TrafficResult {
  const R = routerNames.length;
  const V = links.length;
  const linkLoad = new Float64Array(2 * V);
  const routerLoad = new Float64Array(R);
  const errors: string[] = [];

  // Adjacency over internal virtual links.
  const adj: number[][] = Array.from({ length: R }, () => []);
  links.forEach((l, v) => {
    if (l.b >= 0) {
      adj[l.a].push(v);
      adj[l.b].push(v);
    }
  });

  // Demand rows per source router.
  const external: number[] = [];
  links.forEach((l, v) => {
    if (l.b < 0 && l.weight > 0) external.push(v);
  });
  let W = 0;
  let W2 = 0;
  for (const v of external) {
    W += links[v].weight;
    W2 += links[v].weight ** 2;
  }
  const denominator = W * W - W2;
  if (peakMbps > 0 && !(denominator > 0))
    errors.push(
      "traffic: field peakMbps: the gravity model needs external links with weight at two attachments at least",
    );
  const gravity = peakMbps > 0 && denominator > 0 ? peakMbps / denominator : 0;
  const bySource: Demand[][] = Array.from({ length: R }, () => []);
  for (const d of demands) if (d.mbps > 0 && d.from !== d.to) bySource[d.from].push(d);

  let totalMbps = 0;
  const row = new Float64Array(R);
  const dist = new Float64Array(R);
  const hops = new Int32Array(R);
  const parentLink = new Int32Array(R);
  const order: number[] = [];
  const subtree = new Float64Array(R);
  for (let s = 0; s < R; s++) {
    row.fill(0);
    let any = false;
    for (const i of external) {
      if (links[i].a !== s || gravity === 0) continue;
      let out = 0;
      for (const j of external) {
        if (j === i) continue;
        const t = gravity * links[i].weight * links[j].weight;
        if (t === 0) continue;
        out += t;
        linkLoad[2 * j] += t; // leaves at j: router → neighbour
        if (links[j].a !== s) {
          row[links[j].a] += t;
          any = true;
        }
      }
      linkLoad[2 * i + 1] += out; // enters at i: neighbour → router
      routerLoad[s] += out;
      totalMbps += out;
    }
    for (const d of bySource[s]) {
      row[d.to] += d.mbps;
      routerLoad[s] += d.mbps;
      totalMbps += d.mbps;
      any = true;
    }
    if (!any) continue;

    // Least-cost tree from s over the logical topology.
    dist.fill(Number.POSITIVE_INFINITY);
    hops.fill(0x7fffffff);
    parentLink.fill(-1);
    order.length = 0;
    dist[s] = 0;
    hops[s] = 0;
    const heap = new MinHeap();
    const done = new Uint8Array(R);
    heap.push([0, 0, s]);
    while (heap.size > 0) {
      const [, , u] = heap.pop();
      if (done[u]) continue;
      done[u] = 1;
      order.push(u);
      for (const v of adj[u]) {
        const l = links[v];
        const w = l.a === u ? l.b : l.a;
        const d = dist[u] + l.igpCost;
        const h = hops[u] + 1;
        if (
          !done[w] &&
          (d < dist[w] || (d === dist[w] && (h < hops[w] || (h === hops[w] && v < parentLink[w]))))
        ) {
          dist[w] = d;
          hops[w] = h;
          parentLink[w] = v;
          heap.push([d, h, w]);
        }
      }
    }
    // Push each destination's demand up the tree, leaves first.
    for (let k = order.length - 1; k >= 0; k--) {
      const u = order[k];
      subtree[u] = row[u];
    }
    for (let k = order.length - 1; k > 0; k--) {
      const u = order[k];
      const v = parentLink[u];
      const l = links[v];
      const load = subtree[u];
      if (load === 0) continue;
      const parent = l.a === u ? l.b : l.a;
      subtree[parent] += load;
      // Direction parent → u.
      if (l.a === parent) linkLoad[2 * v] += load;
      else linkLoad[2 * v + 1] += load;
      routerLoad[u] += load;
    }
    for (let u = 0; u < R; u++) {
      if (row[u] > 0 && !done[u])
        errors.push(
          `traffic: router "${routerNames[s]}" sends ${row[u].toFixed(1)} Mbps to router "${routerNames[u]}" but no virtual links connect them`,
        );
    }
  }
  if (errors.length > 0) return { ok: false, errors };
  return { ok: true, traffic: { linkLoad, routerLoad, totalMbps } };
}

/** Peak multiplier at an instant `hour` (0 ≤ hour < 24, wrapping). */
export function diurnalFactor(profile: DiurnalSpec, hour: number): number {
  const h = ((hour % 24) + 24) % 24;
  if ("hourly" in profile) return profile.hourly[Math.min(23, Math.floor(h))];
  const low = profile.troughFraction;
  return low + ((1 - low) * (1 + Math.cos((2 * Math.PI * (h - profile.peakHour)) / 24))) / 2;
}

export interface SlotTraffic {
  /** Start hour of the slot (may exceed 24 on the second day; the profile wraps). */
  startHour: number;
  hours: number;
  /** Highest multiplier within the slot: capacities must hold at it. */
  peakScale: number;
  /** Mean multiplier over the slot: energy is proportional to it. */
  meanScale: number;
}

/**
 * The traffic of a slot [startHour, startHour + hours): its highest and mean
 * multipliers of the peak (sampled every minute, plus the slot's ends and
 * the profile's maximum when the slot contains it).
 */
export function slotTraffic(profile: DiurnalSpec, startHour: number, hours: number): SlotTraffic {
  const samples = Math.max(2, Math.ceil(hours * 60));
  let peak = 0;
  let sum = 0;
  for (let i = 0; i < samples; i++) {
    // Midpoints for the mean; the max also looks at both ends below.
    const f = diurnalFactor(profile, startHour + ((i + 0.5) * hours) / samples);
    sum += f;
    if (f > peak) peak = f;
  }
  peak = Math.max(peak, diurnalFactor(profile, startHour));
  if (!("hourly" in profile)) {
    peak = Math.max(peak, diurnalFactor(profile, startHour + hours));
    // The cosine's maximum, when the slot contains it.
    const offset = (((profile.peakHour - startHour) % 24) + 24) % 24;
    if (offset <= hours) peak = 1;
  }
  return { startHour, hours, peakScale: peak, meanScale: sum / samples };
}
