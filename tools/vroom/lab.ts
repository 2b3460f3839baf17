/**
 * `vroom lab`: the reference experiment of DESIGN.md in network namespaces
 * (tools/lab/reference.ts builds it, tools/lab/experiment.ts runs its
 * phases): VR1 on vroomd in pr1, BIRD in nr1 and nr2 peering with it over
 * kernel vxlan links, 1 ms pings and a 10,000 packets/s UDP stream from nr1
 * to nr2, VR1 moved to pr2 and back through the hypervisors' migration API
 * (`--no-migrate`: left where it is, the baseline), the neighbours' vxlan
 * ends re-homed after each move. `--fault KIND@PHASE` (repeatable) makes
 * each move an attempt with a fault injected in that phase instead
 * (tools/lab/faults.ts): SIGKILL of the target's vroomd, or the migration
 * channel cut; the run then reports, per fault, the outcome, the loss and
 * largest gap, BGP resets and which host runs VR1. Prints the figures
 * (text, or one JSON object with `--json`), writes `lab.json` and the RTT
 * figure (SVG, PNG) under `--out`. Exits 3 when a fault could not be
 * injected in its phase.
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
import { type ExperimentResult, runExperiment } from "../lab/experiment.ts";
import { type FaultReport, type FaultSpec, parseFault } from "../lab/faults.ts";
import { ApiMigrator } from "../lab/migrator.ts";
import { ReferenceLab, sweepStaleLabs } from "../lab/reference.ts";
import { type Cli, ExitCode } from "./cli.ts";

interface LabFlags {
  json?: boolean;
  migrate: boolean;
  out: string;
  seconds: string;
  fault: string[];
  faultHold: string;
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

/** One fault's line: what it hit, how the migration ended, what it cost, where VR1 is. */
export function formatFault(f: FaultReport): string {
  if (f.injected === null) {
    return `${f.fault.padEnd(30)} not injected: ${f.skipped ?? "unknown"}`;
  }
  const end =
    f.outcome === null
      ? "did not end"
      : `${f.outcome}${f.reason === undefined ? "" : ` (${f.reason})`}`;
  const restart =
    f.restart === undefined
      ? ""
      : f.restart.ms === null
        ? `; ${f.to} did not come back: ${f.restart.error ?? ""}`
        : `; ${f.to} back in ${round(f.restart.ms)} ms, ${f.restart.knowsWhatItOwns ? "knows" : "does NOT know"} what it owns`;
  return (
    `${f.fault.padEnd(30)} at ${f.injected.phase}/${f.injected.state}${f.landed ? "" : " (missed its phase)"}: ${end}; ` +
    `lost ${f.lost}, maxGapMs ${round(f.maxGapMs)}, BGP resets ${f.bgpResets}; ` +
    `VR1 on ${f.runsOn ?? `no single host (${f.problems.join("; ")})`}${restart}`
  );
}

/** The run's figures as text, one per line. */
export function formatLabResult(r: ExperimentResult): string {
  const n = (v: number | null, unit = "") => (v === null ? "null" : `${round(v)}${unit}`);
  const lines = [
    `migrated          ${r.migrated ? "yes" : r.faults.length > 0 ? "no (no fault's migration moved VR1)" : "no (baseline)"}`,
    `lost              ${r.lost} (pings ${r.pings.lost} of ${r.pings.sent}, stream ${r.stream.lost} of ${r.stream.sent})`,
    `maxGapMs          ${round(r.maxGapMs)} (pings ${round(r.pings.maxGapMs)}, stream ${round(r.stream.maxGapMs)})`,
    `rtt               min ${round(r.pings.rtt.minMs)} / mean ${round(r.pings.rtt.meanMs)} / p99 ${round(r.pings.rtt.p99Ms)} / max ${round(r.pings.rtt.maxMs)} ms`,
    `cpFreezeMs        ${n(r.cpFreezeMs)}`,
    `totalMs           ${n(r.totalMs)}`,
    `bytes             ${n(r.bytes)}`,
    `bgpSessionResets  ${r.bgpSessionResets} (${r.bgp.map((s) => `${s.peer} ${s.after.bgpState ?? s.after.state} since ${s.after.since}`).join(", ")})`,
    `figure            ${r.figure}`,
    ...r.faults.map((f) => `fault             ${formatFault(f)}`),
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
    .option(
      "--fault <kind@phase>",
      "inject a fault in a migration of VR1 (repeatable): kill-target or cut-channel, " +
        "at prepare, clone-data-plane, pre-copy, freeze-commit or move-links",
      (v: string, all: string[]) => [...all, v],
      [] as string[],
    )
    .option(
      "--fault-hold <ms>",
      "how long a killed target stays down or the channel stays cut, at most",
      "1000",
    )
    .action(async (flags: LabFlags) => {
      const faults: FaultSpec[] = [];
      for (const text of flags.fault) {
        const p = parseFault(text);
        if (!p.ok) {
          cli.fail("lab", `--fault: ${p.error}`, ExitCode.Usage);
          return;
        }
        faults.push(p.fault);
      }
      if (faults.length > 0 && !flags.migrate) {
        cli.fail("lab", "--fault needs migrations: drop --no-migrate", ExitCode.Usage);
        return;
      }
      const holdMs = Number(flags.faultHold);
      if (!Number.isFinite(holdMs) || holdMs < 0 || holdMs > 600_000) {
        cli.fail(
          "lab",
          `--fault-hold must be a number of milliseconds from 0 to 600000, not '${flags.faultHold}'`,
          ExitCode.Usage,
        );
        return;
      }
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
          faults,
          faultOptions: { holdMs },
          log,
        });
        cli.io.stdout(flags.json ? `${JSON.stringify(result)}\n` : formatLabResult(result));
        const missed = result.faults.filter((f) => !f.landed);
        if (missed.length > 0) {
          cli.fail(
            "lab",
            missed.map((f) => `${f.fault}: ${f.skipped ?? "the fault did not land in its phase"}`),
            ExitCode.Partial,
          );
        }
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
