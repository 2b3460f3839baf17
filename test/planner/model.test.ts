import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { computeCandidates } from "../../migration/planner/candidates.ts";
import { computeLoads } from "../../migration/planner/checker.ts";
import { decodeSolution, encodeStart } from "../../migration/planner/decode.ts";
import { loadNetwork } from "../../migration/planner/load.ts";
import { buildModel, type PlacementProblem } from "../../migration/planner/model.ts";
import { statePower } from "../../migration/planner/power.ts";
import { solveModel } from "../../migration/planner/solver.ts";

/** The MIP and the checker must describe the same network: a placement's model rows and cost match the checker's loads and power. */
describe("the placement model against the checker", () => {
  const r = loadNetwork(new URL("../../examples/abilene.yaml", import.meta.url).pathname);
  if (!r.ok) throw new Error(r.errors.join("\n"));
  const net = r.network;
  const candidates = computeCandidates(net);
  const origin = Int32Array.from(net.routers.map((x) => x.host));
  const problem = (scale: number, mean: number): PlacementProblem => ({
    net,
    candidates,
    origin,
    periods: [{ scale, meanScale: mean, hours: 1 }],
    power: true,
    weights: { migrations: 0, latency: 0, energy: 1 },
  });

  it("gives every placement the checker's arc loads and the power model's energy", () => {
    fc.assert(
      fc.property(
        fc.array(fc.nat(), { minLength: net.routers.length, maxLength: net.routers.length }),
        fc.double({ min: 0.2, max: 1, noNaN: true }),
        (picks, scale) => {
          const placement = Int32Array.from(
            picks.map((k, r) => candidates.hosts[r][k % candidates.hosts[r].length]),
          );
          const p = problem(scale, scale * 0.9);
          const built = buildModel(p);
          const values = encodeStart(built, p, [placement]);
          // Pairs of PoPs beyond a delay bound have no column: such placements are not in the model.
          fc.pre(values !== null);
          const v = values!;
          const loads = computeLoads(net, { placement, scale });
          const m = built.data.matrix as {
            starts: Int32Array;
            indices: Int32Array;
            values: Float64Array;
          };
          const zCols = new Set(built.linkOn[0]);
          built.rows.forEach((info, row) => {
            if (info.kind !== "arc") return;
            let load = built.constArcLoad[0][info.entity];
            for (let k = m.starts[row]; k < m.starts[row + 1]; k++)
              if (!zCols.has(m.indices[k])) load += m.values[k] * v[m.indices[k]];
            expect(load).toBeCloseTo(loads.arcLoad[info.entity], 6);
          });
          let objective = built.data.offset ?? 0;
          const cost = built.data.colCost as Float64Array;
          for (let j = 0; j < cost.length; j++) objective += cost[j] * v[j];
          const on = new Uint8Array(net.hosts.length);
          for (const h of placement) on[h] = 1;
          expect(objective).toBeCloseTo(statePower(net, placement, on, scale * 0.9).totalW, 6);
        },
      ),
      { numRuns: 60, seed: 9 },
    );
  });

  it("decodes HiGHS's solution into the placement its objective describes", async () => {
    const p = problem(0.5, 0.5);
    const built = buildModel(p);
    const outcome = await solveModel(built.data, { timeLimit: 20, mipGap: 1e-6 });
    expect(outcome.status).toBe("optimal");
    const decoded = decodeSolution(built, p, outcome.colValue!);
    expect(decoded.ok).toBe(true);
    if (!decoded.ok) return;
    const { placement, hostsOn } = decoded.periods[0];
    expect(statePower(net, placement, hostsOn, 0.5).totalW).toBeCloseTo(outcome.objective, 3);
    // At half the peak every Abilene PoP fits its three routers on one server.
    expect(hostsOn.reduce((n, x) => n + x, 0)).toBe(11);
  });
});
