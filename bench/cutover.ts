/**
 * bench:cutover — VR1 moved live between two real vroomd hypervisors while
 * traffic crosses it, holding no table, 100,000 routes and the full table
 * (both families of ../shared/data/bgp-prefixes.txt.gz: 901,899 IPv4 +
 * 160,147 IPv6), against a naive stop-and-copy of the same router in the
 * same run.
 *
 * Each run is the migration lab's reference experiment (tools/lab/
 * reference.ts: namespaces, vroomd on pr1 and pr2, BIRD on nr1 and nr2,
 * kernel vxlan): nr1's BIRD announces the table to VR1 (static routes from
 * files this script writes in a child process, as bench:bgp does), the lab
 * waits until VR1's FIB holds it, starts 1 ms pings and a 10,000 packets/s
 * UDP stream from nr1 to nr2 through VR1 (tools/lab/traffic.ts), moves VR1
 * from pr1 to pr2 through pr1's API, lets the traffic run one more second,
 * and tears the lab down. One fresh lab per (mode, routes): the two modes
 * never share a router that already moved.
 *
 * - vroom: `{mode: "live"}`, the default: the FIB and then the control
 *   plane are copied while the source keeps forwarding; the control plane
 *   stops only for the last changes; the source's switching sends the old
 *   links to the target the moment it runs the router.
 * - stopAndCopy: `{mode: "stop-and-copy"}` (migration/source.ts): as the
 *   Xen and OpenVZ prototypes did, the whole router stops at the start
 *   (control plane frozen, the source hypervisor dropping every packet for
 *   it), is copied in one go, then committed and redirected.
 *
 * Per run: `routes` (table routes VR1 held), `cpFreezeMs`, `totalMs`,
 * `bytes` (the source's migration summary), `lost` (pings and stream
 * packets that never arrived) and `maxGapMs` (the longest time between two
 * consecutive packets that got through), with the details behind them.
 *
 *   npm run -s bench:cutover -- [--routes 0,100000,full] [--quick] [--json] [--out DIR] [--table FILE]
 *
 * `--quick` runs 0 and 100,000 routes only (CI). Needs root, BIRD 2,
 * iproute2, ethtool, iputils ping and python3 (bash tools/setup.sh).
 */
import { spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { Command } from "commander";
import type { MigrationMode } from "../migration/source.ts";
import {
  type PingSummary,
  type SessionCheck,
  type StreamSummary,
  sessionChecks,
  summarizePings,
  summarizeStream,
} from "../tools/lab/measure.ts";
import { LabError } from "../tools/lab/netlab.ts";
import {
  NEIGHBOURS,
  ReferenceLab,
  sweepStaleLabs,
  type TableRoutes,
  UNDERLAY,
  VR1,
} from "../tools/lab/reference.ts";
import { fdbOf, floodDestinations, rehome } from "../tools/lab/rehome.ts";
import {
  ensureUdpgen,
  type PingLog,
  type PingRun,
  type StreamRun,
  startPings,
  startStream,
} from "../tools/lab/traffic.ts";
import type { BirdProtocol } from "../tools/peers/bird.ts";
import { labPrerequisites } from "../tools/vroom/lab.ts";
import { ApiClient } from "../tools/vroomctl/client.ts";
import { moved, notMovedReason, runMigration } from "../tools/vroomctl/migration-client.ts";
import type { MigrationView } from "../tools/vroomd/migration.ts";
import { DEFAULT_TABLE, tablePrefixLines } from "./table.ts";

/** Namespaces of this benchmark: `vbc-<pid>-<role>`. */
const TAG = "vbc";
/** Ping interval (ms) and stream rate (packets/s), as in the lab. */
const PING_MS = 1;
const STREAM_RATE = 10_000;
/** Traffic before the move starts and after it ended (ms). */
const LEAD_MS = 1000;
const TAIL_MS = 1000;
/**
 * Pings still in flight when ping is stopped are not losses: the last
 * requests sent this long before the stop are left out of the count.
 */
const IN_FLIGHT_MS = 100;

type Mode = MigrationMode;
const MODES: { mode: Mode; key: "vroom" | "stopAndCopy" }[] = [
  { mode: "live", key: "vroom" },
  { mode: "stop-and-copy", key: "stopAndCopy" },
];

/** A route count asked for: a number, or the whole table. */
type RouteCount = number | "full";

export interface CutoverRun {
  mode: Mode;
  /** Table routes VR1 held when it moved (both families). */
  routes: number;
  routes4: number;
  routes6: number;
  /** From the source's migration summary. */
  cpFreezeMs: number;
  totalMs: number;
  bytes: number;
  /** Pings and stream packets that never arrived. */
  lost: number;
  /** The longest time between two consecutive packets that got through, pings or stream (ms). */
  maxGapMs: number;
  /** When the stream's largest gap began, ms after the migration was asked for (kernel stamps). */
  streamGapAtMs: number;
  /** Stop-and-copy: packets the source dropped while VR1 was halted. */
  haltedPackets: number | null;
  bgpSessionResets: number;
  /** VR1's FIB on pr2 after the move. */
  fibAfter: { ipv4: number; ipv6: number };
  /** Time for VR1 to hold the table, from its session with nr1 up (ms; 0 without a table). */
  tableLoadMs: number;
  phaseMs: Record<string, number>;
  pings: Pick<PingSummary, "sent" | "lost" | "maxGapMs" | "longestLossRun">;
  stream: Pick<StreamSummary, "sent" | "lost" | "maxGapMs" | "longestLossRun">;
}

export interface CutoverReport {
  table: string;
  vroom: CutoverRun[];
  stopAndCopy: CutoverRun[];
  /** Per route count: stop-and-copy over vroom. */
  ratios: {
    routes: number;
    cpFreeze: number | null;
    maxGap: number | null;
    lost: { vroom: number; stopAndCopy: number };
  }[];
}

// ---- the table's route files (written in a child process) ------------------------------------

/**
 * The child's job: BIRD static route files for `count` routes of the table
 * (IPv4 first, then IPv6; "full": all of both) in `dir`, and one JSON line
 * with the counts. Run apart so that the table's text never counts in the
 * parent's memory.
 */
function emitRoutes(dir: string, count: RouteCount, file: string): void {
  const { v4, v6, source } = tablePrefixLines(file);
  const n4 = count === "full" ? v4.length : Math.min(count, v4.length);
  const n6 = count === "full" ? v6.length : Math.min(count - n4, v6.length);
  const write = (name: string, list: string[], n: number) =>
    writeFileSync(
      join(dir, name),
      `${list
        .slice(0, n)
        .map((p) => `route ${p} blackhole;`)
        .join("\n")}\n`,
    );
  write("table4.conf", v4, n4);
  if (n6 > 0) write("table6.conf", v6, n6);
  process.stdout.write(JSON.stringify({ ipv4: n4, ipv6: n6, source }));
}

interface TableFiles {
  routes: TableRoutes | undefined;
  ipv4: number;
  ipv6: number;
  source: string;
}

function writeTable(dir: string, count: RouteCount, file: string): TableFiles {
  if (count === 0) return { routes: undefined, ipv4: 0, ipv6: 0, source: "none" };
  mkdirSync(dir, { recursive: true });
  const r = spawnSync(
    process.execPath,
    [...process.execArgv, process.argv[1], "--emit-routes", dir, String(count), "--table", file],
    { encoding: "utf8", maxBuffer: 1 << 20 },
  );
  if (r.status !== 0) throw new Error(`writing the table's routes: ${r.stderr.trim()}`);
  const made = JSON.parse(r.stdout) as { ipv4: number; ipv6: number; source: string };
  return {
    routes: {
      ipv4: join(dir, "table4.conf"),
      ...(made.ipv6 > 0 ? { ipv6: join(dir, "table6.conf") } : {}),
    },
    ...made,
  };
}

// ---- one run ---------------------------------------------------------------------------------

interface MoveResult {
  cpFreezeMs: number;
  totalMs: number;
  bytes: number;
  haltedPackets: number | null;
  phaseMs: Record<string, number>;
}

/** Moves VR1 from pr1 to pr2 through pr1's API in `mode`; answers the source's result. */
async function move(lab: ReferenceLab, mode: Mode): Promise<MoveResult> {
  const socket = lab.hypervisors.pr1?.socket;
  if (socket === undefined) throw new LabError("vroomd is not running in pr1");
  const what = `migrate ${VR1.name} pr1→pr2 (${mode})`;
  let view: MigrationView;
  try {
    view = await runMigration(new ApiClient({ socket }, { timeoutMs: 120_000 }), VR1.name, "pr2", {
      mode,
      idleTimeoutMs: 600_000,
    });
  } catch (e) {
    throw new LabError(`${what}: ${(e as Error).message}`);
  }
  const r = view.result;
  if (!moved(view) || r === undefined) throw new LabError(`${what}: ${notMovedReason(view)}`);
  return {
    cpFreezeMs: r.cpFreezeMs,
    totalMs: r.totalMs,
    bytes: r.bytes,
    haltedPackets: r.haltedPackets ?? null,
    phaseMs: r.phaseMs as Record<string, number>,
  };
}

/** The pings sent up to `IN_FLIGHT_MS` before ping was stopped (later ones may still be in flight). */
function settledPings(log: PingLog): PingLog {
  const sent = log.transmitted ?? log.samples.reduce((m, s) => Math.max(m, s.seq), 0);
  const last = Math.max(0, sent - Math.ceil(IN_FLIGHT_MS / PING_MS));
  return {
    samples: log.samples.filter((s) => s.seq <= last),
    duplicates: log.duplicates,
    transmitted: last,
  };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The lab of the run going on, for the signal handlers. */
let current: ReferenceLab | undefined;

async function runOne(
  mode: Mode,
  table: TableFiles,
  log: (line: string) => void,
): Promise<CutoverRun> {
  const lab = new ReferenceLab({
    dir: mkdtempSync(join(tmpdir(), "vroom-cutover-")),
    tag: TAG,
    ...(table.routes === undefined ? {} : { table: table.routes }),
    log,
  });
  current = lab;
  let pings: PingRun | undefined;
  let stream: StreamRun | undefined;
  try {
    await lab.build();
    // The full table takes a while to reach VR1.
    const convergeMs = await lab.converge(table.ipv4 + table.ipv6 > 0 ? 600_000 : 60_000);
    log(`converged in ${(convergeMs / 1000).toFixed(1)} s`);
    const before: Record<string, BirdProtocol> = await lab.sessions();
    const [a, b] = NEIGHBOURS;
    stream = await startStream(lab, {
      from: a.role,
      to: b.role,
      destination: b.loopback,
      seconds: 3600,
      rate: STREAM_RATE,
    });
    pings = startPings(lab, {
      from: a.role,
      source: a.loopback,
      destination: b.loopback,
      seconds: 3600,
      intervalMs: PING_MS,
    });
    await sleep(LEAD_MS);
    log(`moving VR1 pr1 → pr2 (${mode})`);
    const movedAt = Date.now();
    const moved = await move(lab, mode);
    // vroomd re-homed each neighbour's vxlan end before the migration ended; check it did.
    for (const n of NEIGHBOURS) {
      const flood = floodDestinations(await fdbOf(lab.ns[n.role], n.device));
      if (flood.length !== 1 || flood[0] !== UNDERLAY.pr2) {
        await rehome(lab.ns[n.role], n.device, UNDERLAY.pr1, UNDERLAY.pr2);
      }
    }
    await sleep(TAIL_MS);
    stream.stop();
    pings.stop();
    const [pingLog, streamLog] = await Promise.all([pings.done, stream.done]);
    const p = summarizePings(settledPings(pingLog));
    const s = summarizeStream(streamLog);
    const checks: SessionCheck[] = sessionChecks(before, await lab.sessions());
    const fibAfter = await lab.routerFib("pr2");
    const run: CutoverRun = {
      mode,
      routes: lab.tableLoad === undefined ? 0 : lab.tableLoad.ipv4 + lab.tableLoad.ipv6,
      routes4: lab.tableLoad?.ipv4 ?? 0,
      routes6: lab.tableLoad?.ipv6 ?? 0,
      cpFreezeMs: moved.cpFreezeMs,
      totalMs: moved.totalMs,
      bytes: moved.bytes,
      lost: p.lost + s.lost,
      maxGapMs: Math.max(p.maxGapMs, s.maxGapMs),
      streamGapAtMs: streamLog.receipt.maxGapEndMs - streamLog.receipt.maxGapMs - movedAt,
      haltedPackets: moved.haltedPackets,
      bgpSessionResets: checks.filter((c) => c.reset).length,
      fibAfter,
      tableLoadMs: lab.tableLoad?.ms ?? 0,
      phaseMs: moved.phaseMs,
      pings: { sent: p.sent, lost: p.lost, maxGapMs: p.maxGapMs, longestLossRun: p.longestLossRun },
      stream: {
        sent: s.sent,
        lost: s.lost,
        maxGapMs: s.maxGapMs,
        longestLossRun: s.longestLossRun,
      },
    };
    log(
      `${mode}: freeze ${run.cpFreezeMs.toFixed(1)} ms, total ${run.totalMs.toFixed(1)} ms, ` +
        `${run.bytes} bytes, lost ${run.lost}, largest gap ${run.maxGapMs.toFixed(1)} ms`,
    );
    return run;
  } finally {
    pings?.done.catch(() => undefined);
    stream?.done.catch(() => undefined);
    pings?.stop();
    stream?.stop();
    const problems = lab.cleanup();
    current = undefined;
    if (problems.length > 0) log(`clean-up problems: ${problems.join("; ")}`);
  }
}

// ---- report ------------------------------------------------------------------------------------

function ratios(vroom: CutoverRun[], stop: CutoverRun[]): CutoverReport["ratios"] {
  const div = (x: number, y: number) => (y > 0 ? x / y : null);
  return vroom.flatMap((v) => {
    const s = stop.find((r) => r.routes === v.routes);
    if (s === undefined) return [];
    return [
      {
        routes: v.routes,
        cpFreeze: div(s.cpFreezeMs, v.cpFreezeMs),
        maxGap: div(s.maxGapMs, v.maxGapMs),
        lost: { vroom: v.lost, stopAndCopy: s.lost },
      },
    ];
  });
}

function formatReport(r: CutoverReport): string {
  const rows = [...r.vroom, ...r.stopAndCopy].sort(
    (a, b) => a.routes - b.routes || (a.mode === "live" ? -1 : 1),
  );
  const head = ["routes", "mode", "cpFreezeMs", "totalMs", "bytes", "lost", "maxGapMs", "halted"];
  const cells = rows.map((x) => [
    x.routes.toLocaleString("en-US"),
    x.mode === "live" ? "vroom (live)" : "stop-and-copy",
    x.cpFreezeMs.toFixed(1),
    x.totalMs.toFixed(1),
    x.bytes.toLocaleString("en-US"),
    `${x.lost} (${x.pings.lost}+${x.stream.lost})`,
    x.maxGapMs.toFixed(1),
    x.haltedPackets === null ? "-" : String(x.haltedPackets),
  ]);
  const widths = head.map((h, i) => Math.max(h.length, ...cells.map((c) => c[i].length)));
  const line = (c: string[]) =>
    c
      .map((v, i) => v.padEnd(widths[i]))
      .join("  ")
      .trimEnd();
  const out = [`table: ${r.table}`, line(head), ...cells.map(line), ""];
  out.push("stop-and-copy against vroom:");
  const x = (v: number | null) => (v === null ? "n/a" : `${v.toFixed(1)}x`);
  for (const q of r.ratios) {
    out.push(
      `  ${q.routes.toLocaleString("en-US")} routes: control-plane freeze ${x(q.cpFreeze)}, ` +
        `largest gap ${x(q.maxGap)}, lost ${q.lost.stopAndCopy} against ${q.lost.vroom}`,
    );
  }
  const resets = [...r.vroom, ...r.stopAndCopy].filter((v) => v.bgpSessionResets > 0);
  if (resets.length > 0) {
    out.push(
      `BGP sessions reset in: ${resets.map((v) => `${v.routes} ${v.mode} (${v.bgpSessionResets})`).join(", ")}`,
    );
  }
  return `${out.join("\n")}\n`;
}

// ---- command line ------------------------------------------------------------------------------

/** Parses `--routes`: comma-separated route counts (plain digits) and `full`. */
export function parseRouteCounts(text: string): RouteCount[] {
  const out: RouteCount[] = [];
  for (const part of text.split(",")) {
    const t = part.trim().toLowerCase();
    if (t === "full") out.push("full");
    else if (/^\d+$/.test(t) && Number(t) <= 10_000_000) out.push(Number(t));
    else throw new Error(`--routes: '${part}' is neither a route count nor 'full'`);
  }
  if (out.length === 0) throw new Error("--routes: no route count given");
  return out;
}

interface Flags {
  routes?: string;
  quick?: boolean;
  json?: boolean;
  out?: string;
  table: string;
  emitRoutes?: string;
}

async function main(flags: Flags, counts: RouteCount[]): Promise<void> {
  const log = (line: string) => {
    if (!flags.json) process.stderr.write(`${line}\n`);
  };
  const missing = labPrerequisites();
  if (missing.length > 0) throw new Error(missing.map((m) => `cannot run: ${m}`).join("; "));
  ensureUdpgen();
  sweepStaleLabs(TAG);
  const work = mkdtempSync(join(tmpdir(), "vroom-cutover-table-"));
  const onSignal = (signal: NodeJS.Signals) => {
    current?.cleanup();
    rmSync(work, { recursive: true, force: true });
    process.stderr.write(`bench:cutover: ${signal}: stopped, everything removed\n`);
    process.exit(signal === "SIGINT" ? 130 : 143);
  };
  process.once("SIGINT", onSignal);
  process.once("SIGTERM", onSignal);
  const report: CutoverReport = { table: "none", vroom: [], stopAndCopy: [], ratios: [] };
  try {
    for (const count of counts) {
      const table = writeTable(join(work, String(count)), count, flags.table);
      if (table.source !== "none") report.table = table.source;
      log(
        `--- ${count === "full" ? "the full table" : `${count} routes`}` +
          (table.routes === undefined ? "" : ` (${table.ipv4} IPv4 + ${table.ipv6} IPv6)`),
      );
      for (const { mode, key } of MODES) report[key].push(await runOne(mode, table, log));
      rmSync(join(work, String(count)), { recursive: true, force: true });
    }
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
  report.ratios = ratios(report.vroom, report.stopAndCopy);
  if (flags.out !== undefined) {
    const dir = resolve(flags.out);
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, "cutover.json"), `${JSON.stringify(report, null, 2)}\n`);
    log(`written: ${join(dir, "cutover.json")}`);
  }
  process.stdout.write(flags.json ? `${JSON.stringify(report)}\n` : formatReport(report));
}

const program = new Command("bench:cutover")
  .description("live migration of VR1 against stop-and-copy, with 0, 100,000 and the full table")
  .option("--routes <list>", "route counts, comma-separated; 'full' is the whole table")
  .option("--quick", "0 and 100,000 routes only (CI)")
  .option("--json", "one JSON object on stdout")
  .option("--out <dir>", "also write cutover.json there")
  .option("--table <file>", "the table (prefix/len lines, gzip)", DEFAULT_TABLE)
  .option("--emit-routes <dir>", "internal: write the route files for one count and exit")
  // `npm run bench` hands every benchmark the same arguments.
  .allowUnknownOption()
  .allowExcessArguments()
  .action(async (flags: Flags, cmd: Command) => {
    if (flags.emitRoutes !== undefined) {
      emitRoutes(flags.emitRoutes, parseRouteCounts(cmd.args[0] ?? "")[0], flags.table);
      return;
    }
    const counts = parseRouteCounts(flags.routes ?? (flags.quick ? "0,100000" : "0,100000,full"));
    await main(flags, counts);
  });

program.parseAsync(process.argv).then(
  () => process.exit(0),
  (e) => {
    process.stderr.write(`bench:cutover: ${e instanceof Error ? e.message : String(e)}\n`);
    process.exit(1);
  },
);
