/**
 * The reference experiment's lab on the real kernel (root, BIRD 2): the
 * topology converges with routes exchanged through VR1 on vroomd; a
 * neighbour's vxlan end is re-homed (to pr1's second underlay address)
 * while 1 ms pings flow, without losing one; bad re-homing requests change
 * nothing; the baseline run (`migrate` off) measures no loss and no BGP
 * reset and draws its figure; a failing phase and `vroom lab` killed by
 * SIGTERM both leave no namespace and no process behind.
 *
 * Namespaces are `vit-<pid>-<role>`, addresses 198.18.0.0/15 only; each
 * block removes what it made in afterAll, also when a test failed.
 */
import { spawn } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type Migrator, runExperiment } from "../../tools/lab/experiment.ts";
import { summarizePings } from "../../tools/lab/measure.ts";
import { NEIGHBOURS, ReferenceLab, UNDERLAY } from "../../tools/lab/reference.ts";
import { fdbOf, floodDestinations, rehome } from "../../tools/lab/rehome.ts";
import { startPings } from "../../tools/lab/traffic.ts";
import {
  canRun,
  convergedReferenceLab,
  programsPresent,
  sh,
  warnIfSkipped,
} from "../integration/lab.ts";

warnIfSkipped("test/lab/lab.root.test.ts");
const hasBird = programsPresent("test/lab/lab.root.test.ts", [
  ["bird", "--version"],
  ["ethtool", "--version"],
]);

const TAG = "vit";
const tmp = () => mkdtempSync(join(tmpdir(), "vroom-lab-test-"));

/** Namespaces of this process with the test tag that still exist. */
function ourNamespaces(pid = process.pid): string[] {
  return sh("ip", ["netns", "list"])
    .split("\n")
    .map((l) => l.split(" ")[0])
    .filter((n) => n.startsWith(`${TAG}-${pid}-`) || n.startsWith(`vlb-${pid}-`));
}

/** Whether a process has ended (a zombie waiting to be reaped counts as ended). */
const pidGone = (pid: number | undefined) => {
  if (pid === undefined) return true;
  try {
    return /^State:\s+Z/m.test(readFileSync(`/proc/${pid}/status`, "utf8"));
  } catch {
    return true;
  }
};

describe.skipIf(!canRun || !hasBird)("the reference lab (root, real kernel, BIRD)", () => {
  describe("topology and re-homing", () => {
    let lab: ReferenceLab;
    beforeAll(async () => {
      lab = await convergedReferenceLab(tmp(), TAG);
    }, 90_000);
    afterAll(() => {
      const pids = [
        lab?.hypervisors.pr1?.daemon.child.pid,
        lab?.hypervisors.pr2?.daemon.child.pid,
        lab?.birds.nr1?.daemon.child.pid,
      ];
      expect(lab?.cleanup()).toEqual([]);
      expect(ourNamespaces()).toEqual([]);
      expect(existsSync(lab.options.dir)).toBe(false);
      return new Promise<void>((resolve) =>
        setTimeout(() => {
          expect(pids.every(pidGone)).toBe(true);
          resolve();
        }, 200),
      );
    });

    it("BIRD in nr1 and nr2 peer with VR1 on vroomd in pr1 and learn each other's prefix through it", async () => {
      const s = await lab.sessions();
      expect(s.nr1.bgpState).toBe("Established");
      expect(s.nr2.bgpState).toBe("Established");
      const [a, b] = NEIGHBOURS;
      const learned = await lab.bird("nr1").route("master4", b.prefix);
      expect(learned).toMatch(/AS65001|65001 65012/);
      expect(await lab.bird("nr2").route("master4", a.prefix)).toMatch(/65001 65011/);
      const route = lab.lab.ip(lab.ns.nr1, "-4", "route", "show", b.prefix);
      expect(route).toContain(`via ${a.routerAddress}`);
      expect(route).toContain(`src ${a.loopback}`);
      const p = await lab.exec("nr1", "ping", [
        "-n",
        "-c",
        "3",
        "-i",
        "0.1",
        "-I",
        a.loopback,
        b.loopback,
      ]);
      expect(p.out).toMatch(/3 packets transmitted, 3 received/);
      // pr2 is up and ready, empty.
      expect(existsSync(lab.hypervisors.pr2!.socket)).toBe(true);
      expect(lab.hypervisors.pr2!.daemon.running).toBe(true);
    });

    it("re-homes nr1's vxlan end to pr1's second address and back while 1 ms pings flow, losing none", async () => {
      const [a, b] = NEIGHBOURS;
      const ns = lab.ns.nr1;
      expect(floodDestinations(await fdbOf(ns, a.device))).toEqual([UNDERLAY.pr1]);
      const pings = startPings(lab, {
        from: "nr1",
        source: a.loopback,
        destination: b.loopback,
        seconds: 3,
      });
      await new Promise((r) => setTimeout(r, 800));
      const there = await rehome(ns, a.device, UNDERLAY.pr1, UNDERLAY.pr1Alt);
      expect(floodDestinations(await fdbOf(ns, a.device))).toEqual([UNDERLAY.pr1Alt]);
      await new Promise((r) => setTimeout(r, 800));
      const back = await rehome(ns, a.device, UNDERLAY.pr1Alt, UNDERLAY.pr1);
      const s = summarizePings(await pings.done);
      expect(floodDestinations(await fdbOf(ns, a.device))).toEqual([UNDERLAY.pr1]);
      expect(s.sent).toBe(3000);
      expect(s.lost).toBe(0);
      expect(there.ms).toBeLessThan(1000);
      expect(back.from).toBe(UNDERLAY.pr1Alt);
      // The session rode through both moves.
      expect((await lab.sessions()).nr1.bgpState).toBe("Established");
    });

    it("refuses bad re-homing requests and changes nothing", async () => {
      const ns = lab.ns.nr2;
      const dev = NEIGHBOURS[1].device;
      const before = await fdbOf(ns, dev);
      await expect(rehome(ns, dev, UNDERLAY.pr2, UNDERLAY.pr1)).rejects.toThrow(
        /floods to 198\.18\.0\.1, not 198\.18\.0\.2/,
      );
      await expect(rehome(ns, dev, UNDERLAY.pr1, UNDERLAY.pr1)).rejects.toThrow(/already points/);
      await expect(rehome(ns, dev, UNDERLAY.pr1, "not-an-ip")).rejects.toThrow(/not an IP address/);
      await expect(rehome(ns, "nosuchdev", UNDERLAY.pr1, UNDERLAY.pr2)).rejects.toThrow(/bridge/);
      expect(await fdbOf(ns, dev)).toEqual(before);
    });
  });

  it("baseline run: no loss, no BGP reset, figure and JSON written, nothing left", async () => {
    const out = tmp();
    const lab = new ReferenceLab({ dir: tmp(), tag: TAG });
    try {
      const r = await runExperiment(lab, { seconds: 3, outDir: out });
      expect(r.migrated).toBe(false);
      expect(r.cpFreezeMs).toBeNull();
      expect(r.totalMs).toBeNull();
      expect(r.bytes).toBeNull();
      expect(r.pings.sent).toBe(3000);
      expect(r.stream.sent).toBeGreaterThan(29_000);
      expect(r.lost).toBe(0);
      expect(r.bgpSessionResets).toBe(0);
      expect(r.maxGapMs).toBeGreaterThan(0);
      expect(r.maxGapMs).toBeLessThan(500);
      expect(r.figure).toBe(join(out, "rtt.png"));
      expect(existsSync(r.figure) && existsSync(r.svg) && existsSync(join(out, "lab.json"))).toBe(
        true,
      );
      expect(r.phases.map((p) => p.name)).toEqual([
        "build",
        "converge",
        "traffic",
        "measure",
        "draw",
        "clean",
      ]);
      expect(ourNamespaces()).toEqual([]);
    } finally {
      lab.cleanup();
      rmSync(out, { recursive: true, force: true });
    }
  }, 90_000);

  it("a failing phase names itself and leaves nothing behind", async () => {
    const failing: Migrator = {
      migrate: async () => {
        throw new Error("target refused: no room");
      },
    };
    const out = tmp();
    const lab = new ReferenceLab({ dir: tmp(), tag: TAG });
    try {
      await expect(
        runExperiment(lab, { seconds: 2, outDir: out, migrator: failing }),
      ).rejects.toThrow(/migrate pr1→pr2: target refused: no room/);
      expect(ourNamespaces()).toEqual([]);
      expect(pidGone(lab.hypervisors.pr1?.daemon.child.pid)).toBe(true);
    } finally {
      lab.cleanup();
      rmSync(out, { recursive: true, force: true });
    }
  }, 90_000);

  it("vroom lab stopped by SIGTERM removes its namespaces and processes", async () => {
    const out = tmp();
    const child = spawn(
      process.execPath,
      [
        join(import.meta.dirname, "../../tools/bin/vroom"),
        "lab",
        "--no-migrate",
        "--seconds",
        "60",
        "--out",
        out,
      ],
      { stdio: ["ignore", "pipe", "pipe"] },
    );
    let err = "";
    child.stderr?.on("data", (b: Buffer) => {
      err += b.toString();
    });
    const exited = new Promise<number | null>((r) => child.on("close", (code) => r(code)));
    try {
      const deadline = Date.now() + 60_000;
      while (!err.includes("phase traffic")) {
        if (Date.now() > deadline || child.exitCode !== null)
          throw new Error(`lab did not start:\n${err}`);
        await new Promise((r) => setTimeout(r, 100));
      }
      expect(ourNamespaces(child.pid).length).toBe(5);
      const inside = sh("ip", ["netns", "pids", `vlb-${child.pid}-pr1`])
        .trim()
        .split(/\s+/)
        .map(Number);
      child.kill("SIGTERM");
      expect(await exited).toBe(143);
      expect(err).toMatch(/SIGTERM: stopped, everything removed/);
      expect(ourNamespaces(child.pid)).toEqual([]);
      await new Promise((r) => setTimeout(r, 200));
      expect(inside.every((pid) => pidGone(pid))).toBe(true);
    } finally {
      if (child.exitCode === null) child.kill("SIGKILL");
      rmSync(out, { recursive: true, force: true });
    }
  }, 90_000);
});
