/**
 * A proved lower bound on one slot's energy, whatever the placement, the
 * budget or the previous slot: the yardstick for the gap of plans built
 * slot by slot (`power.ts`, rolling mode).
 *
 * It adds four parts, each a lower bound of its own share of the energy:
 * - hosts' idle power: a PoP-level relaxation, a small MIP HiGHS solves to
 *   optimality (its proved bound is used if it stops early): an integer
 *   number of powered hosts per PoP, each idling at least at the PoP's
 *   lowest idle power, and routers split fractionally over the PoPs of their
 *   candidates, each PoP's share fitting in that many of its largest hosts
 *   (CPU, memory, router count, traffic);
 * - hosts' load-proportional power: per router, the least it can cost on
 *   any of its candidate hosts;
 * - links' idle power: links that carry traffic in every allowed placement
 *   (every PoP pair the virtual link's ends may take routes over them);
 * - links' load-proportional power: per virtual link, the least over the
 *   PoP pairs allowed for its ends.
 */
import type { ModelData, VariableType } from "highs";
import type { Candidates } from "./candidates.ts";
import type { PeriodSpec } from "./model.ts";
import { hostUsable, type Network } from "./network.ts";
import { solveModel } from "./solver.ts";
import { pathArcs, pathDelay } from "./substrate.ts";

export async function slotEnergyLowerBound(
  net: Network,
  candidates: Candidates,
  period: PeriodSpec,
  timeLimit: number,
): Promise<number> {
  const H = net.hosts.length;
  const usable = new Uint8Array(H);
  for (const list of candidates.hosts) for (const h of list) usable[h] = 1;

  // Hosts' idle power: PoP-level packing. n[p] integer powered hosts in PoP p,
  // X[r,p] ∈ [0,1] the share of router r in PoP p; each PoP's routers fit in
  // n[p] of its largest hosts, and each powered host idles at least at the
  // PoP's lowest idle power.
  const P = net.pops.length;
  const popHosts: number[][] = Array.from({ length: P }, () => []);
  for (let h = 0; h < H; h++) if (usable[h]) popHosts[net.hosts[h].pop].push(h);
  const cost: number[] = [];
  const lower: number[] = [];
  const upper: number[] = [];
  const integrality: VariableType[] = [];
  const nCol = new Int32Array(P).fill(-1);
  const maxCap: number[][] = [];
  for (let p = 0; p < P; p++) {
    const hosts = popHosts[p];
    maxCap.push([0, 0, 0, 0]);
    if (hosts.length === 0) continue;
    nCol[p] = cost.length;
    cost.push(Math.min(...hosts.map((h) => net.hosts[h].idleW)) * period.hours);
    lower.push(0);
    upper.push(hosts.length);
    integrality.push(1);
    for (const h of hosts) {
      const u = hostUsable(net, h);
      const caps = [u.cpu, u.memoryMb, net.hosts[h].maxRouters, u.throughputMbps];
      for (let k = 0; k < 4; k++) maxCap[p][k] = Math.max(maxCap[p][k], caps[k]);
    }
  }
  const rows: { lower: number; upper: number; cols: number[]; vals: number[] }[] = [];
  const perPop: { cols: number[]; demand: number[][] }[] = Array.from({ length: P }, () => ({
    cols: [],
    demand: [],
  }));
  for (let r = 0; r < net.routers.length; r++) {
    const pops = candidates.pops[r];
    if (pops.length === 0) continue;
    const router = net.routers[r];
    const demand = [router.cpu, router.memoryMb, 1, net.peak.routerLoad[r] * period.scale];
    const cols: number[] = [];
    for (const p of pops) {
      const c = cost.length;
      cost.push(0);
      lower.push(0);
      upper.push(1);
      integrality.push(0);
      cols.push(c);
      perPop[p].cols.push(c);
      perPop[p].demand.push(demand);
    }
    rows.push({ lower: 1, upper: 1, cols, vals: cols.map(() => 1) });
  }
  for (let p = 0; p < P; p++) {
    if (nCol[p] < 0 || perPop[p].cols.length === 0) continue;
    for (let k = 0; k < 4; k++) {
      if (!Number.isFinite(maxCap[p][k])) continue;
      rows.push({
        lower: Number.NEGATIVE_INFINITY,
        upper: 0,
        cols: [...perPop[p].cols, nCol[p]],
        vals: [...perPop[p].demand.map((d) => d[k]), -maxCap[p][k]],
      });
    }
  }
  const starts = [0];
  const indices: number[] = [];
  const values: number[] = [];
  for (const row of rows) {
    indices.push(...row.cols);
    values.push(...row.vals);
    starts.push(indices.length);
  }
  let hostsIdle = 0;
  if (rows.length > 0) {
    const data: ModelData = {
      numCols: cost.length,
      numRows: rows.length,
      colCost: cost,
      colLower: lower,
      colUpper: upper,
      rowLower: rows.map((r) => r.lower),
      rowUpper: rows.map((r) => r.upper),
      matrix: {
        format: "csr",
        numRows: rows.length,
        numCols: cost.length,
        starts,
        indices,
        values,
      },
      integrality,
    };
    const outcome = await solveModel(data, { timeLimit, mipGap: 1e-6 });
    hostsIdle = outcome.status === "optimal" ? outcome.objective : outcome.bound;
    if (!Number.isFinite(hostsIdle) || hostsIdle < 0) hostsIdle = 0;
  }

  // Hosts' load-proportional power.
  let hostsBusy = 0;
  for (let r = 0; r < net.routers.length; r++) {
    let least = Number.POSITIVE_INFINITY;
    for (const h of candidates.hosts[r]) {
      const host = net.hosts[h];
      const share = Number.isFinite(host.throughputMbps)
        ? (net.peak.routerLoad[r] * period.meanScale) / host.throughputMbps
        : net.routers[r].cpu / host.cpu;
      least = Math.min(least, (host.busyW - host.idleW) * share * period.hours);
    }
    if (Number.isFinite(least)) hostsBusy += least;
  }

  // Links.
  const E = net.links.length;
  const alwaysOn = new Uint8Array(E);
  let linksBusy = 0;
  for (const l of net.vlinks) {
    const v = l.index;
    const ab = net.peak.linkLoad[2 * v];
    const ba = net.peak.linkLoad[2 * v + 1];
    if (ab <= 0 && ba <= 0) continue;
    const popsA = candidates.pops[l.a];
    const popsB = l.b >= 0 ? candidates.pops[l.b] : [l.anchor];
    let common: number[] | null = null;
    let least = Number.POSITIVE_INFINITY;
    for (const p of popsA)
      for (const q of popsB) {
        if (pathDelay(net.substrate, p, q) > l.boundMs + 1e-9) continue;
        const links = new Set<number>();
        let busy = 0;
        for (const [from, to, load] of [
          [p, q, ab],
          [q, p, ba],
        ] as const) {
          if (load <= 0) continue;
          for (const arc of pathArcs(net.substrate, from, to)) {
            const link = net.links[arc >> 1];
            links.add(arc >> 1);
            busy += ((link.busyW - link.idleW) * load * period.meanScale) / (2 * link.capacityMbps);
          }
        }
        least = Math.min(least, busy * period.hours);
        common = common === null ? [...links] : common.filter((e) => links.has(e));
      }
    if (Number.isFinite(least)) linksBusy += least;
    if (common) for (const e of common) alwaysOn[e] = 1;
  }
  let linksIdle = 0;
  for (let e = 0; e < E; e++) if (alwaysOn[e]) linksIdle += net.links[e].idleW * period.hours;
  return hostsIdle + hostsBusy + linksIdle + linksBusy;
}
