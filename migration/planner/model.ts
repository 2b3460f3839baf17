/**
 * The placement MIP handed to HiGHS. One model serves the three
 * applications: a sequence of periods (one for maintenance and deployment,
 * one per time slot for power savings), each with its own placement.
 *
 * Variables, per period t:
 * - x[t,r,k] ∈ {0,1}: router r on its k-th candidate host (`candidates.ts`
 *   has already removed hosts that fail platform, capability, exclusion or
 *   latency checks);
 * - on[t,h], z[t,e] ∈ {0,1} (power savings only): host h, link e powered;
 * - y[t,v,p,q] ∈ [0,1]: virtual link v has its a end in PoP p and its b end
 *   in PoP q. Only pairs within the link's delay bound exist, and the
 *   transportation constraints Σ_q y[v,p,q] = X[a,p], Σ_p y[v,p,q] = X[b,q]
 *   (X[r,p] = Σ of r's x at hosts of PoP p) make y the exact product of the
 *   two binary placements: the link's substrate path and delay become
 *   linear, and the latency bound holds by construction. Links with an end
 *   that cannot leave its PoP (external links, pinned routers) need no y:
 *   their load is linear in the other end's x;
 * - moved[t,r] ∈ [0,1] (t ≥ 1): moved ≥ x[t,r,k] − x[t−1,r,k] for every k.
 *
 * Constraints: every router on one host; per host CPU, memory, router count
 * and forwarded traffic within capacity (times on[h] when hosts can sleep);
 * x ≤ on; per arc (direction of a substrate link) the traffic of every
 * virtual link whose path crosses it within the usable capacity (times z[e]);
 * a migration budget per period. Rows that can never bind (the sum of all
 * their coefficients fits) are left out.
 *
 * Objective: weights on migrations, added delay (ms summed over virtual
 * links) and energy (Wh: idle power of powered hosts and links, plus the
 * load-proportional part; period energy uses the slot's mean traffic while
 * capacities use its peak).
 *
 * Covers (power savings): for a PoP, or a set of PoPs some router may
 * choose among, the routers confined to it need at least k powered hosts
 * there, k being the fewest of its hosts whose capacities add up to their
 * demand (per resource). These valid rows give the LP relaxation the
 * integer rounding it otherwise lacks.
 *
 * Symmetry: hosts of one PoP with identical attributes and no router today
 * are interchangeable; their router counts (and power states) in the first
 * period are ordered, which is valid because any solution can be permuted
 * over them in every period at once.
 *
 * Elastic mode (for explaining infeasibility, `explain.ts`): every capacity
 * row and budget gets a penalised overflow column and every router an
 * "unplaced" column; the objective is the penalty alone.
 */
import type { ModelData, VariableType } from "highs";
import { linksAlwaysOn } from "./always-on.ts";
import type { Candidates } from "./candidates.ts";
import { hostUsable, type Network } from "./network.ts";
import { pathArcs, pathDelay } from "./substrate.ts";

export interface PeriodSpec {
  /** Traffic multiplier of the peak that capacities must hold at. */
  scale: number;
  /** Mean multiplier over the period (energy). */
  meanScale: number;
  /** Length of the period in hours (energy). */
  hours: number;
}

export interface ObjectiveWeights {
  /** Per migration. */
  migrations: number;
  /** Per millisecond of delay added to a virtual link. */
  latency: number;
  /** Per watt-hour. */
  energy: number;
}

export interface PlacementProblem {
  net: Network;
  candidates: Candidates;
  /** Host of each router before the first period. */
  origin: Int32Array;
  periods: PeriodSpec[];
  /** Hosts and links may be powered down. */
  power: boolean;
  /** Most migrations into each period. */
  migrationBudget?: number;
  weights: ObjectiveWeights;
  elastic?: boolean;
}

export type RowKind =
  | "assign"
  | "host-cpu"
  | "host-memory"
  | "host-routers"
  | "host-throughput"
  | "host-on"
  | "arc"
  | "marginal"
  | "moved"
  | "budget"
  | "symmetry"
  | "cover";

export interface RowInfo {
  kind: RowKind;
  period: number;
  /** Router, host, arc or virtual link, by kind. */
  entity: number;
}

export interface SlackColumn {
  col: number;
  row: number;
  kind: RowKind | "unplaced";
  period: number;
  entity: number;
  /** Capacity the slack is measured against (1 for unplaced/budget). */
  scale: number;
}

export interface BuiltModel {
  data: ModelData;
  /** x[t][r][k] column, parallel to candidates.hosts[r]. */
  x: Int32Array[][];
  /** on[t][h] column, or -1 when the host is always on (not power mode) or always off. */
  on: Int32Array[];
  /** Host state when it has no column: 1 on, 0 off. */
  onFixed: Uint8Array[];
  /** z[t][e] column or -1. */
  linkOn: Int32Array[];
  linkOnFixed: Uint8Array[];
  /** y columns per period and virtual link: [column, p, q] triples. */
  y: Map<number, Int32Array>[];
  moved: Int32Array[];
  rows: RowInfo[];
  slacks: SlackColumn[];
  /** Constant part of the objective (also passed to HiGHS as the model offset). */
  offset: number;
  /** Per period, per arc: load that does not depend on any variable. */
  constArcLoad: Float64Array[];
  /** Number of routers that must move in the first period whatever happens. */
  forcedMoves: number;
}

const BINARY: VariableType = 1;
const CONTINUOUS: VariableType = 0;
const UNPLACED_PENALTY = 1000;
const OVERFLOW_PENALTY = 10;

/** Growable triplet store converted to CSR with duplicates merged. */
class Triplets {
  rows: number[] = [];
  cols: number[] = [];
  vals: number[] = [];
  add(row: number, col: number, val: number): void {
    if (val === 0) return;
    this.rows.push(row);
    this.cols.push(col);
    this.vals.push(val);
  }
  toCsr(numRows: number, numCols: number) {
    const n = this.rows.length;
    const count = new Int32Array(numRows + 1);
    for (let i = 0; i < n; i++) count[this.rows[i] + 1]++;
    for (let r = 0; r < numRows; r++) count[r + 1] += count[r];
    const order = new Int32Array(n);
    const fill = count.slice(0, numRows);
    for (let i = 0; i < n; i++) order[fill[this.rows[i]]++] = i;
    const starts = new Int32Array(numRows + 1);
    const indices: number[] = [];
    const values: number[] = [];
    const slot = new Int32Array(numCols).fill(-1);
    for (let r = 0; r < numRows; r++) {
      const begin = indices.length;
      for (let k = count[r]; k < count[r + 1]; k++) {
        const i = order[k];
        const c = this.cols[i];
        if (slot[c] >= begin) values[slot[c]] += this.vals[i];
        else {
          slot[c] = indices.length;
          indices.push(c);
          values.push(this.vals[i]);
        }
      }
      // Drop entries that cancelled out.
      let w = begin;
      for (let k = begin; k < indices.length; k++) {
        if (Math.abs(values[k]) > 1e-12) {
          indices[w] = indices[k];
          values[w] = values[k];
          w++;
        }
      }
      indices.length = w;
      values.length = w;
      starts[r + 1] = w;
    }
    return {
      format: "csr" as const,
      numRows,
      numCols,
      starts,
      indices: Int32Array.from(indices),
      values: Float64Array.from(values),
    };
  }
}

class Builder {
  cost: number[] = [];
  lower: number[] = [];
  upper: number[] = [];
  integrality: VariableType[] = [];
  rowLower: number[] = [];
  rowUpper: number[] = [];
  rows: RowInfo[] = [];
  entries = new Triplets();
  col(cost: number, lower: number, upper: number, type: VariableType): number {
    this.cost.push(cost);
    this.lower.push(lower);
    this.upper.push(upper);
    this.integrality.push(type);
    return this.cost.length - 1;
  }
  row(lower: number, upper: number, info: RowInfo): number {
    this.rowLower.push(lower);
    this.rowUpper.push(upper);
    this.rows.push(info);
    return this.rowLower.length - 1;
  }
}

/** A contribution of one column to the load of one arc. */
interface ArcTerm {
  arc: number;
  col: number;
  load: number;
}

export function buildModel(problem: PlacementProblem): BuiltModel {
  const { net, candidates, origin, periods, power, weights } = problem;
  const elastic = problem.elastic === true;
  const w = elastic ? { migrations: 0, latency: 0, energy: 0 } : weights;
  const b = new Builder();
  const R = net.routers.length;
  const H = net.hosts.length;
  const E = net.links.length;
  const A = net.substrate.arcCount;
  const T = periods.length;
  const cand = candidates.hosts;
  const slacks: SlackColumn[] = [];
  let offset = 0;

  // Routers that can leave their PoP need y variables; the others have one PoP.
  const popsOf = candidates.pops;
  const onlyPop = (r: number) => (popsOf[r].length === 1 ? popsOf[r][0] : -1);

  // Which routers could sit on each host.
  const routersOnHost: number[][] = Array.from({ length: H }, () => []);
  for (let r = 0; r < R; r++) for (const h of cand[r]) routersOnHost[h].push(r);

  const x: Int32Array[][] = [];
  const on: Int32Array[] = [];
  const onFixed: Uint8Array[] = [];
  const linkOn: Int32Array[] = [];
  const linkOnFixed: Uint8Array[] = [];
  const yCols: Map<number, Int32Array>[] = [];
  const moved: Int32Array[] = [];
  const constArcLoad: Float64Array[] = [];
  let forcedMoves = 0;
  for (let r = 0; r < R; r++) if (!cand[r].includes(origin[r])) forcedMoves++;

  const unplaced = new Int32Array(R).fill(-1);
  // Links some traffic crosses in every placement: powered, no column.
  const alwaysOn = power ? linksAlwaysOn(net, candidates) : new Uint8Array(E);

  for (let t = 0; t < T; t++) {
    const period = periods[t];
    const { scale, hours } = period;
    const energyRatio = scale > 0 ? period.meanScale / scale : 0;

    // Placement columns.
    const xt: Int32Array[] = [];
    for (let r = 0; r < R; r++) {
      const cols = new Int32Array(cand[r].length);
      for (let k = 0; k < cand[r].length; k++) {
        const fixed = cand[r].length === 1 && !elastic;
        cols[k] = b.col(0, fixed ? 1 : 0, 1, BINARY);
      }
      xt.push(cols);
    }
    x.push(xt);
    if (elastic && t === 0)
      for (let r = 0; r < R; r++) unplaced[r] = b.col(UNPLACED_PENALTY, 0, 1, CONTINUOUS);

    // Host power columns.
    const onT = new Int32Array(H).fill(-1);
    const onFixedT = new Uint8Array(H).fill(1);
    for (let h = 0; h < H; h++) {
      const host = net.hosts[h];
      if (!power) continue;
      if (routersOnHost[h].length === 0) {
        onFixedT[h] = 0;
        continue;
      }
      onT[h] = b.col(w.energy * host.idleW * hours, 0, 1, BINARY);
    }
    on.push(onT);
    onFixed.push(onFixedT);
    if (power)
      for (let h = 0; h < H; h++)
        if (onT[h] < 0 && onFixedT[h]) offset += w.energy * net.hosts[h].idleW * hours;

    // Assignment rows.
    for (let r = 0; r < R; r++) {
      const row = b.row(1, 1, { kind: "assign", period: t, entity: r });
      for (const c of xt[r]) b.entries.add(row, c, 1);
      if (elastic) b.entries.add(row, unplaced[r], 1);
    }

    // Host capacity rows and busy power.
    for (let h = 0; h < H; h++) {
      const host = net.hosts[h];
      const usable = hostUsable(net, h);
      const routers = routersOnHost[h];
      if (routers.length === 0) continue;
      const colOf = (r: number) => xt[r][cand[r].indexOf(h)];
      const resources: [RowInfo["kind"], number, (r: number) => number][] = [
        ["host-cpu", usable.cpu, (r) => net.routers[r].cpu],
        ["host-memory", usable.memoryMb, (r) => net.routers[r].memoryMb],
        ["host-routers", host.maxRouters, () => 1],
        ["host-throughput", usable.throughputMbps, (r) => net.peak.routerLoad[r] * scale],
      ];
      for (const [kind, cap, coef] of resources) {
        let total = 0;
        for (const r of routers) total += coef(r);
        if (total <= cap * (1 - 1e-9)) continue;
        const hasOn = power && onT[h] >= 0;
        const row = b.row(Number.NEGATIVE_INFINITY, hasOn ? 0 : cap, {
          kind,
          period: t,
          entity: h,
        });
        for (const r of routers) b.entries.add(row, colOf(r), coef(r));
        if (hasOn) b.entries.add(row, onT[h], -cap);
        if (elastic) {
          const s = b.col(
            OVERFLOW_PENALTY / Math.max(cap, 1e-9),
            0,
            Number.POSITIVE_INFINITY,
            CONTINUOUS,
          );
          b.entries.add(row, s, -1);
          slacks.push({ col: s, row, kind, period: t, entity: h, scale: cap });
        }
      }
      if (power && onT[h] >= 0)
        for (const r of routers) {
          const row = b.row(Number.NEGATIVE_INFINITY, 0, { kind: "host-on", period: t, entity: h });
          b.entries.add(row, colOf(r), 1);
          b.entries.add(row, onT[h], -1);
        }
      // Busy power: proportional to forwarded traffic (or CPU when throughput is unlimited).
      if (w.energy > 0) {
        const span = host.busyW - host.idleW;
        for (const r of routers) {
          const share = Number.isFinite(host.throughputMbps)
            ? (net.peak.routerLoad[r] * period.meanScale) / host.throughputMbps
            : net.routers[r].cpu / host.cpu;
          b.cost[colOf(r)] += w.energy * span * share * hours;
        }
      }
    }

    // Virtual links: arc terms, latency costs, y columns.
    const terms: ArcTerm[] = [];
    const constLoad = new Float64Array(A);
    const addPathTerm = (p: number, q: number, col: number, load: number) => {
      if (p === q || load === 0) return;
      const arcs = pathArcs(net.substrate, p, q);
      for (let i = 0; i < arcs.length; i++) {
        if (col < 0) constLoad[arcs[i]] += load;
        else terms.push({ arc: arcs[i], col, load });
      }
    };
    const yt = new Map<number, Int32Array>();
    for (const l of net.vlinks) {
      const v = l.index;
      const ab = net.peak.linkLoad[2 * v] * scale;
      const ba = net.peak.linkLoad[2 * v + 1] * scale;
      const latencyCost = (d: number) => w.latency * (d - l.todayMs);
      const fixedA = onlyPop(l.a);
      const fixedB = l.b < 0 ? l.anchor : onlyPop(l.b);
      if (cand[l.a].length === 0 || (l.b >= 0 && cand[l.b].length === 0)) continue;
      if (fixedA >= 0 && fixedB >= 0) {
        addPathTerm(fixedA, fixedB, -1, ab);
        addPathTerm(fixedB, fixedA, -1, ba);
        offset += latencyCost(pathDelay(net.substrate, fixedA, fixedB));
        continue;
      }
      if (fixedA >= 0 || fixedB >= 0) {
        // One end has a single PoP: linear in the other end's x.
        const moving = fixedB >= 0 ? l.a : l.b;
        const still = fixedB >= 0 ? fixedB : fixedA;
        // Load from the moving end to the still end, and back.
        const out = moving === l.a ? ab : ba;
        const back = moving === l.a ? ba : ab;
        cand[moving].forEach((h, k) => {
          const p = net.hosts[h].pop;
          const col = xt[moving][k];
          addPathTerm(p, still, col, out);
          addPathTerm(still, p, col, back);
          b.cost[col] += latencyCost(pathDelay(net.substrate, p, still));
        });
        continue;
      }
      // Both ends can change PoP: y over the pairs within bound.
      const triples: number[] = [];
      const rowA = new Map<number, number>();
      const rowB = new Map<number, number>();
      const marginal = (side: Map<number, number>, pop: number): number => {
        let row = side.get(pop);
        if (row === undefined) {
          row = elastic
            ? b.row(Number.NEGATIVE_INFINITY, 0, { kind: "marginal", period: t, entity: v })
            : b.row(0, 0, { kind: "marginal", period: t, entity: v });
          side.set(pop, row);
        }
        return row;
      };
      for (const p of popsOf[l.a]) {
        for (const q of popsOf[l.b]) {
          const d = pathDelay(net.substrate, p, q);
          if (d > l.boundMs + 1e-9) continue;
          const col = b.col(latencyCost(d), 0, 1, CONTINUOUS);
          triples.push(col, p, q);
          b.entries.add(marginal(rowA, p), col, 1);
          b.entries.add(marginal(rowB, q), col, 1);
          addPathTerm(p, q, col, ab);
          addPathTerm(q, p, col, ba);
        }
      }
      cand[l.a].forEach((h, k) => {
        b.entries.add(marginal(rowA, net.hosts[h].pop), xt[l.a][k], -1);
      });
      cand[l.b].forEach((h, k) => {
        b.entries.add(marginal(rowB, net.hosts[h].pop), xt[l.b][k], -1);
      });
      if (elastic) {
        // Lower sides: Σy − X + unplaced(other end) ≥ 0.
        for (const [side, other, rows] of [
          [l.a, l.b, rowA],
          [l.b, l.a, rowB],
        ] as const) {
          for (const pop of rows.keys()) {
            const row = b.row(0, Number.POSITIVE_INFINITY, {
              kind: "marginal",
              period: t,
              entity: v,
            });
            for (let i = 0; i < triples.length; i += 3) {
              const matches = side === l.a ? triples[i + 1] === pop : triples[i + 2] === pop;
              if (matches) b.entries.add(row, triples[i], 1);
            }
            cand[side].forEach((h, k) => {
              if (net.hosts[h].pop === pop) b.entries.add(row, xt[side][k], -1);
            });
            b.entries.add(row, unplaced[other], 1);
          }
        }
      }
      yt.set(v, Int32Array.from(triples));
    }
    yCols.push(yt);
    constArcLoad.push(constLoad);

    // Arc rows (and link power).
    const byArc: ArcTerm[][] = Array.from({ length: A }, () => []);
    for (const term of terms) byArc[term.arc].push(term);
    const zT = new Int32Array(E).fill(-1);
    const zFixed = new Uint8Array(E).fill(1);
    for (let e = 0; e < E; e++) {
      const link = net.links[e];
      if (!power) continue;
      const anyVariable = byArc[2 * e].length > 0 || byArc[2 * e + 1].length > 0;
      const anyConst = constLoad[2 * e] > 0 || constLoad[2 * e + 1] > 0;
      if (anyConst || (alwaysOn[e] && scale > 0)) zFixed[e] = 1;
      else if (!anyVariable) zFixed[e] = 0;
      else zT[e] = b.col(w.energy * link.idleW * hours, 0, 1, BINARY);
      if (zT[e] < 0 && zFixed[e]) offset += w.energy * link.idleW * hours;
    }
    linkOn.push(zT);
    linkOnFixed.push(zFixed);
    for (let arc = 0; arc < A; arc++) {
      const e = arc >> 1;
      const link = net.links[e];
      const cap = net.arcUsable[arc];
      const list = byArc[arc];
      // Link busy power, per direction half of the link's span at full capacity.
      if (w.energy > 0 && power) {
        const perMbps =
          (w.energy * (link.busyW - link.idleW) * hours * energyRatio) /
          (2 * net.substrate.arcCapacity[arc]);
        for (const term of list) b.cost[term.col] += perMbps * term.load;
        offset += perMbps * constLoad[arc];
      }
      if (list.length === 0) continue;
      let total = constLoad[arc];
      for (const term of list) total += term.load;
      const needsLinking = power && zT[e] >= 0;
      if (total <= cap * (1 - 1e-9) && !needsLinking) continue;
      const row = b.row(
        Number.NEGATIVE_INFINITY,
        needsLinking ? -constLoad[arc] : cap - constLoad[arc],
        {
          kind: "arc",
          period: t,
          entity: arc,
        },
      );
      for (const term of list) b.entries.add(row, term.col, term.load);
      if (needsLinking) b.entries.add(row, zT[e], -cap);
      if (elastic) {
        const s = b.col(OVERFLOW_PENALTY / cap, 0, Number.POSITIVE_INFINITY, CONTINUOUS);
        b.entries.add(row, s, -1);
        slacks.push({ col: s, row, kind: "arc", period: t, entity: arc, scale: cap });
      }
    }
    if (power && !elastic) addCoverRows(b, problem, t, onT, onFixedT, scale);

    // Migrations into this period.
    const movedT = new Int32Array(R).fill(-1);
    if (t === 0) {
      let constantMoves = 0;
      const budgetTerms: number[] = [];
      for (let r = 0; r < R; r++) {
        const k = cand[r].indexOf(origin[r]);
        if (cand[r].length === 0) continue;
        if (k < 0) {
          constantMoves++;
          continue;
        }
        if (cand[r].length === 1) continue;
        b.cost[xt[r][k]] -= w.migrations;
        offset += w.migrations;
        budgetTerms.push(xt[r][k]);
      }
      offset += w.migrations * constantMoves;
      if (problem.migrationBudget !== undefined && budgetTerms.length > 0) {
        const row = b.row(
          Number.NEGATIVE_INFINITY,
          problem.migrationBudget - constantMoves - budgetTerms.length,
          {
            kind: "budget",
            period: 0,
            entity: -1,
          },
        );
        for (const c of budgetTerms) b.entries.add(row, c, -1);
        if (elastic) {
          const s = b.col(OVERFLOW_PENALTY, 0, Number.POSITIVE_INFINITY, CONTINUOUS);
          b.entries.add(row, s, -1);
          slacks.push({ col: s, row, kind: "budget", period: 0, entity: -1, scale: 1 });
        }
      }
    } else {
      const prev = x[t - 1];
      const budgetCols: number[] = [];
      for (let r = 0; r < R; r++) {
        if (cand[r].length <= 1) continue;
        const m = b.col(w.migrations, 0, 1, CONTINUOUS);
        movedT[r] = m;
        budgetCols.push(m);
        for (let k = 0; k < cand[r].length; k++) {
          const row = b.row(0, Number.POSITIVE_INFINITY, { kind: "moved", period: t, entity: r });
          b.entries.add(row, m, 1);
          b.entries.add(row, xt[r][k], -1);
          b.entries.add(row, prev[r][k], 1);
        }
      }
      if (problem.migrationBudget !== undefined && budgetCols.length > 0) {
        const row = b.row(Number.NEGATIVE_INFINITY, problem.migrationBudget, {
          kind: "budget",
          period: t,
          entity: -1,
        });
        for (const c of budgetCols) b.entries.add(row, c, 1);
        if (elastic) {
          const s = b.col(OVERFLOW_PENALTY, 0, Number.POSITIVE_INFINITY, CONTINUOUS);
          b.entries.add(row, s, -1);
          slacks.push({ col: s, row, kind: "budget", period: t, entity: -1, scale: 1 });
        }
      }
    }
    moved.push(movedT);
  }

  if (elastic)
    for (let r = 0; r < R; r++)
      slacks.push({ col: unplaced[r], row: -1, kind: "unplaced", period: 0, entity: r, scale: 1 });

  // Symmetry among identical hosts of one PoP that hold no router today.
  if (!elastic) addSymmetryRows(b, problem, x, on);

  const numCols = b.cost.length;
  const numRows = b.rowLower.length;
  const data: ModelData = {
    numCols,
    numRows,
    offset,
    colCost: Float64Array.from(b.cost),
    colLower: Float64Array.from(b.lower),
    colUpper: Float64Array.from(b.upper),
    rowLower: Float64Array.from(b.rowLower),
    rowUpper: Float64Array.from(b.rowUpper),
    matrix: b.entries.toCsr(numRows, numCols),
    integrality: Int32Array.from(b.integrality) as unknown as VariableType[],
  };
  return {
    data,
    x,
    on,
    onFixed,
    linkOn,
    linkOnFixed,
    y: yCols,
    moved,
    rows: b.rows,
    slacks,
    offset,
    constArcLoad,
    forcedMoves,
  };
}

function hostSignature(net: Network, h: number): string {
  const host = net.hosts[h];
  return JSON.stringify([
    host.pop,
    host.role,
    host.vendor,
    host.software,
    [...host.techniques].sort(),
    [...host.features].sort(),
    host.cpu,
    host.memoryMb,
    host.maxRouters,
    host.throughputMbps,
    host.idleW,
    host.busyW,
  ]);
}

function addSymmetryRows(
  b: Builder,
  problem: PlacementProblem,
  x: Int32Array[][],
  on: Int32Array[],
): void {
  const { net, candidates, origin } = problem;
  const occupied = new Set<number>(origin);
  const groups = new Map<string, number[]>();
  for (const host of net.hosts) {
    if (occupied.has(host.index)) continue;
    const key = hostSignature(net, host.index);
    const g = groups.get(key);
    if (g) g.push(host.index);
    else groups.set(key, [host.index]);
  }
  for (const group of groups.values()) {
    if (group.length < 2) continue;
    // Same candidate routers for every member (else they are not interchangeable).
    const members = group.map((h) => {
      const cols: number[] = [];
      const routers: number[] = [];
      candidates.hosts.forEach((list, r) => {
        const k = list.indexOf(h);
        if (k >= 0) {
          cols.push(x[0][r][k]);
          routers.push(r);
        }
      });
      return { h, cols, key: routers.join(",") };
    });
    for (let i = 0; i + 1 < members.length; i++) {
      const [m1, m2] = [members[i], members[i + 1]];
      if (m1.key !== m2.key || m1.cols.length === 0) continue;
      const row = b.row(0, Number.POSITIVE_INFINITY, { kind: "symmetry", period: 0, entity: m1.h });
      for (const c of m1.cols) b.entries.add(row, c, 1);
      for (const c of m2.cols) b.entries.add(row, c, -1);
      if (problem.power && on[0][m1.h] >= 0 && on[0][m2.h] >= 0) {
        const r2 = b.row(0, Number.POSITIVE_INFINITY, {
          kind: "symmetry",
          period: 0,
          entity: m1.h,
        });
        b.entries.add(r2, on[0][m1.h], 1);
        b.entries.add(r2, on[0][m2.h], -1);
      }
    }
  }
}

export interface CoverRequirement {
  /** PoPs of the set. */
  pops: number[];
  /** Hosts of the set that can be powered. */
  hosts: number[];
  /** Fewest of them that must be powered. */
  k: number;
}

/**
 * For every PoP and every set of PoPs some router may choose among: the
 * fewest of its hosts that must be powered to hold the routers confined to
 * it, per resource at traffic `scale` (hosts taken largest first).
 */
export function coverRequirements(
  net: Network,
  candidates: Candidates,
  scale: number,
  usableHost: (h: number) => boolean,
): CoverRequirement[] {
  const sets = new Map<string, number[]>();
  for (const pops of candidates.pops) {
    if (pops.length === 0) continue;
    sets.set(pops.join(","), pops);
    for (const p of pops) sets.set(String(p), [p]);
  }
  const out: CoverRequirement[] = [];
  for (const pops of sets.values()) {
    const inSet = new Set(pops);
    const hosts: number[] = [];
    for (const p of pops) for (const h of net.hostsByPop[p]) if (usableHost(h)) hosts.push(h);
    if (hosts.length === 0) continue;
    const demand = [0, 0, 0, 0];
    for (let r = 0; r < net.routers.length; r++) {
      const d = candidates.pops[r];
      if (d.length === 0 || !d.every((p) => inSet.has(p))) continue;
      demand[0] += net.routers[r].cpu;
      demand[1] += net.routers[r].memoryMb;
      demand[2] += 1;
      demand[3] += net.peak.routerLoad[r] * scale;
    }
    if (demand[2] === 0) continue;
    let k = 0;
    for (let res = 0; res < 4; res++) {
      const caps = hosts
        .map((h) => {
          const u = hostUsable(net, h);
          return [u.cpu, u.memoryMb, net.hosts[h].maxRouters, u.throughputMbps][res];
        })
        .sort((x, y) => y - x);
      let sum = 0;
      let m = 0;
      while (m < caps.length && sum < demand[res] * (1 - 1e-9)) sum += caps[m++];
      if (sum < demand[res] * (1 - 1e-9)) m = caps.length + 1;
      k = Math.max(k, m);
    }
    out.push({ pops, hosts, k });
  }
  return out;
}

/** Lower bounds on powered hosts per PoP set (see the module comment). */
function addCoverRows(
  b: Builder,
  problem: PlacementProblem,
  t: number,
  onT: Int32Array,
  onFixedT: Uint8Array,
  scale: number,
): void {
  const { net, candidates } = problem;
  for (const cover of coverRequirements(
    net,
    candidates,
    scale,
    (h) => onT[h] >= 0 || onFixedT[h] === 1,
  )) {
    let fixedOn = 0;
    const cols: number[] = [];
    for (const h of cover.hosts) {
      if (onT[h] >= 0) cols.push(onT[h]);
      else fixedOn++;
    }
    const need = cover.k - fixedOn;
    if (need <= 1 || cols.length === 0) continue;
    const row = b.row(need, Number.POSITIVE_INFINITY, {
      kind: "cover",
      period: t,
      entity: cover.pops[0],
    });
    for (const c of cols) b.entries.add(row, c, 1);
  }
}
