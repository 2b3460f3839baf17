/**
 * What a migration reports as it goes (for the daemon's API and vroomctl's
 * progress bar) and when it ends: plain data, produced by the protocol cores
 * (source.ts, target.ts) as `progress` and `finished` actions.
 *
 * Phases follow DESIGN.md, "Migration": prepare, clone the data plane,
 * pre-copy the control plane, freeze and commit, move the links, clean up;
 * then done or rolled back. The control-plane freeze is measured at the
 * source from `freeze` to the target's ACTIVATED: the time during which no
 * control plane ran for the router on either host.
 */
import type { AbortReason, RefusalCode } from "./errors.ts";

export const Phase = {
  Prepare: "prepare",
  CloneDataPlane: "clone-data-plane",
  PreCopy: "pre-copy",
  FreezeCommit: "freeze-commit",
  MoveLinks: "move-links",
  CleanUp: "clean-up",
  Done: "done",
  RolledBack: "rolled-back",
} as const;
export type Phase = (typeof Phase)[keyof typeof Phase];

/** The phases a migration goes through, in order, up to done (rolled-back ends it early). */
export const PHASE_ORDER: readonly Phase[] = [
  Phase.Prepare,
  Phase.CloneDataPlane,
  Phase.PreCopy,
  Phase.FreezeCommit,
  Phase.MoveLinks,
  Phase.CleanUp,
  Phase.Done,
];

export type Role = "source" | "target";

export interface MigrationProgress {
  /** 32 hex digits. */
  migrationId: string;
  router: string;
  role: Role;
  /** The other hypervisor. */
  peer: string;
  /** The epoch the router takes at commit. */
  epoch: number;
  phase: Phase;
  /** The protocol core's state (source.ts, target.ts). */
  state: string;
  /** Bytes sent (source) or received (target) on the wire, framing included. */
  bytes: number;
  /** Control-plane pre-copy rounds done (the snapshot is round 0). */
  rounds: number;
  /** Data-plane rounds done (the snapshot is round 0). */
  dataPlaneRounds: number;
  /** FIB seq the target acknowledged (source) or holds (target). */
  dataPlaneSeq: number;
  /** Control version the target acknowledged or holds. */
  controlVersion: number;
  /** Links whose neighbours' ends were re-homed, of `linksTotal`. */
  linksMoved: number;
  linksTotal: number;
  /** Milliseconds since the migration started. */
  elapsedMs: number;
  /** Whether the commit decision was taken. */
  committed: boolean;
  /** The last problem met (a retried hook, a lost channel after commit), if any. */
  note?: string;
}

export type Outcome =
  /** The router runs at the target; the source dropped it. */
  | "moved"
  /** Rolled back before commit: the source still runs the router. */
  | "rolled-back"
  /** After commit the target lost its copy; the source took the router back under a new epoch. */
  | "reclaimed";

export interface MigrationSummary {
  migrationId: string;
  router: string;
  role: Role;
  peer: string;
  /** The router's epoch at the end (on the host that owns it). */
  epoch: number;
  outcome: Outcome;
  reason?: AbortReason;
  refusal?: RefusalCode;
  /** What went wrong, in words. */
  detail?: string;
  /** Control plane stopped on both hosts, ms (0 when no freeze happened). */
  cpFreezeMs: number;
  /** From start to the end, ms. */
  totalMs: number;
  bytes: number;
  rounds: number;
  dataPlaneRounds: number;
  /** Time spent in each phase, ms. */
  phaseMs: Partial<Record<Phase, number>>;
}

/** Keeps time per phase: `enter` closes the running phase and opens the next. */
export class PhaseClock {
  readonly startedAt: number;
  private phase: Phase;
  private since: number;
  private readonly spent: Partial<Record<Phase, number>> = {};

  constructor(phase: Phase, now: number) {
    this.startedAt = now;
    this.phase = phase;
    this.since = now;
  }

  get current(): Phase {
    return this.phase;
  }

  enter(phase: Phase, now: number): void {
    if (phase === this.phase) return;
    this.spent[this.phase] = (this.spent[this.phase] ?? 0) + (now - this.since);
    this.phase = phase;
    this.since = now;
  }

  /** Time per phase so far (the running phase counted up to `now`). */
  totals(now: number): Partial<Record<Phase, number>> {
    const out = { ...this.spent };
    out[this.phase] = (out[this.phase] ?? 0) + (now - this.since);
    return out;
  }
}
