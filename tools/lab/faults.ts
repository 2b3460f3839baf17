/**
 * The migration lab's fault switch (DESIGN.md, "Migration"; docs/MIGRATION.md,
 * "Failures, phase by phase"): moves VR1 from the hypervisor that runs it
 * to the other one through the source's API, and injects one fault when
 * the source's progress stream (`GET /v1/migrations/{id}/events`) first
 * reports the chosen phase:
 *
 * - `kill-target`: SIGKILL of the target's vroomd. It stays down until the
 *   source's migration ended or the hold time passed, then is started again
 *   from its file and state directory, and must come back knowing what it
 *   owns (its `owned.json` and its router table agree).
 * - `cut-channel`: a partition of the migration channel only. In the
 *   target's namespace two policy-routing rules (`ip rule ... ipproto tcp
 *   dport|sport 7180 blackhole`) silently drop what the target sends on
 *   the channel's TCP port and every new connection either way (resume,
 *   resolve); then `ss -K` aborts the live channel connections in both
 *   hypervisors' namespaces (packets arriving on an established connection
 *   follow the route cached on its socket, which the rules do not reach),
 *   so each end also learns of the cut at once rather than at the
 *   protocol's timeouts (30 s for an acknowledgement). VXLAN (UDP) and the
 *   routers' BGP inside it are untouched. The machine has no netfilter
 *   tools and its kernel no tc drop action or netem, hence routing rules.
 *   The rules go once the source's migration ended or the hold time passed.
 *
 * The phases before the commit last a few milliseconds each with a small
 * router, less than the lab needs to react. For those the lab paces the
 * target: it holds the target's vroomd stopped (SIGSTOP) and lets it run
 * for a couple of milliseconds at a time (SIGCONT), looking at the
 * source's progress in between, so the source waits in each phase for the
 * target's answer and the fault lands inside the phase while the target is
 * held. The target runs no router before the commit, so holding it costs
 * the traffic nothing. `move-links` lasts long enough (neighbours are
 * re-homed one link at a time) and is not paced.
 *
 * After the fault the lab waits for the migration to end on the source and
 * to settle on the target, then asks both daemons' APIs and reads both
 * ownership records to say which host runs VR1: exactly one must run it
 * and own it. What the traffic and BIRD saw during each fault's window is
 * worked out after the run (`windowFigures`).
 */
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { PHASE_ORDER, type Phase } from "../../migration/progress.ts";
import { Daemon, waitFor } from "../peers/process.ts";
import { type ApiAnswer, requestJson } from "../vroomctl/migration-client.ts";
import type { MigrationView } from "../vroomd/migration.ts";
import { StateDir } from "../vroomd/state.ts";
import type { SessionCheck } from "./measure.ts";
import { followEvents, postJson } from "./migrator.ts";
import { LabError, run } from "./netlab.ts";
import { MIGRATION_PORT, type ReferenceLab, VR1, VROOMD } from "./reference.ts";
import type { PingLog, StreamLog } from "./traffic.ts";

// ---------------------------------------------------------------- what a fault is

export const FAULT_KINDS = ["kill-target", "cut-channel"] as const;
export type FaultKind = (typeof FAULT_KINDS)[number];

/** The migration phases a fault can hit, in the order a migration goes through them. */
export const FAULT_PHASES = [
  "prepare",
  "clone-data-plane",
  "pre-copy",
  "freeze-commit",
  "move-links",
] as const;
export type FaultPhase = (typeof FAULT_PHASES)[number];

/** Phases before the commit: a fault there must leave the router where it was. */
export const PRE_COMMIT_PHASES: readonly FaultPhase[] = [
  "prepare",
  "clone-data-plane",
  "pre-copy",
  "freeze-commit",
];

export interface FaultSpec {
  kind: FaultKind;
  phase: FaultPhase;
}

export type FaultParse = { ok: true; fault: FaultSpec } | { ok: false; error: string };

/** Reads `KIND@PHASE` (e.g. `kill-target@pre-copy`); never throws. */
export function parseFault(text: string): FaultParse {
  const at = text.indexOf("@");
  if (at < 0) {
    return { ok: false, error: `'${text}' is not KIND@PHASE (e.g. kill-target@pre-copy)` };
  }
  const kind = text.slice(0, at);
  const phase = text.slice(at + 1);
  if (!(FAULT_KINDS as readonly string[]).includes(kind)) {
    return {
      ok: false,
      error: `'${kind}' is not a fault kind (kinds: ${FAULT_KINDS.join(", ")})`,
    };
  }
  if (!(FAULT_PHASES as readonly string[]).includes(phase)) {
    return {
      ok: false,
      error: `'${phase}' is not a migration phase a fault can hit (phases: ${FAULT_PHASES.join(", ")})`,
    };
  }
  return { ok: true, fault: { kind: kind as FaultKind, phase: phase as FaultPhase } };
}

export function faultName(f: FaultSpec): string {
  return `${f.kind}@${f.phase}`;
}

/** Where a phase a source reports comes in the order; rolled-back is an end, not a step. */
const rank = (phase: string) => PHASE_ORDER.indexOf(phase as Phase);

// ---------------------------------------------------------------- the daemons' API

/** GETs `path` over a daemon's Unix socket; rejects when the daemon does not answer. */
export function getJson(socket: string, path: string, timeoutMs = 10_000): Promise<ApiAnswer> {
  return requestJson({ socket }, "GET", path, undefined, timeoutMs);
}

/** vroomd's view of a migration, as its API gives it. */
type MigrationLine = MigrationView;

async function migrationsOf(socket: string): Promise<MigrationLine[]> {
  const r = await getJson(socket, "/v1/migrations");
  if (r.status !== 200) throw new LabError(`GET /v1/migrations answered ${r.status}`);
  return ((r.body as { migrations?: MigrationLine[] }).migrations ?? []) as MigrationLine[];
}

// ---------------------------------------------------------------- hypervisors

type HvRole = "pr1" | "pr2";
const HV_ROLES: readonly HvRole[] = ["pr1", "pr2"];
const other = (r: HvRole): HvRole => (r === "pr1" ? "pr2" : "pr1");

function hypervisor(lab: ReferenceLab, role: HvRole) {
  const hv = lab.hypervisors[role];
  if (hv === undefined) throw new LabError(`vroomd is not running in ${role}`);
  return hv;
}

export interface RestartOptions {
  /** A new configuration file text, written before the start (default: the file as it is). */
  config?: string;
  timeoutMs?: number;
}

/**
 * Starts `role`'s vroomd again from its file and state directory (stopping
 * it first with SIGTERM if it still runs); resolves once its API answers,
 * with how long that took (ms).
 */
export async function restartHypervisor(
  lab: ReferenceLab,
  role: HvRole,
  o: RestartOptions = {},
): Promise<number> {
  const hv = hypervisor(lab, role);
  if (hv.daemon.running) await hv.daemon.stop();
  const file = join(hv.dir, "vroomd.yaml");
  if (o.config !== undefined) writeFileSync(file, o.config);
  const t0 = performance.now();
  const daemon = new Daemon(hv.ns, process.execPath, [lab.options.vroomd ?? VROOMD, "-c", file]);
  lab.lab.adopt(() => {
    if (daemon.running) daemon.child.kill("SIGKILL");
  });
  lab.hypervisors[role] = { ...hv, daemon };
  await waitFor(
    `vroomd in ${role} to answer after its restart`,
    async () => {
      if (!daemon.running) {
        const last = daemon.log.trim().split("\n").at(-1) ?? "";
        throw new LabError(`vroomd in ${role} exited at its restart: ${last}`);
      }
      const r = await getJson(hv.socket, "/v1/status", 2000).catch(() => undefined);
      return r?.status === 200 ? true : undefined;
    },
    o.timeoutMs ?? 30_000,
    50,
  );
  return performance.now() - t0;
}

/** One hypervisor's view of a router: its API and its ownership record. */
export interface HostView {
  host: HvRole;
  /** Whether its API answered. */
  up: boolean;
  /** Whether its API lists the router. */
  runs: boolean;
  /** The router's entry in owned.json (role, epoch, peer), null when it has none. */
  record: { role: string; epoch: number; peer?: string } | null;
  /** Every router its record says it owns, and every router its API lists. */
  owns: string[];
  lists: string[];
  error?: string;
}

export interface Placement {
  hosts: HostView[];
  /** The one host that runs the router and owns it; null when that is not exactly one. */
  runsOn: HvRole | null;
  /** What is wrong, in words (empty: one host runs and owns it, the other neither). */
  problems: string[];
}

async function hostView(lab: ReferenceLab, role: HvRole, router: string): Promise<HostView> {
  const hv = hypervisor(lab, role);
  const view: HostView = { host: role, up: false, runs: false, record: null, owns: [], lists: [] };
  try {
    const r = await getJson(hv.socket, "/v1/routers", 5000);
    if (r.status !== 200) throw new Error(`GET /v1/routers answered ${r.status}`);
    view.lists = ((r.body as { routers?: { name: string }[] }).routers ?? []).map((x) => x.name);
    view.up = true;
    view.runs = view.lists.includes(router);
  } catch (e) {
    view.error = `API: ${(e as Error).message}`;
  }
  try {
    const rec = await new StateDir(join(hv.dir, "state")).readOwnership();
    for (const e of rec?.routers ?? []) {
      // Entries written before migration existed read as owned at epoch 1.
      const role = e.role ?? "owned";
      if (role === "owned") view.owns.push(e.name);
      if (e.name === router) {
        view.record = {
          role,
          epoch: e.epoch ?? 1,
          ...(e.peer === undefined ? {} : { peer: e.peer }),
        };
      }
    }
  } catch (e) {
    view.error = `${view.error === undefined ? "" : `${view.error}; `}record: ${(e as Error).message}`;
  }
  return view;
}

/**
 * Which host runs `router`, from both daemons' APIs and ownership records:
 * exactly one must list it and own it ("owned" in owned.json), the other
 * neither.
 */
export async function placementOf(
  lab: ReferenceLab,
  router: string = VR1.name,
): Promise<Placement> {
  const hosts = await Promise.all(HV_ROLES.map((r) => hostView(lab, r, router)));
  const problems: string[] = [];
  for (const h of hosts) {
    if (!h.up) problems.push(`${h.host}'s API does not answer (${h.error ?? ""})`);
    const owned = h.record?.role === "owned";
    if (h.runs && !owned) {
      problems.push(
        `${h.host} runs ${router} but its record says ${h.record === null ? "nothing" : `${h.record.role} at epoch ${h.record.epoch}`}`,
      );
    }
    if (h.up && owned && !h.runs) problems.push(`${h.host} owns ${router} but does not run it`);
  }
  const running = hosts.filter((h) => h.runs).map((h) => h.host);
  const owning = hosts.filter((h) => h.record?.role === "owned").map((h) => h.host);
  if (running.length > 1) problems.push(`${router} runs on ${running.join(" and ")}`);
  if (running.length === 0) problems.push(`${router} runs on no host`);
  if (owning.length > 1) problems.push(`${router} is owned by ${owning.join(" and ")}`);
  const runsOn =
    running.length === 1 && owning.length === 1 && running[0] === owning[0] ? running[0] : null;
  return { hosts, runsOn, problems };
}

/** Whether a daemon's record and router table agree: it runs what it owns, and owns what it runs. */
export function knowsWhatItOwns(h: HostView): boolean {
  if (!h.up) return false;
  const owns = new Set(h.owns);
  const lists = new Set(h.lists);
  return [...owns].every((r) => lists.has(r)) && [...lists].every((r) => owns.has(r));
}

// ---------------------------------------------------------------- pacing and the cut

const pause = new Int32Array(new SharedArrayBuffer(4));
/** Blocks this thread for `ms` (a stepped process must not outlive its slice by a timer's lateness). */
const sleepSync = (ms: number) => Atomics.wait(pause, 0, 0, ms);
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Holds a process stopped and lets it run in short slices (SIGSTOP / SIGCONT). */
export class Pacer {
  #held = false;
  steps = 0;

  constructor(readonly pid: number) {}

  hold(): void {
    this.#signal("SIGSTOP");
    this.#held = true;
  }

  /** Lets the process run for `ms`, then stops it again. */
  step(ms: number): void {
    this.#signal("SIGCONT");
    sleepSync(ms);
    this.#signal("SIGSTOP");
    this.steps++;
  }

  /** Lets it run freely again; idempotent, never throws. */
  release(): void {
    if (!this.#held) return;
    this.#held = false;
    try {
      process.kill(this.pid, "SIGCONT");
    } catch {
      // gone (killed by the fault)
    }
  }

  #signal(s: NodeJS.Signals): void {
    try {
      process.kill(this.pid, s);
    } catch (e) {
      throw new LabError(`cannot send ${s} to vroomd (pid ${this.pid}): ${(e as Error).message}`);
    }
  }
}

/**
 * A partition of the migration channel: blackhole rules for its TCP port in
 * `ns` (the target's namespace), then the live connections aborted in every
 * namespace of `ends` (both hypervisors').
 */
export class ChannelCut {
  #rules: string[][] = [];

  constructor(
    readonly ns: string,
    readonly ends: readonly string[],
    readonly port: number = MIGRATION_PORT,
  ) {}

  /** Cuts; answers how many connections were aborted. */
  cut(): number {
    for (const [pref, dir] of [
      [this.port, "dport"],
      [this.port + 1, "sport"],
    ] as const) {
      const rule = ["pref", String(pref), "ipproto", "tcp", dir, String(this.port)];
      run("ip", ["-n", this.ns, "rule", "add", ...rule, "blackhole"]);
      this.#rules.push(rule);
    }
    let aborted = 0;
    for (const ns of this.ends) {
      const out = run("ip", [
        "netns",
        "exec",
        ns,
        "ss",
        "-K",
        "-t",
        "-n",
        "-H",
        "state",
        "connected",
        `( sport = :${this.port} or dport = :${this.port} )`,
      ]);
      aborted += out.split("\n").filter((l) => l.trim() !== "").length;
    }
    return aborted;
  }

  /** Removes the rules; idempotent, answers what failed. */
  heal(): string[] {
    const problems: string[] = [];
    for (const rule of this.#rules.splice(0)) {
      try {
        run("ip", ["-n", this.ns, "rule", "del", ...rule, "blackhole"]);
      } catch (e) {
        problems.push((e as Error).message);
      }
    }
    return problems;
  }
}

// ---------------------------------------------------------------- the source's progress

/** Follows one migration's progress stream and keeps what it said. */
class ProgressFollower {
  readonly seen: { phase: string; state: string; atMs: number }[] = [];
  last: MigrationLine | undefined;
  finished: MigrationLine | undefined;
  error: string | undefined;
  readonly done: Promise<void>;
  #wake: (() => void) | undefined;

  constructor(socket: string, id: string, timeoutMs: number) {
    this.done = followEvents(
      socket,
      `/v1/migrations/${encodeURIComponent(id)}/events`,
      (line) => {
        const m = line.migration as MigrationLine | undefined;
        if (m !== undefined) {
          this.last = m;
          const prev = this.seen[this.seen.length - 1];
          if (prev === undefined || prev.phase !== m.phase || prev.state !== m.state) {
            this.seen.push({ phase: m.phase, state: m.state, atMs: Date.now() });
          }
          if (line.type === "finished") this.finished = m;
        }
        this.#wake?.();
        return line.type === "finished";
      },
      timeoutMs,
    ).then(
      () => undefined,
      (e: Error) => {
        this.error = e.message;
        this.#wake?.();
      },
    );
  }

  /** Resolves true at the next line (or the stream's end), false after `ms` without one. */
  next(ms: number): Promise<boolean> {
    if (this.finished !== undefined || this.error !== undefined) return Promise.resolve(false);
    return new Promise((resolve) => {
      const t = setTimeout(() => {
        this.#wake = undefined;
        resolve(false);
      }, ms);
      this.#wake = () => {
        clearTimeout(t);
        this.#wake = undefined;
        resolve(true);
      };
    });
  }

  /** Resolves once the stream has been silent for `ms` (at most `maxMs`). */
  async quiet(ms: number, maxMs = 1000): Promise<void> {
    const end = Date.now() + maxMs;
    while ((await this.next(ms)) && Date.now() < end) {
      // another line: wait until the source has said everything it had to say
    }
  }
}

// ---------------------------------------------------------------- one fault

export interface FaultOptions {
  /** How long the target stays down or the channel cut at most, when the migration has not ended (ms, default 1000). */
  holdMs?: number;
  /** Slice the paced target runs for (ms, default 2) and the silence from the source that ends the wait after it (ms, default 20). */
  sliceMs?: number;
  settleMs?: number;
  /** How long the migration may take to reach the phase (default 30 s), and to end after the fault (default 60 s). */
  reachTimeoutMs?: number;
  endTimeoutMs?: number;
  log?: (line: string) => void;
}

/** Where the fault landed: the source's phase and state as it last reported them when the fault hit. */
export interface Injection {
  atMs: number;
  phase: string;
  state: string;
  /** Connections `ss -K` aborted (cut-channel). */
  aborted?: number;
}

export interface FaultReport {
  fault: string;
  kind: FaultKind;
  phase: FaultPhase;
  /** The hypervisors the migration went from and to. */
  from: HvRole;
  to: HvRole;
  /** The fault was injected in its phase and the migration did not go past that phase before it ended (pre-commit), or was in that phase (move-links). */
  landed: boolean;
  /** Why it was not injected, or not run at all (the run's traffic ran out, an earlier fault left VR1 on no single host). */
  skipped?: string;
  injected: Injection | null;
  migrationId: string | null;
  /** The source's phases and states as its progress stream reported them. */
  progress: { phase: string; state: string; atMs: number }[];
  /** The migration's end on the source, or the API's refusal. */
  outcome: "moved" | "rolled-back" | "reclaimed" | "refused" | null;
  reason?: string;
  detail?: string;
  /** The API's answer to the migration request. */
  answer?: { status: number; code?: string; message?: string };
  /** Time slices the paced target was let run before the fault. */
  pacedSteps: number;
  /** When the target came back or the channel healed (epoch ms). */
  liftedAtMs: number | null;
  /** Epoch ms: the migration's end on the source, and both sides settled (no migration under way). */
  endedAtMs: number | null;
  settledAtMs: number | null;
  /**
   * kill-target: the restarted daemon: ms until its API answered (null: it
   * did not come back, `error` says why), and whether its record and its
   * routers agree.
   */
  restart?: {
    ms: number | null;
    error?: string;
    knowsWhatItOwns: boolean;
    owns: string[];
    runs: string[];
  };
  placement: Placement | null;
  /** Which host runs VR1 afterwards (null: not exactly one). */
  runsOn: HvRole | null;
  /** What the migration cost, when it moved. */
  summary?: { cpFreezeMs: number; totalMs: number; bytes: number };
  /** The fault's window (epoch ms): from the request to the end of the watch after it. */
  window: { startMs: number; endMs: number };
  /** Filled after the run: the traffic and BIRD over the window. */
  lost: number;
  pingsLost: number;
  streamLost: number;
  maxGapMs: number;
  bgpResets: number;
  bgp: SessionCheck[];
  problems: string[];
}

/** A report for a fault that was not run. */
export function skippedFault(f: FaultSpec, why: string, from: HvRole = "pr1"): FaultReport {
  const now = Date.now();
  return {
    ...emptyReport(f, from, now),
    skipped: why,
    window: { startMs: now, endMs: now },
  };
}

function emptyReport(f: FaultSpec, from: HvRole, now: number): FaultReport {
  return {
    fault: faultName(f),
    kind: f.kind,
    phase: f.phase,
    from,
    to: other(from),
    landed: false,
    injected: null,
    migrationId: null,
    progress: [],
    outcome: null,
    pacedSteps: 0,
    liftedAtMs: null,
    endedAtMs: null,
    settledAtMs: null,
    placement: null,
    runsOn: null,
    window: { startMs: now, endMs: now },
    lost: 0,
    pingsLost: 0,
    streamLost: 0,
    maxGapMs: 0,
    bgpResets: 0,
    bgp: [],
    problems: [],
  };
}

/** Resolves with `p`'s value, or undefined after `ms`; the timer never outlives the race. */
async function within<T>(p: Promise<T>, ms: number): Promise<T | undefined> {
  let t: ReturnType<typeof setTimeout> | undefined;
  try {
    return await Promise.race([
      p,
      new Promise<undefined>((r) => {
        t = setTimeout(() => r(undefined), ms);
      }),
    ]);
  } finally {
    clearTimeout(t);
  }
}

/** Waits until neither hypervisor has a migration of `router` under way; answers whether they settled. */
async function settle(lab: ReferenceLab, router: string, timeoutMs: number): Promise<boolean> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    let busy = false;
    for (const role of HV_ROLES) {
      const list = await migrationsOf(hypervisor(lab, role).socket).catch(() => undefined);
      if (list === undefined || list.some((m) => m.router === router && !m.finished)) busy = true;
    }
    if (!busy) return true;
    if (Date.now() > end) return false;
    await sleep(100);
  }
}

/**
 * Moves VR1 from the host that runs it to the other and injects `f` (see
 * the module comment). Never leaves the target stopped or the channel cut,
 * and answers a report rather than throwing for what the migration or the
 * daemons did (a killed daemon that cannot start again included); throws
 * LabError only when the run cannot begin (VR1 not on one host, a daemon
 * not answering) or a command of the lab itself fails.
 */
export async function runFault(
  lab: ReferenceLab,
  f: FaultSpec,
  o: FaultOptions = {},
): Promise<FaultReport> {
  const log = o.log ?? (() => {});
  const holdMs = o.holdMs ?? 1000;
  const sliceMs = o.sliceMs ?? 2;
  const settleMs = o.settleMs ?? 20;
  const reachMs = o.reachTimeoutMs ?? 30_000;
  const endMs = o.endTimeoutMs ?? 60_000;
  const before = await placementOf(lab);
  if (before.runsOn === null || before.problems.length > 0) {
    throw new LabError(
      `${faultName(f)}: VR1 is not on one host to begin with: ${before.problems.join("; ")}`,
    );
  }
  const from = before.runsOn;
  const to = other(from);
  const src = hypervisor(lab, from);
  const dst = hypervisor(lab, to);
  const r = emptyReport(f, from, Date.now());
  const known = new Set((await migrationsOf(src.socket)).map((m) => m.id));
  const paced = f.phase !== "move-links";
  const pacer = paced ? new Pacer(dst.daemon.child.pid!) : undefined;
  const cut = new ChannelCut(dst.ns, [src.ns, dst.ns]);
  const req: { answer?: ApiAnswer | Error } = {};
  let follower: ProgressFollower | undefined;
  try {
    pacer?.hold();
    const request = postJson(src.socket, `/v1/routers/${encodeURIComponent(VR1.name)}/migrate`, {
      to,
    }).then(
      (a) => {
        req.answer = a;
      },
      (e: Error) => {
        req.answer = e;
      },
    );
    // The migration's id: its record appears on the source at its first progress report.
    const reachBy = Date.now() + reachMs;
    let id: string | undefined;
    for (;;) {
      id = (await migrationsOf(src.socket)).find(
        (m) => m.router === VR1.name && m.role === "source" && !known.has(m.id),
      )?.id;
      if (id !== undefined || req.answer !== undefined || Date.now() > reachBy) break;
      pacer?.step(sliceMs);
      await sleep(paced ? settleMs : 5);
    }
    if (id === undefined) {
      pacer?.release();
      await within(request, endMs);
      noteAnswer(r, req.answer);
      r.outcome = "refused";
      r.skipped = `the migration never started: ${r.answer?.message ?? "no answer"}`;
      r.pacedSteps = pacer?.steps ?? 0;
      r.placement = await placementOf(lab);
      r.runsOn = r.placement.runsOn;
      r.problems.push(...r.placement.problems);
      return r;
    }
    r.migrationId = id;
    follower = new ProgressFollower(src.socket, id, endMs);

    // Reach the phase: the first report of it on the source's stream. A paced target
    // is held while the lab reads what the source said after each slice.
    for (;;) {
      if (paced) await follower.quiet(settleMs);
      else await follower.next(1000);
      const last = follower.last;
      if (last !== undefined && !last.finished && last.phase === f.phase) break;
      const beyond = last !== undefined && (last.finished || rank(last.phase) > rank(f.phase));
      if (beyond || follower.error !== undefined || Date.now() > reachBy) {
        r.skipped =
          follower.error !== undefined
            ? `the progress stream failed: ${follower.error}`
            : beyond
              ? `the migration went past ${f.phase} (${last.phase}/${last.state}) before the fault`
              : `the migration did not reach ${f.phase} within ${reachMs} ms`;
        break;
      }
      pacer?.step(sliceMs);
    }
    r.pacedSteps = pacer?.steps ?? 0;

    if (r.skipped === undefined) {
      const atMs = Date.now();
      let aborted: number | undefined;
      if (f.kind === "kill-target") dst.daemon.child.kill("SIGKILL");
      else aborted = cut.cut();
      pacer?.release();
      const view = follower.last!;
      r.injected = {
        atMs,
        phase: view.phase,
        state: view.state,
        ...(aborted === undefined ? {} : { aborted }),
      };
      log(`${faultName(f)}: injected at ${view.phase}/${view.state}`);
      // The fault holds until the migration ended or the hold time passed.
      await within(follower.done, holdMs);
      if (f.kind === "kill-target") {
        // A daemon that cannot start again is a finding of the run, not a failure of the lab.
        let ms: number | null = null;
        let error: string | undefined;
        try {
          ms = await restartHypervisor(lab, to);
        } catch (e) {
          error = (e as Error).message;
          r.problems.push(error);
        }
        const h = await hostView(lab, to, VR1.name);
        r.restart = {
          ms,
          ...(error === undefined ? {} : { error }),
          knowsWhatItOwns: knowsWhatItOwns(h),
          owns: h.owns,
          runs: h.lists,
        };
        if (error === undefined && !r.restart.knowsWhatItOwns) {
          r.problems.push(
            `${to} came back owning [${h.owns.join(", ")}] but running [${h.lists.join(", ")}]`,
          );
        }
      } else {
        r.problems.push(...cut.heal());
      }
      r.liftedAtMs = Date.now();
      log(`${faultName(f)}: ${f.kind === "kill-target" ? "target restarted" : "channel healed"}`);
    } else {
      pacer?.release();
    }

    await within(follower.done, endMs);
    await within(request, endMs);
    noteAnswer(r, req.answer);
    const end = follower.finished;
    if (end === undefined) {
      r.problems.push(
        `the migration did not end on ${from}${follower.error === undefined ? "" : `: ${follower.error}`}`,
      );
    } else {
      r.endedAtMs = Date.now();
      r.outcome = end.result?.outcome ?? null;
      if (end.result?.reason !== undefined) r.reason = end.result.reason;
      if (end.result?.detail !== undefined) r.detail = end.result.detail;
      if (end.result?.outcome === "moved") {
        r.summary = {
          cpFreezeMs: end.result.cpFreezeMs,
          totalMs: end.result.totalMs,
          bytes: end.result.bytes,
        };
      }
    }
    r.progress = follower.seen;
    if (r.injected !== null) {
      const at = r.injected.atMs;
      const after = r.progress.filter((p) => p.atMs >= at).map((p) => p.phase);
      const allowed =
        f.phase === "move-links"
          ? ["move-links", "clean-up", "done", "rolled-back"]
          : [f.phase, "rolled-back"];
      r.landed = r.injected.phase === f.phase && after.every((p) => allowed.includes(p));
    }
    if (end !== undefined) {
      if (await settle(lab, VR1.name, 30_000)) r.settledAtMs = Date.now();
      else
        r.problems.push("a migration of VR1 was still under way 30 s after its end on the source");
    }
    r.placement = await placementOf(lab);
    r.runsOn = r.placement.runsOn;
    r.problems.push(...r.placement.problems);
    return r;
  } finally {
    pacer?.release();
    cut.heal();
  }
}

function noteAnswer(r: FaultReport, a: ApiAnswer | Error | undefined): void {
  if (a === undefined) return;
  if (a instanceof Error) {
    r.answer = { status: 0, message: a.message };
    return;
  }
  const err = (a.body as { error?: { code?: string; message?: string } } | undefined)?.error;
  r.answer = {
    status: a.status,
    ...(err?.code === undefined ? {} : { code: err.code }),
    ...(err?.message === undefined ? {} : { message: err.message }),
  };
}

// ---------------------------------------------------------------- the traffic over a window

/**
 * What the traffic lost over `window` (epoch ms), and its largest gap there:
 * pings by their send times (from the first reply and the interval), the
 * stream's missing sequence numbers by their send times (from the first
 * arrival and the rate). The stream's receiver reports only its largest
 * gap overall; it counts for the window its end falls in. A silence that
 * lasts to the window's end (no reply since, pings still sent) counts as a
 * gap up to the window's end or the last ping sent, whichever is first.
 */
export function windowFigures(
  window: { startMs: number; endMs: number },
  pings: PingLog,
  lostSeqs: readonly number[],
  intervalMs: number,
  stream: StreamLog,
): { pingsLost: number; streamLost: number; maxGapMs: number } {
  const inside = (t: number) => t >= window.startMs && t <= window.endMs;
  const first = pings.samples[0];
  const origin = first === undefined ? 0 : first.atMs - first.rttMs - (first.seq - 1) * intervalMs;
  const pingsLost =
    first === undefined ? 0 : lostSeqs.filter((q) => inside(origin + (q - 1) * intervalMs)).length;
  const r = stream.receipt;
  const sentAt = (seq: number) => r.firstMs + (seq * 1000) / stream.rate;
  let streamLost = 0;
  for (const [a, b] of r.missing) {
    for (let q = a; q <= b; q++) if (inside(sentAt(q))) streamLost++;
  }
  for (let q = r.maxSeq + 1; q < stream.sent; q++) if (inside(sentAt(q))) streamLost++;
  const times = pings.samples.map((s) => s.atMs).sort((x, y) => x - y);
  let maxGapMs = 0;
  for (let i = 1; i < times.length; i++) {
    if (inside(times[i])) maxGapMs = Math.max(maxGapMs, times[i] - times[i - 1]);
  }
  const sent = pings.transmitted ?? pings.samples.reduce((m, s) => Math.max(m, s.seq), 0);
  if (first !== undefined && sent > 0) {
    const edge = Math.min(window.endMs, origin + (sent - 1) * intervalMs);
    let lastReply: number | undefined;
    for (const t of times) if (t <= edge) lastReply = t;
    if (lastReply !== undefined && inside(edge)) maxGapMs = Math.max(maxGapMs, edge - lastReply);
  }
  if (inside(r.maxGapEndMs)) maxGapMs = Math.max(maxGapMs, r.maxGapMs);
  return { pingsLost, streamLost, maxGapMs };
}
