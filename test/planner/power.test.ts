import { describe, expect, it } from "vitest";
import { loadNetwork } from "../../migration/planner/load.ts";
import { buildNetwork, type Network } from "../../migration/planner/network.ts";
import { stepsFromJson } from "../../migration/planner/plan.ts";
import { planPower, statePower } from "../../migration/planner/power.ts";
import { generateNetwork } from "../../migration/planner/synthetic.ts";
import { verifySteps } from "../../migration/planner/verify.ts";
import { host, network, router } from "./fixtures.ts";

/**
 * One PoP, two hosts (100 W idle, 200 W at 1 Gb/s), r1 on h1 and r2 on h2,
 * each forwarding 800 Mb/s at the peak: they share a host only when traffic
 * is at most 5/8 of the peak. Four one-hour slots at 1, 0.5, 0.5, 1.
 */
function pair() {
  const hourly = Array(24).fill(1);
  hourly[1] = 0.5;
  hourly[2] = 0.5;
  return network({
    name: "pair",
    headroom: { links: 0, hosts: 0 },
    pops: [{ name: "A", lat: 40, lon: -75 }],
    hosts: [host("h1", "A", { throughputMbps: 1000 }), host("h2", "A", { throughputMbps: 1000 })],
    routers: [router("r1", "h1"), router("r2", "h2")],
    virtualLinks: [{ a: "r1", b: "r2" }],
    externalLinks: [
      { router: "r1", pop: "A", weight: 1 },
      { router: "r2", pop: "A", weight: 1 },
    ],
    traffic: { peakMbps: 800, diurnal: { hourly } },
  });
}

const day = { slots: 4, startHour: 0, slotHours: 1, migrationBudget: 1 };

function abilene(): Network {
  const r = loadNetwork(new URL("../../examples/abilene.yaml", import.meta.url).pathname);
  if (!r.ok) throw new Error(r.errors.join("; "));
  return r.network;
}

function synthetic(pops: number, routers: number, seed: number): Network {
  const built = buildNetwork(generateNetwork({ pops, routers, seed }));
  if (!built.ok) throw new Error(built.errors.join("; "));
  return built.network;
}

describe("power savings", () => {
  it("finds the known optimum: one host at night, both at the peak", async () => {
    const net = pair();
    const plan = await planPower(net, { ...day, mode: "joint" });
    expect(plan.status).toBe("optimal");
    expect(plan.mode).toBe("joint");
    expect(plan.slots.map((s) => s.hostsOn)).toEqual([2, 1, 1, 2]);
    // Baseline: 360 + 280 + 280 + 360 Wh; plan: 360 + 180 + 180 + 360 Wh.
    expect(plan.baselineWh).toBeCloseTo(1280, 6);
    expect(plan.energyWh).toBeCloseTo(1080, 6);
    expect(plan.energySavedFraction).toBeCloseTo(200 / 1280, 6);
    expect(plan.migrations).toHaveLength(2);
    expect(plan.migrations.map((m) => m.slot)).toEqual([1, 3]);
    expect(plan.steps.map((s) => s.kind)).toEqual(["migrate", "power-off", "power-on", "migrate"]);
    expect(plan.checks.passed).toBe(true);
    expect(plan.energyBoundWh).toBeLessThanOrEqual(plan.energyWh + 1e-6);
  });

  it("slot by slot: the same optimum without look-ahead, a safe but dearer plan with it", async () => {
    const net = pair();
    const plain = await planPower(net, { ...day, mode: "rolling", lookahead: 0 });
    expect(plain.status).toBe("feasible");
    expect(plain.energyWh).toBeCloseTo(1080, 6);
    expect(plain.gap).toBeCloseTo(0, 6);
    const ahead = await planPower(net, { ...day, mode: "rolling", lookahead: 1 });
    expect(ahead.checks.passed).toBe(true);
    expect(ahead.slots.map((s) => s.hostsOn)).toEqual([2, 1, 2, 2]);
    expect(ahead.energyWh).toBeCloseTo(1180, 6);
    expect(ahead.gap!).toBeGreaterThan(0);
  });

  it("keeps to the migration budget", async () => {
    const net = pair();
    const none = await planPower(net, { ...day, migrationBudget: 0 });
    expect(none.migrations).toHaveLength(0);
    expect(none.energySavedFraction).toBeCloseTo(0, 9);
    expect(none.status).toBe("optimal");
  });

  it("charges power as the model says: idle when powered, plus load over capacity", () => {
    const net = pair();
    const both = statePower(net, Int32Array.from([0, 1]), new Uint8Array([1, 1]), 1);
    expect(both.totalW).toBeCloseTo(100 + 80 + 100 + 80, 9);
    const one = statePower(net, Int32Array.from([0, 0]), new Uint8Array([1, 0]), 0.5);
    expect(one.totalW).toBeCloseTo(100 + 80, 9);
    expect(one.linksOn).toBe(0);
  });

  it("plans a day on Abilene: optimal, every transition verified again from the JSON", async () => {
    const net = abilene();
    const plan = await planPower(net, {});
    expect(plan.status).toBe("optimal");
    expect(plan.slots).toHaveLength(24);
    // The optimum, found alike by the cluster programme and by HiGHS (next test).
    expect(plan.energySavedFraction).toBeCloseTo(0.327456, 6);
    expect(plan.checks.passed).toBe(true);
    for (const s of plan.slots)
      expect(s.migrations + s.stagingMigrations).toBeLessThanOrEqual(plan.migrationBudget);
    // Replay the printed steps slot by slot with the checker.
    const parsed = stepsFromJson(net, JSON.parse(JSON.stringify(plan.steps)));
    expect(parsed.ok).toBe(true);
    if (!parsed.ok) return;
    let placement: Int32Array = Int32Array.from(net.routers.map((x) => x.host));
    let hostsOn: Uint8Array = new Uint8Array(net.hosts.length).fill(1);
    for (let t = 0; t < plan.slots.length; t++) {
      const steps = parsed.steps.filter((_, i) => parsed.tags[i].slot === t);
      const scale = Math.min(plan.slots[Math.max(0, t - 1)].peakScale, plan.slots[t].peakScale);
      const v = verifySteps(net, placement, steps, { scale, hostsOn, checkInitial: false });
      expect(v.failures).toEqual([]);
      placement = v.placement;
      hostsOn = v.hostsOn;
      expect(hostsOn.reduce((n, x) => n + x, 0)).toBe(plan.slots[t].hostsOn);
    }
  });

  it("the exact cluster programme and HiGHS agree on the optimum", async () => {
    const cases: [string, Network][] = [
      ["abilene", abilene()],
      ["synthetic 1", synthetic(6, 18, 1)],
      ["synthetic 4", synthetic(6, 18, 4)],
      ["synthetic 5", synthetic(6, 18, 5)],
    ];
    for (const [name, net] of cases) {
      const exact = await planPower(net, { mode: "joint" });
      const mip = await planPower(net, { mode: "joint", clusters: false });
      expect(exact.status, name).toBe("optimal");
      expect(exact.notes.join(" "), name).toMatch(/solved exactly over \d+ independent clusters/);
      expect(mip.status, name).toBe("optimal");
      expect(exact.checks.passed, name).toBe(true);
      // HiGHS stops within its relative gap (1e-4): the exact plan is never dearer,
      // and never below HiGHS's proved bound.
      expect(exact.energyWh, name).toBeLessThanOrEqual(mip.energyWh * (1 + 1e-9));
      expect(exact.energyWh, name).toBeGreaterThanOrEqual(mip.energyWh * (1 - 1e-4));
      expect(exact.energyBoundWh, name).toBeCloseTo(exact.energyWh, 3);
    }
  });
});
