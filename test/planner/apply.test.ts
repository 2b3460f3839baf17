import { describe, expect, it } from "vitest";
import { applyPlan } from "../../migration/planner/apply.ts";
import { planMaintenance } from "../../migration/planner/maintenance.ts";
import { type FailureRule, MemoryMigrator } from "../../migration/planner/memory-migrator.ts";
import type { Network } from "../../migration/planner/network.ts";
import { stepsFromJson } from "../../migration/planner/plan.ts";
import type { PlanStep } from "../../migration/planner/verify.ts";
import { evacuationNet } from "./fixtures.ts";

async function planned(): Promise<{
  net: Network;
  steps: PlanStep[];
  initial: Int32Array;
  scale: number;
}> {
  const net = evacuationNet();
  // Evacuating a1 and b1 sends r1 and r2 to c1: two migrations.
  const plan = await planMaintenance(net, { evacuate: ["a1", "b1"] });
  expect(plan.status).toBe("optimal");
  const parsed = stepsFromJson(net, plan.steps);
  if (!parsed.ok) throw new Error(parsed.errors.join("; "));
  return {
    net,
    steps: parsed.steps,
    initial: Int32Array.from(net.routers.map((r) => r.host)),
    scale: plan.trafficScale,
  };
}

function migrator(net: Network, rule?: FailureRule) {
  const placement: Record<string, string> = {};
  for (const r of net.routers) placement[r.name] = net.hosts[r.host].name;
  return new MemoryMigrator(
    placement,
    net.hosts.map((h) => h.name),
    rule,
  );
}

describe("applying a plan", () => {
  it("runs every step in order and checks the end state", async () => {
    const { net, steps, initial, scale } = await planned();
    expect(steps).toHaveLength(2);
    const m = migrator(net);
    const events: string[] = [];
    const report = await applyPlan(net, initial, steps, m, {
      scale,
      onStep: (e) => events.push(`${e.step}:${e.phase}`),
    });
    expect(report.completed).toBe(true);
    expect(report.state).toBe("complete");
    expect(report.violations).toEqual([]);
    expect(m.calls).toEqual(
      steps.map((s) => (s.kind === "migrate" ? `migrate ${net.routers[s.router].name} c1` : "")),
    );
    expect(events).toEqual(["1:start", "1:done", "2:start", "2:done"]);
    expect(report.placement).toEqual({ r1: "c1", r2: "c1", r3: "a2" });
  });

  for (const effect of ["rolled-back", "committed", "unreadable"] as const)
    for (const at of [0, 1])
      it(`stops at step ${at + 1} when the migration fails (${effect}) and says where the network is`, async () => {
        const { net, steps, initial, scale } = await planned();
        const m = migrator(net, (call) =>
          call.index === at ? { error: "target refused the router", effect } : null,
        );
        const report = await applyPlan(net, initial, steps, m, { scale });
        expect(report.completed).toBe(false);
        expect(report.stepsDone).toBe(at);
        expect(report.stoppedAt?.step).toBe(at + 1);
        expect(report.stoppedAt?.reason).toBe("target refused the router");
        expect(m.calls).toHaveLength(at + 1);
        const expected = {
          "rolled-back": "as-planned-before-step",
          committed: "as-planned-after-step",
          unreadable: "unknown",
        } as const;
        expect(report.state).toBe(expected[effect]);
        if (effect !== "unreadable") {
          expect(report.deviations).toEqual([]);
          expect(report.violations).toEqual([]);
          expect(
            report.placement?.[net.routers[(steps[at] as { router: number }).router].name],
          ).toBe(effect === "committed" ? "c1" : "a1");
        } else expect(report.placement).toBeNull();
        expect(report.summary).toContain(`stopped at step ${at + 1} of 2`);
      });

  it("refuses to go on when the network is not where the plan expects it", async () => {
    const { net, steps, initial, scale } = await planned();
    const m = migrator(net);
    m.where.set("r3", "b1"); // someone moved r3
    const report = await applyPlan(net, initial, steps, m, { scale });
    expect(report.completed).toBe(false);
    expect(report.stepsDone).toBe(0);
    expect(report.state).toBe("off-plan");
    expect(report.deviations).toEqual([{ router: "r3", expected: "a2", actual: "b1" }]);
    expect(m.calls).toEqual([]);
  });

  it("refuses a step that would break a constraint, before running it", async () => {
    const net = evacuationNet();
    // a2 takes one router and holds r3: moving r1 there overloads it.
    const steps: PlanStep[] = [{ kind: "migrate", router: 0, from: 0, to: 1, staging: false }];
    const m = migrator(net);
    const report = await applyPlan(net, Int32Array.from(net.routers.map((r) => r.host)), steps, m, {
      scale: 1,
    });
    expect(report.state).toBe("as-planned-before-step");
    expect(report.stoppedAt?.reason).toMatch(/would break constraints: host a2: routers 2 of 1/);
    expect(m.calls).toEqual([]);
  });

  it("refuses power steps without a migrator that powers hosts, and stops when aborted", async () => {
    const { net, steps, initial, scale } = await planned();
    const plain = migrator(net);
    const noPower = { placement: plain.placement.bind(plain), migrate: plain.migrate.bind(plain) };
    const withPower: PlanStep[] = [...steps, { kind: "power-off", host: 0 }];
    const refused = await applyPlan(net, initial, withPower, noPower, { scale });
    expect(refused.stepsDone).toBe(0);
    expect(refused.stoppedAt?.reason).toMatch(/cannot/);
    expect(plain.calls).toEqual([]);

    const controller = new AbortController();
    const m = migrator(net);
    const report = await applyPlan(net, initial, withPower, m, {
      scale,
      signal: controller.signal,
      onStep: (e) => {
        if (e.step === 1 && e.phase === "done") controller.abort();
      },
    });
    expect(report.stepsDone).toBe(1);
    expect(report.stoppedAt?.reason).toBe("aborted");
    expect(report.state).toBe("as-planned-before-step");
  });

  it("powers hosts off once empty", async () => {
    const { net, steps, initial, scale } = await planned();
    const m = migrator(net);
    const report = await applyPlan(
      net,
      initial,
      [...steps, { kind: "power-off", host: 0 }, { kind: "power-off", host: 2 }],
      m,
      {
        scale,
      },
    );
    expect(report.completed).toBe(true);
    expect(m.powered.get("a1")).toBe(false);
    expect(m.powered.get("b1")).toBe(false);
  });
});
