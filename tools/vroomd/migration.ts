/**
 * Live migration in vroomd (DESIGN.md, "Migration"; docs/MIGRATION.md): the
 * daemon's `MigrationService` (migration/service.ts) with everything it is
 * given here:
 *
 * - the channel configuration from the file's `migration` section (this
 *   hypervisor's name, listen address, certificate files, peers with a PSK
 *   or a certificate fingerprint);
 * - the ownership record: `owned.json` of the state directory, through
 *   ./migration-state.ts (one record of ownership for the daemon and the
 *   protocol);
 * - the substrate hooks of hypervisor/migration.ts over the daemon's
 *   hypervisor: redirected links travel on a second VXLAN endpoint
 *   (`migration.tunnel.listen`) to the peer's main endpoint; links of
 *   routers moving here are the VXLAN segments of `migration.segments`;
 *   a neighbour's end is re-homed by the `migration.rehome` command, and
 *   without one the redirect stays (shown in the switching rules);
 * - the routers (source side) and standby factory (target side), which the
 *   daemon passes in.
 *
 * It keeps a record of every migration either side (the latest progress and
 * the result), answers the API's views, streams progress to subscribers,
 * and counts migrations started, finished, rolled back, and phase
 * durations for Prometheus. `start` answers once the target accepted the
 * router (PREPARED), so every refusal before that — unknown router or
 * peer, a peer that does not authenticate, no room at the target — is one
 * error and nothing changed.
 */
import { execFile } from "node:child_process";
import { readFile } from "node:fs/promises";
import { Counter, Histogram, type Registry } from "prom-client";
import type { Hypervisor } from "../../hypervisor/hypervisor.ts";
import type { Link } from "../../hypervisor/link.ts";
import { VxlanEndpoint, VxlanLink } from "../../hypervisor/links/vxlan.ts";
import {
  HypervisorSourceSubstrate,
  HypervisorTargetSubstrate,
  type RedirectRequest,
  type RedirectView,
  type SegmentPlan,
  type TargetLinkFactory,
  vxlanSegments,
  vxlanTunnels,
} from "../../hypervisor/migration.ts";
import type { ChannelOptions } from "../../migration/channel.ts";
import { type ChannelConfig, parseChannelConfig } from "../../migration/config.ts";
import { MigrationError, RefusalCode } from "../../migration/errors.ts";
import type { SourceRouters, StandbyRouterFactory } from "../../migration/host.ts";
import type { OwnershipStore } from "../../migration/ownership.ts";
import {
  type MigrationProgress,
  type MigrationSummary,
  PHASE_ORDER,
  Phase,
  type Role,
} from "../../migration/progress.ts";
import { MigrationService, type ServiceEvent } from "../../migration/service.ts";
import { MigrationMode, type SourceTimeouts } from "../../migration/source.ts";
import type { ListenAddress, MigrationSection } from "./config.ts";
import { ApiError, ApiErrorCode } from "./errors.ts";
import type { Logger } from "./logging.ts";

/** What the daemon's routers give migration: the source's routers, the target's standbys. */
export interface MigrationHost {
  routers: SourceRouters;
  standby: StandbyRouterFactory;
}

export interface MigrationResult {
  outcome: MigrationSummary["outcome"];
  reason?: string;
  refusal?: string;
  detail?: string;
  cpFreezeMs: number;
  totalMs: number;
  bytes: number;
  rounds: number;
  dataPlaneRounds: number;
  phaseMs: MigrationSummary["phaseMs"];
  /** Stop-and-copy, at the source: packets for the router dropped while its data plane was halted. */
  haltedPackets?: number;
}

/** One migration as the API shows it. */
export interface MigrationView {
  id: string;
  router: string;
  role: Role;
  /** How the router moves (source side; the target is not told). */
  mode?: MigrationMode;
  peer: string;
  epoch: number;
  phase: Phase;
  state: string;
  bytes: number;
  rounds: number;
  dataPlaneRounds: number;
  linksMoved: number;
  linksTotal: number;
  elapsedMs: number;
  committed: boolean;
  /** ISO time the record was made. */
  startedAt: string;
  finished: boolean;
  note?: string;
  result?: MigrationResult;
}

/** A line of the progress stream. */
export type MigrationEvent =
  | { type: "progress"; migration: MigrationView }
  | { type: "finished"; migration: MigrationView };

export interface DaemonMigrationOptions {
  section: MigrationSection;
  /** This hypervisor's name. */
  name: string;
  hypervisor: Hypervisor;
  /** Where the hypervisor's main VXLAN endpoint listens (opened for arriving routers if need be). */
  vxlan: ListenAddress;
  store: OwnershipStore;
  host: MigrationHost;
  registry: Registry;
  logger: Logger;
  /** Removes a router that moved away (the source's last hook). */
  drop: (router: string) => Promise<void>;
  /** Links prepared for a router that did not arrive were released (the daemon restores its file's links). */
  linksReleased?: () => void;
  channel?: ChannelOptions;
  sourceTimeouts?: Partial<SourceTimeouts>;
}

/** Finished migrations kept for the API. */
const KEEP_FINISHED = 100;

/** The phases before done, each timed. */
const PHASES: readonly Phase[] = PHASE_ORDER.filter((p) => p !== Phase.Done);

interface Rec {
  view: MigrationView;
  listeners: Set<(e: MigrationEvent) => void>;
}

function viewOf(p: MigrationProgress, startedAt: string, mode?: MigrationMode): MigrationView {
  return {
    id: p.migrationId,
    router: p.router,
    role: p.role,
    ...(mode === undefined ? {} : { mode }),
    peer: p.peer,
    epoch: p.epoch,
    phase: p.phase,
    state: p.state,
    bytes: p.bytes,
    rounds: p.rounds,
    dataPlaneRounds: p.dataPlaneRounds,
    linksMoved: p.linksMoved,
    linksTotal: p.linksTotal,
    elapsedMs: Math.round(p.elapsedMs * 10) / 10,
    committed: p.committed,
    startedAt,
    finished: false,
    ...(p.note === undefined ? {} : { note: p.note }),
  };
}

function resultOf(s: MigrationSummary): MigrationResult {
  return {
    outcome: s.outcome,
    ...(s.reason === undefined ? {} : { reason: s.reason }),
    ...(s.refusal === undefined ? {} : { refusal: s.refusal }),
    ...(s.detail === undefined ? {} : { detail: s.detail }),
    cpFreezeMs: s.cpFreezeMs,
    totalMs: s.totalMs,
    bytes: s.bytes,
    rounds: s.rounds,
    dataPlaneRounds: s.dataPlaneRounds,
    phaseMs: s.phaseMs,
  };
}

/** The API's answer to a migration that could not start. */
export function migrationApiError(e: unknown): ApiError {
  if (!(e instanceof MigrationError)) {
    return e instanceof ApiError
      ? e
      : new ApiError(500, ApiErrorCode.Internal, `internal error: ${(e as Error)?.message ?? e}`);
  }
  switch (e.code) {
    case "UnknownRouter":
      return new ApiError(404, "UnknownRouter", e.message);
    case "UnknownPeer":
      return new ApiError(404, ApiErrorCode.UnknownPeer, e.message);
    case "NotOwner":
      return new ApiError(409, ApiErrorCode.NotOwner, e.message);
    case "Busy":
      return new ApiError(409, ApiErrorCode.MigrationBusy, e.message);
    case "AuthFailed":
      return new ApiError(502, ApiErrorCode.PeerAuthFailed, e.message);
    case "Unreachable":
      return new ApiError(502, ApiErrorCode.PeerUnreachable, e.message);
    case "Refused": {
      const noRoom = e.refusal === RefusalCode.Capacity || e.refusal === RefusalCode.Capability;
      return new ApiError(
        409,
        noRoom ? ApiErrorCode.NoRoomAtTarget : ApiErrorCode.MigrationRefused,
        e.message,
        {
          ...(e.refusal === undefined ? {} : { refusal: e.refusal }),
          ...(e.summary === undefined ? {} : { id: e.summary.migrationId }),
        },
      );
    }
    case "RolledBack":
      return new ApiError(409, ApiErrorCode.MigrationRolledBack, e.message, {
        ...(e.reason === undefined ? {} : { reason: e.reason }),
        ...(e.summary === undefined ? {} : { id: e.summary.migrationId }),
      });
    case "Closed":
      return new ApiError(503, ApiErrorCode.ShuttingDown, e.message);
    case "BadArgument":
      return new ApiError(400, ApiErrorCode.BadRequest, e.message);
  }
}

/** Replaces {key} in each argument. */
export function fillCommand(argv: readonly string[], values: Record<string, string>): string[] {
  return argv.map((a) => a.replace(/\{(\w+)\}/g, (m, k: string) => values[k] ?? m));
}

/** The channel configuration for `section`, reading the certificate files; throws on problems. */
export async function channelConfigOf(
  name: string,
  section: MigrationSection,
): Promise<ChannelConfig> {
  let certificate: { cert: string; key: string } | undefined;
  if (section.certificate !== undefined) {
    const read = (path: string) =>
      readFile(path, "utf8").catch((e: NodeJS.ErrnoException) => {
        throw new Error(`migration.certificate: cannot read ${path}: ${e.code ?? e.message}`);
      });
    certificate = {
      cert: await read(section.certificate.cert),
      key: await read(section.certificate.key),
    };
  }
  const parsed = parseChannelConfig({
    name,
    listen: section.listen,
    ...(certificate === undefined ? {} : { certificate }),
    peers: section.peers.map((p) => ({
      name: p.name,
      host: p.address.host,
      port: p.address.port,
      ...(p.psk === undefined ? {} : { psk: p.psk }),
      ...(p.fingerprint === undefined ? {} : { fingerprint: p.fingerprint }),
    })),
    handshakeTimeoutMs: section.handshakeTimeoutMs,
  });
  if (!parsed.ok) throw new Error(`migration: ${parsed.errors.join("; ")}`);
  return parsed.config;
}

export class DaemonMigration {
  readonly service: MigrationService;
  readonly source: HypervisorSourceSubstrate;
  readonly target: HypervisorTargetSubstrate;
  readonly tunnelEndpoint: VxlanEndpoint;
  readonly #records = new Map<string, Rec>();
  /** The mode of each migration started here (the source side), until its record is made. */
  readonly #modes = new Map<string, MigrationMode>();
  /** Stop-and-copy migrations started here: packets the router's halts had dropped before. */
  readonly #haltBase = new Map<string, number>();
  readonly #logger: Logger;

  private constructor(
    service: MigrationService,
    source: HypervisorSourceSubstrate,
    target: HypervisorTargetSubstrate,
    tunnelEndpoint: VxlanEndpoint,
    logger: Logger,
  ) {
    this.service = service;
    this.source = source;
    this.target = target;
    this.tunnelEndpoint = tunnelEndpoint;
    this.#logger = logger;
  }

  /** Opens the tunnel endpoint and starts the service; throws (with nothing left open) on failure. */
  static async start(o: DaemonMigrationOptions): Promise<DaemonMigration> {
    const config = await channelConfigOf(o.name, o.section);
    const hv = o.hypervisor;
    const tunnel = o.section.tunnel.listen;
    let endpoint: VxlanEndpoint;
    try {
      endpoint = new VxlanEndpoint({
        arena: hv.arena,
        address: tunnel.host,
        port: tunnel.port,
        clock: hv.clock,
      });
    } catch (e) {
      throw new Error(
        `migration.tunnel.listen: cannot open ${tunnel.host}:${tunnel.port}: ${(e as Error).message}`,
      );
    }
    const peers = new Map(o.section.peers.map((p) => [p.name, p.vtep]));
    const rehomeArgv = o.section.rehome;
    const source = new HypervisorSourceSubstrate({
      hypervisor: hv,
      tunnel: vxlanTunnels(endpoint, (peer) => {
        const v = peers.get(peer);
        return v === undefined ? undefined : { address: v.host, port: v.port };
      }),
      ...(rehomeArgv === undefined
        ? {}
        : { rehome: (r) => runRehome(rehomeArgv, r, peers.get(r.peer)?.host ?? "", o.logger) }),
      drop: o.drop,
    });
    const segments = o.section.segments;
    const target = new DaemonTargetSubstrate(() => o.linksReleased?.(), {
      hypervisor: hv,
      link: idleLinksFirst(
        hv,
        (router, iface) => segments[router]?.[iface],
        vxlanSegments(
          hv,
          (router, iface) => segments[router]?.[iface],
          () => hv.openVxlanEndpoint({ address: o.vxlan.host, port: o.vxlan.port }),
        ),
      ),
      onRehomed: (router, ifIndex) =>
        o.logger.info({ router, ifIndex }, "migration: a neighbour re-homed its end here"),
    });

    const metrics = migrationMetrics(o.registry);
    let self: DaemonMigration | undefined;
    let service: MigrationService;
    try {
      service = await MigrationService.start({
        config,
        store: o.store,
        routers: o.host.routers,
        standby: o.host.standby,
        source,
        target,
        clock: hv.clock,
        ...(o.channel === undefined ? {} : { channel: o.channel }),
        ...(o.sourceTimeouts === undefined ? {} : { sourceTimeouts: o.sourceTimeouts }),
        onProgress: (p) => {
          if (self !== undefined && self.#progress(p) === "new")
            metrics.started.inc({ role: p.role });
        },
        onFinished: (s) => {
          metrics.finished.inc({ role: s.role, outcome: s.outcome });
          if (s.outcome !== "moved") {
            metrics.rolledBack.inc({ role: s.role, reason: s.reason ?? "unknown" });
          }
          for (const [phase, ms] of Object.entries(s.phaseMs)) {
            if (ms !== undefined) metrics.phase.observe({ role: s.role, phase }, ms / 1000);
          }
          if (s.role === "source" && s.cpFreezeMs > 0) metrics.freeze.observe(s.cpFreezeMs / 1000);
          // The links prepared for a router that arrived are its own from now on.
          if (s.role === "target" && s.outcome === "moved") target.adopt(s.router);
          if (self !== undefined) self.#finished(s);
        },
        onEvent: (e: ServiceEvent) => o.logger.info({ event: e }, `migration: ${e.type}`),
      });
    } catch (e) {
      endpoint.close();
      throw e;
    }
    self = new DaemonMigration(service, source, target, endpoint, o.logger);
    return self;
  }

  get address(): string {
    const a = this.service.address;
    return a.family === "IPv6" ? `[${a.address}]:${a.port}` : `${a.address}:${a.port}`;
  }

  /**
   * Starts moving `router` to `peer`, live (the default) or by
   * stop-and-copy; answers once the target accepted it (PREPARED), or
   * rejects with the ApiError of the refusal (nothing changed).
   */
  start(
    router: string,
    peer: string,
    mode: MigrationMode = MigrationMode.Live,
  ): Promise<MigrationView> {
    return new Promise((resolve, reject) => {
      let id: string | undefined;
      let answered = false;
      const answer = (): void => {
        if (answered || id === undefined) return;
        answered = true;
        resolve(this.get(id));
      };
      this.service
        .migrate(router, peer, {
          mode,
          onProgress: (p) => {
            if (id === undefined) {
              this.#modes.set(p.migrationId, mode);
              if (mode === MigrationMode.StopAndCopy)
                this.#haltBase.set(p.migrationId, this.source.haltDrops(router).packets);
            }
            id = p.migrationId;
            if (p.phase !== "prepare" && p.phase !== "rolled-back") answer();
          },
        })
        .then(
          () => answer(),
          (e) => {
            if (answered) {
              this.#logger.warn({ router, peer, err: e }, "migration did not complete");
              return;
            }
            answered = true;
            reject(migrationApiError(e));
          },
        );
    });
  }

  list(): MigrationView[] {
    return [...this.#records.values()]
      .map((r) => r.view)
      .sort((a, b) => a.startedAt.localeCompare(b.startedAt) || a.id.localeCompare(b.id));
  }

  get(id: string): MigrationView {
    const r = this.#records.get(id);
    if (r === undefined) {
      throw new ApiError(
        404,
        ApiErrorCode.UnknownMigration,
        `no migration ${id} on this hypervisor`,
      );
    }
    return r.view;
  }

  /** Calls `fn` on each event of migration `id` until the answer is called; throws on an unknown id. */
  subscribe(id: string, fn: (e: MigrationEvent) => void): () => void {
    const r = this.#records.get(id);
    if (r === undefined) this.get(id);
    r!.listeners.add(fn);
    return () => r!.listeners.delete(fn);
  }

  redirects(): RedirectView[] {
    return this.source.redirects();
  }

  async close(): Promise<void> {
    try {
      await this.service.close();
    } finally {
      this.tunnelEndpoint.close();
    }
  }

  #progress(p: MigrationProgress): "new" | "known" {
    const r = this.#records.get(p.migrationId);
    if (r === undefined) {
      const mode = this.#modes.get(p.migrationId);
      this.#modes.delete(p.migrationId);
      const rec: Rec = { view: viewOf(p, new Date().toISOString(), mode), listeners: new Set() };
      this.#records.set(p.migrationId, rec);
      this.#emit(rec, { type: "progress", migration: rec.view });
      return "new";
    }
    if (r.view.finished) return "known";
    r.view = viewOf(p, r.view.startedAt, r.view.mode);
    this.#emit(r, { type: "progress", migration: r.view });
    return "known";
  }

  #finished(s: MigrationSummary): void {
    let r = this.#records.get(s.migrationId);
    if (r === undefined) {
      r = {
        view: {
          id: s.migrationId,
          router: s.router,
          role: s.role,
          peer: s.peer,
          epoch: s.epoch,
          phase: "prepare",
          state: "ended",
          bytes: 0,
          rounds: 0,
          dataPlaneRounds: 0,
          linksMoved: 0,
          linksTotal: 0,
          elapsedMs: 0,
          committed: false,
          startedAt: new Date().toISOString(),
          finished: false,
        },
        listeners: new Set(),
      };
      this.#records.set(s.migrationId, r);
    }
    r.view = {
      ...r.view,
      phase: s.outcome === "moved" ? "done" : "rolled-back",
      epoch: s.epoch,
      bytes: s.bytes,
      rounds: s.rounds,
      dataPlaneRounds: s.dataPlaneRounds,
      elapsedMs: Math.round(s.totalMs * 10) / 10,
      finished: true,
      result: resultOf(s),
    };
    const base = this.#haltBase.get(s.migrationId);
    if (base !== undefined && s.role === "source") {
      this.#haltBase.delete(s.migrationId);
      r.view.result!.haltedPackets = this.source.haltDrops(s.router).packets - base;
    }
    this.#emit(r, { type: "finished", migration: r.view });
    r.listeners.clear();
    this.#logger.info(
      { migration: s.migrationId, router: s.router, role: s.role, peer: s.peer, ...resultOf(s) },
      `migration ${s.outcome}`,
    );
    const finished = [...this.#records.values()].filter((x) => x.view.finished);
    for (const x of finished.slice(0, Math.max(0, finished.length - KEEP_FINISHED))) {
      this.#records.delete(x.view.id);
    }
  }

  #emit(r: Rec, e: MigrationEvent): void {
    for (const fn of r.listeners) {
      try {
        fn(e);
      } catch (err) {
        this.#logger.error({ err }, "migration progress listener failed");
      }
    }
  }
}

function migrationMetrics(registry: Registry) {
  const registers = [registry];
  return {
    started: new Counter({
      name: "vroom_migrations_started_total",
      help: "Migrations started, by this hypervisor's role (source or target)",
      labelNames: ["role"],
      registers,
    }),
    finished: new Counter({
      name: "vroom_migrations_finished_total",
      help: "Migrations ended, by role and outcome (moved, rolled-back, reclaimed)",
      labelNames: ["role", "outcome"],
      registers,
    }),
    rolledBack: new Counter({
      name: "vroom_migrations_rolled_back_total",
      help: "Migrations that did not move the router, by role and reason",
      labelNames: ["role", "reason"],
      registers,
    }),
    phase: new Histogram({
      name: "vroom_migration_phase_seconds",
      help: `Time spent in each migration phase (${PHASES.join(", ")})`,
      labelNames: ["role", "phase"],
      buckets: [0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 30, 120],
      registers,
    }),
    freeze: new Histogram({
      name: "vroom_migration_freeze_seconds",
      help: "Control-plane freeze of each migration (source: freeze to ACTIVATED)",
      buckets: [0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.5, 1],
      registers,
    }),
  };
}

/** The target substrate, telling the daemon when prepared links were released (a rollback). */
class DaemonTargetSubstrate extends HypervisorTargetSubstrate {
  constructor(
    private readonly released: () => void,
    options: ConstructorParameters<typeof HypervisorTargetSubstrate>[0],
  ) {
    super(options);
  }

  override async releaseLinks(router: string): Promise<void> {
    await super.releaseLinks(router);
    this.released();
  }
}

/**
 * A link on the hypervisor's main VXLAN endpoint with the segment's VNI,
 * that no router is bound to and no switching rule uses: what a router
 * that left this host leaves behind (its links stay, DESIGN.md step 6).
 */
export function idleSegmentLink(hv: Hypervisor, vni: number): VxlanLink | undefined {
  const main = hv.vxlanEndpoint;
  const link: Link | undefined = main?.get(vni);
  if (!(link instanceof VxlanLink) || hv.links.get(link.name) !== link) return undefined;
  if (hv.binding.byLink(link) !== undefined || hv.switching.target(link) !== undefined)
    return undefined;
  if (hv.switching.list().some((r) => r.to === link)) return undefined;
  return link;
}

/**
 * Target links that take the place of an idle link of the same VNI (see
 * `idleSegmentLink`) under that link's name: the idle link goes and a
 * prepared link (not learning, flooding to the segment's VTEPs) comes in
 * its stead, so a router coming back to a host it left gets its old link
 * names back. Without such a link, `make` builds the link.
 */
export function idleLinksFirst(
  hv: Hypervisor,
  plan: (router: string, iface: string) => SegmentPlan | undefined,
  make: TargetLinkFactory,
): TargetLinkFactory {
  return (request) => {
    const seg = plan(request.router, request.interface.name);
    const idle =
      seg === undefined || request.interface.layer !== "l2"
        ? undefined
        : idleSegmentLink(hv, seg.vni);
    if (seg === undefined || idle === undefined) return make(request);
    hv.removeLink(idle.name, true);
    return idle.endpoint.link({
      name: idle.name,
      vni: seg.vni,
      remotes: seg.remotes,
      ...(seg.remotePort === undefined ? {} : { remotePort: seg.remotePort }),
      learning: false,
    });
  };
}

/** Runs the re-home command for one link; true once it exits 0, else throws with its stderr. */
function runRehome(
  argv: readonly string[],
  r: RedirectRequest,
  vtep: string,
  logger: Logger,
): Promise<boolean> {
  const link = r.link as { vni?: number; remotes?: () => string[] };
  const values: Record<string, string> = {
    router: r.router,
    interface: String(r.ifIndex),
    link: r.link.name,
    vni: link.vni === undefined ? "" : String(link.vni),
    peer: r.peer,
    vtep,
    remotes: link.remotes?.().join(",") ?? "",
  };
  const [cmd, ...args] = fillCommand(argv, values);
  return new Promise((resolve, reject) => {
    execFile(cmd, args, { timeout: 30_000 }, (err, _out, stderr) => {
      if (err === null) {
        logger.info({ ...values }, "migration: neighbour re-homed");
        resolve(true);
      } else {
        reject(new Error(`re-home command ${cmd} failed: ${stderr.trim() || err.message}`));
      }
    });
  });
}
