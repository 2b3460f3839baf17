import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { checkState } from "../../migration/planner/checker.ts";
import { planMaintenance } from "../../migration/planner/maintenance.ts";
import { buildNetwork, type Network } from "../../migration/planner/network.ts";
import { planPower } from "../../migration/planner/power.ts";
import { generateNetwork } from "../../migration/planner/synthetic.ts";

function synthetic(pops: number, routers: number, seed: number): Network {
  const built = buildNetwork(generateNetwork({ pops, routers, seed }));
  if (!built.ok) throw new Error(built.errors.join("; "));
  return built.network;
}

/** Replays a plan's migrations with the checker alone: every state in flight and after. */
function replay(
  net: Network,
  migrations: { router: string; from: string; to: string }[],
  scale: number,
): string[] {
  const placement = Int32Array.from(net.routers.map((r) => r.host));
  const problems: string[] = [];
  for (const m of migrations) {
    const r = net.routerIndex.get(m.router)!;
    const from = net.hostIndex.get(m.from)!;
    const to = net.hostIndex.get(m.to)!;
    if (placement[r] !== from) problems.push(`${m.router} is not on ${m.from}`);
    const flight = checkState(net, { placement, scale, transit: { router: r, from, to } });
    problems.push(...flight.violations.map((v) => `in flight: ${v.message}`));
    placement[r] = to;
    problems.push(...checkState(net, { placement, scale }).violations.map((v) => v.message));
  }
  return problems;
}

describe("synthetic networks", () => {
  it("are reproducible from their seed and valid as generated", () => {
    const a = generateNetwork({ pops: 12, routers: 60, seed: 3 });
    const b = generateNetwork({ pops: 12, routers: 60, seed: 3 });
    const c = generateNetwork({ pops: 12, routers: 60, seed: 4 });
    expect(JSON.stringify(a)).toBe(JSON.stringify(b));
    expect(JSON.stringify(a)).not.toBe(JSON.stringify(c));
    const net = synthetic(12, 60, 3);
    expect(net.routers).toHaveLength(60);
    expect(net.pops).toHaveLength(12);
    expect(
      checkState(net, { placement: Int32Array.from(net.routers.map((r) => r.host)), scale: 1 }).ok,
    ).toBe(true);
    expect(() => generateNetwork({ pops: 5, routers: 3 })).toThrow(RangeError);
  });

  it("no maintenance plan passes through a state the checker rejects", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 1, max: 10_000 }),
        fc.nat(),
        fc.boolean(),
        async (seed, pick, peak) => {
          const net = synthetic(5, 25, seed);
          const evacuate = [net.hosts[pick % net.hosts.length].name];
          const plan = await planMaintenance(net, {
            evacuate,
            window: peak ? { startHour: "peak", hours: 1 } : undefined,
            timeLimit: 10,
          });
          if (plan.status === "infeasible") {
            expect(plan.explanation.length).toBeGreaterThan(0);
            expect(plan.migrations).toEqual([]);
            return;
          }
          expect(plan.checks.passed).toBe(true);
          expect(replay(net, plan.migrations, plan.trafficScale)).toEqual([]);
          expect(Object.values(plan.finalPlacement)).not.toContain(evacuate[0]);
        },
      ),
      { numRuns: 12, seed: 2024 },
    );
  });

  it("a day of power savings on a 10-PoP network is checked slot by slot and beats the baseline", async () => {
    const net = synthetic(10, 60, 11);
    const plan = await planPower(net, { timeLimit: 20, mode: "rolling" });
    expect(plan.status).toBe("feasible");
    expect(plan.checks.passed).toBe(true);
    expect(plan.energyWh).toBeLessThan(plan.baselineWh);
    expect(plan.energyBoundWh).toBeLessThanOrEqual(plan.energyWh + 1e-6);
    expect(plan.gap).toBeGreaterThanOrEqual(0);
  });
});
