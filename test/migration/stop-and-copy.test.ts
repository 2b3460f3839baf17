/**
 * The stop-and-copy mode of the source machine (migration/source.ts), the
 * naive scheme `bench:cutover` compares live migration with: the message
 * sequence driven by hand with a fake clock, whole runs through the
 * simulation (test/migration/sim.ts), rollbacks that must resume the data
 * plane, faults at every step; and the halt over a real Hypervisor
 * (hypervisor/migration.ts): packets dropped and counted, then redirected
 * or resumed.
 */
import { afterEach, describe, expect, it } from "vitest";
import { Hypervisor } from "../../hypervisor/hypervisor.ts";
import type { Link } from "../../hypervisor/link.ts";
import { type MemoryLink, memoryLinkPair } from "../../hypervisor/links/memory.ts";
import {
  HaltLink,
  HypervisorSourceSubstrate,
  haltLinkName,
  tunnelLinkName,
} from "../../hypervisor/migration.ts";
import { AbortReason } from "../../migration/errors.ts";
import { BlobKind, type Message } from "../../migration/messages.ts";
import {
  MigrationMode,
  SOURCE_TRANSITIONS,
  type SourceAction,
  SourceMachine,
  type SourceState,
} from "../../migration/source.ts";
import { PacketArena } from "../../router/batch.ts";
import {
  type ForwardRouter,
  fillBatch,
  packetsOf,
  placeOnMemoryLinks,
  seqOf,
  seqPacket,
} from "../hypervisor/fakes.ts";
import { FakeRouter, fillRoutes } from "./fakes.ts";
import { ROUTER, Sim, type SimOptions, START_EPOCH, TARGET } from "./sim.ts";

const STOP = MigrationMode.StopAndCopy;

function legal(history: readonly SourceState[]): string[] {
  const bad: string[] = [];
  for (let i = 1; i < history.length; i++) {
    if (!SOURCE_TRANSITIONS[history[i - 1]].includes(history[i]))
      bad.push(`${history[i - 1]} -> ${history[i]}`);
  }
  return bad;
}

async function simulate(options: SimOptions = {}): Promise<Sim> {
  const sim = new Sim({ mode: STOP, ...options });
  await sim.init();
  await sim.run();
  return sim;
}

const KIND_NAME = new Map<number, string>(Object.entries(BlobKind).map(([k, v]) => [v, k]));

/** What a step asked for, in words: sends by type (blobs by kind), hooks, writes. */
function asked(actions: SourceAction[]): string[] {
  const out: string[] = [];
  for (const a of actions) {
    if (a.type === "send") {
      const m = a.message;
      out.push(m.type === "blob" ? `blob ${KIND_NAME.get(m.kind) ?? m.kind}` : m.type);
    } else if (a.type === "hook") out.push(`hook ${a.hook}`);
    else if (a.type === "persist") out.push(`persist ${a.role}`);
    else if (a.type === "finished") out.push(`finished ${a.summary.outcome}`);
  }
  return out;
}

function machine(routes = 50): { core: SourceMachine; router: FakeRouter } {
  const router = new FakeRouter(ROUTER, 2);
  fillRoutes(router, routes);
  router.set("bgp:198.18.0.1", "established");
  const core = new SourceMachine({
    router,
    migrationId: "00112233445566778899aabbccddeeff",
    peer: TARGET,
    fromEpoch: START_EPOCH,
    mode: STOP,
    timeouts: { ackMs: 1000, voteMs: 100 },
  });
  return { core, router };
}

const msg = (message: Message) => ({ type: "message" as const, message });

describe("stop-and-copy, the source machine by hand", () => {
  it("freezes and halts on PREPARED, then sends both images, the final state and the vote request at once", () => {
    const { core, router } = machine();
    expect(core.mode).toBe(STOP);
    expect(asked(core.handle({ type: "start" }, 0).actions)).toEqual(["prepare"]);
    // PREPARED: the control plane stops and the substrate is asked to stop the data plane.
    const prepared = core.handle(msg({ type: "prepared" }), 10);
    expect(asked(prepared.actions)).toEqual(["hook halt"]);
    expect(router.frozen).toBe(true);
    expect(core.state).toBe("halting");
    expect(prepared.deadline).toBe(10 + 1000);
    // Nothing is copied before the data plane stopped.
    const halted = core.handle({ type: "hook-done", hook: "halt" }, 12);
    expect(asked(halted.actions)).toEqual([
      "blob DataPlaneSnapshot",
      "blob ControlSnapshot",
      "blob Final",
      "vote-request",
    ]);
    expect(core.state).toBe("frozen");
    // The whole copy fits in ackMs + voteMs.
    expect(halted.deadline).toBe(12 + 1000 + 100);
    const vote = halted.actions.find(
      (a): a is Extract<SourceAction, { type: "send" }> =>
        a.type === "send" && a.message.type === "vote-request",
    )!.message as Extract<Message, { type: "vote-request" }>;
    expect(vote.dataPlaneSeq).toBe(router.fib.seq);

    // The usual commit: APPLIED for both images, READY, the decision, COMMIT, ACTIVATED, redirect.
    expect(
      asked(
        core.handle(
          msg({
            type: "applied",
            kind: BlobKind.DataPlaneSnapshot,
            round: 0,
            seq: vote.dataPlaneSeq,
          }),
          20,
        ).actions,
      ),
    ).toEqual([]);
    const ctlVersion = router.controlSnapshot().version;
    expect(
      asked(
        core.handle(
          msg({ type: "applied", kind: BlobKind.ControlSnapshot, round: 0, seq: ctlVersion }),
          21,
        ).actions,
      ),
    ).toEqual([]);
    expect(asked(core.handle(msg({ type: "ready" }), 22).actions)).toEqual(["persist outgoing"]);
    expect(asked(core.handle({ type: "persisted" }, 23).actions)).toEqual(["commit"]);
    expect(asked(core.handle(msg({ type: "activated" }), 30).actions)).toEqual(["hook redirect"]);
    expect(core.history).toEqual([
      "preparing",
      "halting",
      "frozen",
      "deciding",
      "committing",
      "redirecting",
    ]);
    expect(legal(core.history)).toEqual([]);
  });

  it("rolls back through resuming when halting fails: the control plane thaws, the data plane is resumed", () => {
    const { core, router } = machine();
    core.handle({ type: "start" }, 0);
    core.handle(msg({ type: "prepared" }), 1);
    const failed = core.handle({ type: "hook-failed", hook: "halt", error: "no such link" }, 2);
    expect(asked(failed.actions)).toEqual(["abort", "hook resume"]);
    expect(router.frozen).toBe(false);
    expect(core.state).toBe("resuming");
    expect(core.finished).toBe(false);
    // Nothing else moves it on: not a cancel, not a lost channel, not a late message.
    core.handle({ type: "cancel" }, 3);
    core.handle({ type: "channel-down", reason: AbortReason.ChannelLost, detail: "gone" }, 3);
    expect(core.state).toBe("resuming");
    const done = core.handle({ type: "hook-done", hook: "resume" }, 4);
    expect(asked(done.actions)).toEqual(["finished rolled-back"]);
    const summary = done.actions.find((a) => a.type === "finished")!;
    expect(summary).toMatchObject({
      summary: {
        reason: AbortReason.RouterError,
        detail: expect.stringMatching(/halting the data plane failed: no such link/),
      },
    });
    expect(core.history).toEqual(["preparing", "halting", "resuming", "rolled-back"]);
    expect(legal(core.history)).toEqual([]);
  });

  it("retries a failed resume until it works, and answers abort to a target in doubt meanwhile", () => {
    const { core } = machine();
    core.handle({ type: "start" }, 0);
    core.handle(msg({ type: "prepared" }), 1);
    core.handle({ type: "hook-done", hook: "halt" }, 2);
    core.handle({ type: "cancel", detail: "operator" }, 3);
    expect(core.state).toBe("resuming");
    const failed = core.handle({ type: "hook-failed", hook: "resume", error: "busy" }, 4);
    expect(failed.deadline).toBe(4 + 500);
    expect(core.resolve(5).outcome).toBe("abort");
    expect(asked(core.handle({ type: "tick" }, 504).actions)).toEqual(["hook resume"]);
    expect(asked(core.handle({ type: "hook-done", hook: "resume" }, 505).actions)).toEqual([
      "finished rolled-back",
    ]);
  });

  it("times out a target that never votes after ackMs + voteMs, and resumes", () => {
    const { core, router } = machine();
    core.handle({ type: "start" }, 0);
    core.handle(msg({ type: "prepared" }), 1);
    const halted = core.handle({ type: "hook-done", hook: "halt" }, 2);
    expect(asked(core.handle({ type: "tick" }, halted.deadline - 1).actions)).toEqual([]);
    const late = core.handle({ type: "tick" }, halted.deadline);
    expect(asked(late.actions)).toEqual(["abort", "hook resume"]);
    expect(router.frozen).toBe(false);
  });

  it("live mode never halts", () => {
    const router = new FakeRouter(ROUTER, 1);
    const core = new SourceMachine({
      router,
      migrationId: "00112233445566778899aabbccddeeff",
      peer: TARGET,
      fromEpoch: 1,
    });
    expect(core.mode).toBe(MigrationMode.Live);
    core.handle({ type: "start" }, 0);
    expect(asked(core.handle(msg({ type: "prepared" }), 1).actions)).toEqual([
      "blob DataPlaneSnapshot",
    ]);
    expect(router.frozen).toBe(false);
  });
});

describe("stop-and-copy, whole runs", () => {
  it("moves the router with no pre-copy: one image of each, freeze from the halt to ACTIVATED", async () => {
    let frozenAtHalt: boolean | undefined;
    let haltedAt = -1;
    const sim = new Sim({ mode: STOP, routes: 300, chunkBytes: 512 });
    await sim.init();
    sim.srcSub.onCall = (call) => {
      if (call.startsWith("halt")) {
        frozenAtHalt = sim.router.frozen;
        haltedAt = sim.now;
      }
    };
    await sim.run();
    expect(sim.violations).toEqual([]);
    expect(legal(sim.source.history)).toEqual([]);
    expect(sim.source.history).toEqual([
      "preparing",
      "halting",
      "frozen",
      "deciding",
      "committing",
      "redirecting",
      "moving-links",
      "cleaning-up",
      "done",
    ]);
    expect(frozenAtHalt).toBe(true);
    expect(sim.srcSub.calls).toEqual([
      `halt ${ROUTER}`,
      `redirect ${ROUTER} ${TARGET}`,
      `rehome ${ROUTER} 0 ${TARGET}`,
      `unswitch ${ROUTER} 0`,
      `rehome ${ROUTER} 1 ${TARGET}`,
      `unswitch ${ROUTER} 1`,
      `drop ${ROUTER}`,
    ]);
    expect(sim.srcSub.halted.size).toBe(0);
    const standby = sim.factory.activeRouters()[0];
    expect(standby.fib!.seq).toBe(sim.router.fib.seq);
    expect([...standby.control]).toEqual([...sim.router.control]);
    const s = sim.sourceSummary!;
    expect(s).toMatchObject({ outcome: "moved", rounds: 1, dataPlaneRounds: 1 });
    // The freeze covers the whole copy: from the halt (at PREPARED) to ACTIVATED.
    const activatedAt = sim.progress.find(
      (p) => p.role === "source" && p.state === "redirecting",
    )!.elapsedMs;
    expect(s.cpFreezeMs).toBeCloseTo(activatedAt - haltedAt, 6);
    expect(s.phaseMs["clone-data-plane"]).toBeUndefined();
    expect(s.phaseMs["pre-copy"]).toBeUndefined();
    const phases = [
      ...new Set(sim.progress.filter((p) => p.role === "source").map((p) => p.phase)),
    ];
    expect(phases).toEqual(["prepare", "freeze-commit", "move-links", "clean-up", "done"]);
  });

  it("freezes for longer than live migration on the same router", async () => {
    const live = new Sim({ routes: 2000, chunkBytes: 1024, latencyMs: 1 });
    await live.init();
    await live.run();
    const stop = await simulate({ routes: 2000, chunkBytes: 1024, latencyMs: 1 });
    expect(live.sourceSummary!.outcome).toBe("moved");
    expect(stop.sourceSummary!.outcome).toBe("moved");
    expect(stop.sourceSummary!.cpFreezeMs).toBeGreaterThan(live.sourceSummary!.cpFreezeMs);
  });

  it("rolls back when the target cannot apply the final state: thawed, the data plane resumed", async () => {
    const sim = new Sim({ mode: STOP, routes: 10 });
    await sim.init();
    sim.factory.failOn = { stageFinal: "bad timers" };
    await sim.run();
    expect(sim.sourceSummary).toMatchObject({ outcome: "rolled-back" });
    expect(sim.srcSub.calls).toEqual([`halt ${ROUTER}`, `resume ${ROUTER}`]);
    expect(sim.srcSub.halted.size).toBe(0);
    expect(sim.router.frozen).toBe(false);
    expect(sim.router.thaws).toBe(1);
    expect(sim.factory.leftovers()).toEqual([]);
    expect(sim.source.history.slice(-2)).toEqual(["resuming", "rolled-back"]);
    expect(legal(sim.source.history)).toEqual([]);
  });

  it("resumes before taking the router back when the target loses it after the commit", async () => {
    const sim = new Sim({ mode: STOP });
    await sim.init();
    sim.factory.failOn = { activate: "no memory" };
    await sim.run();
    expect(sim.sourceSummary).toMatchObject({ outcome: "reclaimed" });
    expect(sim.srcSub.calls).toEqual([`halt ${ROUTER}`, `resume ${ROUTER}`]);
    expect(sim.srcSub.halted.size).toBe(0);
    expect(sim.router.frozen).toBe(false);
    expect(sim.source.history.slice(-3)).toEqual(["reasserting", "resuming", "reclaimed"]);
    expect(legal(sim.source.history)).toEqual([]);
  });

  it("a failed halt rolls back and resumes (the substrate may have halted part of it)", async () => {
    const sim = new Sim({ mode: STOP });
    await sim.init();
    sim.srcSub.fail = { halt: 1 };
    await sim.run();
    expect(sim.sourceSummary).toMatchObject({
      outcome: "rolled-back",
      reason: AbortReason.RouterError,
    });
    expect(sim.srcSub.calls).toEqual([`resume ${ROUTER}`]);
    expect(sim.target?.finished).toBe(true);
    expect(sim.factory.leftovers()).toEqual([]);
  });

  it("a cut channel at any step leaves the router running on exactly one host, never halted", async () => {
    const clean = await simulate({ routes: 30, chunkBytes: 256 });
    const outcomes = { moved: 0, stayed: 0 };
    for (let k = 0; k <= clean.step; k++) {
      let fired = false;
      const sim = new Sim({
        mode: STOP,
        routes: 30,
        chunkBytes: 256,
        fault: (s, step) => {
          if (!fired && step === k) {
            fired = true;
            s.cut();
          }
        },
      });
      await sim.init();
      await sim.run();
      expect(sim.violations, `cut at step ${k}`).toEqual([]);
      expect(legal(sim.source.history), `cut at step ${k}`).toEqual([]);
      expect(sim.source.finished, `cut at step ${k}`).toBe(true);
      expect(sim.srcSub.halted.size, `cut at step ${k}`).toBe(0);
      if (sim.sourceSummary!.outcome === "moved") {
        outcomes.moved++;
        expect(sim.targetRunning).toBe(true);
      } else {
        outcomes.stayed++;
        expect(sim.router.frozen).toBe(false);
        expect(sim.targetRunning).toBe(false);
        expect(sim.factory.leftovers()).toEqual([]);
      }
    }
    expect(outcomes.moved).toBeGreaterThan(0);
    expect(outcomes.stayed).toBeGreaterThan(0);
  });
});

// ---- the halt over a real hypervisor ----------------------------------------------------------

let cleanups: (() => void)[] = [];
afterEach(() => {
  for (const fn of cleanups.reverse()) fn();
  cleanups = [];
});

const arena = new PacketArena(2 << 20);
const batch = arena.batch(16);
const tick = () => new Promise<void>((r) => setImmediate(r));

function send(link: MemoryLink, ...seqs: number[]): void {
  link.send(
    fillBatch(
      batch,
      seqs.map((s) => seqPacket(s)),
    ),
  );
}

function memorySource(n: number) {
  const hv = new Hypervisor({ arenaBytes: 4 << 20, onError: () => {} });
  cleanups.push(() => hv.close());
  const { far, vr } = placeOnMemoryLinks(hv, n);
  const ends = new Map<string, MemoryLink>();
  const src = new HypervisorSourceSubstrate({
    hypervisor: hv,
    tunnel: ({ link, peer }: { link: Link; peer: string }) => {
      const [a, b] = memoryLinkPair({
        arena,
        names: [tunnelLinkName(link.name, peer), `${link.name}@${peer}`],
        layer: "l2",
      });
      ends.set(link.name, b);
      return a;
    },
  });
  return { hv, far, vr, src, ends };
}

const received = (vr: ForwardRouter, i: number) => (vr.received[i] ?? []).map(seqOf);

describe("halting a router's data plane in the hypervisor", () => {
  it("drops and counts every packet for the halted router, then hands its links to the redirect", async () => {
    const { hv, far, vr, src, ends } = memorySource(2);
    send(far[0], 1);
    await tick();
    expect(received(vr, 0)).toEqual([1]);

    await src.halt("vr");
    await src.halt("vr"); // repeated: nothing more
    send(far[0], 2, 3);
    send(far[1], 4);
    await tick();
    expect(received(vr, 0)).toEqual([1]);
    expect(received(vr, 1)).toEqual([]);
    expect(src.halted()).toEqual([
      { router: "vr", links: ["n0", "n1"], packets: 3, bytes: expect.any(Number) },
    ]);
    expect(hv.switching.lookup("n0")?.name).toBe(haltLinkName("n0"));
    const sink = hv.links.get(haltLinkName("n0"));
    expect(sink).toBeInstanceOf(HaltLink);
    expect(hv.stats().links[haltLinkName("n0")].link.drops).toEqual({ halted: 2 });
    // Still bound: the halt only shadows the binding.
    expect(hv.binding.lookup("vr", 0)?.name).toBe("n0");
    await expect(src.halt("other")).rejects.toThrow();

    // The redirect takes the halted links over in one step.
    await src.redirect("vr", "pr2");
    const got: number[] = [];
    ends.get("n0")!.onReceive((b) => got.push(...packetsOf(b).map(seqOf)));
    send(far[0], 5);
    await tick();
    expect(got).toEqual([5]);
    expect(received(vr, 0)).toEqual([1]);
    expect(src.halted()).toEqual([]);
    expect(hv.links.has(haltLinkName("n0"))).toBe(false);
    expect(hv.links.has(haltLinkName("n1"))).toBe(false);
    expect(hv.switching.lookup("n1")?.name).toBe("n1>pr2");
    expect(src.haltDrops("vr").packets).toBe(3);
    await src.resume("vr"); // nothing halted any more: harmless
    expect(hv.switching.lookup("n0")?.name).toBe("n0>pr2");
  });

  it("resumes forwarding to the router after a rollback, leaving no rule or link behind", async () => {
    const { hv, far, vr, src } = memorySource(2);
    const before = hv.links.names().sort();
    await src.halt("vr");
    send(far[1], 1);
    await tick();
    expect(received(vr, 1)).toEqual([]);
    await src.resume("vr");
    await src.resume("vr");
    send(far[1], 2);
    await tick();
    expect(received(vr, 1)).toEqual([2]);
    expect(hv.switching.size).toBe(0);
    expect(hv.links.names().sort()).toEqual(before);
    expect(src.haltDrops("vr")).toMatchObject({ packets: 1 });
    // Halted again later: counted on.
    await src.halt("vr");
    send(far[0], 3);
    await tick();
    expect(src.haltDrops("vr").packets).toBe(2);
  });

  it("refuses to halt a router that is already redirected, changing nothing", async () => {
    const { hv, src } = memorySource(1);
    await src.redirect("vr", "pr2");
    await expect(src.halt("vr")).rejects.toThrow(/already redirected/);
    expect(hv.switching.lookup("n0")?.name).toBe("n0>pr2");
    expect(src.halted()).toEqual([]);
  });

  it("puts a halted link back to its halt when a redirect fails midway", async () => {
    const { hv, far, vr } = memorySource(2);
    let calls = 0;
    const src = new HypervisorSourceSubstrate({
      hypervisor: hv,
      tunnel: ({ link, peer }) => {
        if (++calls === 2) throw new Error("no tunnel for n1");
        return memoryLinkPair({
          arena,
          names: [tunnelLinkName(link.name, peer), `${link.name}@x`],
          layer: "l2",
        })[0];
      },
    });
    await src.halt("vr");
    await expect(src.redirect("vr", "pr2")).rejects.toThrow(/no tunnel for n1/);
    expect(hv.switching.lookup("n0")?.name).toBe(haltLinkName("n0"));
    expect(hv.switching.lookup("n1")?.name).toBe(haltLinkName("n1"));
    expect(hv.links.has(tunnelLinkName("n0", "pr2"))).toBe(false);
    send(far[0], 1);
    await tick();
    expect(received(vr, 0)).toEqual([]);
    expect(src.halted()[0].packets).toBe(1);
  });
});
