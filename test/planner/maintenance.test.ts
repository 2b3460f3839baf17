import { describe, expect, it } from "vitest";
import { computeCandidates } from "../../migration/planner/candidates.ts";
import { checkState } from "../../migration/planner/checker.ts";
import { planMaintenance, quietestWindow } from "../../migration/planner/maintenance.ts";
import { orderMigrations } from "../../migration/planner/order.ts";
import { PlanRequestError } from "../../migration/planner/plan.ts";
import { verifySteps } from "../../migration/planner/verify.ts";
import { evacuationNet, host, network, router } from "./fixtures.ts";

describe("planned maintenance", () => {
  it("finds the known optimum: fewest migrations, then least added delay", async () => {
    const net = evacuationNet();
    const plan = await planMaintenance(net, { evacuate: ["a1"] });
    expect(plan.status).toBe("optimal");
    expect(plan.gap).toBe(0);
    // a2 has no room; B is closer than C (1 ms against 1.5 ms): both to b1.
    expect(plan.finalPlacement).toEqual({ r1: "b1", r2: "b1", r3: "a2" });
    expect(plan.cost.migrations).toBe(2);
    expect(plan.cost.addedLatencyMs).toBeCloseTo(2, 9);
    expect(plan.migrations.map((m) => m.router).sort()).toEqual(["r1", "r2"]);
    expect(plan.checks.passed).toBe(true);
    expect(plan.checks.statesChecked).toBe(5);
    expect(typeof plan.solveSeconds).toBe("number");
  });

  it("prefers fewer migrations to less delay", async () => {
    // b1 takes one router: moving r3 to b1 and r1, r2 into a2 is impossible (a2 holds one),
    // so one goes to b1 (1 ms) and the other to c1 (1.5 ms): 2 migrations, 2.5 ms.
    const net = evacuationNet({ b1Routers: 1 });
    const plan = await planMaintenance(net, { evacuate: ["a1"] });
    expect(plan.status).toBe("optimal");
    expect(plan.cost.migrations).toBe(2);
    expect(plan.cost.addedLatencyMs).toBeCloseTo(2.5, 9);
    expect(Object.values(plan.finalPlacement).sort()).toEqual(["a2", "b1", "c1"]);
  });

  it("explains a router no host can take, naming router and feature", async () => {
    const net = evacuationNet({ r1Needs: { acls: 100_000 } });
    // Today's host does not have the feature either: the network is refused as it stands.
    const plan = await planMaintenance(net, { evacuate: ["a2"] });
    expect(plan.status).toBe("infeasible");
    expect(plan.explanation.join("\n")).toMatch(
      /router r1 on host a1: feature acls 4000, router needs 100000/,
    );
  });

  it("explains full hosts, naming them", async () => {
    const full = network({
      ...evacuationNet().spec,
      hosts: [
        host("a1", "A", { routers: 2 }),
        host("a2", "A", { routers: 1 }),
        host("b1", "B", { routers: 1 }),
        host("c1", "C", { routers: 0 + 1, cpu: 0.5 }),
      ],
    });
    const plan = await planMaintenance(full, { evacuate: ["a1"] });
    expect(plan.status).toBe("infeasible");
    expect(plan.migrations).toEqual([]);
    expect(plan.explanation.join("\n")).toMatch(/host (a2|b1|c1) short of (routers|CPU)/);
  });

  it("explains an overloaded link, naming it", async () => {
    // r3 can only run on a2 (feature); a2 is full, C is excluded, and the A-B link
    // (150 Mb/s) cannot carry both r1's and r2's traffic to r3.
    const spec = evacuationNet({ linkMbps: 150 }).spec;
    const net = network({
      ...spec,
      hosts: spec.hosts.map((h) =>
        h.name === "a2" ? { ...h, features: { ...h.features, special: true } } : h,
      ),
      routers: spec.routers.map((r) => (r.name === "r3" ? { ...r, needs: { special: true } } : r)),
    });
    const plan = await planMaintenance(net, { evacuate: ["a1", "c1"] });
    expect(plan.status).toBe("infeasible");
    expect(plan.explanation.join("\n")).toMatch(
      /link A-B \((A→B|B→A)\) over capacity: 200\.0 Mb\/s of 150\.0 Mb\/s usable/,
    );
  });

  it("explains routers cut off by latency bounds", async () => {
    const spec = evacuationNet().spec;
    const special = (names: string[]) =>
      spec.hosts.map((h) =>
        names.includes(h.name) ? { ...h, features: { ...h.features, special: true } } : h,
      );
    // r3 pinned to a2 by a feature; r1 needs bfd, which only a1 (evacuated), b1 and c1 have.
    const hosts = special(["a2"]).map((h) =>
      h.name === "a2" ? h : { ...h, features: { ...h.features, bfd: true } },
    );
    const net = network({
      ...spec,
      latency: { ...spec.latency, slackMs: 0.5 },
      hosts,
      routers: spec.routers.map((r) =>
        r.name === "r3"
          ? { ...r, needs: { special: true } }
          : r.name === "r1"
            ? { ...r, needs: { bfd: true } }
            : r,
      ),
    });
    const stuck = await planMaintenance(net, { evacuate: ["a1"] });
    expect(stuck.status).toBe("infeasible");
    expect(stuck.explanation.join("\n")).toMatch(
      /router r1: no allowed host keeps virtual link r1-r3 within 0\.50 ms of any allowed host of router "r3"/,
    );
  });

  it("sets moves aside when no order can run them, and says so", async () => {
    // With a 0.5 ms slack the three routers can only move together, and any first
    // move would stretch a virtual link beyond its bound: no safe order exists.
    const spec = evacuationNet().spec;
    const net = network({ ...spec, latency: { ...spec.latency, slackMs: 0.5 } });
    const plan = await planMaintenance(net, { evacuate: ["a1"] });
    expect(plan.status).toBe("infeasible");
    expect(plan.explanation[0]).toMatch(/set aside because no safe order exists/);
  });

  it("refuses unknown hosts and empty requests", async () => {
    const net = evacuationNet();
    await expect(planMaintenance(net, { evacuate: ["zz"] })).rejects.toThrow(PlanRequestError);
    await expect(planMaintenance(net, { evacuate: [] })).rejects.toThrow(/at least one host/);
  });

  it("takes the quietest window of the profile by default", () => {
    const hourly = Array.from({ length: 24 }, (_, h) => (h === 4 || h === 5 ? 0.2 : 0.9));
    expect(quietestWindow({ hourly }, 2)).toBe(4);
    expect(quietestWindow({ peakHour: 20, troughFraction: 0.3 }, 2)).toBe(7);
  });
});

describe("ordering migrations", () => {
  /** Two hosts of one router each in one PoP, plus an optional spare. */
  function swapNet(spare: boolean) {
    return network({
      name: "swap",
      headroom: { links: 0, hosts: 0 },
      pops: [{ name: "A", lat: 40, lon: -75 }],
      hosts: [
        host("h1", "A", { routers: 1 }),
        host("h2", "A", { routers: 1 }),
        ...(spare ? [host("h3", "A", { routers: 1 })] : []),
      ],
      routers: [router("x", "h1"), router("y", "h2")],
    });
  }

  it("parks a router to break a cycle, and every state stays valid", () => {
    const net = swapNet(true);
    const from = Int32Array.from([0, 1]);
    const to = Int32Array.from([1, 0]);
    const cands = computeCandidates(net);
    const order = orderMigrations(net, from, to, { scale: 1, stagingHosts: (r) => cands.hosts[r] });
    expect(order.ok).toBe(true);
    if (!order.ok) return;
    expect(order.migrations).toHaveLength(3);
    expect(order.migrations[0].staging).toBe(true);
    expect(order.migrations[0].to).toBe(2);
    const verify = verifySteps(
      net,
      from,
      order.migrations.map((m) => ({ kind: "migrate" as const, ...m })),
      { scale: 1 },
    );
    expect(verify.ok).toBe(true);
    expect([...verify.placement]).toEqual([1, 0]);
  });

  it("says what blocks a cycle with nowhere to park", () => {
    const net = swapNet(false);
    const order = orderMigrations(net, Int32Array.from([0, 1]), Int32Array.from([1, 0]), {
      scale: 1,
      stagingHosts: () => [0, 1],
    });
    expect(order.ok).toBe(false);
    if (order.ok) return;
    expect(order.blocked).toHaveLength(2);
    expect(order.blocked[0].violations.map((v) => v.message)).toContain("host h2: routers 2 of 1");
  });

  it("never passes through an overloaded state: the checker agrees at every step", async () => {
    const net = evacuationNet();
    const plan = await planMaintenance(net, { evacuate: ["a1"] });
    const placement = Int32Array.from(net.routers.map((r) => r.host));
    for (const m of plan.migrations) {
      const r = net.routerIndex.get(m.router)!;
      const to = net.hostIndex.get(m.to)!;
      expect(
        checkState(net, {
          placement,
          scale: plan.trafficScale,
          transit: { router: r, from: placement[r], to },
        }).ok,
      ).toBe(true);
      placement[r] = to;
      expect(checkState(net, { placement, scale: plan.trafficScale }).ok).toBe(true);
    }
  });
});
