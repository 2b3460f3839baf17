/**
 * The migration lab's fault switch (tools/lab/faults.ts) on the real
 * kernel with BIRD and two vroomd processes (root only):
 *
 * - one lab run with a fault in every phase before the commit, both kinds
 *   (SIGKILL of the target's vroomd, the migration channel cut), then the
 *   channel cut after the commit: each pre-commit fault lands in its phase
 *   and rolls back, nothing is lost, no BGP session resets, VR1 stays on
 *   pr1 and only pr1 owns it, a killed target comes back knowing what it
 *   owns; the channel cut while the links move still moves VR1 to pr2,
 *   without loss or reset, and only pr2 runs and owns it;
 * - refusals from real daemons while pings and BGP run: an unknown router,
 *   an unknown peer, a peer holding another key, a target that has no
 *   segment for the router's links; each is one clear API error and VR1
 *   keeps running, owned, on pr1, nothing left at pr2. (A target without
 *   room is refused by the same prepare path; vroomd's file cannot set a
 *   router limit, so that refusal is tested with the daemon in process in
 *   test/tools/migrate.test.ts.)
 *
 * The command line's refusals of bad `--fault` values run without root.
 *
 * Namespaces are `vit-<pid>-<role>`, addresses 198.18.0.0/15 only; each
 * block removes what it made in afterAll, also when a test failed.
 */
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parse, stringify } from "yaml";
import { type ExperimentResult, runExperiment } from "../../tools/lab/experiment.ts";
import {
  FAULT_KINDS,
  type FaultReport,
  type FaultSpec,
  getJson,
  PRE_COMMIT_PHASES,
  parseFault,
  placementOf,
  restartHypervisor,
  windowFigures,
} from "../../tools/lab/faults.ts";
import { sessionChecks, summarizePings } from "../../tools/lab/measure.ts";
import { postJson } from "../../tools/lab/migrator.ts";
import { NEIGHBOURS, ReferenceLab, vroomdConfig } from "../../tools/lab/reference.ts";
import { type PingLog, type StreamLog, startPings } from "../../tools/lab/traffic.ts";
import { runVroom } from "../../tools/vroom/cli.ts";
import {
  canRun,
  convergedReferenceLab,
  programsPresent,
  sh,
  warnIfSkipped,
} from "../integration/lab.ts";

warnIfSkipped("test/lab/faults.test.ts");
const hasTools = programsPresent("test/lab/faults.test.ts", [
  ["bird", "--version"],
  ["ethtool", "--version"],
  ["ss", "-V"],
]);

const TAG = "vit";
const tmp = () => mkdtempSync(join(tmpdir(), "vroom-faults-test-"));

/** Namespaces of this process with the test tag that still exist. */
function ourNamespaces(): string[] {
  return sh("ip", ["netns", "list"])
    .split("\n")
    .map((l) => l.split(" ")[0])
    .filter((n) => n.startsWith(`${TAG}-${process.pid}-`));
}

describe("parseFault", () => {
  it("reads KIND@PHASE and names what is wrong otherwise", () => {
    expect(parseFault("kill-target@pre-copy")).toEqual({
      ok: true,
      fault: { kind: "kill-target", phase: "pre-copy" },
    });
    expect(parseFault("cut-channel@move-links")).toMatchObject({ ok: true });
    expect(parseFault("kill-target")).toEqual({
      ok: false,
      error: "'kill-target' is not KIND@PHASE (e.g. kill-target@pre-copy)",
    });
    expect(parseFault("reboot@prepare")).toMatchObject({
      ok: false,
      error: expect.stringMatching(/'reboot' is not a fault kind \(kinds: kill-target, cut/),
    });
    expect(parseFault("kill-target@clean-up")).toMatchObject({
      ok: false,
      error: expect.stringMatching(/'clean-up' is not a migration phase a fault can hit/),
    });
  });
});

describe("windowFigures", () => {
  // Pings every 1 ms from seq 1 (sent at 1000.9, RTT 0.1 ms); 50-59 and 101-120 unanswered.
  const samples = [];
  for (let seq = 1; seq <= 100; seq++) {
    if (seq < 50 || seq > 59) samples.push({ seq, atMs: 1000 + seq, rttMs: 0.1 });
  }
  const pings: PingLog = { samples, duplicates: 0, transmitted: 120 };
  const lostSeqs = [
    ...Array.from({ length: 10 }, (_, i) => 50 + i),
    ...Array.from({ length: 20 }, (_, i) => 101 + i),
  ];
  // 1,000 datagrams/s from seq 0 at 1000 ms; 100-109 missing, the largest gap ending at 1110.
  const stream: StreamLog = {
    sent: 300,
    rate: 1000,
    receipt: {
      received: 290,
      duplicates: 0,
      reordered: 0,
      foreign: 0,
      maxSeq: 299,
      firstMs: 1000,
      lastMs: 1299,
      maxGapMs: 11,
      maxGapEndMs: 1110,
      latencyMaxMs: 0.2,
      latencyMeanMs: 0.1,
      missing: [[100, 109]],
    },
  };
  const figures = (startMs: number, endMs: number) =>
    windowFigures({ startMs, endMs }, pings, lostSeqs, 1, stream);

  it("counts what was sent inside the window and its largest gap", () => {
    expect(figures(1000, 1030)).toEqual({ pingsLost: 0, streamLost: 0, maxGapMs: 1 });
    expect(figures(1040, 1070)).toEqual({ pingsLost: 10, streamLost: 0, maxGapMs: 11 });
    expect(figures(1090, 1095)).toMatchObject({ pingsLost: 0, streamLost: 0 });
  });

  it("takes the stream's losses by send time and its largest gap where it ends", () => {
    expect(figures(1098, 1108)).toMatchObject({ streamLost: 9 });
    // Pings are silent there too (10 ms since the last reply); the stream's 11 ms gap wins.
    expect(figures(1105, 1110)).toEqual({ pingsLost: 5, streamLost: 5, maxGapMs: 11 });
  });

  it("counts a silence that lasts to the window's end as a gap", () => {
    const f = figures(1095, 1130);
    expect(f.pingsLost).toBe(20);
    expect(f.maxGapMs).toBeCloseTo(1119.9 - 1100, 6);
  });
});

describe("vroom lab --fault", () => {
  const vroom = async (argv: string[]) => {
    let err = "";
    const code = await runVroom(argv, { stdout: () => {}, stderr: (t) => (err += t) });
    return { code, err };
  };

  it("refuses a fault it cannot read, and faults without migrations, before building anything", async () => {
    expect(await vroom(["lab", "--fault", "kill-target@nowhere"])).toEqual({
      code: 2,
      err: expect.stringMatching(/^vroom lab: --fault: 'nowhere' is not a migration phase/),
    });
    expect(await vroom(["lab", "--fault", "cut-channel@pre-copy", "--no-migrate"])).toEqual({
      code: 2,
      err: "vroom lab: --fault needs migrations: drop --no-migrate\n",
    });
    expect(await vroom(["lab", "--fault", "cut-channel@pre-copy", "--fault-hold", "-5"])).toEqual({
      code: 2,
      err: expect.stringMatching(/--fault-hold must be a number of milliseconds from 0 to 600000/),
    });
  });
});

describe.skipIf(!canRun || !hasTools)("the lab's fault switch (root, real kernel, BIRD)", () => {
  describe("a fault in every phase before the commit, both kinds, then the channel cut while the links move: one run", () => {
    const faults: FaultSpec[] = [];
    for (const phase of PRE_COMMIT_PHASES) {
      for (const kind of FAULT_KINDS) faults.push({ kind, phase });
    }
    faults.push({ kind: "cut-channel", phase: "move-links" });
    const out = tmp();
    let lab: ReferenceLab;
    let result: ExperimentResult;
    const report = (name: string): FaultReport => {
      const r = result.faults.find((f) => f.fault === name);
      if (r === undefined) throw new Error(`no report for ${name}`);
      return r;
    };

    beforeAll(async () => {
      lab = new ReferenceLab({ dir: tmp(), tag: TAG });
      result = await runExperiment(lab, {
        seconds: 28,
        outDir: out,
        faults,
        faultOptions: { holdMs: 500, afterMs: 800, endTimeoutMs: 30_000 },
      });
    }, 150_000);
    afterAll(() => {
      expect(lab?.cleanup()).toEqual([]);
      expect(ourNamespaces()).toEqual([]);
      rmSync(out, { recursive: true, force: true });
    });

    it.each(PRE_COMMIT_PHASES.flatMap((phase) => FAULT_KINDS.map((kind) => `${kind}@${phase}`)))(
      "%s: lands in its phase, rolls back; nothing lost, no BGP reset, VR1 on pr1 and owned by pr1 only",
      (name) => {
        const f = report(name);
        expect(f.skipped).toBeUndefined();
        expect(f.landed).toBe(true);
        expect(f.injected?.phase).toBe(f.phase);
        // Before the decision: the source still waits for the target's vote.
        if (f.phase === "freeze-commit") expect(f.injected?.state).toBe("frozen");
        expect(f.outcome).toBe("rolled-back");
        expect(f.reason).toBe("ChannelLost");
        expect(f.progress.map((p) => p.phase)).not.toContain("move-links");
        expect({ lost: f.lost, resets: f.bgp.filter((c) => c.reset) }).toEqual({
          lost: 0,
          resets: [],
        });
        expect(f.bgpResets).toBe(0);
        expect(f.runsOn).toBe("pr1");
        expect(f.problems).toEqual([]);
        const [pr1, pr2] = f.placement!.hosts;
        expect(pr1).toMatchObject({ runs: true, record: { role: "owned", epoch: 1 } });
        expect(pr2).toMatchObject({ up: true, runs: false, record: null, owns: [] });
        if (f.kind === "kill-target") {
          expect(f.restart).toMatchObject({ knowsWhatItOwns: true, owns: [], runs: [] });
        } else {
          expect(f.restart).toBeUndefined();
          expect(f.injected?.aborted).toBeGreaterThanOrEqual(1);
        }
        // The window covers the fault and a watch of the traffic after the migration ended.
        expect(f.window.endMs).toBeGreaterThan(f.endedAtMs!);
      },
    );

    it("cut-channel@move-links: VR1 still moves, nothing lost, no BGP reset, pr2 runs and owns it alone", () => {
      const f = report("cut-channel@move-links");
      expect(f.landed).toBe(true);
      expect(f.injected?.phase).toBe("move-links");
      expect(f.outcome).toBe("moved");
      expect({ lost: f.lost, resets: f.bgp.filter((c) => c.reset) }).toEqual({
        lost: 0,
        resets: [],
      });
      expect(f.runsOn).toBe("pr2");
      expect(f.problems).toEqual([]);
      const [pr1, pr2] = f.placement!.hosts;
      expect(pr1).toMatchObject({ runs: false, record: { role: "gone", epoch: 2, peer: "pr2" } });
      expect(pr2).toMatchObject({ runs: true, record: { role: "owned", epoch: 2 } });
      // The source resumed after the channel healed, and finished after it.
      expect(f.endedAtMs!).toBeGreaterThan(f.liftedAtMs!);
      expect(f.summary?.bytes).toBeGreaterThan(0);
    });

    it("the run as a whole: no loss, no reset, the faults section in lab.json, the figure drawn", () => {
      expect(result.faults.map((f) => f.fault)).toEqual(faults.map((f) => `${f.kind}@${f.phase}`));
      expect(result.lost).toBe(0);
      expect(result.bgpSessionResets).toBe(0);
      expect(result.migrated).toBe(true);
      expect(result.migrations).toHaveLength(1);
      const json = JSON.parse(readFileSync(join(out, "lab.json"), "utf8")) as ExperimentResult;
      expect(json.faults).toHaveLength(faults.length);
      expect(json.faults[0]).toMatchObject({
        fault: "kill-target@prepare",
        outcome: "rolled-back",
      });
      expect(readFileSync(result.figure).subarray(1, 4).toString()).toBe("PNG");
      expect(result.phases.map((p) => p.name)).toContain("9. cut-channel@move-links");
    });
  });

  // The target stores VR1's configuration and links before it writes that it owns VR1, so a
  // target killed right after the commit starts again running VR1 on the links it brought.
  it("kill-target@move-links: the restarted target runs VR1, it alone owns it, the move ends", async () => {
    const out = tmp();
    const lab = new ReferenceLab({ dir: tmp(), tag: TAG });
    try {
      const r = await runExperiment(lab, {
        seconds: 14,
        outDir: out,
        faults: [{ kind: "kill-target", phase: "move-links" }],
        faultOptions: { holdMs: 500, afterMs: 3000, endTimeoutMs: 30_000 },
      });
      const f = r.faults[0];
      expect(f.landed).toBe(true);
      expect(f.restart?.knowsWhatItOwns).toBe(true);
      expect(f.outcome).toBe("moved");
      expect(f.runsOn).toBe("pr2");
      expect(f.problems).toEqual([]);
    } finally {
      lab.cleanup();
      rmSync(out, { recursive: true, force: true });
    }
  }, 150_000);

  describe("refusals while pings and BGP run", () => {
    let lab: ReferenceLab;
    beforeAll(async () => {
      lab = await convergedReferenceLab(tmp(), TAG);
    }, 90_000);
    afterAll(() => {
      expect(lab?.cleanup()).toEqual([]);
      expect(ourNamespaces()).toEqual([]);
    });

    /** VR1 runs on pr1 at epoch 1 with no redirect; pr2 holds nothing of it, no link, no migration. */
    async function unchanged(): Promise<void> {
      const p = await placementOf(lab);
      expect(p.problems).toEqual([]);
      expect(p.runsOn).toBe("pr1");
      expect(p.hosts[0].record).toEqual({ role: "owned", epoch: 1 });
      expect(p.hosts[1]).toMatchObject({ runs: false, record: null, owns: [], lists: [] });
      const pr1 = lab.hypervisors.pr1!.socket;
      const pr2 = lab.hypervisors.pr2!.socket;
      expect((await getJson(pr1, "/v1/switching")).body).toEqual({ rules: [] });
      expect((await getJson(pr2, "/v1/links")).body).toEqual({ links: [] });
      const migrations = (await getJson(pr2, "/v1/migrations")).body as {
        migrations: { finished: boolean }[];
      };
      expect(migrations.migrations.every((m) => m.finished)).toBe(true);
    }

    it("an unknown router, an unknown peer, a peer with another key, a target without the router's segments: one clear error each, nothing changes", async () => {
      const pr1 = lab.hypervisors.pr1!;
      const pr2 = lab.hypervisors.pr2!;
      const [a, b] = NEIGHBOURS;
      const sessionsBefore = await lab.sessions();
      const pings = startPings(lab, {
        from: "nr1",
        source: a.loopback,
        destination: b.loopback,
        seconds: 12,
      });
      const migrate = async (router: string, to: string) => {
        const r = await postJson(pr1.socket, `/v1/routers/${router}/migrate`, { to });
        return {
          status: r.status,
          error: (r.body as { error: { code: string; message: string; details?: unknown } }).error,
        };
      };
      try {
        const unknownRouter = await migrate("nope", "pr2");
        expect(unknownRouter).toMatchObject({ status: 404, error: { code: "UnknownRouter" } });
        expect(unknownRouter.error.message).toMatch(/no router nope on pr1/);
        await unchanged();

        const unknownPeer = await migrate("vr1", "pr9");
        expect(unknownPeer).toMatchObject({ status: 404, error: { code: "UnknownPeer" } });
        expect(unknownPeer.error.message).toMatch(
          /no peer pr9 in the configuration \(peers: pr2\)/,
        );
        await unchanged();

        // pr2 comes back holding another key for pr1: the handshake fails.
        const original = readFileSync(join(pr2.dir, "vroomd.yaml"), "utf8");
        const otherKey = "5a".repeat(32);
        await restartHypervisor(lab, "pr2", {
          config: vroomdConfig("pr2", pr2.dir, false, { psk: otherKey, ns: lab.ns }),
        });
        const wrongKey = await migrate("vr1", "pr2");
        expect(wrongKey).toMatchObject({ status: 502, error: { code: "PeerAuthFailed" } });
        expect(wrongKey.error.message).toMatch(/pr2/);
        await unchanged();

        // pr2 comes back with no segment for VR1's links: it refuses the PREPARE.
        const noSegments = parse(original) as { migration: { segments: Record<string, unknown> } };
        noSegments.migration.segments = {};
        await restartHypervisor(lab, "pr2", { config: stringify(noSegments) });
        const cannot = await migrate("vr1", "pr2");
        expect(cannot).toMatchObject({
          status: 409,
          error: { code: "MigrationRefused", details: { refusal: "LinkSetup" } },
        });
        expect(cannot.error.message).toMatch(/pr2 refused router vr1: .*no VXLAN segment/);
        await unchanged();

        await restartHypervisor(lab, "pr2", { config: original });
        await unchanged();
      } catch (e) {
        pings.stop();
        await pings.done.catch(() => undefined);
        throw e;
      }
      // The pings run their course: stopping them would leave the last one unanswered.
      const s = summarizePings(await pings.done);
      expect(s.lost).toBe(0);
      expect(s.sent).toBeGreaterThan(1000);
      const checks = sessionChecks(sessionsBefore, await lab.sessions());
      expect(checks.filter((c) => c.reset)).toEqual([]);
    }, 90_000);
  });
});
