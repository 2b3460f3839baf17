/**
 * `vroom lab`: the reference experiment of DESIGN.md in network namespaces
 * (tools/lab/reference.ts builds it, tools/lab/experiment.ts runs its
 * phases): VR1 on vroomd in pr1, BIRD in nr1 and nr2 peering with it over
 * kernel vxlan links, 1 ms pings and a 10,000 packets/s UDP stream from nr1
 * to nr2, VR1 moved to pr2 and back through the hypervisors' migration API
 * (`--no-migrate`: left where it is, the baseline), the neighbours' vxlan
 * ends re-homed after each move. Prints the figures (text, or one JSON
 * object with `--json`), writes `lab.json` and the RTT figure (SVG, PNG)
 * under `--out`.
 *
 * Needs root, iproute2, ethtool, iputils ping, python3 and BIRD 2; refuses
 * with one line saying what is missing. Everything it made (namespaces,
 * vroomd, BIRD, traffic) goes on exit, on failure and on SIGINT/SIGTERM.
 */
import { spawnSync } from "node:child_process";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import type { Command } from "commander";
import { runExperiment } from "../lab/experiment.ts";
import type { LabResult } from "../lab/measure.ts";
import { ApiMigrator } from "../lab/migrator.ts";
import { ReferenceLab, sweepStaleLabs } from "../lab/reference.ts";
import { type Cli, ExitCode } from "./cli.ts";

interface LabFlags {
  json?: boolean;
  migrate: boolean;
  out: string;
  seconds: string;
}

/** The programs the lab runs, each with an argument that makes it print and exit 0. */
const NEEDED: [string, string[]][] = [
  ["ip", ["-V"]],
  ["bridge", ["-V"]],
  ["ethtool", ["--version"]],
  ["ping", ["-V"]],
  ["python3", ["--version"]],
  ["bird", ["--version"]],
  ["birdc", ["-h"]],
];

/** What keeps the lab from running here (empty: nothing). */
export function labPrerequisites(): string[] {
  const missing: string[] = [];
  if (process.getuid?.() !== 0) missing.push("it needs root (network namespaces, BIRD, vroomd)");
  for (const [cmd, args] of NEEDED) {
    const r = spawnSync(cmd, args, { stdio: "ignore" });
    if (r.error !== undefined) missing.push(`${cmd} is not installed (bash tools/setup.sh)`);
  }
  return missing;
}

/** The run's figures as text, one per line. */
export function formatLabResult(r: LabResult): string {
  const n = (v: number | null, unit = "") => (v === null ? "null" : `${round(v)}${unit}`);
  const lines = [
    `migrated          ${r.migrated ? "yes" : "no (baseline)"}`,
    `lost              ${r.lost} (pings ${r.pings.lost} of ${r.pings.sent}, stream ${r.stream.lost} of ${r.stream.sent})`,
    `maxGapMs          ${round(r.maxGapMs)} (pings ${round(r.pings.maxGapMs)}, stream ${round(r.stream.maxGapMs)})`,
    `rtt               min ${round(r.pings.rtt.minMs)} / mean ${round(r.pings.rtt.meanMs)} / p99 ${round(r.pings.rtt.p99Ms)} / max ${round(r.pings.rtt.maxMs)} ms`,
    `cpFreezeMs        ${n(r.cpFreezeMs)}`,
    `totalMs           ${n(r.totalMs)}`,
    `bytes             ${n(r.bytes)}`,
    `bgpSessionResets  ${r.bgpSessionResets} (${r.bgp.map((s) => `${s.peer} ${s.after.bgpState ?? s.after.state} since ${s.after.since}`).join(", ")})`,
    `figure            ${r.figure}`,
  ];
  return `${lines.join("\n")}\n`;
}

const round = (v: number) => Math.round(v * 1000) / 1000;

export function registerLabCommand(program: Command, cli: Cli): void {
  program
    .command("lab")
    .description(
      "run the reference experiment in network namespaces: VR1 between nr1 and nr2, moved pr1 → pr2 → pr1 (root)",
    )
    .option("--json", "print one JSON object")
    .option("--no-migrate", "leave VR1 on pr1 (the undisturbed baseline)")
    .option("--out <dir>", "where lab.json and the figure go", "vroom-lab")
    .option("--seconds <n>", "how long the traffic runs", "20")
    .action(async (flags: LabFlags) => {
      const seconds = Number(flags.seconds);
      if (!Number.isFinite(seconds) || seconds < 1 || seconds > 3600) {
        cli.fail(
          "lab",
          `--seconds must be a number from 1 to 3600, not '${flags.seconds}'`,
          ExitCode.Usage,
        );
        return;
      }
      const missing = labPrerequisites();
      if (missing.length > 0) {
        cli.fail(
          "lab",
          missing.map((m) => `cannot run: ${m}`),
          ExitCode.Failed,
        );
        return;
      }
      sweepStaleLabs();
      const log = (line: string) => {
        if (!flags.json) cli.io.stderr(`${line}\n`);
      };
      const lab = new ReferenceLab({ dir: mkdtempSync(join(tmpdir(), "vroom-lab-")), log });
      const onSignal = (signal: NodeJS.Signals) => {
        lab.cleanup();
        cli.io.stderr(`vroom lab: ${signal}: stopped, everything removed\n`);
        process.exit(signal === "SIGINT" ? 130 : 143);
      };
      const onExit = () => lab.cleanup();
      process.once("SIGINT", onSignal);
      process.once("SIGTERM", onSignal);
      process.once("exit", onExit);
      try {
        const result = await runExperiment(lab, {
          seconds,
          outDir: resolve(flags.out),
          migrator: flags.migrate
            ? new ApiMigrator({
                pr1: join(lab.options.dir, "pr1", "vroomd.sock"),
                pr2: join(lab.options.dir, "pr2", "vroomd.sock"),
              })
            : undefined,
          log,
        });
        cli.io.stdout(flags.json ? `${JSON.stringify(result)}\n` : formatLabResult(result));
      } catch (e) {
        cli.fail("lab", e instanceof Error ? e.message : String(e), ExitCode.Failed);
      } finally {
        lab.cleanup();
        process.off("SIGINT", onSignal);
        process.off("SIGTERM", onSignal);
        process.off("exit", onExit);
      }
    });
}
