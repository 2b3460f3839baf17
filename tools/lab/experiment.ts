/**
 * The reference experiment as a list of phases run in order over one
 * `ReferenceLab`: build, converge, traffic, [migrate VR1 pr1→pr2, re-home
 * the neighbours' vxlan ends to pr2, migrate back, re-home back], measure,
 * draw, clean. Each phase is timed (epoch ms); those that overlap the
 * traffic are shaded in the figure.
 *
 * The move itself goes through a `Migrator` (the hypervisors' migration
 * API, or anything else that moves a router and says what it cost);
 * without one (`migrate: false`) the run is the undisturbed baseline: the
 * same traffic and measurements, VR1 left where it is, and the migration
 * figures null. With faults (./faults.ts) each fault is one attempt to move
 * VR1 from the hypervisor that runs it to the other, with the fault
 * injected in its phase, then a watch of the traffic; what each fault's
 * window cost (loss, largest gap, BGP resets) and where VR1 ended up goes
 * in the result's `faults` section. The lab is always cleaned up, whether a
 * phase failed or not; a failure names the phase it happened in.
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { BirdProtocol } from "../peers/bird.ts";
import {
  type FaultOptions,
  type FaultReport,
  type FaultSpec,
  faultName,
  runFault,
  skippedFault,
  windowFigures,
} from "./faults.ts";
import { writeFigure } from "./figure.ts";
import {
  combine,
  type LabResult,
  type MigrationSummary,
  type PhaseTiming,
  sessionChecks,
  summarizePings,
  summarizeStream,
} from "./measure.ts";
import { LabError } from "./netlab.ts";
import { NEIGHBOURS, type ReferenceLab, UNDERLAY, VR1 } from "./reference.ts";
import { fdbOf, floodDestinations, type RehomeReport, rehome } from "./rehome.ts";
import {
  type PingLog,
  type PingRun,
  type StreamLog,
  type StreamRun,
  startPings,
  startStream,
} from "./traffic.ts";

/** Moves a router between hypervisors and reports what it cost. */
export interface Migrator {
  migrate(router: string, from: string, to: string): Promise<MigrationSummary>;
}

export interface ExperimentOptions {
  /** How long the traffic runs (s). */
  seconds: number;
  /** Where the figure and the JSON go. */
  outDir: string;
  /** Moves VR1 there and back; undefined: the baseline, VR1 stays on pr1. */
  migrator?: Migrator;
  /** Ping interval (ms, default 1) and stream rate (packets/s, default 10,000). */
  pingIntervalMs?: number;
  streamRate?: number;
  /**
   * Faults, injected in this order, one migration attempt each (VR1 from
   * where it runs to the other hypervisor); when given, the migrator is not
   * used.
   */
  faults?: readonly FaultSpec[];
  /** How faults are held and watched; `afterMs`: how long the traffic is watched after each (default 1000). */
  faultOptions?: FaultOptions & { afterMs?: number };
  log?: (line: string) => void;
}

/** What a run reports: the lab's figures and, for each fault, what it did. */
export interface ExperimentResult extends LabResult {
  faults: FaultReport[];
}

/** What the phases share while the run goes on. */
export interface RunState {
  readonly lab: ReferenceLab;
  readonly options: ExperimentOptions;
  t0Ms: number;
  convergeMs: number;
  bgpBefore?: Record<string, BirdProtocol>;
  pings?: PingRun;
  stream?: StreamRun;
  pingLog?: PingLog;
  streamLog?: StreamLog;
  migrations: MigrationSummary[];
  rehomes: RehomeReport[];
  timings: PhaseTiming[];
  faults: FaultReport[];
  /** Why the remaining faults are not run (an earlier one left a problem: VR1 on no single host, a daemon down). */
  faultsStopped?: string;
  result?: ExperimentResult;
}

export interface Phase {
  name: string;
  /** Whether the figure shades it (it happens while traffic flows and may disturb it). */
  shaded: boolean;
  run(s: RunState): Promise<void>;
}

/** Waits until epoch time `atMs`. */
const until = (atMs: number) =>
  new Promise<void>((r) => setTimeout(r, Math.max(0, atMs - Date.now())));

/**
 * After a move: the source's vroomd re-homed each neighbour's vxlan end
 * (its `migration.rehome` command) before the migration ended; checks
 * that every neighbour floods to `to` only, and re-homes any that does
 * not (a vroomd without the command keeps its redirect instead).
 */
async function rehomeAll(s: RunState, from: string, to: string): Promise<void> {
  for (const n of NEIGHBOURS) {
    const flood = floodDestinations(await fdbOf(s.lab.ns[n.role], n.device));
    if (flood.length === 1 && flood[0] === to) continue;
    s.rehomes.push(await rehome(s.lab.ns[n.role], n.device, from, to));
  }
}

function migratePhase(from: "pr1" | "pr2", to: "pr1" | "pr2", atFraction: number): Phase[] {
  return [
    {
      name: `hold until ${Math.round(atFraction * 100)}%`,
      shaded: false,
      run: (s) => until(s.t0Ms + atFraction * s.options.seconds * 1000),
    },
    {
      name: `migrate ${from}→${to}`,
      shaded: true,
      run: async (s) => {
        const m = s.options.migrator;
        if (m === undefined) throw new LabError("no migrator");
        s.migrations.push(await m.migrate(VR1.name, from, to));
      },
    },
    {
      name: `re-home to ${to}`,
      shaded: true,
      run: (s) => rehomeAll(s, UNDERLAY[from], UNDERLAY[to]),
    },
  ];
}

/** How long after its planned end the traffic may still run before it is stopped (ms). */
const TRAFFIC_GRACE_MS = 10_000;

/** When the first fault starts: after this much traffic, or a quarter of it if that is less. */
const FAULT_LEAD_MS = 2000;
/** Traffic a fault needs left to start (ms, beside the watch after it). */
const FAULT_MIN_MS = 2000;

/** One fault: injected, watched for `afterMs`, its BGP sessions compared before and after. */
async function faultRun(s: RunState, f: FaultSpec): Promise<void> {
  const o = s.options.faultOptions ?? {};
  const afterMs = o.afterMs ?? 1000;
  if (s.faultsStopped !== undefined) {
    s.faults.push(skippedFault(f, s.faultsStopped));
    return;
  }
  const left = s.t0Ms + s.options.seconds * 1000 - Date.now();
  if (left < FAULT_MIN_MS + afterMs) {
    s.faults.push(
      skippedFault(
        f,
        `only ${Math.max(0, Math.round(left))} ms of traffic left: give the run more seconds`,
      ),
    );
    return;
  }
  const bgpBefore = await s.lab.sessions();
  const r = await runFault(s.lab, f, { ...o, log: o.log ?? s.options.log });
  if (r.outcome === "moved") {
    s.migrations.push({
      router: VR1.name,
      from: r.from,
      to: r.to,
      cpFreezeMs: r.summary?.cpFreezeMs ?? null,
      totalMs: r.summary?.totalMs ?? null,
      bytes: r.summary?.bytes ?? null,
    });
    await rehomeAll(s, UNDERLAY[r.from], UNDERLAY[r.to]);
  }
  if (r.runsOn === null || r.problems.length > 0) {
    s.faultsStopped = `after ${r.fault}: ${r.problems.join("; ")}`;
  }
  await new Promise((w) => setTimeout(w, afterMs));
  r.bgp = sessionChecks(bgpBefore, await s.lab.sessions());
  r.bgpResets = r.bgp.filter((c) => c.reset).length;
  r.window.endMs = Date.now();
  s.faults.push(r);
}

/** The run's phases, in order; with faults, one phase per fault instead of the two moves. */
export function experimentPhases(migrate: boolean, faults: readonly FaultSpec[] = []): Phase[] {
  const phases: Phase[] = [
    { name: "build", shaded: false, run: (s) => s.lab.build() },
    {
      name: "converge",
      shaded: false,
      run: async (s) => {
        s.convergeMs = await s.lab.converge();
        s.bgpBefore = await s.lab.sessions();
      },
    },
    {
      name: "traffic",
      shaded: false,
      run: async (s) => {
        const [a, b] = NEIGHBOURS;
        s.t0Ms = Date.now();
        s.stream = await startStream(s.lab, {
          from: a.role,
          to: b.role,
          destination: b.loopback,
          seconds: s.options.seconds,
          rate: s.options.streamRate,
        });
        s.pings = startPings(s.lab, {
          from: a.role,
          source: a.loopback,
          destination: b.loopback,
          seconds: s.options.seconds,
          intervalMs: s.options.pingIntervalMs,
        });
      },
    },
  ];
  if (faults.length > 0) {
    phases.push({
      name: "hold before the faults",
      shaded: false,
      run: (s) => until(s.t0Ms + Math.min(FAULT_LEAD_MS, 0.25 * s.options.seconds * 1000)),
    });
    faults.forEach((f, i) => {
      phases.push({
        name: faults.length === 1 ? faultName(f) : `${i + 1}. ${faultName(f)}`,
        shaded: true,
        run: (s) => faultRun(s, f),
      });
    });
  } else if (migrate) {
    phases.push(...migratePhase("pr1", "pr2", 0.25), ...migratePhase("pr2", "pr1", 0.6));
  }
  phases.push(
    {
      name: "measure",
      shaded: false,
      run: async (s) => {
        const { pings, stream } = s;
        if (pings === undefined || stream === undefined) throw new LabError("no traffic ran");
        // With VR1's routes gone (a router lost), ping keeps retrying sends it cannot make
        // and would not end: the traffic is stopped a while after its planned end.
        const stopAt = s.t0Ms + s.options.seconds * 1000 + TRAFFIC_GRACE_MS;
        const timer = setTimeout(
          () => {
            s.options.log?.("the traffic did not end on time: stopped");
            pings.stop();
            stream.stop();
          },
          Math.max(0, stopAt - Date.now()),
        );
        try {
          [s.pingLog, s.streamLog] = await Promise.all([pings.done, stream.done]);
        } finally {
          clearTimeout(timer);
        }
      },
    },
    {
      name: "draw",
      shaded: false,
      run: async (s) => {
        const pings = summarizePings(s.pingLog!);
        const stream = summarizeStream(s.streamLog!);
        const bgp = sessionChecks(s.bgpBefore ?? {}, await s.lab.sessions());
        const head = combine(
          pings,
          stream,
          bgp,
          migrate || faults.length > 0 ? s.migrations : null,
        );
        const interval = s.options.pingIntervalMs ?? 1;
        for (const r of s.faults) {
          if (r.skipped !== undefined && r.injected === null && r.migrationId === null) continue;
          const w = windowFigures(r.window, s.pingLog!, pings.lostSeqs, interval, s.streamLog!);
          r.pingsLost = w.pingsLost;
          r.streamLost = w.streamLost;
          r.lost = w.pingsLost + w.streamLost;
          r.maxGapMs = w.maxGapMs;
        }
        const first = s.pingLog!.samples[0];
        // Send time of a lost ping, from the first reply's send time and the interval.
        const origin =
          first === undefined ? s.t0Ms : first.atMs - first.rttMs - (first.seq - 1) * interval;
        mkdirSync(s.options.outDir, { recursive: true });
        const what =
          faults.length === 1
            ? `with the fault ${faultName(faults[0])}`
            : faults.length > 1
              ? `under ${faults.length} faults`
              : migrate
                ? "moved pr1 → pr2 → pr1"
                : "not moved (baseline)";
        const fig = writeFigure(s.options.outDir, "rtt", {
          title: `VR1 ${what}: RTT of 1 ms pings nr1 → nr2`,
          subtitle:
            `lost ${head.lost} (pings ${pings.lost}/${pings.sent}, stream ${stream.lost}/${stream.sent}), ` +
            `largest gap ${head.maxGapMs.toFixed(2)} ms, BGP resets ${head.bgpSessionResets}` +
            (faults.length > 0 ? `, VR1 ends on ${s.faults.at(-1)?.runsOn ?? "?"}` : ""),
          t0Ms: s.t0Ms,
          seconds: s.options.seconds,
          samples: s.pingLog!.samples,
          lostAtMs: pings.lostSeqs.map((q) => origin + (q - 1) * interval),
          phases: s.timings.filter((t) => phases.find((p) => p.name === t.name)?.shaded),
        });
        s.result = {
          ...head,
          figure: fig.png,
          svg: fig.svg,
          seconds: s.options.seconds,
          convergeMs: s.convergeMs,
          pings,
          stream,
          bgp,
          migrations: s.migrations,
          phases: s.timings,
          faults: s.faults,
        };
      },
    },
  );
  return phases;
}

/**
 * Runs every phase over `lab`, then cleans it up (also after a failure);
 * writes `<outDir>/lab.json` and answers the result.
 */
export async function runExperiment(
  lab: ReferenceLab,
  o: ExperimentOptions,
): Promise<ExperimentResult> {
  const s: RunState = {
    lab,
    options: o,
    t0Ms: Date.now(),
    convergeMs: 0,
    migrations: [],
    rehomes: [],
    timings: [],
    faults: [],
  };
  const faults = o.faults ?? [];
  const phases = experimentPhases(o.migrator !== undefined && faults.length === 0, faults);
  try {
    for (const p of phases) {
      o.log?.(`phase ${p.name}`);
      const startMs = Date.now();
      try {
        await p.run(s);
      } catch (e) {
        throw new LabError(`${p.name}: ${e instanceof Error ? e.message : String(e)}`);
      }
      s.timings.push({ name: p.name, startMs, endMs: Date.now() });
    }
  } finally {
    // On a failure the traffic's results are not wanted; stop it and let it end quietly.
    s.pings?.done.catch(() => undefined);
    s.stream?.done.catch(() => undefined);
    s.pings?.stop();
    s.stream?.stop();
    const startMs = Date.now();
    const problems = lab.cleanup();
    s.timings.push({ name: "clean", startMs, endMs: Date.now() });
    if (problems.length > 0) o.log?.(`clean-up problems: ${problems.join("; ")}`);
  }
  const result = s.result!;
  result.phases = s.timings;
  writeFileSync(join(o.outDir, "lab.json"), `${JSON.stringify(result, null, 2)}\n`);
  return result;
}
