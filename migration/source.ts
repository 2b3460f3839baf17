/**
 * The source side of a migration as a sans-IO state machine
 * (docs/MIGRATION.md, "Source states"): `handle(event, now)` returns the
 * actions to carry out (send a message, write the ownership record, run a
 * substrate hook, reconnect, report progress) and the next deadline. It
 * calls the router (`MigratableRouter`) directly, since that is a plain
 * in-process object; everything else is an action. One handler per state.
 *
 * States and allowed transitions:
 *
 *   preparing      -> cloning        (PREPARED)
 *                  -> halting        (PREPARED, stop-and-copy: freeze, halt the data plane)
 *                  -> rolled-back    (REFUSE, ABORT, timeout, channel lost, cancel)
 *   halting        -> frozen         (halted: both images, the final state, ask for the vote)
 *                  -> resuming       (anything fails)
 *   cloning        -> cloning        (APPLIED, data-plane changes still large)
 *                  -> pre-copy       (APPLIED, changes small or round limit)
 *                  -> rolled-back
 *   pre-copy       -> pre-copy       (APPLIED, changes still large)
 *                  -> frozen         (changes small or round limit: freeze, send final state, ask for the vote)
 *                  -> rolled-back
 *   frozen         -> deciding       (READY: write "outgoing" = the commit point)
 *                  -> rolled-back    (thaw)
 *                  -> resuming       (stop-and-copy: thaw, the data plane forwards again)
 *   deciding       -> committing     (written: send COMMIT)
 *                  -> reasserting    (write failed: ABORT, write "owned" at epoch + 1)
 *   committing     -> redirecting    (ACTIVATED)
 *                  -> reasserting    (ABANDONED: the target holds no copy; take the router back)
 *                  -> committing     (channel lost: reconnect and send COMMIT again)
 *   redirecting    -> moving-links   (switching redirects every old link; late control packets sent)
 *   moving-links   -> moving-links   (one link after the other: re-home, tell the target, unswitch)
 *                  -> cleaning-up    (every link moved and the late packets applied)
 *   cleaning-up    -> done           (router dropped, "gone" written, DONE acknowledged)
 *   reasserting    -> rolled-back | reclaimed (the router thaws here)
 *                  -> resuming       (stop-and-copy: the data plane forwards again first)
 *   resuming       -> rolled-back | reclaimed (the substrate forwards the router's packets again)
 *
 * Before the decision is written any failure rolls back: the router thaws
 * and the source stays authoritative. From the decision on the source never
 * thaws under the old epoch: it keeps the frozen copy (its data plane still
 * forwards) until the target confirms it runs the router, and retries over
 * new connections after a loss. Only a target that answers ABANDONED lets
 * it take the router back, under a new epoch.
 *
 * Two modes (`MigrationMode`), chosen per migration:
 * - live (the default): the above; the data plane never stops.
 * - stop-and-copy: the naive scheme of VM-migration prototypes, kept as
 *   the yardstick the live mode is measured against. On PREPARED the
 *   source freezes the control plane and asks its substrate to halt the
 *   router's data plane (every packet for the router dropped and counted);
 *   once halted it sends the data-plane image, the control image, the
 *   final state and VOTE_REQUEST in one go, with no pre-copy rounds; the
 *   commit is the same. The substrate's redirect ends the halt; a rollback
 *   asks the substrate to resume forwarding before the migration ends.
 *   Its control-plane freeze runs from the halt to ACTIVATED, which is
 *   also how long the router forwarded nothing.
 */
import { AbortReason, type RefusalCode } from "./errors.ts";
import {
  type MigratableRouter,
  type RouterRequirements,
  routerRequirementsSchema,
} from "./host.ts";
import { BLOB_KIND_NAMES, BlobKind, type Message } from "./messages.ts";
import type { OwnershipRole } from "./ownership.ts";
import {
  type MigrationProgress,
  type MigrationSummary,
  type Outcome,
  Phase,
  PhaseClock,
} from "./progress.ts";
import { DEFAULT_CHUNK_BYTES, wireBytes } from "./stream.ts";

/** How the router moves (see the module comment). */
export const MigrationMode = {
  Live: "live",
  StopAndCopy: "stop-and-copy",
} as const;
export type MigrationMode = (typeof MigrationMode)[keyof typeof MigrationMode];

export const MIGRATION_MODES: readonly MigrationMode[] = Object.values(MigrationMode);

export const SourceState = {
  Preparing: "preparing",
  Halting: "halting",
  Cloning: "cloning",
  PreCopy: "pre-copy",
  Frozen: "frozen",
  Deciding: "deciding",
  Committing: "committing",
  Redirecting: "redirecting",
  MovingLinks: "moving-links",
  CleaningUp: "cleaning-up",
  Reasserting: "reasserting",
  Resuming: "resuming",
  Done: "done",
  RolledBack: "rolled-back",
  Reclaimed: "reclaimed",
} as const;
export type SourceState = (typeof SourceState)[keyof typeof SourceState];

/** The allowed transitions, as in the module comment (tests check every move against it). */
export const SOURCE_TRANSITIONS: Record<SourceState, readonly SourceState[]> = {
  preparing: ["cloning", "halting", "rolled-back"],
  halting: ["frozen", "resuming"],
  cloning: ["cloning", "pre-copy", "rolled-back"],
  "pre-copy": ["pre-copy", "frozen", "rolled-back"],
  frozen: ["deciding", "rolled-back", "resuming"],
  deciding: ["committing", "reasserting"],
  committing: ["committing", "redirecting", "reasserting"],
  redirecting: ["moving-links"],
  "moving-links": ["moving-links", "cleaning-up"],
  "cleaning-up": ["done"],
  reasserting: ["rolled-back", "reclaimed", "resuming"],
  resuming: ["rolled-back", "reclaimed"],
  done: [],
  "rolled-back": [],
  reclaimed: [],
};

export type SourceHook = "halt" | "resume" | "redirect" | "rehome" | "unswitch" | "drop";

export type SourceEvent =
  | { type: "start" }
  | { type: "message"; message: Message }
  | { type: "channel-down"; reason: AbortReason; detail: string }
  | { type: "channel-up" }
  | { type: "persisted" }
  | { type: "persist-failed"; error: string }
  | { type: "hook-done"; hook: SourceHook; ifIndex?: number }
  | { type: "hook-failed"; hook: SourceHook; ifIndex?: number; error: string }
  | { type: "tick" }
  | { type: "cancel"; detail?: string };

export type SourceAction =
  | { type: "send"; message: Message }
  | { type: "persist"; role: OwnershipRole; epoch: number; peer?: string }
  | { type: "hook"; hook: SourceHook; ifIndex?: number }
  /** Open a new channel to the target ("resume"); answer with channel-up or channel-down. */
  | { type: "reconnect" }
  /** Close the current channel. */
  | { type: "close" }
  | { type: "progress"; progress: MigrationProgress }
  | { type: "finished"; summary: MigrationSummary };

export interface Step<A> {
  actions: A[];
  /** When to send a tick (Infinity: no deadline). */
  deadline: number;
}

export interface SourceTimeouts {
  /** PREPARED must come within this (the target creates links). */
  prepareMs: number;
  /** Each APPLIED must come within this after its blob. */
  ackMs: number;
  /**
   * READY must come within this after the freeze: it bounds the freeze of a
   * rolled-back migration. In stop-and-copy the whole router is copied
   * after the freeze, so READY may take `ackMs + voteMs` there.
   */
  voteMs: number;
  /** After the decision: wait this long for an answer before reconnecting. */
  commitMs: number;
  /** Delay before a reconnection or a failed hook is retried. */
  retryMs: number;
}

export const DEFAULT_SOURCE_TIMEOUTS: SourceTimeouts = {
  prepareMs: 10_000,
  ackMs: 30_000,
  voteMs: 2_000,
  commitMs: 2_000,
  retryMs: 500,
};

export interface PreCopyOptions {
  /** At most this many rounds of changes after each snapshot. */
  maxRounds: number;
  /** Changes of at most this many bytes end the rounds. */
  smallEnoughBytes: number;
}

export const DEFAULT_PRECOPY: PreCopyOptions = { maxRounds: 8, smallEnoughBytes: 64 * 1024 };

export interface SourceOptions {
  router: MigratableRouter;
  /** 32 hex digits. */
  migrationId: string;
  /** The target hypervisor. */
  peer: string;
  /** The router's epoch here now; the migration commits under `fromEpoch + 1`. */
  fromEpoch: number;
  timeouts?: Partial<SourceTimeouts>;
  precopy?: Partial<PreCopyOptions>;
  /** Chunk size the stream uses (for byte counts). */
  chunkBytes?: number;
  /** Live (default) or stop-and-copy. */
  mode?: MigrationMode;
}

type LinkStep = "rehoming" | "announcing" | "unswitching";

export class SourceMachine {
  readonly router: MigratableRouter;
  readonly migrationId: string;
  readonly peer: string;
  readonly fromEpoch: number;
  readonly epoch: number;
  readonly timeouts: SourceTimeouts;
  readonly precopy: PreCopyOptions;
  readonly mode: MigrationMode;
  private readonly chunkBytes: number;

  private st: SourceState = SourceState.Preparing;
  /** Every state entered, in order (tests check them against SOURCE_TRANSITIONS). */
  readonly history: SourceState[] = [SourceState.Preparing];
  private clock: PhaseClock | undefined;
  private out: SourceAction[] = [];
  private now = 0;
  private stateDeadline = Number.POSITIVE_INFINITY;
  private retryAt = Number.POSITIVE_INFINITY;
  private retry: (() => void) | undefined;

  private linksTotal = 0;
  private pending = new Set<string>();
  private ackedSeq = 0;
  private ackedVersion = 0;
  /** Data-plane blobs acknowledged (the snapshot counts). */
  private dpRounds = 0;
  /** Control blobs acknowledged (the snapshot counts). */
  private rounds = 0;
  /** Blobs sent, per plane: the next one's round number. */
  private dpSent = 0;
  private ctlSent = 0;
  /** Control change rounds sent after the snapshot. */
  private deltaRounds = 0;
  private bytes = 0;
  private frozen = false;
  /** Stop-and-copy: the substrate was asked to halt the data plane (a rollback must resume it). */
  private halted = false;
  /** The outcome a rollback ends with once the data plane forwards again. */
  private resumeOutcome: Outcome = "rolled-back";
  private freezeAt = 0;
  private cpFreezeMs = 0;
  private connected = true;
  private note: string | undefined;
  private link = 0;
  private linkStep: LinkStep = "rehoming";
  private linksMoved = 0;
  private late: Uint8Array | undefined;
  private lateAcked = false;
  private cleanup: "dropping" | "persisting" | "finishing" = "dropping";
  private reassertOutcome: Outcome = "rolled-back";
  /** Whether the router was claimed again under `epoch + 1`. */
  private reasserted = false;
  private failure: { reason: AbortReason; detail: string; refusal?: RefusalCode } | undefined;

  constructor(options: SourceOptions) {
    this.router = options.router;
    this.migrationId = options.migrationId;
    this.peer = options.peer;
    this.fromEpoch = options.fromEpoch;
    this.epoch = options.fromEpoch + 1;
    this.timeouts = { ...DEFAULT_SOURCE_TIMEOUTS, ...options.timeouts };
    this.precopy = { ...DEFAULT_PRECOPY, ...options.precopy };
    this.chunkBytes = options.chunkBytes ?? DEFAULT_CHUNK_BYTES;
    this.mode = options.mode ?? MigrationMode.Live;
  }

  get state(): SourceState {
    return this.st;
  }

  /** Whether the commit decision is written and stands (from then on the source never thaws under the old epoch). */
  get committed(): boolean {
    return (
      this.st === SourceState.Committing ||
      this.st === SourceState.Redirecting ||
      this.st === SourceState.MovingLinks ||
      this.st === SourceState.CleaningUp ||
      this.st === SourceState.Done
    );
  }

  get finished(): boolean {
    return (
      this.st === SourceState.Done ||
      this.st === SourceState.RolledBack ||
      this.st === SourceState.Reclaimed
    );
  }

  handle(event: SourceEvent, now: number): Step<SourceAction> {
    this.now = now;
    this.out = [];
    if (event.type === "start") {
      this.start();
    } else if (!this.finished) {
      if (event.type === "tick" && this.retry !== undefined && now >= this.retryAt) {
        const run = this.retry;
        this.retry = undefined;
        this.retryAt = Number.POSITIVE_INFINITY;
        run();
      } else {
        this.dispatch(event);
      }
    }
    const actions = this.out;
    this.out = [];
    return {
      actions,
      deadline: this.finished
        ? Number.POSITIVE_INFINITY
        : Math.min(this.stateDeadline, this.retryAt),
    };
  }

  /**
   * The target asks how the migration ended (it lost the channel after its
   * vote). Undecided: the migration rolls back now and the answer is abort,
   * so a later decision can never contradict it. Decided: commit. While the
   * decision is being written: pending (the target asks again).
   */
  resolve(now: number): { outcome: "commit" | "abort" | "pending"; step: Step<SourceAction> } {
    if (this.committed)
      return { outcome: "commit", step: { actions: [], deadline: this.deadline() } };
    if (this.st === SourceState.Deciding || this.st === SourceState.Reasserting) {
      // The decision (or its reversal) is being written: ask again once it is.
      return { outcome: "pending", step: { actions: [], deadline: this.deadline() } };
    }
    this.now = now;
    this.out = [];
    if (!this.finished) {
      this.rollback(
        AbortReason.PeerAborted,
        "the target asked for the outcome before the decision",
      );
    }
    const actions = this.out;
    this.out = [];
    return { outcome: "abort", step: { actions, deadline: this.deadline() } };
  }

  private deadline(): number {
    return this.finished ? Number.POSITIVE_INFINITY : Math.min(this.stateDeadline, this.retryAt);
  }

  // ---- dispatch: one handler per state -----------------------------------------------------

  private dispatch(event: SourceEvent): void {
    switch (this.st) {
      case SourceState.Preparing:
        this.onPreparing(event);
        return;
      case SourceState.Halting:
        this.onHalting(event);
        return;
      case SourceState.Cloning:
        this.onCloning(event);
        return;
      case SourceState.PreCopy:
        this.onPreCopy(event);
        return;
      case SourceState.Frozen:
        this.onFrozen(event);
        return;
      case SourceState.Deciding:
        this.onDeciding(event);
        return;
      case SourceState.Committing:
        this.onCommitting(event);
        return;
      case SourceState.Redirecting:
        this.onRedirecting(event);
        return;
      case SourceState.MovingLinks:
        this.onMovingLinks(event);
        return;
      case SourceState.CleaningUp:
        this.onCleaningUp(event);
        return;
      case SourceState.Reasserting:
        this.onReasserting(event);
        return;
      case SourceState.Resuming:
        this.onResuming(event);
        return;
      default:
        return;
    }
  }

  private start(): void {
    if (this.clock !== undefined) return;
    this.clock = new PhaseClock(Phase.Prepare, this.now);
    let requirements: RouterRequirements;
    let prepare: Message;
    try {
      const parsed = routerRequirementsSchema.safeParse(this.router.requirements());
      if (!parsed.success) {
        const issue = parsed.error.issues[0];
        throw new Error(`${issue.path.join(".") || "(requirements)"}: ${issue.message}`);
      }
      requirements = parsed.data;
      prepare = {
        type: "prepare",
        router: this.router.name,
        fromEpoch: this.fromEpoch,
        requirements,
      };
      wireBytes(prepare); // throws when it does not fit in a message
    } catch (e) {
      this.rollback(
        AbortReason.RouterError,
        `the router's requirements are unusable: ${errorText(e)}`,
      );
      return;
    }
    this.linksTotal = requirements.interfaces.length;
    this.send(prepare);
    this.stateDeadline = this.now + this.timeouts.prepareMs;
    this.progress();
  }

  private onPreparing(event: SourceEvent): void {
    if (this.preCommitFailure(event)) return;
    if (event.type !== "message") return;
    const m = event.message;
    if (m.type === "prepared") {
      if (this.mode === MigrationMode.StopAndCopy) {
        this.halt();
        return;
      }
      let snap: ReturnType<MigratableRouter["dataPlaneSnapshot"]>;
      try {
        snap = this.router.dataPlaneSnapshot();
      } catch (e) {
        this.rollback(AbortReason.RouterError, `data-plane snapshot failed: ${errorText(e)}`);
        return;
      }
      this.enter(SourceState.Cloning, Phase.CloneDataPlane);
      this.sendBlob(BlobKind.DataPlaneSnapshot, snap.seq, snap.bytes);
      return;
    }
    if (m.type === "refuse") {
      this.rollback(AbortReason.Refused, m.message, m.code);
      return;
    }
    this.violation(m);
  }

  /** Stops the router's control plane (the freeze starts); false when it failed and rolled back. */
  private freezeRouter(): boolean {
    this.freezeAt = this.now;
    try {
      this.router.freeze(this.now);
      this.frozen = true;
      return true;
    } catch (e) {
      this.frozen = true; // thaw whatever part of the freeze happened
      this.rollback(AbortReason.RouterError, `freeze failed: ${errorText(e)}`);
      return false;
    }
  }

  /** Stop-and-copy, on PREPARED: the control plane stops, then the data plane. */
  private halt(): void {
    this.enter(SourceState.Halting, Phase.FreezeCommit);
    if (!this.freezeRouter()) return;
    // From the request on, a rollback resumes forwarding (the hook may act before it answers).
    this.halted = true;
    this.out.push({ type: "hook", hook: "halt" });
    this.stateDeadline = this.now + this.timeouts.ackMs;
    this.progress();
  }

  private onHalting(event: SourceEvent): void {
    if (this.preCommitFailure(event)) return;
    if (event.type === "hook-failed" && event.hook === "halt") {
      this.rollback(AbortReason.RouterError, `halting the data plane failed: ${event.error}`);
      return;
    }
    if (event.type === "hook-done" && event.hook === "halt") {
      this.copyWhole();
      return;
    }
    if (event.type === "message") this.violation(event.message);
  }

  /**
   * Stop-and-copy, once halted: nothing changes any more, so the images are
   * the router's whole state; they go with the final state and the vote
   * request at once.
   */
  private copyWhole(): void {
    let dp: ReturnType<MigratableRouter["dataPlaneSnapshot"]>;
    let ctl: ReturnType<MigratableRouter["controlSnapshot"]>;
    let final: Uint8Array;
    try {
      dp = this.router.dataPlaneSnapshot();
      ctl = this.router.controlSnapshot();
      final = this.router.finalState(ctl.version);
    } catch (e) {
      this.rollback(AbortReason.RouterError, `copying the halted router failed: ${errorText(e)}`);
      return;
    }
    this.enter(SourceState.Frozen);
    this.sendBlob(BlobKind.DataPlaneSnapshot, dp.seq, dp.bytes);
    this.sendBlob(BlobKind.ControlSnapshot, ctl.version, ctl.bytes);
    this.send({
      type: "blob",
      kind: BlobKind.Final,
      round: this.ctlSent,
      seq: ctl.version,
      bytes: final,
    });
    this.send({ type: "vote-request", dataPlaneSeq: dp.seq, sourceTime: this.now });
    this.stateDeadline = this.now + this.timeouts.ackMs + this.timeouts.voteMs;
    this.progress();
  }

  private onCloning(event: SourceEvent): void {
    if (this.preCommitFailure(event)) return;
    if (event.type !== "message") return;
    if (!this.acknowledge(event.message)) return;
    if (this.pending.size > 0) return;
    const changes = this.dataPlaneChanges();
    if (changes === undefined) return;
    const size = changes.seq > this.ackedSeq ? changes.bytes.length : 0;
    if (
      size > 0 &&
      size > this.precopy.smallEnoughBytes &&
      this.dpRounds <= this.precopy.maxRounds
    ) {
      this.sendBlob(BlobKind.DataPlaneChanges, changes.seq, changes.bytes);
      this.progress();
      return;
    }
    // Small enough: the control plane's snapshot goes now, with these changes.
    let snap: ReturnType<MigratableRouter["controlSnapshot"]>;
    try {
      snap = this.router.controlSnapshot();
    } catch (e) {
      this.rollback(AbortReason.RouterError, `control snapshot failed: ${errorText(e)}`);
      return;
    }
    this.enter(SourceState.PreCopy, Phase.PreCopy);
    if (size > 0) this.sendBlob(BlobKind.DataPlaneChanges, changes.seq, changes.bytes);
    this.sendBlob(BlobKind.ControlSnapshot, snap.version, snap.bytes);
  }

  private onPreCopy(event: SourceEvent): void {
    if (this.preCommitFailure(event)) return;
    if (event.type !== "message") return;
    if (!this.acknowledge(event.message)) return;
    if (this.pending.size > 0) return;
    const dp = this.dataPlaneChanges();
    if (dp === undefined) return;
    let ctl: ReturnType<MigratableRouter["controlChangesSince"]>;
    try {
      ctl = this.router.controlChangesSince(this.ackedVersion);
    } catch (e) {
      this.rollback(AbortReason.RouterError, `control changes failed: ${errorText(e)}`);
      return;
    }
    const dpSize = dp.seq > this.ackedSeq ? dp.bytes.length : 0;
    const ctlSize = ctl.version > this.ackedVersion ? ctl.bytes.length : 0;
    if (
      dpSize + ctlSize <= this.precopy.smallEnoughBytes ||
      this.deltaRounds >= this.precopy.maxRounds
    ) {
      this.freeze();
      return;
    }
    this.deltaRounds++;
    if (dpSize > 0) this.sendBlob(BlobKind.DataPlaneChanges, dp.seq, dp.bytes);
    if (ctlSize > 0) this.sendBlob(BlobKind.ControlChanges, ctl.version, ctl.bytes);
    this.progress();
  }

  private freeze(): void {
    this.enter(SourceState.Frozen, Phase.FreezeCommit);
    if (!this.freezeRouter()) return;
    const dp = this.dataPlaneChanges();
    if (dp === undefined) return;
    let final: Uint8Array;
    try {
      final = this.router.finalState(this.ackedVersion);
    } catch (e) {
      this.rollback(AbortReason.RouterError, `final state failed: ${errorText(e)}`);
      return;
    }
    if (dp.seq > this.ackedSeq) this.sendBlob(BlobKind.DataPlaneChanges, dp.seq, dp.bytes);
    this.send({
      type: "blob",
      kind: BlobKind.Final,
      round: this.ctlSent,
      seq: this.ackedVersion,
      bytes: final,
    });
    this.send({ type: "vote-request", dataPlaneSeq: dp.seq, sourceTime: this.now });
    this.stateDeadline = this.now + this.timeouts.voteMs;
    this.progress();
  }

  private onFrozen(event: SourceEvent): void {
    if (this.preCommitFailure(event)) return;
    if (event.type !== "message") return;
    const m = event.message;
    if (m.type === "applied") {
      this.acknowledge(m);
      return;
    }
    if (m.type === "ready") {
      this.enter(SourceState.Deciding);
      this.stateDeadline = Number.POSITIVE_INFINITY;
      this.out.push({ type: "persist", role: "outgoing", epoch: this.epoch, peer: this.peer });
      return;
    }
    this.violation(m);
  }

  private onDeciding(event: SourceEvent): void {
    switch (event.type) {
      case "persisted":
        this.enter(SourceState.Committing);
        this.progress();
        if (this.connected) {
          this.send({ type: "commit" });
          this.stateDeadline = this.now + this.timeouts.commitMs;
        } else {
          this.scheduleReconnect();
        }
        return;
      case "persist-failed":
        // The decision was not taken: tell the target, and make sure no half-written
        // "outgoing" can win by claiming the router again under a newer epoch.
        this.failure = {
          reason: AbortReason.PersistFailed,
          detail: `the commit decision could not be written: ${event.error}`,
        };
        if (this.connected) {
          this.send({
            type: "abort",
            reason: AbortReason.PersistFailed,
            message: this.failure.detail,
          });
        }
        this.reassert("rolled-back");
        return;
      case "channel-down":
        this.connected = false;
        this.note = `channel lost while writing the decision: ${event.detail}`;
        return;
      case "cancel":
        this.note = "cancel refused: the commit decision is being written";
        return;
      default:
        return;
    }
  }

  private onCommitting(event: SourceEvent): void {
    if (
      this.postCommitChannel(event, () => {
        this.send({ type: "commit" });
        this.stateDeadline = this.now + this.timeouts.commitMs;
      })
    )
      return;
    if (event.type === "tick" && this.now >= this.stateDeadline) {
      // No answer: try again over a fresh connection.
      this.note = `no answer to COMMIT within ${this.timeouts.commitMs} ms`;
      this.out.push({ type: "close" });
      this.connected = false;
      this.stateDeadline = Number.POSITIVE_INFINITY;
      this.scheduleReconnect();
      return;
    }
    if (event.type !== "message") return;
    const m = event.message;
    if (m.type === "activated") {
      this.cpFreezeMs = this.now - this.freezeAt;
      this.stateDeadline = Number.POSITIVE_INFINITY;
      this.enter(SourceState.Redirecting, Phase.MoveLinks);
      this.out.push({ type: "hook", hook: "redirect" });
      return;
    }
    if (m.type === "abandoned") {
      this.failure = {
        reason: AbortReason.TargetLost,
        detail: `${this.peer} holds no copy of the router after the commit: ${m.message}`,
      };
      this.stateDeadline = Number.POSITIVE_INFINITY;
      this.reassert("reclaimed");
      return;
    }
    if (m.type === "applied" || m.type === "ready" || m.type === "abort") return; // late or duplicate
    this.note = `ignored ${m.type} while committing`;
  }

  private onRedirecting(event: SourceEvent): void {
    if (this.postCommitChannel(event, () => {})) return;
    if (event.type === "hook-done" && event.hook === "redirect") {
      this.halted = false; // the redirect replaced any halt
      // No packet reaches the router here any more: what it queued since the final state is all there is.
      try {
        this.late = this.router.takeQueued();
      } catch (e) {
        this.note = `the router's queued control packets are lost: ${errorText(e)}`;
        this.late = new Uint8Array(0);
      }
      this.enter(SourceState.MovingLinks);
      this.sendLate();
      this.startLink();
      return;
    }
    if (event.type === "hook-failed" && event.hook === "redirect") {
      this.note = `redirecting the links failed (retrying): ${event.error}`;
      this.later(() => this.out.push({ type: "hook", hook: "redirect" }));
      this.progress();
    }
  }

  private onMovingLinks(event: SourceEvent): void {
    if (this.postCommitChannel(event, () => this.resendMoving())) return;
    switch (event.type) {
      case "message": {
        const m = event.message;
        if (m.type === "applied" && m.kind === BlobKind.Late) {
          this.lateAcked = true;
          this.maybeCleanUp();
        } else if (
          m.type === "link-moved-ack" &&
          m.ifIndex === this.link &&
          this.linkStep === "announcing"
        ) {
          if (m.error !== undefined) {
            this.note = `${this.peer} could not take link ${m.ifIndex} (retrying): ${m.error}`;
            this.later(() => this.send({ type: "link-moved", ifIndex: this.link }));
            this.progress();
            return;
          }
          this.linkStep = "unswitching";
          this.out.push({ type: "hook", hook: "unswitch", ifIndex: this.link });
        }
        return;
      }
      case "hook-done":
        if (event.ifIndex !== this.link) return;
        if (event.hook === "rehome" && this.linkStep === "rehoming") {
          this.linkStep = "announcing";
          if (this.connected) this.send({ type: "link-moved", ifIndex: this.link });
        } else if (event.hook === "unswitch" && this.linkStep === "unswitching") {
          this.linksMoved++;
          this.link++;
          this.progress();
          this.startLink();
        }
        return;
      case "hook-failed": {
        if (event.ifIndex !== this.link) return;
        this.note = `${event.hook} of link ${event.ifIndex} failed (retrying): ${event.error}`;
        const hook = event.hook;
        const ifIndex = event.ifIndex;
        this.later(() => this.out.push({ type: "hook", hook, ifIndex }));
        this.progress();
        return;
      }
      default:
        return;
    }
  }

  private onCleaningUp(event: SourceEvent): void {
    if (event.type === "channel-down" && this.cleanup === "finishing") {
      this.connected = false;
      this.finish("moved");
      return;
    }
    if (
      this.postCommitChannel(event, () => {
        if (this.cleanup === "finishing") this.send({ type: "done" });
      })
    )
      return;
    switch (event.type) {
      case "hook-done":
        if (event.hook !== "drop") return;
        this.cleanup = "persisting";
        this.out.push({ type: "persist", role: "gone", epoch: this.epoch, peer: this.peer });
        return;
      case "hook-failed":
        if (event.hook !== "drop") return;
        this.note = `dropping the router failed (retrying): ${event.error}`;
        this.later(() => this.out.push({ type: "hook", hook: "drop" }));
        return;
      case "persisted":
        this.cleanup = "finishing";
        if (this.connected) {
          this.send({ type: "done" });
          this.stateDeadline = this.now + this.timeouts.commitMs;
        } else {
          this.finish("moved");
        }
        return;
      case "persist-failed":
        this.note = `writing "gone" failed (retrying): ${event.error}`;
        this.later(() =>
          this.out.push({ type: "persist", role: "gone", epoch: this.epoch, peer: this.peer }),
        );
        return;
      case "message":
        if (event.message.type === "done-ack" && this.cleanup === "finishing") this.finish("moved");
        return;
      case "tick":
        // DONE is a courtesy: the target ends its session by itself.
        if (this.cleanup === "finishing" && this.now >= this.stateDeadline) this.finish("moved");
        return;
      default:
        return;
    }
  }

  private onReasserting(event: SourceEvent): void {
    if (event.type === "persisted") {
      this.thawAndFinish(this.reassertOutcome);
    } else if (event.type === "persist-failed") {
      const f = this.failure;
      this.failure = {
        reason: f?.reason ?? AbortReason.PersistFailed,
        detail: `${f?.detail ?? ""}; the ownership record could not be written either (${event.error}): the router runs here, the record is stale`,
      };
      this.thawAndFinish(this.reassertOutcome);
    }
  }

  // ---- helpers -------------------------------------------------------------------------------

  /** Failures that roll back before the decision. True when the event was one. */
  private preCommitFailure(event: SourceEvent): boolean {
    switch (event.type) {
      case "channel-down":
        this.connected = false;
        this.rollback(event.reason, event.detail);
        return true;
      case "cancel":
        this.rollback(AbortReason.Cancelled, event.detail ?? "cancelled");
        return true;
      case "tick":
        if (this.now >= this.stateDeadline) {
          this.rollback(
            AbortReason.Timeout,
            `${this.peer} did not answer in ${this.st} within the time allowed`,
          );
        }
        return true;
      case "message": {
        const m = event.message;
        if (m.type === "abort") {
          this.rollback(
            AbortReason.PeerAborted,
            `${this.peer} aborted (${m.reason}): ${m.message}`,
          );
          return true;
        }
        return false;
      }
      default:
        return false;
    }
  }

  /** Channel events after the decision. True when the event was one. */
  private postCommitChannel(event: SourceEvent, resend: () => void): boolean {
    switch (event.type) {
      case "channel-down":
        this.connected = false;
        this.note = `channel lost after the commit (reconnecting): ${event.detail}`;
        this.stateDeadline = Number.POSITIVE_INFINITY;
        this.scheduleReconnect();
        this.progress();
        return true;
      case "channel-up":
        this.connected = true;
        this.note = undefined;
        resend();
        return true;
      case "cancel":
        this.note = "cancel refused: the migration is committed";
        return true;
      default:
        return false;
    }
  }

  private scheduleReconnect(): void {
    this.later(() => this.out.push({ type: "reconnect" }));
  }

  private later(run: () => void): void {
    this.retry = run;
    this.retryAt = this.now + this.timeouts.retryMs;
  }

  /** Records an APPLIED; false (and rolled back) when it acknowledges nothing sent. */
  private acknowledge(m: Message): boolean {
    if (m.type !== "applied") {
      this.violation(m);
      return false;
    }
    const key = `${m.kind}:${m.round}:${m.seq}`;
    if (!this.pending.delete(key)) {
      this.rollback(
        AbortReason.ProtocolViolation,
        `${this.peer} acknowledged a ${BLOB_KIND_NAMES[m.kind]} (round ${m.round}, seq ${m.seq}) that was not sent`,
      );
      return false;
    }
    if (m.kind === BlobKind.DataPlaneSnapshot || m.kind === BlobKind.DataPlaneChanges) {
      this.ackedSeq = m.seq;
      this.dpRounds++;
    } else if (m.kind === BlobKind.ControlSnapshot || m.kind === BlobKind.ControlChanges) {
      this.ackedVersion = m.seq;
      this.rounds++;
    }
    return true;
  }

  private dataPlaneChanges(): ReturnType<MigratableRouter["dataPlaneChangesSince"]> | undefined {
    try {
      return this.router.dataPlaneChangesSince(this.ackedSeq);
    } catch (e) {
      this.rollback(AbortReason.RouterError, `data-plane changes failed: ${errorText(e)}`);
      return undefined;
    }
  }

  private sendBlob(kind: BlobKind, seq: number, bytes: Uint8Array): void {
    const dataPlane = kind === BlobKind.DataPlaneSnapshot || kind === BlobKind.DataPlaneChanges;
    const round = dataPlane ? this.dpSent++ : this.ctlSent++;
    this.pending.add(`${kind}:${round}:${seq}`);
    this.send({ type: "blob", kind, round, seq, bytes });
    this.stateDeadline = this.now + this.timeouts.ackMs;
  }

  private sendLate(): void {
    if (this.connected && this.late !== undefined && !this.lateAcked) {
      this.send({ type: "blob", kind: BlobKind.Late, round: 0, seq: 0, bytes: this.late });
    }
  }

  private resendMoving(): void {
    this.sendLate();
    if (this.linkStep === "announcing" && this.link < this.linksTotal) {
      this.send({ type: "link-moved", ifIndex: this.link });
    }
  }

  private startLink(): void {
    if (this.link >= this.linksTotal) {
      this.maybeCleanUp();
      return;
    }
    this.linkStep = "rehoming";
    this.out.push({ type: "hook", hook: "rehome", ifIndex: this.link });
  }

  private maybeCleanUp(): void {
    if (this.link < this.linksTotal || !this.lateAcked) return;
    this.enter(SourceState.CleaningUp, Phase.CleanUp);
    this.cleanup = "dropping";
    this.out.push({ type: "hook", hook: "drop" });
  }

  private send(message: Message): void {
    this.bytes += wireBytes(message, this.chunkBytes);
    this.out.push({ type: "send", message });
  }

  private violation(m: Message): void {
    this.rollback(
      AbortReason.ProtocolViolation,
      `${this.peer} sent ${m.type} while the source was ${this.st}`,
    );
  }

  /** Pre-commit rollback: the router thaws and the source stays authoritative. */
  private rollback(reason: AbortReason, detail: string, refusal?: RefusalCode): void {
    if (
      this.committed ||
      this.st === SourceState.Deciding ||
      this.st === SourceState.Reasserting ||
      this.st === SourceState.Resuming ||
      this.finished
    )
      return;
    this.failure = { reason, detail, ...(refusal === undefined ? {} : { refusal }) };
    const fromPeer = reason === AbortReason.PeerAborted || reason === AbortReason.Refused;
    if (
      this.connected &&
      !fromPeer &&
      reason !== AbortReason.ChannelLost &&
      reason !== AbortReason.BadFrame
    ) {
      this.send({ type: "abort", reason, message: detail });
    }
    this.thawAndFinish("rolled-back");
  }

  private reassert(outcome: Outcome): void {
    this.reassertOutcome = outcome;
    this.reasserted = true;
    this.enter(SourceState.Reasserting);
    this.out.push({ type: "persist", role: "owned", epoch: this.epoch + 1 });
  }

  private thawAndFinish(outcome: Outcome): void {
    if (this.frozen) {
      try {
        this.router.thaw(this.now);
      } catch (e) {
        this.note = `thaw failed: ${errorText(e)}`;
      }
      this.frozen = false;
    }
    if (this.halted) {
      // Stop-and-copy: the migration ends once the router's packets reach it again.
      this.resumeOutcome = outcome;
      this.enter(SourceState.Resuming);
      this.stateDeadline = Number.POSITIVE_INFINITY;
      this.out.push({ type: "hook", hook: "resume" });
      this.progress();
      return;
    }
    this.finish(outcome);
  }

  private onResuming(event: SourceEvent): void {
    if (event.type === "hook-done" && event.hook === "resume") {
      this.halted = false;
      this.finish(this.resumeOutcome);
    } else if (event.type === "hook-failed" && event.hook === "resume") {
      // A router left halted is a black hole: keep trying.
      this.note = `resuming the data plane failed (retrying): ${event.error}`;
      this.later(() => this.out.push({ type: "hook", hook: "resume" }));
      this.progress();
    } else if (event.type === "channel-down") {
      this.connected = false;
    }
  }

  private finish(outcome: Outcome): void {
    try {
      this.router.migrationEnded();
    } catch {
      // Nothing to undo: the journal is the router's own business.
    }
    const state =
      outcome === "moved"
        ? SourceState.Done
        : outcome === "reclaimed"
          ? SourceState.Reclaimed
          : SourceState.RolledBack;
    this.enter(state, outcome === "moved" ? Phase.Done : Phase.RolledBack);
    this.stateDeadline = Number.POSITIVE_INFINITY;
    this.retry = undefined;
    this.retryAt = Number.POSITIVE_INFINITY;
    this.out.push({ type: "close" });
    this.progress();
    const clock = this.clock ?? new PhaseClock(Phase.Prepare, this.now);
    const f = this.failure;
    const summary: MigrationSummary = {
      migrationId: this.migrationId,
      router: this.router.name,
      role: "source",
      peer: this.peer,
      epoch: outcome === "moved" ? this.epoch : this.reasserted ? this.epoch + 1 : this.fromEpoch,
      outcome,
      ...(f === undefined
        ? {}
        : {
            reason: f.reason,
            detail: f.detail,
            ...(f.refusal === undefined ? {} : { refusal: f.refusal }),
          }),
      cpFreezeMs:
        this.cpFreezeMs !== 0
          ? this.cpFreezeMs
          : this.freezeAt !== 0
            ? this.now - this.freezeAt
            : 0,
      totalMs: this.now - clock.startedAt,
      bytes: this.bytes,
      rounds: this.rounds,
      dataPlaneRounds: this.dpRounds,
      phaseMs: clock.totals(this.now),
    };
    this.out.push({ type: "finished", summary });
  }

  private enter(state: SourceState, phase?: Phase): void {
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
        router: this.router.name,
        role: "source",
        peer: this.peer,
        epoch: this.epoch,
        phase: clock?.current ?? Phase.Prepare,
        state: this.st,
        bytes: this.bytes,
        rounds: this.rounds,
        dataPlaneRounds: this.dpRounds,
        dataPlaneSeq: this.ackedSeq,
        controlVersion: this.ackedVersion,
        linksMoved: this.linksMoved,
        linksTotal: this.linksTotal,
        elapsedMs: clock === undefined ? 0 : this.now - clock.startedAt,
        committed: this.committed,
        ...(this.note === undefined ? {} : { note: this.note }),
      },
    });
  }
}

export function errorText(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}
