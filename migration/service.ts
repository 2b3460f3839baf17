/**
 * A hypervisor's migration service: the thin async drivers that run the
 * protocol cores (source.ts, target.ts) over channels (channel.ts), write
 * the ownership record (ownership.ts) and call the substrate hooks
 * (host.ts). One per hypervisor; the daemon will own it.
 *
 * - `migrate(router, peer, {mode})` moves a router this hypervisor owns to
 *   a configured peer, live (the default) or by stop-and-copy: it checks
 *   the request (unknown router or peer or mode, not the owner, busy)
 *   before any connection, connects, and runs a source session;
 *   it resolves with the summary once the router runs at the peer, or
 *   rejects with a MigrationError (refused, rolled back: the router still
 *   runs here) that carries the summary.
 * - Incoming connections are answered by purpose: "migrate" starts a target
 *   session; "resume" reattaches a source that lost its channel after the
 *   commit (or, with no session left, answers from the ownership record);
 *   "resolve" tells a target in doubt how a migration ended (from the live
 *   session, else from the record; an undecided live session is rolled back
 *   first, so the answer holds for ever).
 * - On start, every router recorded "outgoing" (this hypervisor stopped
 *   between its decision and the end) is settled with its target in the
 *   background: COMMIT until the target says it runs the router (then
 *   "gone") or that it holds no copy (then "abandoned": the router is lost,
 *   which is reported).
 *
 * Drivers hold no protocol logic: each feeds events to its core one at a
 * time (a queue, so an action that reports synchronously cannot re-enter),
 * carries out the actions, and arms one timer for the core's deadline.
 */
import type { AddressInfo } from "node:net";
import {
  type Channel,
  type ChannelOptions,
  ChannelServer,
  connectPeer,
  type HelloInfo,
  newMigrationId,
} from "./channel.ts";
import type { ChannelConfig } from "./config.ts";
import { AbortReason, MigrationError, type Refusal, RefusalCode } from "./errors.ts";
import type {
  SourceRouters,
  SourceSubstrate,
  StandbyRouterFactory,
  TargetSubstrate,
} from "./host.ts";
import type { Message } from "./messages.ts";
import {
  type OwnershipEntry,
  type OwnershipStore,
  resolveFromRecord,
  resumeFromRecord,
} from "./ownership.ts";
import type { MigrationProgress, MigrationSummary } from "./progress.ts";
import {
  errorText,
  MIGRATION_MODES,
  MigrationMode,
  type PreCopyOptions,
  type SourceAction,
  type SourceEvent,
  type SourceHook,
  SourceMachine,
  type SourceTimeouts,
  type Step,
} from "./source.ts";
import { hex, migrationIdFromHex } from "./stream.ts";
import {
  type TargetAction,
  type TargetEvent,
  TargetMachine,
  type TargetTimeouts,
} from "./target.ts";

export type ServiceEvent =
  | { type: "refused"; remote: string; reason: string }
  | { type: "recovered"; router: string; peer: string; epoch: number; outcome: "moved" | "lost" }
  | { type: "error"; where: string; error: string };

export interface MigrationServiceOptions {
  config: ChannelConfig;
  store: OwnershipStore;
  /** Source side: the routers placed here. */
  routers: SourceRouters;
  /** Target side: capacity checks and standby routers. */
  standby: StandbyRouterFactory;
  source: SourceSubstrate;
  target: TargetSubstrate;
  /** Milliseconds, monotonic (default performance.now). */
  clock?: () => number;
  sourceTimeouts?: Partial<SourceTimeouts>;
  targetTimeouts?: Partial<TargetTimeouts>;
  precopy?: Partial<PreCopyOptions>;
  channel?: ChannelOptions;
  /** Every progress report, either side. */
  onProgress?: (progress: MigrationProgress) => void;
  /** Every migration's end, either side. */
  onFinished?: (summary: MigrationSummary) => void;
  onEvent?: (event: ServiceEvent) => void;
}

export interface MigrateOptions {
  onProgress?: (progress: MigrationProgress) => void;
  /** Live (default) or stop-and-copy, the naive scheme kept for comparison (source.ts). */
  mode?: MigrationMode;
}

/** Timer and event queue shared by both drivers. */
abstract class Driver<E extends { type: string }, A> {
  protected readonly service: MigrationService;
  protected channel: Channel | undefined;
  #queue: E[] = [];
  #running = false;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #timerAt = Number.POSITIVE_INFINITY;
  last: MigrationProgress | undefined;

  constructor(service: MigrationService) {
    this.service = service;
  }

  protected abstract step(event: E, now: number): Step<A>;
  protected abstract act(action: A): void;
  abstract get finished(): boolean;

  feed(event: E): void {
    if (this.service.crashed) return;
    this.#queue.push(event);
    if (this.#running) return;
    this.#running = true;
    try {
      while (this.#queue.length > 0) {
        const e = this.#queue.shift()!;
        const step = this.step(e, this.service.clock());
        for (const a of step.actions) this.act(a);
        this.#arm(step.deadline);
      }
    } finally {
      this.#running = false;
    }
  }

  /** Takes `channel` as the session's channel. */
  attach(channel: Channel, up: E | undefined): void {
    this.channel?.destroy();
    this.channel = channel;
    this.service.track(channel);
    channel.start(
      (m) => {
        if (this.channel === channel) this.feed(this.message(m));
      },
      (reason, detail) => {
        if (this.channel !== channel) return;
        this.channel = undefined;
        this.feed(this.down(reason, detail));
      },
    );
    if (up !== undefined) this.feed(up);
  }

  protected abstract message(m: Message): E;
  protected abstract down(reason: AbortReason, detail: string): E;

  protected send(m: Message): void {
    try {
      this.channel?.send(m);
    } catch (e) {
      this.channel?.abort(AbortReason.ChannelLost, `cannot send ${m.type}: ${errorText(e)}`);
    }
  }

  protected closeChannel(): void {
    const ch = this.channel;
    this.channel = undefined;
    ch?.close();
  }

  /** Runs an async job and feeds its outcome. */
  protected run(job: () => Promise<unknown>, done: E, failed: (error: string) => E): void {
    Promise.resolve()
      .then(job)
      .then(
        () => this.feed(done),
        (e) => this.feed(failed(errorText(e))),
      );
  }

  stop(): void {
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
    this.channel?.destroy();
    this.channel = undefined;
  }

  #arm(deadline: number): void {
    if (deadline === this.#timerAt && this.#timer !== undefined) return;
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#timerAt = deadline;
    if (!Number.isFinite(deadline) || this.finished) return;
    const delay = Math.min(Math.max(0, Math.ceil(deadline - this.service.clock())) + 1, 0x7fffffff);
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      this.#timerAt = Number.POSITIVE_INFINITY;
      this.feed(this.tick());
    }, delay);
  }

  protected abstract tick(): E;
}

class SourceSession extends Driver<SourceEvent, SourceAction> {
  readonly core: SourceMachine;
  readonly idBytes: Uint8Array;
  readonly done: Promise<MigrationSummary>;
  #resolve!: (s: MigrationSummary) => void;
  #reject!: (e: Error) => void;
  readonly #onProgress: ((p: MigrationProgress) => void) | undefined;

  constructor(
    service: MigrationService,
    core: SourceMachine,
    idBytes: Uint8Array,
    onProgress?: (p: MigrationProgress) => void,
  ) {
    super(service);
    this.core = core;
    this.idBytes = idBytes;
    this.#onProgress = onProgress;
    this.done = new Promise((resolve, reject) => {
      this.#resolve = resolve;
      this.#reject = reject;
    });
  }

  get finished(): boolean {
    return this.core.finished;
  }

  protected step(event: SourceEvent, now: number): Step<SourceAction> {
    return this.core.handle(event, now);
  }

  protected message(message: Message): SourceEvent {
    return { type: "message", message };
  }

  protected down(reason: AbortReason, detail: string): SourceEvent {
    return { type: "channel-down", reason, detail };
  }

  protected tick(): SourceEvent {
    return { type: "tick" };
  }

  /** The service stops while the session runs: `migrate` rejects with `error`. */
  interrupt(error: Error): void {
    this.stop();
    this.#reject(error);
  }

  /** The target asks how the migration ended. */
  resolve(): "commit" | "abort" | "pending" {
    const { outcome, step } = this.core.resolve(this.service.clock());
    for (const a of step.actions) this.act(a);
    return outcome;
  }

  /** A resumed channel from `reconnect`. */
  resumed(channel: Channel): void {
    this.attach(channel, { type: "channel-up" });
  }

  protected act(a: SourceAction): void {
    const core = this.core;
    const opts = this.service.options;
    const router = core.router.name;
    switch (a.type) {
      case "send":
        this.send(a.message);
        return;
      case "persist":
        this.run(
          () =>
            opts.store.set(router, a.role, a.epoch, {
              ...(a.peer === undefined ? {} : { peer: a.peer }),
              migrationId: core.migrationId,
            }),
          { type: "persisted" },
          (error) => ({ type: "persist-failed", error }),
        );
        return;
      case "hook": {
        const i = a.ifIndex;
        const job = sourceHookJob(opts.source, a.hook, router, core.peer, i);
        const at = i === undefined ? {} : { ifIndex: i };
        this.run(job, { type: "hook-done", hook: a.hook, ...at }, (error) => ({
          type: "hook-failed",
          hook: a.hook,
          ...at,
          error,
        }));
        return;
      }
      case "reconnect":
        connectPeer(
          opts.config,
          core.peer,
          { purpose: "resume", router, migrationId: this.idBytes, epoch: core.epoch },
          opts.channel,
        ).then(
          (ch) => {
            if (this.service.crashed || this.finished) ch.destroy();
            else this.resumed(ch);
          },
          (e) =>
            this.feed({
              type: "channel-down",
              reason: AbortReason.ChannelLost,
              detail: errorText(e),
            }),
        );
        return;
      case "close":
        this.closeChannel();
        return;
      case "progress":
        this.last = a.progress;
        this.#onProgress?.(a.progress);
        opts.onProgress?.(a.progress);
        return;
      case "finished":
        this.stop();
        this.service.forget(this);
        opts.onFinished?.(a.summary);
        this.#resolve(a.summary);
        return;
    }
  }
}

/** The substrate call a source hook action asks for. */
function sourceHookJob(
  substrate: SourceSubstrate,
  hook: SourceHook,
  router: string,
  peer: string,
  ifIndex: number | undefined,
): () => Promise<void> {
  switch (hook) {
    case "halt":
      return () => substrate.halt(router);
    case "resume":
      return () => substrate.resume(router);
    case "redirect":
      return () => substrate.redirect(router, peer);
    case "rehome":
      return () => substrate.rehome(router, ifIndex!, peer);
    case "unswitch":
      return () => substrate.unswitch(router, ifIndex!);
    case "drop":
      return () => substrate.drop(router);
  }
}

class TargetSession extends Driver<TargetEvent, TargetAction> {
  readonly core: TargetMachine;
  readonly idBytes: Uint8Array;

  constructor(service: MigrationService, core: TargetMachine, idBytes: Uint8Array) {
    super(service);
    this.core = core;
    this.idBytes = idBytes;
  }

  get finished(): boolean {
    return this.core.finished;
  }

  protected step(event: TargetEvent, now: number): Step<TargetAction> {
    return this.core.handle(event, now);
  }

  protected message(message: Message): TargetEvent {
    return { type: "message", message };
  }

  protected down(reason: AbortReason, detail: string): TargetEvent {
    return { type: "channel-down", reason, detail };
  }

  protected tick(): TargetEvent {
    return { type: "tick" };
  }

  protected act(a: TargetAction): void {
    const core = this.core;
    const opts = this.service.options;
    switch (a.type) {
      case "send":
        this.send(a.message);
        return;
      case "persist":
        this.run(
          () =>
            opts.store.set(core.router, a.role, a.epoch, {
              ...(a.peer === undefined ? {} : { peer: a.peer }),
              migrationId: core.migrationId,
            }),
          { type: "persisted" },
          (error) => ({ type: "persist-failed", error }),
        );
        return;
      case "hook": {
        const i = a.ifIndex;
        const job =
          a.hook === "prepare-links"
            ? () => opts.target.prepareLinks(core.router, a.requirements!, core.peer)
            : a.hook === "release-links"
              ? () => opts.target.releaseLinks(core.router)
              : () => opts.target.linkRehomed(core.router, i!);
        const at = i === undefined ? {} : { ifIndex: i };
        this.run(job, { type: "hook-done", hook: a.hook, ...at }, (error) => ({
          type: "hook-failed",
          hook: a.hook,
          ...at,
          error,
        }));
        return;
      }
      case "resolve":
        this.service.askSource(core.peer, core.router, this.idBytes, core.epoch).then(
          (outcome) =>
            this.feed(
              outcome === "pending"
                ? { type: "resolve-failed", error: "the decision is still being written" }
                : { type: "resolution", outcome },
            ),
          (e) => this.feed({ type: "resolve-failed", error: errorText(e) }),
        );
        return;
      case "close":
        this.closeChannel();
        return;
      case "progress":
        this.last = a.progress;
        opts.onProgress?.(a.progress);
        return;
      case "finished":
        this.stop();
        this.service.forget(this);
        opts.onFinished?.(a.summary);
        return;
    }
  }
}

export class MigrationService {
  readonly options: MigrationServiceOptions;
  readonly clock: () => number;
  readonly #server: ChannelServer;
  readonly #sources = new Map<string, SourceSession>();
  readonly #targets = new Map<string, TargetSession>();
  readonly #channels = new Set<Channel>();
  readonly #recoveries = new Set<Promise<void>>();
  #closed = false;
  #crashed = false;

  private constructor(options: MigrationServiceOptions) {
    this.options = options;
    this.clock = options.clock ?? (() => performance.now());
    this.#server = new ChannelServer(options.config, {
      ...options.channel,
      onHello: (info) => this.#hello(info),
      onRefused: (remote, reason) => options.onEvent?.({ type: "refused", remote, reason }),
    });
  }

  /** Listens for peers and settles what a previous run left "outgoing". */
  static async start(options: MigrationServiceOptions): Promise<MigrationService> {
    if (options.store.hypervisor !== options.config.name) {
      throw new MigrationError(
        "BadArgument",
        `the ownership record is ${options.store.hypervisor}'s, the channel is configured for ${options.config.name}`,
      );
    }
    const service = new MigrationService(options);
    await service.#server.listen();
    for (const e of options.store.entries()) {
      if (e.role === "outgoing") service.#recover(e);
    }
    return service;
  }

  get name(): string {
    return this.options.config.name;
  }

  get address(): AddressInfo {
    return this.#server.address!;
  }

  /** True once `crash` was called. */
  get crashed(): boolean {
    return this.#crashed;
  }

  /** The live migrations' latest progress, both sides. */
  migrations(): MigrationProgress[] {
    return [...this.#sources.values(), ...this.#targets.values()].flatMap((s) =>
      s.last === undefined ? [] : [s.last],
    );
  }

  /** Moves `router` to `peer`; see the module comment. */
  async migrate(
    router: string,
    peer: string,
    options: MigrateOptions = {},
  ): Promise<MigrationSummary> {
    if (this.#closed) throw new MigrationError("Closed", "the migration service is closed");
    const r = this.options.routers.lookup(router);
    if (r === undefined) {
      throw new MigrationError("UnknownRouter", `no router ${router} on ${this.name}`);
    }
    if (!this.options.config.peers.some((p) => p.name === peer)) {
      const known = this.options.config.peers.map((p) => p.name).join(", ") || "none";
      throw new MigrationError(
        "UnknownPeer",
        `no peer ${peer} in the configuration (peers: ${known})`,
      );
    }
    const mode = options.mode ?? MigrationMode.Live;
    if (!MIGRATION_MODES.includes(mode)) {
      throw new MigrationError(
        "BadArgument",
        `unknown migration mode '${String(mode)}' (modes: ${MIGRATION_MODES.join(", ")})`,
      );
    }
    const entry = this.options.store.get(router);
    if (entry?.role !== "owned") {
      const what =
        entry === undefined ? "no ownership entry" : `${entry.role} at epoch ${entry.epoch}`;
      throw new MigrationError("NotOwner", `${this.name} does not own router ${router} (${what})`);
    }
    if (this.#busy(router)) {
      throw new MigrationError("Busy", `a migration of router ${router} is already under way`);
    }
    const idBytes = newMigrationId();
    const epoch = entry.epoch + 1;
    const core = new SourceMachine({
      router: r,
      migrationId: hex(idBytes),
      peer,
      fromEpoch: entry.epoch,
      mode,
      ...(this.options.sourceTimeouts === undefined
        ? {}
        : { timeouts: this.options.sourceTimeouts }),
      ...(this.options.precopy === undefined ? {} : { precopy: this.options.precopy }),
      ...(this.options.channel?.chunkBytes === undefined
        ? {}
        : { chunkBytes: this.options.channel.chunkBytes }),
    });
    const session = new SourceSession(this, core, idBytes, options.onProgress);
    // Reserve the router before the first await, so a second request is Busy.
    this.#sources.set(core.migrationId, session);
    let channel: Channel;
    try {
      channel = await connectPeer(
        this.options.config,
        peer,
        { purpose: "migrate", router, migrationId: idBytes, epoch },
        this.options.channel,
      );
    } catch (e) {
      this.#sources.delete(core.migrationId);
      throw e;
    }
    if (this.#crashed || this.#closed) {
      channel.destroy();
      this.#sources.delete(core.migrationId);
      throw new MigrationError("Closed", "the migration service closed during the connection");
    }
    session.attach(channel, undefined);
    session.feed({ type: "start" });
    const summary = await session.done;
    if (summary.outcome === "moved") return summary;
    const refused = summary.reason === AbortReason.Refused;
    throw new MigrationError(
      refused ? "Refused" : "RolledBack",
      refused
        ? `${peer} refused router ${router}: ${summary.detail ?? ""}`
        : `migration of ${router} to ${peer} ${summary.outcome === "reclaimed" ? "was taken back after the commit" : "rolled back"} (${summary.reason}): ${summary.detail ?? ""}; ${router} runs on ${this.name}`,
      {
        ...(summary.reason === undefined ? {} : { reason: summary.reason }),
        ...(summary.refusal === undefined ? {} : { refusal: summary.refusal }),
        summary,
      },
    );
  }

  /** Cancels the outgoing migration of `router` if it has not committed; false when none runs. */
  cancel(router: string, detail = "cancelled by the operator"): boolean {
    for (const s of this.#sources.values()) {
      if (s.core.router.name === router) {
        s.feed({ type: "cancel", detail });
        return true;
      }
    }
    return false;
  }

  /**
   * Stops: pending migrations that have not committed are cancelled (the
   * source keeps its routers, the target drops its standbys), the listener
   * closes. Committed ones are left to the record and the next start.
   */
  async close(graceMs = 1000): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    for (const s of [...this.#sources.values(), ...this.#targets.values()]) {
      s.feed({ type: "cancel", detail: `${this.name} is shutting down` });
    }
    const end = Date.now() + graceMs;
    while ((this.#sources.size > 0 || this.#targets.size > 0) && Date.now() < end) {
      await new Promise((r) => setTimeout(r, 10));
    }
    this.#interruptAll("closed");
    await this.#server.close();
    await Promise.allSettled([...this.#recoveries]);
  }

  /**
   * Stops at once without a word to anyone, as a crash would: no messages,
   * no rollback, no record written (fault injection in tests and the lab).
   */
  async crash(): Promise<void> {
    this.#crashed = true;
    this.#closed = true;
    this.#interruptAll("crashed");
    await this.#server.close();
  }

  /** Stops every session and channel; a `migrate` still waiting rejects. */
  #interruptAll(how: "closed" | "crashed"): void {
    for (const s of this.#sources.values()) {
      const committed = s.core.committed;
      s.interrupt(
        new MigrationError(
          "Closed",
          `${this.name} ${how} during the migration of ${s.core.router.name}` +
            (committed
              ? `: the commit to ${s.core.peer} stands and is settled at the next start`
              : ""),
        ),
      );
    }
    for (const t of this.#targets.values()) t.stop();
    this.#sources.clear();
    this.#targets.clear();
    for (const ch of this.#channels) ch.destroy();
    this.#channels.clear();
  }

  // ---- for the drivers -----------------------------------------------------------------------

  /** @internal */
  track(channel: Channel): void {
    this.#channels.add(channel);
  }

  /** @internal */
  forget(session: SourceSession | TargetSession): void {
    if (session instanceof SourceSession) this.#sources.delete(session.core.migrationId);
    else this.#targets.delete(session.core.migrationId);
  }

  /**
   * @internal Asks `peer` (the source) how migration `id` of `router` ended:
   * commit, abort, or pending (the decision is being written).
   */
  askSource(
    peer: string,
    router: string,
    id: Uint8Array,
    epoch: number,
  ): Promise<"commit" | "abort" | "pending"> {
    if (this.#crashed) return Promise.reject(new Error("crashed"));
    return connectPeer(
      this.options.config,
      peer,
      { purpose: "resolve", router, migrationId: id, epoch },
      this.options.channel,
    ).then(
      (ch) =>
        new Promise<"commit" | "abort" | "pending">((resolve, reject) => {
          this.track(ch);
          const timer = setTimeout(() => {
            ch.destroy();
            reject(new Error(`${peer} did not answer RESOLVE in time`));
          }, this.options.config.handshakeTimeoutMs);
          ch.start(
            (m) => {
              clearTimeout(timer);
              this.#channels.delete(ch);
              ch.close();
              if (m.type === "resolution") resolve(m.outcome);
              else if (m.type === "refuse") resolve("pending");
              else reject(new Error(`${peer} answered RESOLVE with ${m.type}`));
            },
            (_reason, detail) => {
              clearTimeout(timer);
              this.#channels.delete(ch);
              reject(new Error(detail));
            },
          );
          ch.send({ type: "resolve" });
        }),
    );
  }

  // ---- incoming connections ------------------------------------------------------------------

  #busy(router: string): boolean {
    for (const s of this.#sources.values()) if (s.core.router.name === router) return true;
    for (const t of this.#targets.values()) if (t.core.router === router) return true;
    return false;
  }

  #hello(info: HelloInfo): Refusal | ((channel: Channel) => void) {
    if (this.#closed) {
      return { code: RefusalCode.ShuttingDown, message: `${this.name} is shutting down` };
    }
    const id = hex(info.migrationId);
    const { hello, peer, epoch } = info;
    switch (hello.purpose) {
      case "migrate": {
        if (this.#targets.has(id) || this.#sources.has(id)) {
          return { code: RefusalCode.BadRequest, message: `migration ${id} is already known here` };
        }
        const core = new TargetMachine({
          migrationId: id,
          peer,
          router: hello.router,
          epoch,
          factory: this.options.standby,
          existing: this.options.store.get(hello.router),
          busy: this.#busy(hello.router),
          ...(this.options.targetTimeouts === undefined
            ? {}
            : { timeouts: this.options.targetTimeouts }),
          ...(this.options.channel?.chunkBytes === undefined
            ? {}
            : { chunkBytes: this.options.channel.chunkBytes }),
        });
        const session = new TargetSession(this, core, info.migrationId);
        this.#targets.set(id, session);
        return (channel) => session.attach(channel, undefined);
      }
      case "resume": {
        const live = this.#targets.get(id);
        if (live !== undefined) {
          if (live.core.peer !== peer || live.core.router !== hello.router) {
            return {
              code: RefusalCode.BadRequest,
              message: `migration ${id} is not ${peer}'s ${hello.router}`,
            };
          }
          return (channel) => live.attach(channel, { type: "channel-up" });
        }
        return (channel) => this.#answerResume(channel, peer, hello.router, id, epoch);
      }
      case "resolve": {
        const live = this.#sources.get(id);
        if (live !== undefined) {
          if (live.core.peer !== peer || live.core.router.name !== hello.router) {
            return {
              code: RefusalCode.BadRequest,
              message: `migration ${id} is not ${hello.router} to ${peer}`,
            };
          }
          return (channel) => this.#answerResolve(channel, () => live.resolve());
        }
        const outcome = resolveFromRecord(this.options.store.get(hello.router), peer, epoch, id);
        return (channel) => this.#answerResolve(channel, () => outcome);
      }
    }
  }

  #answerResolve(channel: Channel, outcome: () => "commit" | "abort" | "pending"): void {
    this.track(channel);
    channel.start(
      (m) => {
        if (m.type !== "resolve") {
          channel.destroy();
          return;
        }
        const o = outcome();
        if (o === "pending") {
          channel.send({
            type: "refuse",
            code: RefusalCode.Busy,
            message: "the decision is being written",
          });
        } else {
          channel.send({ type: "resolution", outcome: o });
        }
        this.#channels.delete(channel);
        channel.close();
      },
      () => this.#channels.delete(channel),
    );
  }

  /**
   * A source resumes a committed migration this hypervisor has no session
   * for (it restarted): the record answers. Owned at that epoch: ACTIVATED,
   * and the rest of the protocol is acknowledged; otherwise the epoch is
   * fenced ("abandoned") and the answer is ABANDONED.
   */
  #answerResume(channel: Channel, peer: string, router: string, id: string, epoch: number): void {
    this.track(channel);
    const store = this.options.store;
    channel.start(
      (m) => {
        switch (m.type) {
          case "commit": {
            const r = resumeFromRecord(store.get(router), epoch);
            if (r.answer === "activated") {
              channel.send({ type: "activated" });
              return;
            }
            const fence = r.fence
              ? store.set(router, "abandoned", epoch, { peer, migrationId: id })
              : Promise.resolve();
            fence.then(
              () => {
                channel.send({
                  type: "abandoned",
                  message: `${this.name} holds no copy of ${router} at epoch ${epoch} (it restarted before running it)`,
                });
                channel.close();
              },
              (err) => {
                this.options.onEvent?.({
                  type: "error",
                  where: `fencing ${router}`,
                  error: errorText(err),
                });
                channel.destroy();
              },
            );
            return;
          }
          case "blob":
            channel.send({ type: "applied", kind: m.kind, round: m.round, seq: m.seq });
            return;
          case "link-moved":
            Promise.resolve()
              .then(() => this.options.target.linkRehomed(router, m.ifIndex))
              .then(
                () => channel.send({ type: "link-moved-ack", ifIndex: m.ifIndex }),
                (err) =>
                  channel.send({
                    type: "link-moved-ack",
                    ifIndex: m.ifIndex,
                    error: errorText(err),
                  }),
              );
            return;
          case "done":
            channel.send({ type: "done-ack" });
            channel.close();
            return;
          default:
            channel.destroy();
        }
      },
      () => this.#channels.delete(channel),
    );
  }

  // ---- recovery after a restart ------------------------------------------------------------

  #recover(entry: OwnershipEntry): void {
    const job = this.#settleOutgoing(entry).catch((e) =>
      this.options.onEvent?.({
        type: "error",
        where: `recovering ${entry.router}`,
        error: errorText(e),
      }),
    );
    this.#recoveries.add(job);
    job.finally(() => this.#recoveries.delete(job));
  }

  async #settleOutgoing(entry: OwnershipEntry): Promise<void> {
    const { router, epoch } = entry;
    const peer = entry.peer;
    const id = entry.migrationId === undefined ? undefined : migrationIdFromHex(entry.migrationId);
    if (peer === undefined || id === undefined) {
      throw new Error(`the outgoing entry of ${router} names no peer or migration`);
    }
    const retryMs = this.options.sourceTimeouts?.retryMs ?? 500;
    const migrationId = entry.migrationId!;
    while (!this.#closed) {
      let outcome: "activated" | "abandoned" | undefined;
      try {
        outcome = await this.#commitAgain(peer, router, id, epoch);
      } catch {
        outcome = undefined;
      }
      if (outcome === "activated") {
        await this.options.store.set(router, "gone", epoch, { peer, migrationId });
        this.options.onEvent?.({ type: "recovered", router, peer, epoch, outcome: "moved" });
        return;
      }
      if (outcome === "abandoned") {
        await this.options.store.set(router, "abandoned", epoch, { peer, migrationId });
        this.options.onEvent?.({ type: "recovered", router, peer, epoch, outcome: "lost" });
        return;
      }
      await new Promise((r) => setTimeout(r, retryMs));
    }
  }

  /** Resumes migration `id` after a restart: COMMIT, and DONE once the target runs the router. */
  async #commitAgain(
    peer: string,
    router: string,
    id: Uint8Array,
    epoch: number,
  ): Promise<"activated" | "abandoned" | undefined> {
    const ch = await connectPeer(
      this.options.config,
      peer,
      { purpose: "resume", router, migrationId: id, epoch },
      this.options.channel,
    );
    this.track(ch);
    return new Promise((resolve, reject) => {
      let answer: "activated" | "abandoned" | undefined;
      const timer = setTimeout(() => {
        ch.destroy();
        if (answer === undefined) reject(new Error(`${peer} did not answer COMMIT in time`));
        else resolve(answer);
      }, this.options.config.handshakeTimeoutMs);
      const end = (): void => {
        clearTimeout(timer);
        this.#channels.delete(ch);
        ch.close();
        resolve(answer);
      };
      ch.start(
        (m) => {
          if (m.type === "activated") {
            answer = "activated";
            ch.send({ type: "done" });
          } else if (m.type === "abandoned") {
            answer = "abandoned";
            end();
          } else if (m.type === "done-ack" || m.type === "refuse") {
            end();
          }
        },
        (_reason, detail) => {
          clearTimeout(timer);
          this.#channels.delete(ch);
          if (answer === undefined) reject(new Error(detail));
          else resolve(answer);
        },
      );
      ch.send({ type: "commit" });
    });
  }
}
