import { describe, expect, it } from "vitest";
import { AbortReason, RefusalCode } from "../../migration/errors.ts";
import { SOURCE_TRANSITIONS, type SourceState } from "../../migration/source.ts";
import { TARGET_TRANSITIONS, type TargetState } from "../../migration/target.ts";
import { fibText, GENEROUS_OFFER } from "./fakes.ts";
import { ROUTER, Sim, type SimOptions, SOURCE, START_EPOCH, TARGET } from "./sim.ts";

const NEW_EPOCH = START_EPOCH + 1;

const s0 = (sim: Sim) => sim.sourceSummary!;

async function simulate(options: SimOptions = {}, limitMs?: number): Promise<Sim> {
  const sim = new Sim(options);
  await sim.init();
  await sim.run(limitMs);
  return sim;
}

function legal<S extends string>(history: readonly S[], table: Record<S, readonly S[]>): string[] {
  const bad: string[] = [];
  for (let i = 1; i < history.length; i++) {
    if (!table[history[i - 1]].includes(history[i])) bad.push(`${history[i - 1]} -> ${history[i]}`);
  }
  return bad;
}

/** Checks the end state is one of the two consistent ones; answers which. */
function settled(sim: Sim): "moved" | "stayed" {
  expect(sim.violations).toEqual([]);
  expect(legal<SourceState>(sim.source.history, SOURCE_TRANSITIONS)).toEqual([]);
  if (sim.target !== undefined) {
    expect(legal<TargetState>(sim.target.history, TARGET_TRANSITIONS)).toEqual([]);
  }
  const src = sim.srcStore.get(ROUTER)!;
  const tgt = sim.tgtStore.get(ROUTER);
  if (sim.sourceRunning) {
    // Rolled back (or taken back): the source owns and runs it, the target holds nothing.
    expect(sim.source.finished).toBe(true);
    expect(["rolled-back", "reclaimed"]).toContain(sim.sourceSummary?.outcome);
    expect(src.role).toBe("owned");
    expect(src.epoch).toBeGreaterThanOrEqual(START_EPOCH);
    expect(sim.targetRunning).toBe(false);
    expect(sim.factory.leftovers()).toEqual([]);
    expect(sim.tgtSub.links.has(ROUTER)).toBe(false);
    expect(tgt?.role ?? "none").not.toBe("owned");
    expect(sim.srcSub.redirected.has(ROUTER)).toBe(false);
    expect(sim.router.frozen).toBe(false);
    return "stayed";
  }
  // Moved: the target owns and runs it, the source dropped it under the same epoch.
  expect(sim.targetRunning).toBe(true);
  expect(tgt).toMatchObject({ role: "owned", epoch: NEW_EPOCH });
  expect(src).toMatchObject({ role: "gone", epoch: NEW_EPOCH, peer: TARGET });
  expect(sim.srcSub.dropped.has(ROUTER)).toBe(true);
  expect(sim.sourceSummary?.outcome).toBe("moved");
  return "moved";
}

describe("a migration with nothing going wrong", () => {
  it("moves the router: FIB, adjacencies, control state, timers and queued packets all arrive", async () => {
    const sim = await simulate({ routes: 300, chunkBytes: 512 });
    expect(settled(sim)).toBe("moved");
    const standby = sim.factory.activeRouters()[0];
    expect(standby.epoch).toBe(NEW_EPOCH);
    expect(fibText(standby.fib!)).toBe(sim.router.fibState());
    expect(standby.fib!.seq).toBe(sim.router.fib.seq);
    expect(standby.adjacencies).toEqual(sim.router.adjacencies);
    expect([...standby.control]).toEqual([...sim.router.control]);
    // Timers move to the target's clock; the freeze does not count against them.
    const shift = standby.timers["bgp:198.18.0.1:hold"] - sim.router.timers["bgp:198.18.0.1:hold"];
    expect(shift).toBeGreaterThan(0);
    expect(shift).toBeLessThanOrEqual(s0(sim).cpFreezeMs);
    for (const [k, at] of Object.entries(sim.router.timers))
      expect(standby.timers[k]).toBe(at + shift);
    expect(sim.source.history).toEqual([
      "preparing",
      "cloning",
      "pre-copy",
      "frozen",
      "deciding",
      "committing",
      "redirecting",
      "moving-links",
      "cleaning-up",
      "done",
    ]);
    expect(sim.target?.history).toEqual([
      "awaiting-prepare",
      "preparing-links",
      "receiving",
      "voted",
      "activating",
      "active",
      "done",
    ]);
    // Links move one by one: re-home, tell the target, unswitch; then the router goes.
    expect(sim.srcSub.calls).toEqual([
      `redirect ${ROUTER} ${TARGET}`,
      `rehome ${ROUTER} 0 ${TARGET}`,
      `unswitch ${ROUTER} 0`,
      `rehome ${ROUTER} 1 ${TARGET}`,
      `unswitch ${ROUTER} 1`,
      `drop ${ROUTER}`,
    ]);
    expect(sim.tgtSub.rehomed.get(ROUTER)).toEqual([0, 1]);
    const s = sim.sourceSummary!;
    expect(s.outcome).toBe("moved");
    expect(s.epoch).toBe(NEW_EPOCH);
    expect(s.cpFreezeMs).toBeGreaterThan(0);
    expect(s.cpFreezeMs).toBeLessThan(s.totalMs);
    expect(s.bytes).toBeGreaterThan(300 * 6);
    expect(s.rounds).toBeGreaterThanOrEqual(1);
    expect(s.dataPlaneRounds).toBeGreaterThanOrEqual(1);
    expect(sim.router.ended).toBe(1);
    expect(sim.router.fib.journal).toBeUndefined();
    // Progress went through the phases in order.
    const phases = [
      ...new Set(sim.progress.filter((p) => p.role === "source").map((p) => p.phase)),
    ];
    expect(phases).toEqual([
      "prepare",
      "clone-data-plane",
      "pre-copy",
      "freeze-commit",
      "move-links",
      "clean-up",
      "done",
    ]);
  });

  it("keeps the standby's FIB equal to the source's at every journal point while routes change", async () => {
    let added = 0;
    const sim = await simulate({
      routes: 200,
      chunkBytes: 256,
      precopy: { smallEnoughBytes: 64, maxRounds: 6 },
      churn: (s) => {
        if (s.router.frozen || s.source.committed) return;
        // The control plane keeps learning and withdrawing routes, and its sessions keep talking.
        s.router.route4((0xc6130000 + added) >>> 0, 32, added % 3);
        if (added % 3 === 0) s.router.unroute4((0xc6120000 + added) >>> 0, 32);
        s.router.set(`rib:${added}`, `path ${added}`);
        added++;
      },
    });
    expect(settled(sim)).toBe("moved");
    const standby = sim.factory.activeRouters()[0];
    expect(standby.fibAt.size).toBeGreaterThan(2);
    for (const [seq, text] of standby.fibAt) {
      expect(sim.router.fibAt.get(seq), `FIB at seq ${seq}`).toBe(text);
    }
    expect(fibText(standby.fib!)).toBe(sim.router.fibState());
    expect([...standby.control]).toEqual([...sim.router.control]);
    expect(sim.sourceSummary!.rounds).toBeGreaterThan(1);
  });

  it("stops pre-copy at the round limit when the changes never get small", async () => {
    let n = 0;
    const sim = await simulate({
      routes: 50,
      precopy: { smallEnoughBytes: 0, maxRounds: 3 },
      churn: (s) => {
        if (s.router.frozen || s.source.committed) return;
        s.router.set(`k${n++}`, "x".repeat(100));
      },
    });
    expect(settled(sim)).toBe("moved");
    // Snapshot plus three rounds of changes.
    expect(sim.sourceSummary!.rounds).toBe(4);
    const standby = sim.factory.activeRouters()[0];
    expect([...standby.control]).toEqual([...sim.router.control]);
  });

  it("hands over the control packets that arrive during the freeze, before and after the final state", async () => {
    let sent = 0;
    const sim = await simulate({
      routes: 20,
      churn: (s) => {
        if (s.router.frozen && !s.srcSub.redirected.has(ROUTER)) {
          s.router.controlPacket(new TextEncoder().encode(`bgp-update-${sent++}`));
        }
      },
    });
    expect(settled(sim)).toBe("moved");
    expect(sent).toBeGreaterThan(2);
    const standby = sim.factory.activeRouters()[0];
    expect(standby.processed).toEqual(Array.from({ length: sent }, (_, i) => `bgp-update-${i}`));
    expect(sim.router.processed).toEqual([]);
  });

  it("moves a router with no routes and no interfaces", async () => {
    const sim = await simulate({ routes: 0, interfaces: 0 });
    expect(settled(sim)).toBe("moved");
    expect(sim.srcSub.calls).toEqual([`redirect ${ROUTER} ${TARGET}`, `drop ${ROUTER}`]);
  });
});

describe("refusals before anything moves", () => {
  it("refuses a router the target has no room for, naming the shortfall", async () => {
    const sim = await simulate({ offer: { ...GENEROUS_OFFER, freeMemoryBytes: 1000 } });
    expect(settled(sim)).toBe("stayed");
    expect(sim.sourceSummary).toMatchObject({
      outcome: "rolled-back",
      reason: AbortReason.Refused,
      refusal: RefusalCode.Capacity,
    });
    expect(sim.sourceSummary!.detail).toMatch(/needs 1048576 bytes of memory, 1000 are free/);
    expect(sim.factory.created).toEqual([]);
    expect(sim.tgtSub.calls).toEqual([]);
    expect(sim.router.freezes).toBe(0);
    expect(sim.srcStore.get(ROUTER)).toMatchObject({ role: "owned", epoch: START_EPOCH });
  });

  it("refuses a router that needs a capability the target lacks", async () => {
    const sim = await simulate({ offer: { ...GENEROUS_OFFER, capabilities: ["ipv6"] } });
    expect(settled(sim)).toBe("stayed");
    expect(sim.sourceSummary).toMatchObject({ refusal: RefusalCode.Capability });
    expect(sim.sourceSummary!.detail).toMatch(/missing capability: bgp/);
  });

  it("refuses when no router slot is left or the table is too big", async () => {
    let sim = await simulate({ offer: { ...GENEROUS_OFFER, freeRouterSlots: 0 } });
    expect(sim.sourceSummary).toMatchObject({ refusal: RefusalCode.Capacity });
    sim = await simulate({ routes: 50, offer: { ...GENEROUS_OFFER, maxRoutesPerRouter: 10 } });
    expect(sim.sourceSummary!.detail).toMatch(/holds 50 routes, this host takes at most 10/);
    expect(settled(sim)).toBe("stayed");
  });

  it("refuses a router the target already runs or saw under a later epoch", async () => {
    for (const [role, epoch, code] of [
      ["owned", 1, RefusalCode.Duplicate],
      ["gone", NEW_EPOCH, RefusalCode.StaleEpoch],
      ["abandoned", NEW_EPOCH + 5, RefusalCode.StaleEpoch],
    ] as const) {
      const sim = new Sim();
      await sim.init();
      if (role === "gone") await sim.tgtStore.set(ROUTER, "owned", epoch);
      await sim.tgtStore.set(ROUTER, role, epoch);
      // The target session reads the record when the hello arrives.
      (sim as unknown as { newTarget(): void }).newTarget();
      await sim.run();
      expect(sim.sourceSummary, `${role} ${epoch}`).toMatchObject({ refusal: code });
      expect(sim.router.freezes).toBe(0);
      expect(sim.factory.created).toEqual([]);
    }
  });

  it("rolls back when the target cannot create the links, releasing what it made", async () => {
    const sim = new Sim();
    await sim.init();
    sim.tgtSub.fail.prepareLinks = 1;
    await sim.run();
    expect(settled(sim)).toBe("stayed");
    expect(sim.sourceSummary).toMatchObject({ refusal: RefusalCode.LinkSetup });
    expect(sim.tgtSub.calls).toEqual([`release-links ${ROUTER}`]);
    expect(sim.factory.created[0].discarded).toBe(true);
  });
});

describe("failures before the commit roll back", () => {
  it("rolls back when the target cannot apply the control state", async () => {
    const sim = new Sim();
    await sim.init();
    sim.factory.failOn = { loadControl: "RIB does not fit" };
    await sim.run();
    expect(settled(sim)).toBe("stayed");
    expect(sim.sourceSummary).toMatchObject({ reason: AbortReason.PeerAborted });
    expect(sim.sourceSummary!.detail).toMatch(/RIB does not fit/);
    expect(sim.router.freezes).toBe(0);
  });

  it("rolls back and thaws when the final state does not apply", async () => {
    const sim = new Sim({ routes: 10 });
    await sim.init();
    sim.factory.failOn = { stageFinal: "bad timers" };
    await sim.run();
    expect(settled(sim)).toBe("stayed");
    expect(sim.router.freezes).toBe(1);
    expect(sim.router.thaws).toBe(1);
  });

  it("rolls back when the router fails to freeze or to snapshot", async () => {
    for (const method of [
      "freeze",
      "controlSnapshot",
      "dataPlaneSnapshot",
      "finalState",
    ] as const) {
      const sim = new Sim();
      await sim.init();
      sim.router.failOn = { [method]: `${method} broke` };
      await sim.run();
      expect(settled(sim), method).toBe("stayed");
      expect(sim.sourceSummary).toMatchObject({ reason: AbortReason.RouterError });
      expect(sim.target?.finished).toBe(true);
    }
  });

  it("times out a silent target before the vote, within the freeze budget", async () => {
    const sim = new Sim({ sourceTimeouts: { voteMs: 50 } });
    await sim.init();
    let frozenAt = -1;
    sim.options.fault = (s) => {
      if (s.router.frozen && frozenAt < 0) {
        frozenAt = s.now;
        s.blackhole = true;
      }
    };
    await sim.run();
    expect(settled(sim)).toBe("stayed");
    expect(sim.sourceSummary).toMatchObject({ reason: AbortReason.Timeout });
    expect(sim.sourceSummary!.cpFreezeMs).toBeLessThanOrEqual(51);
  });

  it("rolls back when the decision cannot be written, and claims the router under a newer epoch", async () => {
    const sim = new Sim();
    await sim.init();
    sim.srcBackend.failWrites = 1;
    await sim.run();
    expect(settled(sim)).toBe("stayed");
    expect(sim.sourceSummary).toMatchObject({
      reason: AbortReason.PersistFailed,
      epoch: NEW_EPOCH + 1,
    });
    expect(sim.srcStore.get(ROUTER)).toMatchObject({ role: "owned", epoch: NEW_EPOCH + 1 });
  });
});

describe("after the commit the target runs the router", () => {
  it("takes the router back under a new epoch when the target cannot write its record", async () => {
    const sim = new Sim();
    await sim.init();
    sim.tgtBackend.failWrites = 1;
    await sim.run();
    expect(settled(sim)).toBe("stayed");
    expect(sim.sourceSummary).toMatchObject({
      outcome: "reclaimed",
      reason: AbortReason.TargetLost,
    });
    expect(sim.srcStore.get(ROUTER)).toMatchObject({ role: "owned", epoch: NEW_EPOCH + 1 });
    expect(sim.tgtStore.get(ROUTER)).toMatchObject({ role: "abandoned", epoch: NEW_EPOCH });
  });

  it("takes the router back when activation fails at the target", async () => {
    const sim = new Sim();
    await sim.init();
    sim.factory.failOn = { activate: "no memory" };
    await sim.run();
    expect(settled(sim)).toBe("stayed");
    expect(sim.sourceSummary).toMatchObject({ outcome: "reclaimed" });
  });

  it("retries failed hooks after the commit until they work", async () => {
    const sim = new Sim({ sourceTimeouts: { retryMs: 10 } });
    await sim.init();
    sim.srcSub.fail = { redirect: 2, rehome: 1, unswitch: 1, drop: 1 };
    sim.tgtSub.fail = { linkRehomed: 1 };
    await sim.run();
    expect(settled(sim)).toBe("moved");
    expect(sim.tgtSub.rehomed.get(ROUTER)).toEqual([0, 1]);
  });
});

type Fault = { name: string; at: (sim: Sim) => void | Promise<void> };

const FAULTS: Fault[] = [
  { name: "channel cut", at: (s) => s.cut() },
  {
    name: "target killed (restarted 20 s later)",
    at: (s) => {
      s.crashTarget();
      setRestart(s, 20_000);
    },
  },
  {
    name: "channel goes silent",
    at: (s) => {
      s.blackhole = true;
    },
  },
  {
    name: "corrupted frame",
    at: (s) => {
      s.corruptNext = true;
    },
  },
  {
    name: "channel cut and partition for 5 s",
    at: (s) => {
      s.cut();
      s.partitioned = true;
      setHeal(s, 5_000);
    },
  },
];

const restarts = new WeakMap<Sim, number>();
const heals = new WeakMap<Sim, number>();
function setRestart(s: Sim, after: number): void {
  restarts.set(s, s.now + after);
}
function setHeal(s: Sim, after: number): void {
  heals.set(s, s.now + after);
}

describe("faults injected at every step", () => {
  it("counts the steps of a clean run", async () => {
    const sim = await simulate({ routes: 30, chunkBytes: 256 });
    expect(settled(sim)).toBe("moved");
    expect(sim.step).toBeGreaterThan(25);
  });

  for (const fault of FAULTS) {
    it(`${fault.name}: never on two hosts, ends consistent, at every step`, async () => {
      const clean = await simulate({ routes: 30, chunkBytes: 256 });
      const steps = clean.step;
      const outcomes = { moved: 0, stayed: 0 };
      for (let k = 0; k <= steps; k++) {
        let fired = false;
        let silentAt = -1;
        const sim = new Sim({
          routes: 30,
          chunkBytes: 256,
          sourceTimeouts: {
            ackMs: 2000,
            voteMs: 200,
            commitMs: 300,
            retryMs: 100,
            prepareMs: 2000,
          },
          targetTimeouts: { idleMs: 3000, resolveRetryMs: 100, activeIdleMs: 10_000 },
          fault: async (s, step) => {
            if (step === k && !fired) {
              fired = true;
              await fault.at(s);
              if (s.blackhole) silentAt = s.now;
            }
            const r = restarts.get(s);
            if (r !== undefined && s.now >= r && !s.targetAlive) {
              restarts.delete(s);
              await s.restartTarget();
            }
            const h = heals.get(s);
            if (h !== undefined && s.now >= h) {
              heals.delete(s);
              s.partitioned = false;
            }
            // A silent channel is eventually noticed and dropped (TCP keepalive, a timeout): model it.
            if (s.blackhole && silentAt >= 0 && s.now >= silentAt + 5_000) {
              s.blackhole = false;
              s.cut();
            }
          },
        });
        await sim.init();
        // Time for restarts and heals to happen: tick through them.
        await sim.run(120_000);
        for (
          let extra = 0;
          extra < 50 && (!sim.source.finished || restarts.has(sim) || heals.has(sim));
          extra++
        ) {
          const r = restarts.get(sim);
          if (r !== undefined && !sim.targetAlive) {
            sim.now = Math.max(sim.now, r);
            restarts.delete(sim);
            await sim.restartTarget();
          }
          const h = heals.get(sim);
          if (h !== undefined) {
            sim.now = Math.max(sim.now, h);
            heals.delete(sim);
            sim.partitioned = false;
          }
          if (sim.blackhole) {
            sim.blackhole = false;
            sim.cut();
          }
          await sim.run(sim.now + 120_000);
        }
        const what = `${fault.name} at step ${k}`;
        expect(sim.source.finished, `${what}: source state ${sim.source.state}`).toBe(true);
        if (sim.target !== undefined && sim.targetAlive) {
          // A target session that outlives the source ends by itself (rolled back or active).
          await sim.run(sim.now + 120_000);
        }
        let end: "moved" | "stayed";
        try {
          end = settled(sim);
        } catch (e) {
          throw new Error(`${what}: ${(e as Error).message}\nlog: ${sim.log.join(", ")}`);
        }
        outcomes[end]++;
        const standby = sim.factory.activeRouters()[0];
        if (end === "moved") {
          // A target killed after its commit comes back with the router from its configuration.
          if (!standby.recreated) {
            expect(fibText(standby.fib!), what).toBe(sim.router.fibState());
            expect([...standby.control], what).toEqual([...sim.router.control]);
          }
        } else {
          // The source never lost its sessions: its control plane ran again within the freeze budget.
          expect(sim.router.frozen, what).toBe(false);
        }
      }
      // Early faults roll back, late ones do not undo the move.
      expect(outcomes.stayed).toBeGreaterThan(0);
      expect(outcomes.moved).toBeGreaterThan(0);
    });
  }
});

describe("recovery of an in-doubt target", () => {
  it("a target that lost the channel after its vote asks the source, which answers commit", async () => {
    const sim = new Sim({
      sourceTimeouts: { commitMs: 10_000, retryMs: 5_000 },
      targetTimeouts: { resolveRetryMs: 50 },
    });
    await sim.init();
    let cut = false;
    sim.options.fault = (s) => {
      // Cut right after the source wrote its decision, before COMMIT arrives.
      if (!cut && s.source.state === "committing") {
        cut = true;
        s.cut();
      }
    };
    await sim.run();
    expect(settled(sim)).toBe("moved");
    expect(sim.target?.history).toContain("activating");
    expect(sim.srcStore.get(ROUTER)?.role).toBe("gone");
  });

  it("a target whose source rolled back hears abort and drops its standby", async () => {
    const sim = new Sim({ sourceTimeouts: { voteMs: 20 }, targetTimeouts: { resolveRetryMs: 50 } });
    await sim.init();
    let done = false;
    sim.options.fault = (s) => {
      // Lose READY: the source times out and thaws; the target, in doubt, must not keep a copy.
      if (!done && s.target?.state === "voted") {
        done = true;
        s.cut();
      }
    };
    await sim.run();
    expect(settled(sim)).toBe("stayed");
    expect(sim.target?.state).toBe("rolled-back");
  });
});

describe("the blocking window", () => {
  it("a target killed after the decision and never back: the source stays frozen, forwarding, and never thaws", async () => {
    const sim = new Sim({ sourceTimeouts: { retryMs: 100, commitMs: 200 } });
    await sim.init();
    let killed = false;
    sim.options.fault = (s) => {
      if (!killed && s.source.state === "committing") {
        killed = true;
        s.crashTarget();
      }
    };
    await sim.run(60_000);
    expect(sim.violations).toEqual([]);
    expect(sim.source.state).toBe("committing");
    expect(sim.router.frozen).toBe(true);
    expect(sim.router.thaws).toBe(0);
    expect(sim.srcSub.dropped.has(ROUTER)).toBe(false);
    expect(sim.srcStore.get(ROUTER)).toMatchObject({ role: "outgoing", epoch: NEW_EPOCH });
    // Back after a minute with no record of the router: it says so, the source takes it back.
    await sim.restartTarget();
    await sim.run(120_000);
    expect(settled(sim)).toBe("stayed");
    expect(sim.sourceSummary).toMatchObject({ outcome: "reclaimed", epoch: NEW_EPOCH + 1 });
    expect(sim.tgtStore.get(ROUTER)).toMatchObject({ role: "abandoned", epoch: NEW_EPOCH });
  });
});

describe("the source stays put", () => {
  it("keeps its ownership record and epoch after a refusal", async () => {
    const sim = await simulate({ offer: { ...GENEROUS_OFFER, freeRouterSlots: 0 } });
    expect(sim.srcStore.get(ROUTER)).toMatchObject({ role: "owned", epoch: START_EPOCH });
    expect(sim.srcStore.hypervisor).toBe(SOURCE);
  });
});
