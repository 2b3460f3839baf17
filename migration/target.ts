/**
 * The target side of a migration as a sans-IO state machine
 * (docs/MIGRATION.md, "Target states"): `handle(event, now)` returns the
 * actions to carry out and the next deadline, like the source's (source.ts).
 * It calls the standby router and its factory directly (in-process objects);
 * links, the ownership record and the channel are actions. One handler per
 * state.
 *
 * States and allowed transitions:
 *
 *   awaiting-prepare -> preparing-links (PREPARE accepted: standby created, links asked for)
 *                    -> rolled-back     (refused: nothing was created; or the channel went)
 *   preparing-links  -> receiving       (links ready: PREPARED)
 *                    -> rolling-back    (link setup failed, ABORT, channel lost, timeout)
 *   receiving        -> receiving       (a snapshot or changes applied: APPLIED)
 *                    -> voted           (final state staged, FIB seq agrees: READY)
 *                    -> rolling-back    (anything fails)
 *   voted            -> activating      (COMMIT, or the source answers "commit": write "owned")
 *                    -> rolling-back    (ABORT, or the source answers "abort")
 *                    -> voted           (channel lost or silent: ask the source how it ended, until it answers)
 *   activating       -> active          (written: the router starts; ACTIVATED)
 *                    -> abandoning      (activation or the write failed)
 *   abandoning       -> rolling-back    ("abandoned" written: ABANDONED, the source takes the router back)
 *   active           -> done            (DONE; or the source stays away after the commit)
 *   rolling-back     -> rolled-back     (links released)
 *
 * The target never gives up on its own once it voted: only the source
 * decides, and a target that lost the channel asks it (RESOLVE) until it
 * answers. Before the vote it rolls back on any failure, discarding the
 * standby and the links it created, so nothing half-installed remains.
 */
import { AbortReason, type Refusal, RefusalCode } from "./errors.ts";
import type { RouterRequirements, StandbyRouter, StandbyRouterFactory } from "./host.ts";
import { BLOB_KIND_NAMES, BlobKind, type Message } from "./messages.ts";
import type { OwnershipEntry, OwnershipRole } from "./ownership.ts";
import {
  type MigrationProgress,
  type MigrationSummary,
  type Outcome,
  Phase,
  PhaseClock,
} from "./progress.ts";
import { errorText, type Step } from "./source.ts";
import { DEFAULT_CHUNK_BYTES, wireBytes } from "./stream.ts";

export const TargetState = {
  AwaitingPrepare: "awaiting-prepare",
  PreparingLinks: "preparing-links",
  Receiving: "receiving",
  Voted: "voted",
  Activating: "activating",
  Abandoning: "abandoning",
  Active: "active",
  RollingBack: "rolling-back",
  Done: "done",
  RolledBack: "rolled-back",
} as const;
export type TargetState = (typeof TargetState)[keyof typeof TargetState];

export const TARGET_TRANSITIONS: Record<TargetState, readonly TargetState[]> = {
  "awaiting-prepare": ["preparing-links", "rolled-back"],
  "preparing-links": ["receiving", "rolling-back"],
  receiving: ["receiving", "voted", "rolling-back"],
  voted: ["voted", "activating", "rolling-back"],
  activating: ["active", "abandoning"],
  abandoning: ["rolling-back"],
  active: ["done"],
  "rolling-back": ["rolled-back"],
  done: [],
  "rolled-back": [],
};

export type TargetHook = "prepare-links" | "release-links" | "link-rehomed";

export type TargetEvent =
  | { type: "message"; message: Message }
  | { type: "channel-down"; reason: AbortReason; detail: string }
  | { type: "channel-up" }
  | { type: "persisted" }
  | { type: "persist-failed"; error: string }
  | { type: "hook-done"; hook: TargetHook; ifIndex?: number }
  | { type: "hook-failed"; hook: TargetHook; ifIndex?: number; error: string }
  /** The source's answer to RESOLVE. */
  | { type: "resolution"; outcome: "commit" | "abort" }
  /** RESOLVE got no answer (source unreachable, or its decision still being written). */
  | { type: "resolve-failed"; error: string }
  | { type: "tick" }
  | { type: "cancel"; detail?: string };

export type TargetAction =
  | { type: "send"; message: Message }
  | { type: "persist"; role: OwnershipRole; epoch: number; peer?: string }
  | { type: "hook"; hook: TargetHook; ifIndex?: number; requirements?: RouterRequirements }
  /** Ask the source how the migration ended (a new connection); answer with resolution or resolve-failed. */
  | { type: "resolve" }
  | { type: "close" }
  | { type: "progress"; progress: MigrationProgress }
  | { type: "finished"; summary: MigrationSummary };

export interface TargetTimeouts {
  /** Before the vote: the longest silence from the source before rolling back; after it, before asking. */
  idleMs: number;
  /** Delay between two RESOLVE attempts after the channel was lost in doubt. */
  resolveRetryMs: number;
  /** After activation: how long to wait for the source to come back and finish the link moves. */
  activeIdleMs: number;
}

export const DEFAULT_TARGET_TIMEOUTS: TargetTimeouts = {
  idleMs: 30_000,
  resolveRetryMs: 500,
  activeIdleMs: 60_000,
};

export interface TargetOptions {
  migrationId: string;
  /** The source hypervisor (authenticated by the channel). */
  peer: string;
  /** The router named in the hello. */
  router: string;
  /** The epoch in the stream: the router's epoch once committed. */
  epoch: number;
  factory: StandbyRouterFactory;
  /** This hypervisor's ownership entry for the router, if any. */
  existing: OwnershipEntry | undefined;
  /** Whether another migration of this router is under way here. */
  busy: boolean;
  timeouts?: Partial<TargetTimeouts>;
  chunkBytes?: number;
}

export class TargetMachine {
  readonly migrationId: string;
  readonly peer: string;
  readonly router: string;
  readonly epoch: number;
  readonly timeouts: TargetTimeouts;
  private readonly factory: StandbyRouterFactory;
  private readonly existing: OwnershipEntry | undefined;
  private readonly busy: boolean;
  private readonly chunkBytes: number;

  private st: TargetState = TargetState.AwaitingPrepare;
  readonly history: TargetState[] = [TargetState.AwaitingPrepare];
  private clock: PhaseClock | undefined;
  private out: TargetAction[] = [];
  private now = 0;
  private deadlineAt = Number.POSITIVE_INFINITY;
  private standby: StandbyRouter | undefined;
  private requirements: RouterRequirements | undefined;
  private linksCreated = false;
  private aborting: { reason: AbortReason; detail: string } | undefined;
  private failure: { reason: AbortReason; detail: string; refusal?: RefusalCode } | undefined;
  private connected = true;
  private dataPlaneLoaded = false;
  private controlLoaded = false;
  private finalStaged = false;
  /** The source's clock when it took the final state. */
  private sourceTime = 0;
  private dpSeq = 0;
  private ctlVersion = 0;
  private dpRounds = 0;
  private rounds = 0;
  private bytes = 0;
  private lateApplied = false;
  private linksMoved = new Set<number>();
  private note: string | undefined;

  constructor(options: TargetOptions) {
    this.migrationId = options.migrationId;
    this.peer = options.peer;
    this.router = options.router;
    this.epoch = options.epoch;
    this.factory = options.factory;
    this.existing = options.existing;
    this.busy = options.busy;
    this.timeouts = { ...DEFAULT_TARGET_TIMEOUTS, ...options.timeouts };
    this.chunkBytes = options.chunkBytes ?? DEFAULT_CHUNK_BYTES;
  }

  get state(): TargetState {
    return this.st;
  }

  get finished(): boolean {
    return this.st === TargetState.Done || this.st === TargetState.RolledBack;
  }

  /** Whether the router runs here (activated). */
  get active(): boolean {
    return this.st === TargetState.Active || this.st === TargetState.Done;
  }

  /** Whether the target voted and waits for the source's decision. */
  get inDoubt(): boolean {
    return this.st === TargetState.Voted;
  }

  handle(event: TargetEvent, now: number): Step<TargetAction> {
    this.now = now;
    this.out = [];
    if (this.clock === undefined) {
      this.clock = new PhaseClock(Phase.Prepare, now);
      this.deadlineAt = now + this.timeouts.idleMs;
    }
    if (!this.finished) {
      if (event.type === "message") this.bytes += wireBytes(event.message, this.chunkBytes);
      this.dispatch(event);
    }
    const actions = this.out;
    this.out = [];
    return { actions, deadline: this.finished ? Number.POSITIVE_INFINITY : this.deadlineAt };
  }

  // ---- one handler per state ---------------------------------------------------------------

  private dispatch(event: TargetEvent): void {
    switch (this.st) {
      case TargetState.AwaitingPrepare:
        this.onAwaitingPrepare(event);
        return;
      case TargetState.PreparingLinks:
        this.onPreparingLinks(event);
        return;
      case TargetState.Receiving:
        this.onReceiving(event);
        return;
      case TargetState.Voted:
        this.onVoted(event);
        return;
      case TargetState.Activating:
        this.onActivating(event);
        return;
      case TargetState.Abandoning:
        this.onAbandoning(event);
        return;
      case TargetState.Active:
        this.onActive(event);
        return;
      case TargetState.RollingBack:
        this.onRollingBack(event);
        return;
      default:
        return;
    }
  }

  private onAwaitingPrepare(event: TargetEvent): void {
    if (this.preVoteFailure(event)) return;
    if (event.type !== "message") return;
    const m = event.message;
    if (m.type !== "prepare") {
      this.violation(m);
      return;
    }
    const refusal = this.check(m.router, m.fromEpoch, m.requirements);
    if (refusal !== undefined) {
      this.refuse(refusal);
      return;
    }
    try {
      this.standby = this.factory.create(m.router, m.requirements);
    } catch (e) {
      this.refuse({
        code: RefusalCode.Capacity,
        message: `cannot create a standby router: ${errorText(e)}`,
      });
      return;
    }
    this.requirements = m.requirements;
    this.enter(TargetState.PreparingLinks);
    this.touch();
    this.out.push({ type: "hook", hook: "prepare-links", requirements: m.requirements });
    this.progress();
  }

  private onPreparingLinks(event: TargetEvent): void {
    if (event.type === "hook-done" && event.hook === "prepare-links") {
      this.linksCreated = true;
      if (this.aborting !== undefined) {
        this.rollback(this.aborting.reason, this.aborting.detail);
        return;
      }
      this.enter(TargetState.Receiving, Phase.CloneDataPlane);
      this.touch();
      this.send({ type: "prepared" });
      this.progress();
      return;
    }
    if (event.type === "hook-failed" && event.hook === "prepare-links") {
      // Whatever part of the links was made goes away with the rollback.
      this.linksCreated = true;
      if (this.aborting !== undefined) {
        this.rollback(this.aborting.reason, this.aborting.detail);
        return;
      }
      const detail = `cannot create the router's links: ${event.error}`;
      if (this.connected)
        this.send({ type: "refuse", code: RefusalCode.LinkSetup, message: detail });
      this.failure = { reason: AbortReason.Refused, detail, refusal: RefusalCode.LinkSetup };
      this.rollback(AbortReason.Refused, detail, false);
      return;
    }
    // A failure while the links are being made: roll back once the hook returns.
    if (event.type === "channel-down" || event.type === "cancel" || event.type === "tick") {
      if (event.type === "tick" && this.now < this.deadlineAt) return;
      const reason =
        event.type === "channel-down"
          ? event.reason
          : event.type === "cancel"
            ? AbortReason.Cancelled
            : AbortReason.Timeout;
      const detail =
        event.type === "channel-down"
          ? event.detail
          : event.type === "cancel"
            ? (event.detail ?? "cancelled")
            : "link setup took too long";
      if (event.type === "channel-down") this.connected = false;
      this.aborting ??= { reason, detail };
      this.deadlineAt = Number.POSITIVE_INFINITY;
      return;
    }
    if (event.type === "message") {
      if (event.message.type === "abort") {
        this.aborting ??= {
          reason: AbortReason.PeerAborted,
          detail: `${this.peer} aborted (${event.message.reason}): ${event.message.message}`,
        };
        return;
      }
      this.violation(event.message);
    }
  }

  private onReceiving(event: TargetEvent): void {
    if (this.preVoteFailure(event)) return;
    if (event.type !== "message") return;
    this.touch();
    const m = event.message;
    const standby = this.standby!;
    if (m.type === "blob") {
      this.blob(standby, m);
      return;
    }
    if (m.type === "vote-request") {
      if (!this.finalStaged) {
        this.violation(m);
        return;
      }
      let seq: number;
      try {
        seq = standby.dataPlaneSeq;
      } catch (e) {
        this.rollback(
          AbortReason.ApplyFailed,
          `the standby's FIB seq is unreadable: ${errorText(e)}`,
        );
        return;
      }
      if (seq !== m.dataPlaneSeq) {
        this.rollback(
          AbortReason.ApplyFailed,
          `the standby's FIB is at seq ${seq}, the source's at ${m.dataPlaneSeq}`,
        );
        return;
      }
      this.sourceTime = m.sourceTime;
      this.enter(TargetState.Voted, Phase.FreezeCommit);
      // In doubt: never giving up alone, but asking the source if its decision does not come.
      this.deadlineAt = this.now + this.timeouts.idleMs;
      this.send({ type: "ready" });
      this.progress();
      return;
    }
    this.violation(m);
  }

  private blob(standby: StandbyRouter, m: Extract<Message, { type: "blob" }>): void {
    const what = `${BLOB_KIND_NAMES[m.kind]} (round ${m.round}, seq ${m.seq})`;
    let result: { ok: true } | { ok: false; error: string };
    const order = this.blobOrder(m.kind);
    if (order !== undefined) {
      this.rollback(AbortReason.ProtocolViolation, `${what} ${order}`);
      return;
    }
    try {
      switch (m.kind) {
        case BlobKind.DataPlaneSnapshot:
          result = standby.loadDataPlane(m.bytes, m.seq);
          break;
        case BlobKind.DataPlaneChanges:
          result = standby.applyDataPlaneChanges(m.bytes, m.seq);
          break;
        case BlobKind.ControlSnapshot:
          result = standby.loadControl(m.bytes, m.seq);
          break;
        case BlobKind.ControlChanges:
          result = standby.applyControlChanges(m.bytes, m.seq);
          break;
        default:
          result = standby.stageFinal(m.bytes);
          break;
      }
    } catch (e) {
      result = { ok: false, error: errorText(e) };
    }
    if (!result.ok) {
      this.rollback(AbortReason.ApplyFailed, `${what}: ${result.error}`);
      return;
    }
    switch (m.kind) {
      case BlobKind.DataPlaneSnapshot:
      case BlobKind.DataPlaneChanges:
        this.dataPlaneLoaded = true;
        this.dpSeq = m.seq;
        this.dpRounds++;
        if (this.dpRounds === 1) this.clock?.enter(Phase.CloneDataPlane, this.now);
        break;
      case BlobKind.ControlSnapshot:
      case BlobKind.ControlChanges:
        this.controlLoaded = true;
        this.ctlVersion = m.seq;
        this.rounds++;
        this.clock?.enter(Phase.PreCopy, this.now);
        break;
      default:
        this.finalStaged = true;
        this.clock?.enter(Phase.FreezeCommit, this.now);
        return; // acknowledged by the vote
    }
    this.send({ type: "applied", kind: m.kind, round: m.round, seq: m.seq });
    this.progress();
  }

  /** Why a blob of `kind` cannot come now, or undefined. */
  private blobOrder(kind: BlobKind): string | undefined {
    if (this.finalStaged) return "after the final state";
    switch (kind) {
      case BlobKind.DataPlaneSnapshot:
        return this.dataPlaneLoaded ? "after the data plane was loaded" : undefined;
      case BlobKind.DataPlaneChanges:
        return this.dataPlaneLoaded ? undefined : "before the data-plane snapshot";
      case BlobKind.ControlSnapshot:
        return this.controlLoaded
          ? "after the control plane was loaded"
          : this.dataPlaneLoaded
            ? undefined
            : "before the data-plane snapshot";
      case BlobKind.ControlChanges:
        return this.controlLoaded ? undefined : "before the control snapshot";
      case BlobKind.Final:
        return this.controlLoaded ? undefined : "before the control snapshot";
      default:
        return "before the commit";
    }
  }

  private onVoted(event: TargetEvent): void {
    switch (event.type) {
      case "message": {
        const m = event.message;
        if (m.type === "commit") {
          this.activate();
        } else if (m.type === "abort") {
          this.rollback(
            AbortReason.PeerAborted,
            `${this.peer} aborted (${m.reason}): ${m.message}`,
          );
        } else {
          this.note = `ignored ${m.type} while waiting for the decision`;
        }
        return;
      }
      case "resolution":
        if (event.outcome === "commit") this.activate();
        else
          this.rollback(
            AbortReason.PeerAborted,
            `${this.peer} answered that the migration was aborted`,
          );
        return;
      case "channel-down":
        this.connected = false;
        this.note = `channel lost while in doubt (asking ${this.peer}): ${event.detail}`;
        this.deadlineAt = this.now + this.timeouts.resolveRetryMs;
        this.progress();
        return;
      case "channel-up":
        this.connected = true;
        this.deadlineAt = this.now + this.timeouts.idleMs;
        return;
      case "resolve-failed":
        this.note = `no answer from ${this.peer} yet: ${event.error}`;
        this.deadlineAt = this.now + this.timeouts.resolveRetryMs;
        return;
      case "tick":
        if (this.now >= this.deadlineAt) {
          // Until the answer (or its failure) comes back, no second question.
          this.deadlineAt = Number.POSITIVE_INFINITY;
          this.out.push({ type: "resolve" });
        }
        return;
      case "cancel":
        this.note = "cancel refused: the target voted and waits for the source's decision";
        return;
      default:
        return;
    }
  }

  private activate(): void {
    this.enter(TargetState.Activating);
    this.deadlineAt = Number.POSITIVE_INFINITY;
    this.out.push({ type: "persist", role: "owned", epoch: this.epoch });
  }

  private onActivating(event: TargetEvent): void {
    switch (event.type) {
      case "persisted": {
        let result: { ok: true } | { ok: false; error: string };
        try {
          result = this.standby!.activate(this.epoch, this.now, this.sourceTime);
        } catch (e) {
          result = { ok: false, error: errorText(e) };
        }
        if (!result.ok) {
          this.abandon(`activation failed: ${result.error}`);
          return;
        }
        this.enter(TargetState.Active, Phase.MoveLinks);
        if (this.connected) this.send({ type: "activated" });
        else this.deadlineAt = this.now + this.timeouts.activeIdleMs;
        this.progress();
        return;
      }
      case "persist-failed":
        this.abandon(`the ownership record could not be written: ${event.error}`);
        return;
      case "channel-down":
        this.connected = false;
        return;
      case "channel-up":
        this.connected = true;
        return;
      default:
        return;
    }
  }

  private abandon(detail: string): void {
    this.failure = { reason: AbortReason.ApplyFailed, detail };
    this.enter(TargetState.Abandoning);
    this.out.push({ type: "persist", role: "abandoned", epoch: this.epoch, peer: this.peer });
  }

  private onAbandoning(event: TargetEvent): void {
    switch (event.type) {
      case "persisted": {
        const detail = this.failure?.detail ?? "abandoned";
        if (this.connected) this.send({ type: "abandoned", message: detail });
        this.rollback(AbortReason.ApplyFailed, detail, false);
        return;
      }
      case "persist-failed":
        // Nothing may be said before the fence is on disk: try again.
        this.note = `writing "abandoned" failed (retrying): ${event.error}`;
        this.deadlineAt = this.now + this.timeouts.resolveRetryMs;
        return;
      case "tick":
        if (this.now >= this.deadlineAt) {
          this.deadlineAt = Number.POSITIVE_INFINITY;
          this.out.push({ type: "persist", role: "abandoned", epoch: this.epoch, peer: this.peer });
        }
        return;
      case "channel-down":
        this.connected = false;
        return;
      case "channel-up":
        this.connected = true;
        return;
      default:
        return;
    }
  }

  private onActive(event: TargetEvent): void {
    switch (event.type) {
      case "message": {
        const m = event.message;
        this.deadlineAt = this.connected ? Number.POSITIVE_INFINITY : this.deadlineAt;
        if (m.type === "commit") {
          this.send({ type: "activated" });
        } else if (m.type === "blob" && m.kind === BlobKind.Late) {
          if (!this.lateApplied) {
            let result: { ok: true } | { ok: false; error: string };
            try {
              result = this.standby!.injectLate(m.bytes, this.now);
            } catch (e) {
              result = { ok: false, error: errorText(e) };
            }
            // Late control packets that do not go in are lost like packets on a wire:
            // the protocols retransmit. Say so, and go on.
            if (!result.ok) this.note = `late control packets not injected: ${result.error}`;
            this.lateApplied = true;
          }
          this.send({ type: "applied", kind: m.kind, round: m.round, seq: m.seq });
        } else if (m.type === "link-moved") {
          if (this.linksMoved.has(m.ifIndex)) {
            this.send({ type: "link-moved-ack", ifIndex: m.ifIndex });
          } else {
            this.out.push({ type: "hook", hook: "link-rehomed", ifIndex: m.ifIndex });
          }
        } else if (m.type === "done") {
          this.send({ type: "done-ack" });
          this.finish("moved");
        } else {
          this.note = `ignored ${m.type} while active`;
        }
        return;
      }
      case "hook-done":
        if (event.hook === "link-rehomed" && event.ifIndex !== undefined) {
          this.linksMoved.add(event.ifIndex);
          if (this.connected) this.send({ type: "link-moved-ack", ifIndex: event.ifIndex });
          this.progress();
        }
        return;
      case "hook-failed":
        if (event.hook === "link-rehomed" && event.ifIndex !== undefined && this.connected) {
          this.send({ type: "link-moved-ack", ifIndex: event.ifIndex, error: event.error });
        }
        return;
      case "channel-down":
        this.connected = false;
        this.deadlineAt = this.now + this.timeouts.activeIdleMs;
        return;
      case "channel-up":
        this.connected = true;
        this.deadlineAt = Number.POSITIVE_INFINITY;
        return;
      case "tick":
        if (this.now >= this.deadlineAt) {
          this.note = `${this.peer} did not come back to finish the link moves; the router runs here`;
          this.finish("moved");
        }
        return;
      default:
        return;
    }
  }

  private onRollingBack(event: TargetEvent): void {
    if (event.type === "hook-done" && event.hook === "release-links") {
      this.finish("rolled-back");
    } else if (event.type === "hook-failed" && event.hook === "release-links") {
      this.note = `releasing the links failed: ${event.error}`;
      this.finish("rolled-back");
    }
  }

  // ---- helpers -------------------------------------------------------------------------------

  /** Why the router cannot come here, or undefined. */
  private check(router: string, fromEpoch: number, req: RouterRequirements): Refusal | undefined {
    if (router !== this.router) {
      return {
        code: RefusalCode.BadRequest,
        message: `the hello named router ${this.router}, the prepare ${router}`,
      };
    }
    if (fromEpoch + 1 !== this.epoch) {
      return {
        code: RefusalCode.BadRequest,
        message: `the stream's epoch ${this.epoch} does not follow the router's epoch ${fromEpoch}`,
      };
    }
    if (this.busy) {
      return {
        code: RefusalCode.Busy,
        message: `another migration of ${router} is under way here`,
      };
    }
    const e = this.existing;
    if (e !== undefined && (e.role === "owned" || e.role === "outgoing")) {
      return {
        code: RefusalCode.Duplicate,
        message: `router ${router} already runs here (epoch ${e.epoch}, ${e.role})`,
      };
    }
    if (e !== undefined && e.epoch >= this.epoch) {
      return {
        code: RefusalCode.StaleEpoch,
        message: `this hypervisor saw ${router} at epoch ${e.epoch} (${e.role}); epoch ${this.epoch} is stale`,
      };
    }
    try {
      return this.factory.check(router, req);
    } catch (e) {
      return { code: RefusalCode.Capacity, message: `the capacity check failed: ${errorText(e)}` };
    }
  }

  private refuse(refusal: Refusal): void {
    this.failure = { reason: AbortReason.Refused, detail: refusal.message, refusal: refusal.code };
    if (this.connected) this.send({ type: "refuse", code: refusal.code, message: refusal.message });
    this.finish("rolled-back");
  }

  /** Failures that roll back before the vote. True when the event was one. */
  private preVoteFailure(event: TargetEvent): boolean {
    switch (event.type) {
      case "channel-down":
        this.connected = false;
        this.rollback(event.reason, event.detail);
        return true;
      case "cancel":
        this.rollback(AbortReason.Cancelled, event.detail ?? "cancelled");
        return true;
      case "tick":
        if (this.now >= this.deadlineAt) {
          this.rollback(
            AbortReason.Timeout,
            `no word from ${this.peer} for ${this.timeouts.idleMs} ms in ${this.st}`,
          );
        }
        return true;
      case "message":
        if (event.message.type === "abort") {
          const m = event.message;
          this.rollback(
            AbortReason.PeerAborted,
            `${this.peer} aborted (${m.reason}): ${m.message}`,
          );
          return true;
        }
        return false;
      default:
        return false;
    }
  }

  /** Removes the standby and the links made for it; tells the source unless it knows. */
  private rollback(reason: AbortReason, detail: string, tell = true): void {
    this.failure ??= { reason, detail };
    const fromPeer = reason === AbortReason.PeerAborted;
    if (
      tell &&
      this.connected &&
      !fromPeer &&
      reason !== AbortReason.ChannelLost &&
      reason !== AbortReason.BadFrame
    ) {
      this.send({ type: "abort", reason, message: detail });
    }
    try {
      this.standby?.discard();
    } catch (e) {
      this.note = `discarding the standby failed: ${errorText(e)}`;
    }
    this.standby = undefined;
    this.deadlineAt = Number.POSITIVE_INFINITY;
    if (this.linksCreated) {
      this.enter(TargetState.RollingBack, Phase.RolledBack);
      this.out.push({ type: "hook", hook: "release-links" });
      this.progress();
      return;
    }
    this.finish("rolled-back");
  }

  private violation(m: Message): void {
    this.rollback(
      AbortReason.ProtocolViolation,
      `${this.peer} sent ${m.type} while the target was ${this.st}`,
    );
  }

  /** Restarts the silence timer (before the vote). */
  private touch(): void {
    this.deadlineAt = this.now + this.timeouts.idleMs;
  }

  private send(message: Message): void {
    this.out.push({ type: "send", message });
  }

  private finish(outcome: Outcome): void {
    this.enter(
      outcome === "moved" ? TargetState.Done : TargetState.RolledBack,
      outcome === "moved" ? Phase.Done : Phase.RolledBack,
    );
    this.deadlineAt = Number.POSITIVE_INFINITY;
    this.out.push({ type: "close" });
    this.progress();
    const clock = this.clock ?? new PhaseClock(Phase.Prepare, this.now);
    const f = this.failure;
    this.out.push({
      type: "finished",
      summary: {
        migrationId: this.migrationId,
        router: this.router,
        role: "target",
        peer: this.peer,
        epoch: outcome === "moved" ? this.epoch : (this.existing?.epoch ?? 0),
        outcome,
        ...(f === undefined
          ? {}
          : {
              reason: f.reason,
              detail: f.detail,
              ...(f.refusal === undefined ? {} : { refusal: f.refusal }),
            }),
        cpFreezeMs: 0,
        totalMs: this.now - clock.startedAt,
        bytes: this.bytes,
        rounds: this.rounds,
        dataPlaneRounds: this.dpRounds,
        phaseMs: clock.totals(this.now),
      },
    });
  }

  private enter(state: TargetState, phase?: Phase): void {
    if (state !== this.st) this.history.push(state);
    this.st = state;
    if (phase !== undefined && this.clock !== undefined && phase !== this.clock.current) {
      this.clock.enter(phase, this.now);
      this.progress();
    }
  }

  private progress(): void {
    const clock = this.clock;
    this.out.push({
      type: "progress",
      progress: {
        migrationId: this.migrationId,
        router: this.router,
        role: "target",
        peer: this.peer,
        epoch: this.epoch,
        phase: clock?.current ?? Phase.Prepare,
        state: this.st,
        bytes: this.bytes,
        rounds: this.rounds,
        dataPlaneRounds: this.dpRounds,
        dataPlaneSeq: this.dpSeq,
        controlVersion: this.ctlVersion,
        linksMoved: this.linksMoved.size,
        linksTotal: this.requirements?.interfaces.length ?? 0,
        elapsedMs: clock === undefined ? 0 : this.now - clock.startedAt,
        committed: this.active,
        ...(this.note === undefined ? {} : { note: this.note }),
      },
    });
  }
}
