/**
 * Between solver columns and placements: decoding a HiGHS solution into a
 * placement per period (and which hosts and links are powered), and
 * encoding known placements as a complete MIP start.
 *
 * Decoding rounds binaries at 0.5 and refuses a solution where a router is
 * on no host or several (it would be a solver fault); whatever it returns is
 * checked again by the checker before it is shown.
 */
import type { BuiltModel, PlacementProblem } from "./model.ts";

export interface PeriodPlacement {
  placement: Int32Array;
  hostsOn: Uint8Array;
  linksOn: Uint8Array;
}

export type DecodeResult = { ok: true; periods: PeriodPlacement[] } | { ok: false; error: string };

export function decodeSolution(
  built: BuiltModel,
  problem: PlacementProblem,
  colValue: Float64Array,
): DecodeResult {
  const { net, candidates } = problem;
  const periods: PeriodPlacement[] = [];
  for (let t = 0; t < problem.periods.length; t++) {
    const placement = new Int32Array(net.routers.length).fill(-1);
    for (let r = 0; r < net.routers.length; r++) {
      const cols = built.x[t][r];
      for (let k = 0; k < cols.length; k++) {
        if (colValue[cols[k]] <= 0.5) continue;
        if (placement[r] >= 0)
          return {
            ok: false,
            error: `solution puts router ${net.routers[r].name} on two hosts in period ${t}`,
          };
        placement[r] = candidates.hosts[r][k];
      }
      if (placement[r] < 0)
        return {
          ok: false,
          error: `solution leaves router ${net.routers[r].name} without a host in period ${t}`,
        };
    }
    const hostsOn = new Uint8Array(net.hosts.length);
    for (let h = 0; h < net.hosts.length; h++) {
      const c = built.on[t][h];
      hostsOn[h] = c >= 0 ? (colValue[c] > 0.5 ? 1 : 0) : built.onFixed[t][h];
    }
    const linksOn = new Uint8Array(net.links.length);
    for (let e = 0; e < net.links.length; e++) {
      const c = built.linkOn[t][e];
      linksOn[e] = c >= 0 ? (colValue[c] > 0.5 ? 1 : 0) : built.linkOnFixed[t][e];
    }
    periods.push({ placement, hostsOn, linksOn });
  }
  return { ok: true, periods };
}

/**
 * A full column assignment for given placements (hosts on where a router
 * is, every link with a power column on), or null if a placement uses a
 * host outside the router's candidates.
 */
export function encodeStart(
  built: BuiltModel,
  problem: PlacementProblem,
  placements: readonly Int32Array[],
): Float64Array | null {
  const { net, candidates } = problem;
  const values = new Float64Array(built.data.numCols);
  for (let t = 0; t < placements.length; t++) {
    const placement = placements[t];
    const kOf = new Int32Array(net.routers.length);
    for (let r = 0; r < net.routers.length; r++) {
      const k = candidates.hosts[r].indexOf(placement[r]);
      if (k < 0) return null;
      kOf[r] = k;
      values[built.x[t][r][k]] = 1;
      const h = placement[r];
      if (built.on[t][h] >= 0) values[built.on[t][h]] = 1;
    }
    for (const c of built.linkOn[t]) if (c >= 0) values[c] = 1;
    for (const [v, triples] of built.y[t]) {
      const l = net.vlinks[v];
      const p = net.hosts[placement[l.a]].pop;
      const q = net.hosts[placement[l.b]].pop;
      let found = false;
      for (let i = 0; i < triples.length; i += 3)
        if (triples[i + 1] === p && triples[i + 2] === q) {
          values[triples[i]] = 1;
          found = true;
        }
      if (!found) return null;
    }
    if (t > 0)
      for (let r = 0; r < net.routers.length; r++) {
        const m = built.moved[t][r];
        if (m >= 0 && placements[t - 1][r] !== placement[r]) values[m] = 1;
      }
  }
  return values;
}
