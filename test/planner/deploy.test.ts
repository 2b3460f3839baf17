import { describe, expect, it } from "vitest";
import { deploymentOrder, planDeploy } from "../../migration/planner/deploy.ts";
import { loadNetwork } from "../../migration/planner/load.ts";
import { PlanRequestError } from "../../migration/planner/plan.ts";
import { host, network, router } from "./fixtures.ts";

function trialNet() {
  const r = loadNetwork(new URL("../../examples/abilene-trial.yaml", import.meta.url).pathname);
  if (!r.ok) throw new Error(r.errors.join("\n"));
  return r.network;
}

describe("service deployment", () => {
  it("moves every trial router onto the backbone in stages, each stage optimal and the whole verified", async () => {
    const net = trialNet();
    const plan = await planDeploy(net, { stageSize: 2 });
    expect(plan.status).toBe("optimal");
    expect(plan.stages.map((s) => s.routers.length)).toEqual([2, 2, 1]);
    const trial = new Set(plan.trialHosts);
    for (const [r, h] of Object.entries(plan.finalPlacement))
      if (r.startsWith("mc-")) expect(trial.has(h)).toBe(false);
    // Nothing lands on a trial host, and each stage moves only its own routers (there is room).
    for (const m of plan.migrations) expect(trial.has(m.to)).toBe(false);
    for (const s of plan.stages)
      expect(s.migrations.map((m) => m.router).sort()).toEqual([...s.routers].sort());
    expect(plan.cost.backboneMigrations).toBe(0);
    expect(plan.checks.passed).toBe(true);
    expect(plan.trafficScale).toBe(1);
  });

  it("follows explicit stages and refuses routers that are not on trial hosts", async () => {
    const net = trialNet();
    const plan = await planDeploy(net, { stages: [["mc-nycm", "mc-wash"], ["mc-chin"]] });
    expect(plan.stages.map((s) => s.routers)).toEqual([
      ["mc-nycm", "mc-wash"],
      ["mc-chin"],
      expect.any(Array),
    ]);
    expect(plan.stages[2].routers.sort()).toEqual(["mc-atla", "mc-ipls"]);
    await expect(planDeploy(net, { stages: [["nycm-core"]] })).rejects.toThrow(
      /not on a trial host/,
    );
    await expect(planDeploy(net, { stages: [["mc-nycm"], ["mc-nycm"]] })).rejects.toThrow(
      /in two stages/,
    );
    await expect(planDeploy(net, { trialHosts: ["nycm-1"], stageSize: 0 })).rejects.toThrow(
      PlanRequestError,
    );
  });

  it("orders trial routers breadth-first from the best connected to the backbone", () => {
    const net = network({
      name: "bfs",
      pops: [{ name: "A", lat: 40, lon: -75 }],
      hosts: [host("bb", "A"), host("lab", "A", { role: "trial" })],
      routers: [
        router("core", "bb"),
        router("t1", "lab"),
        router("t2", "lab"),
        router("t3", "lab"),
        router("t4", "lab"),
      ],
      virtualLinks: [
        { a: "t1", b: "t2" },
        { a: "t2", b: "t3" },
        { a: "t3", b: "core" },
        { a: "t3", b: "t4" },
      ],
    });
    const trial = new Set([1, 2, 3, 4]);
    expect(deploymentOrder(net, trial).map((r) => net.routers[r].name)).toEqual([
      "t3",
      "t2",
      "t4",
      "t1",
    ]);
  });

  it("says which stage has no plan and why", async () => {
    const net = network({
      name: "full",
      headroom: { links: 0, hosts: 0 },
      pops: [{ name: "A", lat: 40, lon: -75 }],
      hosts: [host("bb", "A", { routers: 2 }), host("lab", "A", { role: "trial" })],
      routers: [router("core", "bb"), router("t1", "lab"), router("t2", "lab")],
      virtualLinks: [{ a: "t1", b: "core" }],
    });
    const plan = await planDeploy(net, { stageSize: 1 });
    expect(plan.status).toBe("infeasible");
    expect(plan.stages.map((s) => s.status)).toEqual(["optimal", "infeasible"]);
    expect(plan.explanation[0]).toBe("stage 2 (t2):");
    expect(plan.explanation.join("\n")).toMatch(/host bb short of routers: 3 of 2/);
  });
});
