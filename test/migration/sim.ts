/**
 * A deterministic simulation of one migration between two hypervisors, for
 * the protocol cores (migration/source.ts, migration/target.ts): a fake
 * clock, an event queue, the real stream codec (every message is framed,
 * chunked and reassembled), in-memory ownership records, the fakes of
 * fakes.ts, and faults that can be injected before any step: cut the
 * channel, crash the target (and restart it later), black-hole the channel,
 * corrupt a frame in flight, fail a record write.
 *
 * What the service does around the cores (answering a resumption or a
 * resolution from the record when no session is left) is done here with the
 * same functions the service uses (migration/ownership.ts).
 *
 * After every step `check` holds the invariant: the router's control plane
 * never runs on both hosts at once.
 */
import { AbortReason } from "../../migration/errors.ts";
import type { HostOffer } from "../../migration/host.ts";
import type { Message } from "../../migration/messages.ts";
import {
  MemoryOwnershipBackend,
  OwnershipStore,
  resolveFromRecord,
  resumeFromRecord,
} from "../../migration/ownership.ts";
import type { MigrationProgress, MigrationSummary } from "../../migration/progress.ts";
import {
  type MigrationMode,
  type PreCopyOptions,
  type SourceAction,
  type SourceEvent,
  SourceMachine,
  type SourceTimeouts,
} from "../../migration/source.ts";
import { StreamReader, StreamWriter } from "../../migration/stream.ts";
import {
  type TargetAction,
  type TargetEvent,
  TargetMachine,
  type TargetTimeouts,
} from "../../migration/target.ts";
import {
  FakeFactory,
  FakeRouter,
  FakeSourceSubstrate,
  FakeTargetSubstrate,
  fillRoutes,
  GENEROUS_OFFER,
} from "./fakes.ts";

export const ROUTER = "vr1";
export const SOURCE = "pr1";
export const TARGET = "pr2";
export const START_EPOCH = 3;
const MIGRATION_ID = "00112233445566778899aabbccddeeff";
const ID_BYTES = new Uint8Array(Buffer.from(MIGRATION_ID, "hex"));

type Side = "source" | "target";

type Pending =
  | { kind: "frames"; to: Side; conn: number; frames: Uint8Array[] }
  | { kind: "fin"; to: Side; conn: number; reason: AbortReason; detail: string }
  | { kind: "source"; event: SourceEvent; incarnation?: number }
  | { kind: "target"; event: TargetEvent; incarnation: number };

interface Scheduled {
  at: number;
  order: number;
  item: Pending;
}

interface Conn {
  id: number;
  /** Frames the source sends, read by the target end. */
  s2t: { w: StreamWriter; r: StreamReader };
  t2s: { w: StreamWriter; r: StreamReader };
  /** The target end is the record responder (no session left). */
  responder: boolean;
}

export interface SimOptions {
  routes?: number;
  interfaces?: number;
  precopy?: Partial<PreCopyOptions>;
  sourceTimeouts?: Partial<SourceTimeouts>;
  targetTimeouts?: Partial<TargetTimeouts>;
  offer?: HostOffer;
  latencyMs?: number;
  persistMs?: number;
  hookMs?: number;
  chunkBytes?: number;
  /** Live (default) or stop-and-copy. */
  mode?: MigrationMode;
  /** Called before each step; may inject faults. */
  fault?: (sim: Sim, step: number) => void | Promise<void>;
  /** Changes the source router's control plane makes, called before each step. */
  churn?: (sim: Sim, step: number) => void;
}

export class Sim {
  now = 0;
  step = 0;
  readonly router: FakeRouter;
  readonly factory: FakeFactory;
  readonly srcSub = new FakeSourceSubstrate();
  readonly tgtSub = new FakeTargetSubstrate();
  srcStore!: OwnershipStore;
  tgtStore!: OwnershipStore;
  readonly srcBackend = new MemoryOwnershipBackend();
  readonly tgtBackend = new MemoryOwnershipBackend();
  source!: SourceMachine;
  target: TargetMachine | undefined;
  targetAlive = true;
  targetIncarnation = 0;
  partitioned = false;
  blackhole = false;
  corruptNext = false;
  crashed = false;
  conn: Conn | undefined;
  private nextConn = 1;
  private order = 0;
  private queue: Scheduled[] = [];
  private sourceDeadline = Number.POSITIVE_INFINITY;
  private targetDeadline = Number.POSITIVE_INFINITY;
  readonly options: SimOptions;
  readonly latency: number;
  readonly progress: MigrationProgress[] = [];
  sourceSummary: MigrationSummary | undefined;
  targetSummaries: MigrationSummary[] = [];
  /** Violations of the invariant, with the step. */
  readonly violations: string[] = [];
  /** Messages delivered, by side, in order. */
  readonly log: string[] = [];

  constructor(options: SimOptions = {}) {
    this.options = options;
    this.latency = options.latencyMs ?? 1;
    this.router = new FakeRouter(ROUTER, options.interfaces ?? 2);
    fillRoutes(this.router, options.routes ?? 40);
    this.router.set("bgp:198.18.0.1", "established");
    this.router.set("tcp:198.18.0.1:179", "snd=1000 rcv=2000");
    this.router.timers = { "bgp:198.18.0.1:hold": 90_000, "bgp:198.18.0.1:keepalive": 30_000 };
    this.factory = new FakeFactory(options.offer ?? GENEROUS_OFFER);
  }

  async init(): Promise<void> {
    this.srcStore = await OwnershipStore.load(this.srcBackend, SOURCE);
    this.tgtStore = await OwnershipStore.load(this.tgtBackend, TARGET);
    await this.srcStore.set(ROUTER, "owned", START_EPOCH);
    this.source = new SourceMachine({
      router: this.router,
      migrationId: MIGRATION_ID,
      peer: TARGET,
      fromEpoch: START_EPOCH,
      timeouts: this.options.sourceTimeouts,
      precopy: this.options.precopy,
      chunkBytes: this.options.chunkBytes ?? 4096,
      ...(this.options.mode === undefined ? {} : { mode: this.options.mode }),
    });
    this.newTarget();
    this.openConn(false);
  }

  private newTarget(): void {
    this.target = new TargetMachine({
      migrationId: MIGRATION_ID,
      peer: SOURCE,
      router: ROUTER,
      epoch: START_EPOCH + 1,
      factory: this.factory,
      existing: this.tgtStore.get(ROUTER),
      busy: false,
      timeouts: this.options.targetTimeouts,
      chunkBytes: this.options.chunkBytes ?? 4096,
    });
  }

  private openConn(responder: boolean): Conn {
    const chunk = this.options.chunkBytes ?? 4096;
    const epoch = START_EPOCH + 1;
    const pair = () => ({
      w: new StreamWriter(ID_BYTES, epoch, chunk),
      r: new StreamReader({ expect: { migrationId: ID_BYTES, epoch } }),
    });
    this.conn = { id: this.nextConn++, s2t: pair(), t2s: pair(), responder };
    return this.conn;
  }

  /** Runs until nothing is left to do or `limitMs` of simulated time passed. */
  async run(limitMs = 600_000): Promise<void> {
    if (this.step === 0 && this.queue.length === 0) {
      this.applySource(this.source.handle({ type: "start" }, this.now));
    }
    while (true) {
      const head = this.queue[0];
      const nextAt = Math.min(
        head?.at ?? Number.POSITIVE_INFINITY,
        this.sourceDeadline,
        this.targetDeadline,
      );
      if (!Number.isFinite(nextAt) || nextAt > limitMs) return;
      this.now = Math.max(this.now, nextAt);
      this.options.churn?.(this, this.step);
      await this.options.fault?.(this, this.step);
      this.step++;
      // Faults may have changed the queue: pick again.
      const h = this.queue[0];
      if (h !== undefined && h.at <= this.now) {
        this.queue.shift();
        await this.deliver(h.item);
      } else if (this.sourceDeadline <= this.now) {
        this.sourceDeadline = Number.POSITIVE_INFINITY;
        this.applySource(this.source.handle({ type: "tick" }, this.now));
      } else if (this.targetDeadline <= this.now) {
        this.targetDeadline = Number.POSITIVE_INFINITY;
        if (this.target !== undefined && this.targetAlive) {
          await this.applyTarget(this.target.handle({ type: "tick" }, this.now));
        }
      }
      await this.settle();
      this.check();
    }
  }

  private schedule(delay: number, item: Pending): void {
    const s: Scheduled = { at: this.now + delay, order: this.order++, item };
    let i = this.queue.length;
    while (
      i > 0 &&
      (this.queue[i - 1].at > s.at ||
        (this.queue[i - 1].at === s.at && this.queue[i - 1].order > s.order))
    )
      i--;
    this.queue.splice(i, 0, s);
  }

  private async deliver(item: Pending): Promise<void> {
    switch (item.kind) {
      case "source":
        if (item.incarnation !== undefined && item.incarnation !== this.targetIncarnation) return;
        this.applySource(this.source.handle(item.event, this.now));
        return;
      case "target":
        if (
          !this.targetAlive ||
          item.incarnation !== this.targetIncarnation ||
          this.target === undefined
        )
          return;
        await this.applyTarget(this.target.handle(item.event, this.now));
        return;
      case "fin": {
        if (this.conn?.id !== item.conn) return;
        this.conn = undefined;
        if (item.to === "source") {
          this.applySource(
            this.source.handle(
              { type: "channel-down", reason: item.reason, detail: item.detail },
              this.now,
            ),
          );
        } else if (this.targetAlive && this.target !== undefined) {
          await this.applyTarget(
            this.target.handle(
              { type: "channel-down", reason: item.reason, detail: item.detail },
              this.now,
            ),
          );
        }
        return;
      }
      case "frames": {
        const c = this.conn;
        if (c === undefined || c.id !== item.conn) return;
        if (item.to === "target" && !this.targetAlive) return;
        const dir = item.to === "target" ? c.s2t : c.t2s;
        for (const f of item.frames) dir.r.push(f);
        for (;;) {
          const r = dir.r.next();
          if (r === undefined) break;
          if (!r.ok) {
            // The receiver drops the connection; the sender sees it close.
            this.conn = undefined;
            const down = {
              type: "channel-down" as const,
              reason: AbortReason.BadFrame,
              detail: r.error,
            };
            const lost = {
              type: "channel-down" as const,
              reason: AbortReason.ChannelLost,
              detail: "peer closed",
            };
            if (item.to === "target") {
              if (!c.responder && this.target)
                await this.applyTarget(this.target.handle(down, this.now));
              this.schedule(this.latency, { kind: "source", event: lost });
            } else {
              this.applySource(this.source.handle(down, this.now));
              if (!c.responder)
                this.schedule(this.latency, {
                  kind: "target",
                  event: lost,
                  incarnation: this.targetIncarnation,
                });
            }
            return;
          }
          this.log.push(`${item.to} <- ${r.message.type}`);
          if (item.to === "source") {
            this.applySource(this.source.handle({ type: "message", message: r.message }, this.now));
          } else if (c.responder) {
            await this.respond(c, r.message);
          } else if (this.target !== undefined) {
            await this.applyTarget(
              this.target.handle({ type: "message", message: r.message }, this.now),
            );
          }
          if (this.conn !== c) return;
        }
        return;
      }
    }
  }

  /** The target end of a resumed connection with no session left: the record answers. */
  private async respond(c: Conn, m: Message): Promise<void> {
    const reply = (msg: Message) => this.sendFrom("target", msg);
    if (m.type === "commit") {
      const r = resumeFromRecord(this.tgtStore.get(ROUTER), START_EPOCH + 1);
      if (r.answer === "activated") {
        reply({ type: "activated" });
        return;
      }
      if (r.fence) {
        await this.tgtStore.set(ROUTER, "abandoned", START_EPOCH + 1, {
          peer: SOURCE,
          migrationId: MIGRATION_ID,
        });
      }
      reply({ type: "abandoned", message: "no copy after a restart" });
      this.closeFrom("target");
    } else if (m.type === "blob") {
      reply({ type: "applied", kind: m.kind, round: m.round, seq: m.seq });
    } else if (m.type === "link-moved") {
      reply({ type: "link-moved-ack", ifIndex: m.ifIndex });
    } else if (m.type === "done") {
      reply({ type: "done-ack" });
      this.closeFrom("target");
    }
    void c;
  }

  private sendFrom(side: Side, msg: Message): void {
    const c = this.conn;
    if (c === undefined) return;
    if (side === "target" && !this.targetAlive) return;
    if (this.blackhole) return;
    const frames = (side === "source" ? c.s2t : c.t2s).w.encode(msg);
    if (this.corruptNext) {
      this.corruptNext = false;
      const f = frames[0];
      f[Math.floor(f.length / 2)] ^= 0x10;
    }
    this.schedule(this.latency, {
      kind: "frames",
      to: side === "source" ? "target" : "source",
      conn: c.id,
      frames,
    });
  }

  private closeFrom(side: Side): void {
    const c = this.conn;
    if (c === undefined) return;
    this.schedule(this.latency, {
      kind: "fin",
      to: side === "source" ? "target" : "source",
      conn: c.id,
      reason: AbortReason.ChannelLost,
      detail: `${side} closed the connection`,
    });
  }

  private applySource(step: { actions: SourceAction[]; deadline: number }): void {
    this.sourceDeadline = step.deadline;
    for (const a of step.actions) {
      switch (a.type) {
        case "send":
          this.sendFrom("source", a.message);
          break;
        case "close":
          this.closeFrom("source");
          break;
        case "persist": {
          const p = this.srcStore.set(ROUTER, a.role, a.epoch, {
            ...(a.peer === undefined ? {} : { peer: a.peer }),
            migrationId: MIGRATION_ID,
          });
          const ms = this.options.persistMs ?? 2;
          p.then(
            () => this.schedule(ms, { kind: "source", event: { type: "persisted" } }),
            (e) =>
              this.schedule(ms, {
                kind: "source",
                event: { type: "persist-failed", error: String(e) },
              }),
          );
          // The memory backend settles within the microtask queue.
          this.pendingWrites.push(p.catch(() => {}));
          break;
        }
        case "hook": {
          const i = a.ifIndex;
          const job =
            a.hook === "halt"
              ? () => this.srcSub.halt(ROUTER)
              : a.hook === "resume"
                ? () => this.srcSub.resume(ROUTER)
                : a.hook === "redirect"
                  ? () => this.srcSub.redirect(ROUTER, TARGET)
                  : a.hook === "rehome"
                    ? () => this.srcSub.rehome(ROUTER, i!, TARGET)
                    : a.hook === "unswitch"
                      ? () => this.srcSub.unswitch(ROUTER, i!)
                      : () => this.srcSub.drop(ROUTER);
          const at = i === undefined ? {} : { ifIndex: i };
          const ms = this.options.hookMs ?? 1;
          const p = job().then(
            () =>
              this.schedule(ms, {
                kind: "source",
                event: { type: "hook-done", hook: a.hook, ...at },
              }),
            (e) =>
              this.schedule(ms, {
                kind: "source",
                event: { type: "hook-failed", hook: a.hook, ...at, error: String(e) },
              }),
          );
          this.pendingWrites.push(p);
          break;
        }
        case "reconnect":
          if (!this.targetAlive || this.partitioned) {
            this.schedule(this.latency * 2, {
              kind: "source",
              event: {
                type: "channel-down",
                reason: AbortReason.ChannelLost,
                detail: "connection refused",
              },
            });
          } else {
            const live = this.target !== undefined && !this.target.finished;
            this.openConn(!live);
            this.schedule(this.latency * 2, { kind: "source", event: { type: "channel-up" } });
            if (live) {
              this.schedule(this.latency, {
                kind: "target",
                event: { type: "channel-up" },
                incarnation: this.targetIncarnation,
              });
            }
          }
          break;
        case "progress":
          this.progress.push(a.progress);
          break;
        case "finished":
          this.sourceSummary = a.summary;
          break;
      }
    }
  }

  private pendingWrites: Promise<unknown>[] = [];

  private async applyTarget(step: { actions: TargetAction[]; deadline: number }): Promise<void> {
    this.targetDeadline = step.deadline;
    const inc = this.targetIncarnation;
    for (const a of step.actions) {
      switch (a.type) {
        case "send":
          this.sendFrom("target", a.message);
          break;
        case "close":
          this.closeFrom("target");
          break;
        case "persist": {
          const ms = this.options.persistMs ?? 2;
          const p = this.tgtStore
            .set(ROUTER, a.role, a.epoch, {
              ...(a.peer === undefined ? {} : { peer: a.peer }),
              migrationId: MIGRATION_ID,
            })
            .then(
              () =>
                this.schedule(ms, {
                  kind: "target",
                  event: { type: "persisted" },
                  incarnation: inc,
                }),
              (e) =>
                this.schedule(ms, {
                  kind: "target",
                  event: { type: "persist-failed", error: String(e) },
                  incarnation: inc,
                }),
            );
          this.pendingWrites.push(p);
          break;
        }
        case "hook": {
          const i = a.ifIndex;
          const job =
            a.hook === "prepare-links"
              ? () => this.tgtSub.prepareLinks(ROUTER, a.requirements!, SOURCE)
              : a.hook === "release-links"
                ? () => this.tgtSub.releaseLinks(ROUTER)
                : () => this.tgtSub.linkRehomed(ROUTER, i!);
          const at = i === undefined ? {} : { ifIndex: i };
          const ms = this.options.hookMs ?? 1;
          const p = job().then(
            () =>
              this.schedule(ms, {
                kind: "target",
                event: { type: "hook-done", hook: a.hook, ...at },
                incarnation: inc,
              }),
            (e) =>
              this.schedule(ms, {
                kind: "target",
                event: { type: "hook-failed", hook: a.hook, ...at, error: String(e) },
                incarnation: inc,
              }),
          );
          this.pendingWrites.push(p);
          break;
        }
        case "resolve": {
          if (this.partitioned) {
            this.schedule(this.latency * 2, {
              kind: "target",
              event: { type: "resolve-failed", error: "unreachable" },
              incarnation: inc,
            });
            break;
          }
          // The source answers from its live session, or from its record once the session is gone.
          let outcome: "commit" | "abort" | "pending";
          if (!this.source.finished) {
            const r = this.source.resolve(this.now);
            this.applySource(r.step);
            outcome = r.outcome;
          } else {
            outcome = resolveFromRecord(
              this.srcStore.get(ROUTER),
              TARGET,
              START_EPOCH + 1,
              MIGRATION_ID,
            );
          }
          this.schedule(this.latency * 2, {
            kind: "target",
            event:
              outcome === "pending"
                ? { type: "resolve-failed", error: "pending" }
                : { type: "resolution", outcome },
            incarnation: inc,
          });
          break;
        }
        case "progress":
          this.progress.push(a.progress);
          break;
        case "finished":
          this.targetSummaries.push(a.summary);
          break;
      }
    }
    await Promise.all(this.pendingWrites.splice(0));
  }

  /** Lets async writes and hooks settle (they schedule their completion). */
  async settle(): Promise<void> {
    await Promise.all(this.pendingWrites.splice(0));
  }

  // ---- faults ----

  /** Cuts the connection: both ends see it go. */
  cut(): void {
    const c = this.conn;
    if (c === undefined) return;
    this.conn = undefined;
    const ev = {
      type: "channel-down" as const,
      reason: AbortReason.ChannelLost,
      detail: "connection cut",
    };
    this.schedule(0, { kind: "source", event: ev });
    if (!c.responder)
      this.schedule(0, { kind: "target", event: ev, incarnation: this.targetIncarnation });
  }

  /** The target process dies: its memory (sessions, standbys, links) goes, its record stays. */
  crashTarget(): void {
    if (!this.targetAlive) return;
    this.crashed = true;
    this.targetAlive = false;
    this.target = undefined;
    this.targetDeadline = Number.POSITIVE_INFINITY;
    this.targetIncarnation++;
    for (const s of this.factory.created) {
      if (s.active) s.active = false;
      s.discarded = true;
    }
    this.tgtSub.links.clear();
    const c = this.conn;
    if (c !== undefined) {
      this.conn = undefined;
      this.schedule(this.latency, {
        kind: "source",
        event: {
          type: "channel-down",
          reason: AbortReason.ChannelLost,
          detail: "connection reset",
        },
      });
    }
  }

  /**
   * The target process comes back with its record and nothing else; like a
   * daemon, it brings back from their configuration the routers its record
   * says it owns (their live state died with the process).
   */
  async restartTarget(): Promise<void> {
    this.targetAlive = true;
    this.tgtStore = await OwnershipStore.load(this.tgtBackend, TARGET);
    const e = this.tgtStore.get(ROUTER);
    if (e?.role === "owned") {
      const s = this.factory.create(ROUTER, this.router.requirementsValue);
      s.active = true;
      s.recreated = true;
      s.epoch = e.epoch;
    }
  }

  // ---- invariants ----

  get sourceRunning(): boolean {
    return !this.router.frozen && !this.srcSub.dropped.has(ROUTER);
  }

  get targetRunning(): boolean {
    return this.targetAlive && this.factory.activeRouters().length > 0;
  }

  private check(): void {
    if (this.sourceRunning && this.targetRunning) {
      this.violations.push(`step ${this.step}: the router runs on both hosts`);
    }
    if (this.factory.activeRouters().length > 1) {
      this.violations.push(`step ${this.step}: two standbys active`);
    }
    if (!this.crashed && this.srcSub.dropped.has(ROUTER) && !this.targetRunning) {
      this.violations.push(
        `step ${this.step}: the source dropped the router before the target ran it`,
      );
    }
  }
}
