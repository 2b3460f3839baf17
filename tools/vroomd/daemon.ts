/**
 * The daemon (DESIGN.md: one hypervisor process per host): a `Hypervisor`
 * run from a configuration file and a state directory, changed at run time
 * through the management API and by reloads.
 *
 * Start-up is a reload from the empty configuration: the links, routers,
 * bindings and switching rules of the file, then the routers created
 * through the API that the state directory says this hypervisor owns, all
 * in one transaction (./reload.ts) — if any step fails, everything done is
 * undone and the daemon does not start, so nothing runs half-configured.
 * A reload applies only the difference between the running configuration
 * and the new file, in one transaction too: a new file that does not parse
 * or check, that changes a setting fixed for the process's life, or whose
 * changes the hypervisor refuses, is refused whole (each problem with
 * file:line) and the old configuration keeps running untouched.
 *
 * Routers come from the configuration file (origin "config": changed by
 * editing the file and reloading) or from the API (origin "api": stored in
 * the state directory, brought back on restart). Bindings and switching
 * rules may also be changed through the API; changes to an API router's
 * bindings are stored with it, the others last until the next restart (or
 * until the file changes the same item). Every operation that changes
 * state is serialised, so API requests and reloads never interleave.
 *
 * BGP (./bgp-control.ts): a router's speaker starts when the change that
 * placed it commits; a router that goes — removed or rebuilt by a reload,
 * deleted through the API — first sends its peers a Cease NOTIFICATION and
 * a FIN through the links it was bound to, when the change commits (a
 * refused change leaves every session as it was). The speakers'
 * events go to the log (sessions up and down at info, the rest at debug).
 * The API shows each router's neighbours and routes, and asks for a route
 * refresh or takes a neighbour administratively down or up (until restart).
 *
 * Live migration (./migration.ts, when the file has a `migration` section):
 * the migration service starts once the routers are placed and stops
 * first at shutdown; `owned.json` (./migration-state.ts) is the one record
 * of which routers this hypervisor owns, at which epoch, for the daemon
 * and the migration protocol alike. A router that moved away is dropped
 * like a deleted one (its stored file goes, its entry says "gone"), and a
 * router of the file that is "gone" is not started. Unless the caller
 * passes its own host, the daemon's `VirtualRouter`s are what moves
 * (./migration-host.ts): a router that arrives is placed on the links
 * prepared for it and recorded as an API router (stored), or as the
 * file's router again when it comes back with the file's section.
 *
 * `stop()` first shuts every router's BGP down (Cease to every peer) and
 * waits, the hypervisor still running, until their TCP connections have
 * closed or SHUTDOWN_GRACE_MS has passed; then it closes the listeners
 * (removing the socket), removes the switching rules, closes every router
 * and every link (which removes the devices the daemon created), and
 * releases the state directory.
 */
import { readFile, stat } from "node:fs/promises";
import type { Family } from "../../fib/types.ts";
import { Hypervisor, type HypervisorOptions } from "../../hypervisor/hypervisor.ts";
import { DeviceLink } from "../../hypervisor/links/device.ts";
import { MemoryLink, memoryLinkPair } from "../../hypervisor/links/memory.ts";
import { VxlanLink } from "../../hypervisor/links/vxlan.ts";
import type { ChannelOptions } from "../../migration/channel.ts";
import { MigrationError, RefusalCode } from "../../migration/errors.ts";
import { OwnershipStore } from "../../migration/ownership.ts";
import type { MigrationMode, SourceTimeouts } from "../../migration/source.ts";
import type { Neighbor } from "../../router/bgp/session.ts";
import type { BgpLogEvent, BgpSpeaker } from "../../router/bgp/speaker.ts";
import type { StandbyResult } from "../../router/migrate/standby.ts";
import { VirtualRouter } from "../../router/router.ts";
import { drainConnections } from "./bgp-control.ts";
import {
  type BgpNeighborsView,
  type BgpNeighborView,
  type BgpRoutesView,
  type BgpSummaryView,
  bgpNeighborViews,
  bgpRouteViews,
  bgpSummary,
  type FamilyName,
  familyOfName,
  findNeighbor,
  type NeighborRuntime,
  nameOfFamily,
} from "./bgp-views.ts";
import {
  type BindingConfig,
  type ConfigError,
  type ConfigIssue,
  checkRouterSection,
  type DaemonConfig,
  type DaemonRouterConfig,
  type LinkConfig,
  type LogFormat,
  type LogLevel,
  loadConfigFile,
} from "./config.ts";
import { ApiError, ApiErrorCode } from "./errors.ts";
import { ApiServer, MetricsServer } from "./http.ts";
import type { Logger } from "./logging.ts";
import { silentLogger } from "./logging.ts";
import { createMetrics } from "./metrics.ts";
import {
  DaemonMigration,
  type MigrationEvent,
  type MigrationHost,
  type MigrationView,
} from "./migration.ts";
import { type RouterMigrationHost, routerMigrationHost } from "./migration-host.ts";
import { OwnedFileBackend } from "./migration-state.ts";
import {
  type ConfigDiff,
  describeDiff,
  diffConfigs,
  diffIsEmpty,
  emptyConfig,
  StepError,
  Transaction,
} from "./reload.ts";
import { type RouterOrigin, StateDir, type StoredLink, type StoredRouter } from "./state.ts";
import { VERSION } from "./version.ts";
import {
  type FibEntryView,
  fibViews,
  type InterfaceView,
  interfaceViews,
  type LinkView,
  linkViews,
  type NeighborView,
  neighborViews,
  type RouteView,
  routeViews,
  staticRouteText,
} from "./views.ts";

export { VERSION };

/** Shortest API token accepted (characters). */
export const MIN_TOKEN_LENGTH = 16;

export interface DaemonOptions {
  config: DaemonConfig;
  /** The file reloads read; default `config.file`. */
  configFile?: string;
  logger?: Logger;
  /** Hypervisor options (a test's clock); the arena size comes from the configuration. */
  hypervisor?: Omit<HypervisorOptions, "arenaBytes" | "onError">;
  /** Open the API socket, TCP and metrics listeners (default true). */
  listen?: boolean;
  /** Command-line settings that win over every file read (at start and on reload). */
  overrides?: ConfigOverrides;
  /** The routers migration moves out and the standbys it builds (default: none, see `noMigrationHost`). */
  migrationHost?: MigrationHost;
  /** Channel options for the migration service (tests: small chunks). */
  migrationChannel?: ChannelOptions;
  migrationTimeouts?: Partial<SourceTimeouts>;
}

/**
 * A host without migratable routers: no router of this daemon can leave
 * and none can arrive (the target refuses with Capability). Daemons built
 * with the router's migration support pass their own `MigrationHost`.
 */
export const noMigrationHost: MigrationHost = {
  routers: { lookup: () => undefined },
  standby: {
    check: () => ({
      code: RefusalCode.Capability,
      message: "this hypervisor cannot build standby routers",
    }),
    create: () => {
      throw new MigrationError("BadArgument", "this hypervisor cannot build standby routers");
    },
  },
};

export interface ConfigOverrides {
  logLevel?: LogLevel;
  logFormat?: LogFormat;
  socket?: string;
  stateDir?: string;
}

/** The configuration with the command line's settings put over the file's. */
export function applyOverrides(config: DaemonConfig, o: ConfigOverrides = {}): DaemonConfig {
  const h = config.hypervisor;
  const out: DaemonConfig = {
    ...config,
    hypervisor: {
      ...h,
      stateDir: o.stateDir ?? h.stateDir,
      api: { ...h.api, socket: o.socket ?? h.api.socket },
      log: { level: o.logLevel ?? h.log.level, format: o.logFormat ?? h.log.format },
    },
  };
  if (config.locate !== undefined) {
    Object.defineProperty(out, "locate", { value: config.locate, enumerable: false });
  }
  return out;
}

interface RouterRecord {
  name: string;
  origin: RouterOrigin;
  config: DaemonRouterConfig;
  router: VirtualRouter;
  since: string;
  /** The section as created (API routers: what is stored, interfaces carry `link`). */
  stored?: StoredRouter;
  /** Per BGP neighbour: what the daemon keeps that the speaker does not. */
  bgp: Map<string, NeighborRuntime>;
}

export interface ReloadReport {
  ok: boolean;
  /** ISO time. */
  at: string;
  file: string;
  /** One line per change applied (none when refused). */
  changes: string[];
  /** Why the reload was refused: "file:line:col: path: message" lines or step failures. */
  errors: string[];
}

export interface StatusView {
  hypervisor: string;
  version: string;
  pid: number;
  startedAt: string;
  uptimeSeconds: number;
  configFile: string;
  stateDir: string;
  api: { socket: string; tcp?: string };
  metrics?: string;
  counts: { routers: number; links: number; bindings: number; switchingRules: number };
  lastReload: ReloadReport | null;
}

export interface RouterSummary {
  name: string;
  origin: RouterOrigin;
  interfaces: number;
  bound: number;
  fib: { ipv4: number; ipv6: number };
  rxPackets: number;
  txPackets: number;
  drops: number;
}

export interface RouterDetail extends RouterSummary {
  since: string;
  /** The router section (interfaces with their configured `link`). */
  config: Record<string, unknown>;
  interfaceList: InterfaceView[];
  counters: Record<string, unknown>;
  /** What the hypervisor's packet path saw of the router. */
  path: Record<string, unknown>;
  rib: { prefixes: number };
  inactiveStatics: { route: string; reason: string }[];
  /** The router's BGP speaker at a glance, or null without a `bgp` section. */
  bgp: BgpSummaryView | null;
}

export interface SwitchRuleView {
  from: string;
  to: string;
  origin: RouterOrigin;
}

export class DaemonStartError extends Error {
  constructor(
    message: string,
    readonly errors: string[] = [],
  ) {
    super(message);
    this.name = "DaemonStartError";
  }
}

export class Daemon {
  readonly hypervisor: Hypervisor;
  readonly logger: Logger;
  readonly state: StateDir;
  readonly startedAt = new Date();
  readonly configFile: string;
  readonly metrics;
  /** The running configuration (the file as last applied). */
  config: DaemonConfig;
  lastReload: ReloadReport | null = null;
  readonly #routers = new Map<string, RouterRecord>();
  readonly #peers = new Map<string, MemoryLink>();
  /** Links named as the source of a switching rule added through the API. */
  readonly #apiRules = new Set<string>();
  readonly #reloads = { ok: 0, failed: 0, lastSuccessSeconds: 0, lastOk: true };
  readonly #api: ApiServer;
  #metricsServer: MetricsServer | undefined;
  #ops: Promise<unknown> = Promise.resolve();
  #stopping = false;
  #stopped: Promise<void> | undefined;
  readonly #overrides: ConfigOverrides;
  readonly #options: DaemonOptions;
  /** The ownership record (owned.json), set at start. */
  ownership!: OwnershipStore;
  #ownedFile!: OwnedFileBackend;
  /** The host over this daemon's routers, when the migration service uses it. */
  #migrationHost: RouterMigrationHost | undefined;
  /** Arriving routers stored before the record that made them owned here (see #storeArrivals). */
  readonly #arrivalsStored = new Map<string, StoredRouter>();
  /** Arriving routers stored ahead of the freeze, from their control image (see #storeEarly). */
  readonly #earlyStores = new Map<string, Promise<StoredRouter | undefined>>();
  /** Routers taken out since the last ownership write (their entries become "abandoned"). */
  readonly #removed = new Set<string>();
  /** The migration service, when configured. */
  migration: DaemonMigration | undefined;

  private constructor(options: DaemonOptions, logger: Logger) {
    this.#options = options;
    this.#overrides = options.overrides ?? {};
    this.config = applyOverrides(options.config, this.#overrides);
    this.configFile = options.configFile ?? options.config.file;
    this.logger = logger;
    this.hypervisor = new Hypervisor({
      ...options.hypervisor,
      arenaBytes: options.config.hypervisor.arenaMiB * 2 ** 20,
      onError: (error, where) => this.logger.error({ err: error, where }, "router error"),
    });
    this.state = new StateDir(this.config.hypervisor.stateDir);
    this.metrics = createMetrics({
      hypervisorName: options.config.hypervisor.name,
      version: VERSION,
      hypervisor: this.hypervisor,
      routers: () => this.#routers.values(),
      linkKind: (name) => this.#linkKind(name),
      reloads: () => this.#reloads,
    });
    this.#api = new ApiServer(this, logger);
  }

  /**
   * Starts a daemon: state directory, the configuration's links, routers,
   * bindings and rules, the stored API routers, then the listeners. Throws
   * DaemonStartError (and leaves nothing running) when any step fails.
   */
  static async start(options: DaemonOptions): Promise<Daemon> {
    const logger =
      options.logger?.child({}) ??
      silentLogger().child({ hypervisor: options.config.hypervisor.name });
    const d = new Daemon(options, logger);
    try {
      await d.#start(options.listen ?? true);
    } catch (e) {
      await d.#teardown().catch(() => {});
      if (e instanceof DaemonStartError) throw e;
      throw new DaemonStartError(e instanceof Error ? e.message : String(e));
    }
    return d;
  }

  async #start(listen: boolean): Promise<void> {
    const cfg = this.config;
    // Before anything is created: no other daemon may answer on the socket.
    if (listen) await this.#api.checkSocketFree(cfg.hypervisor.api.socket);
    await this.state.open();
    this.#ownedFile = new OwnedFileBackend(this.state, cfg.hypervisor.name);
    this.#ownedFile.beforeWrite = (owned) => this.#storeArrivals(owned);
    this.ownership = await OwnershipStore.load(this.#ownedFile, cfg.hypervisor.name);
    const meta = this.#ownedFile.meta;
    const stored = await this.state.readRouters();
    const ownedApi = new Map(
      this.ownership
        .owned()
        .filter((name) => meta.get(name)?.origin === "api")
        .map((name) => [name, { name, since: meta.get(name)!.since }]),
    );
    const configNames = new Set(cfg.routers.map((r) => r.name));
    const restore: { stored: StoredRouter; config: DaemonRouterConfig; since: string }[] = [];
    for (const s of stored) {
      const own = ownedApi.get(s.name);
      if (own === undefined) {
        this.logger.warn(
          { router: s.name, file: this.state.routerFile(s.name) },
          "stored router not owned by this hypervisor: not started",
        );
        continue;
      }
      if (configNames.has(s.name)) {
        throw new DaemonStartError(
          `router ${s.name} is both in ${cfg.file} and in ${this.state.routerFile(s.name)}: remove one`,
        );
      }
      const checked = checkRouterSection(s.router);
      if (!checked.ok) {
        throw new DaemonStartError(
          `${this.state.routerFile(s.name)}: ${checked.issues.map((i) => `${i.path.join(".")}: ${i.message}`).join("; ")}`,
        );
      }
      restore.push({ stored: s, config: checked.router, since: own.since });
    }
    for (const name of ownedApi.keys()) {
      if (!stored.some((s) => s.name === name)) {
        this.logger.warn({ router: name }, "owned router has no stored configuration: not started");
      }
    }
    const token = await this.#readToken(cfg);

    // A router of the file that moved to another hypervisor stays there.
    const away = cfg.routers.filter((r) => this.ownership.get(r.name)?.role === "gone");
    for (const r of away) {
      this.logger.warn(
        { router: r.name, to: this.ownership.get(r.name)?.peer },
        "router of the file moved to another hypervisor: not started here",
      );
    }
    const here: DaemonConfig = { ...cfg, routers: cfg.routers.filter((r) => !away.includes(r)) };
    const tx = new Transaction();
    const diff = diffConfigs(emptyConfig(cfg), here, { vxlanOpen: false });
    const sinceOf = new Map([...meta].map(([name, m]) => [name, m.since]));
    try {
      this.#apply(tx, diff, emptyConfig(cfg), here, sinceOf);
      for (const r of restore) {
        for (const l of r.stored.links ?? []) this.#restoreArrivedLink(tx, l, here);
        this.#placeRouter(tx, r.config, "api", r.since, r.stored);
      }
    } catch (e) {
      const failures = tx.rollback();
      throw new DaemonStartError(this.#stepMessage(e, cfg), failures);
    }
    tx.commit();
    this.#reloads.lastSuccessSeconds = Date.now() / 1000;
    await this.#saveOwnership();
    if (cfg.migration !== undefined) {
      this.migration = await DaemonMigration.start({
        section: cfg.migration,
        name: cfg.hypervisor.name,
        hypervisor: this.hypervisor,
        vxlan: cfg.vxlan.listen,
        store: this.ownership,
        host: this.#options.migrationHost ?? this.#routerMigrationHost(),
        registry: this.metrics,
        logger: this.logger,
        drop: (router) => this.#dropMoved(router),
        linksReleased: () => this.#restoreFileLinks(),
        ...(this.#options.migrationChannel === undefined
          ? {}
          : { channel: this.#options.migrationChannel }),
        ...(this.#options.migrationTimeouts === undefined
          ? {}
          : { sourceTimeouts: this.#options.migrationTimeouts }),
      });
    }
    if (listen) {
      await this.#api.listenUnix(cfg.hypervisor.api.socket);
      if (cfg.hypervisor.api.tcp !== undefined && token !== undefined) {
        await this.#api.listenTcp(cfg.hypervisor.api.tcp.listen, token);
      }
      if (cfg.hypervisor.metrics !== undefined) {
        this.#metricsServer = new MetricsServer(this.metrics, this.logger);
        await this.#metricsServer.listen(cfg.hypervisor.metrics.listen);
      }
    }
    this.logger.info(
      {
        config: cfg.file,
        routers: this.#routers.size,
        links: this.hypervisor.links.size,
        socket: listen ? cfg.hypervisor.api.socket : undefined,
        tcp: this.#api.tcpAddress,
        metrics: this.#metricsServer?.address,
        migration: this.migration?.address,
      },
      "vroomd started",
    );
  }

  // ---- addresses -----------------------------------------------------------------

  get socketPath(): string {
    return this.config.hypervisor.api.socket;
  }

  /** "host:port" of the TCP API listener, when open. */
  get tcpAddress(): string | undefined {
    return this.#api.tcpAddress;
  }

  get metricsAddress(): string | undefined {
    return this.#metricsServer?.address;
  }

  /** The far end of a `kind: memory` link (tests drive it). */
  memoryPeer(link: string): MemoryLink | undefined {
    return this.#peers.get(link);
  }

  /** A router by name (tests and in-process tools). */
  router(name: string): VirtualRouter | undefined {
    return this.#routers.get(name)?.router;
  }

  // ---- reload ----------------------------------------------------------------------

  /**
   * Applies a new configuration (read from the configuration file when not
   * given); answers what changed, or why it was refused.
   */
  reload(next?: DaemonConfig): Promise<ReloadReport> {
    return this.#serial(() => this.#reload(next));
  }

  async #reload(given?: DaemonConfig): Promise<ReloadReport> {
    const at = new Date().toISOString();
    const file = given?.file ?? this.configFile;
    const refuse = (errors: string[]): ReloadReport => {
      const report: ReloadReport = { ok: false, at, file, changes: [], errors };
      this.#reloads.failed++;
      this.#reloads.lastOk = false;
      this.lastReload = report;
      this.logger.error({ file, errors }, "reload refused; the running configuration is unchanged");
      for (const e of errors) this.logger.error(e);
      return report;
    };
    if (this.#stopping) return refuse(["vroomd is shutting down"]);
    let next = given;
    if (next === undefined) {
      const loaded = await loadConfigFile(this.configFile);
      if (!loaded.ok) return refuse(loaded.errors.map(String));
      next = applyOverrides(loaded.config, this.#overrides);
    }
    const located = (issue: ConfigIssue): string =>
      next.locate?.(issue).toString() ?? `${file}: ${issue.path.join(".")}: ${issue.message}`;
    // Routers of the file that moved to another hypervisor stay there: a
    // reload neither rebuilds nor starts them here (never on two hosts).
    const here = (c: DaemonConfig): DaemonConfig => ({
      ...c,
      routers: c.routers.filter((r) => this.ownership.get(r.name)?.role !== "gone"),
    });
    for (const r of next.routers.filter((r) => !here(next).routers.includes(r))) {
      this.logger.warn(
        { router: r.name, to: this.ownership.get(r.name)?.peer },
        "router of the file moved to another hypervisor: not started here",
      );
    }
    const old = here(this.config);
    const diff = diffConfigs(old, here(next), {
      vxlanOpen: this.hypervisor.vxlanEndpoint !== undefined,
    });
    const problems: string[] = diff.restart.map(located);
    if (JSON.stringify(old.migration) !== JSON.stringify(next.migration)) {
      problems.push(
        located({
          path: ["migration"],
          message: "the migration section is fixed for the daemon's life: restart to change it",
        }),
      );
    }
    next.routers.forEach((r, i) => {
      const rec = this.#routers.get(r.name);
      if (rec !== undefined && rec.origin === "api") {
        problems.push(
          located({
            path: ["routers", i, "name"],
            message: `router ${r.name} exists, created through the API: delete it first`,
          }),
        );
      }
    });
    if (problems.length > 0) return refuse(problems);
    let token: string | undefined;
    if (diff.tokenFileChanged || next.hypervisor.api.tcp !== undefined) {
      try {
        token = await this.#readToken(next);
      } catch (e) {
        return refuse([e instanceof Error ? e.message : String(e)]);
      }
    }
    if (this.#stopping) return refuse(["vroomd is shutting down"]);
    const tx = new Transaction();
    try {
      const sinceOf = new Map([...this.#routers.values()].map((r) => [r.name, r.since]));
      this.#apply(tx, diff, old, here(next), sinceOf);
    } catch (e) {
      const failures = tx.rollback();
      for (const f of failures) this.logger.error(f);
      return refuse([this.#stepMessage(e, next)]);
    }
    for (const f of tx.commit()) this.logger.warn(f);
    this.config = next;
    if (diff.logLevel !== undefined) this.logger.level = diff.logLevel;
    if (token !== undefined) this.#api.setToken(token);
    const changes = describeDiff(diff);
    const report: ReloadReport = { ok: true, at, file, changes, errors: [] };
    this.#reloads.ok++;
    this.#reloads.lastOk = true;
    this.#reloads.lastSuccessSeconds = Date.now() / 1000;
    this.lastReload = report;
    if (diffIsEmpty(diff)) this.logger.info({ file }, "reload: nothing changed");
    else {
      this.logger.info({ file, changes }, "reload applied");
      await this.#saveOwnership();
    }
    return report;
  }

  #stepMessage(e: unknown, cfg: DaemonConfig): string {
    if (e instanceof StepError && e.path !== undefined && cfg.locate !== undefined) {
      const err: ConfigError = cfg.locate({ path: e.path, message: e.message });
      return err.toString();
    }
    return e instanceof Error ? e.message : String(e);
  }

  /** The changes of `diff`, as steps of `tx` (see the module comment of reload.ts). */
  #apply(
    tx: Transaction,
    diff: ConfigDiff,
    old: DaemonConfig,
    next: DaemonConfig,
    sinceOf: Map<string, string>,
  ): void {
    const hv = this.hypervisor;
    const replaced = new Set(diff.links.replaced.map((r) => r.next.name));
    const routerIndex = new Map(next.routers.map((r, i) => [r.name, i]));
    const ruleIndex = (from: string) => next.switching.findIndex((s) => s.from === from);

    // 1. switching rules that go, and rules kept that touch a replaced link
    const readd = old.switching.filter(
      (s) =>
        (replaced.has(s.from) || replaced.has(s.to)) &&
        next.switching.some((n) => n.from === s.from && n.to === s.to),
    );
    for (const rule of [...diff.switching.removed, ...readd]) {
      if (hv.switching.target(hv.links.require(rule.from))?.name !== rule.to) continue;
      tx.step(
        `remove switching ${rule.from} -> ${rule.to}`,
        () => hv.removeSwitch(rule.from),
        () => hv.addSwitch(rule.from, rule.to),
      );
    }

    // 2. bindings of kept routers that change, or whose link is replaced
    const rebindLater: { router: string; b: BindingConfig }[] = [];
    for (const { next: r } of diff.routers.kept) {
      for (const b of r.bindings) {
        if (
          replaced.has(b.link) &&
          !diff.bindings.some((c) => c.router === r.name && c.ifIndex === b.ifIndex)
        ) {
          rebindLater.push({ router: r.name, b });
        }
      }
    }
    const unbindFirst = [
      ...diff.bindings.map((c) => ({ router: c.router, ifIndex: c.ifIndex, iface: c.interface })),
      ...rebindLater.map(({ router, b }) => ({ router, ifIndex: b.ifIndex, iface: b.interface })),
    ];
    for (const u of unbindFirst) {
      const current = hv.binding.lookup(u.router, u.ifIndex);
      if (current === undefined) continue;
      tx.step(
        `unbind ${u.router}/${u.iface}`,
        () => hv.unbind(u.router, u.ifIndex),
        () => hv.bind(u.router, u.ifIndex, current.name),
      );
    }

    // 3. routers removed or rebuilt
    for (const r of diff.routers.removed) {
      this.#unplaceRouter(tx, r.name, "router removed from the configuration");
    }
    for (const { old: r } of diff.routers.rebuilt) {
      this.#unplaceRouter(tx, r.name, "router reconfigured");
    }

    // 4. links removed or replaced. A removed link stays open until commit
    // (so a rollback puts the very same link back), unless a link added now
    // needs its device or VNI: then it is closed at once (and recreated
    // from its configuration on rollback), like a replaced link.
    const claimed = new Set(
      [...diff.links.added, ...diff.links.replaced.map((r) => r.next)].map(resourceOf),
    );
    for (const l of diff.links.removed) {
      if (claimed.has(resourceOf(l))) {
        tx.step(
          `remove link ${l.name}`,
          () => this.#destroyLink(l.name),
          () => this.#createLink(l, old),
        );
        continue;
      }
      const link = hv.links.require(l.name);
      const peer = this.#peers.get(l.name);
      tx.step(
        `remove link ${l.name}`,
        () => {
          hv.removeLink(l.name, false);
          this.#peers.delete(l.name);
        },
        () => {
          hv.addLink(link);
          if (peer !== undefined) this.#peers.set(l.name, peer);
        },
      );
      tx.atCommit(() => {
        link.close();
        peer?.close();
      });
    }
    for (const { old: o, next: n } of diff.links.replaced) {
      const at = ["links", next.links.indexOf(n)];
      tx.step(
        `remove link ${o.name} (to replace it)`,
        () => this.#destroyLink(o.name),
        () => this.#createLink(o, next),
        at,
      );
    }

    // 5. links added or replaced
    for (const l of [...diff.links.replaced.map((x) => x.next), ...diff.links.added]) {
      tx.step(
        `create link ${l.name} (${l.kind})`,
        () => this.#createLink(l, next),
        () => this.#destroyLink(l.name),
        ["links", next.links.indexOf(l)],
      );
    }

    // 6. routers added or rebuilt, with their bindings
    for (const r of [...diff.routers.rebuilt.map((x) => x.next), ...diff.routers.added]) {
      const since = sinceOf.get(r.name) ?? new Date().toISOString();
      this.#placeRouter(tx, r, "config", since, undefined, routerIndex.get(r.name));
    }

    // 7. bindings of kept routers
    const bindNow = [
      ...diff.bindings
        .filter((c) => c.next !== undefined)
        .map((c) => ({ router: c.router, ifIndex: c.ifIndex, iface: c.interface, link: c.next! })),
      ...rebindLater.map(({ router, b }) => ({
        router,
        ifIndex: b.ifIndex,
        iface: b.interface,
        link: b.link,
      })),
    ];
    for (const b of bindNow) {
      const path = ["routers", routerIndex.get(b.router) ?? 0, "interfaces", b.ifIndex, "link"];
      tx.step(
        `bind ${b.router}/${b.iface} to ${b.link}`,
        () => hv.bind(b.router, b.ifIndex, b.link),
        () => hv.unbind(b.router, b.ifIndex),
        path,
      );
    }

    // 8. switching rules added, and those taken down in 1 for a replaced link
    for (const rule of [...diff.switching.added, ...readd]) {
      const path = ["switching", ruleIndex(rule.from)];
      const from = hv.links.get(rule.from);
      const previous = from === undefined ? undefined : hv.switching.target(from);
      const wasApi = this.#apiRules.has(rule.from);
      tx.step(
        `add switching ${rule.from} -> ${rule.to}`,
        () => {
          if (previous !== undefined) hv.replaceSwitch(rule.from, rule.to);
          else hv.addSwitch(rule.from, rule.to);
          this.#apiRules.delete(rule.from);
        },
        () => {
          if (previous !== undefined) hv.replaceSwitch(rule.from, previous.name);
          else hv.removeSwitch(rule.from);
          if (wasApi) this.#apiRules.add(rule.from);
        },
        path,
      );
    }
  }

  /** Builds, places and binds a router as steps of `tx`. */
  #placeRouter(
    tx: Transaction,
    config: DaemonRouterConfig,
    origin: RouterOrigin,
    since: string,
    stored?: StoredRouter,
    index?: number,
  ): void {
    const hv = this.hypervisor;
    const base = index === undefined ? undefined : ["routers", index];
    let router: VirtualRouter | undefined;
    tx.step(
      `start router ${config.name}`,
      () => {
        if (this.#routers.has(config.name)) {
          throw new ApiError(409, "DuplicateRouter", `router ${config.name} already exists`);
        }
        // Its speaker starts at commit (below), not on the first poll.
        const r = new VirtualRouter(config.router, {
          arena: hv.arena,
          holdControlPlane: true,
          configInput: config.section,
        });
        router = r;
        const bgp = new Map<string, NeighborRuntime>();
        const now = Date.now();
        for (const n of r.bgp?.neighborList ?? []) bgp.set(n.name, { since: now });
        r.onBgpEvent = (e) => this.#bgpEvent(config.name, bgp, e);
        try {
          hv.addRouter(r);
        } catch (e) {
          r.close();
          throw e;
        }
        this.#routers.set(config.name, {
          name: config.name,
          origin,
          config,
          router: r,
          since,
          stored,
          bgp,
        });
      },
      () => {
        this.#routers.delete(config.name);
        hv.removeRouter(config.name);
        router?.close();
      },
      base === undefined ? undefined : [...base, "name"],
    );
    // Sessions open once the change is sure to stay, bound, after the routers it replaces left.
    tx.atCommit(() => {
      router?.startControlPlane();
    });
    for (const b of config.bindings) {
      tx.step(
        `bind ${config.name}/${b.interface} to ${b.link}`,
        () => hv.bind(config.name, b.ifIndex, b.link),
        () => hv.unbind(config.name, b.ifIndex),
        base === undefined ? undefined : [...base, "interfaces", b.ifIndex, "link"],
      );
    }
  }

  /**
   * Takes a router out as a step of `tx`. At commit its BGP peers get a
   * Cease (`why` as shutdown communication) and a FIN, sent through the
   * links it was bound to, and it is closed.
   */
  #unplaceRouter(tx: Transaction, name: string, why: string): void {
    const hv = this.hypervisor;
    const rec = this.#routers.get(name);
    if (rec === undefined) return;
    const links = rec.router.ifaces.map((ifc) => hv.binding.linkOf(rec.router, ifc.index));
    const bound = links
      .map((link, ifIndex) => ({ ifIndex, link: link?.name }))
      .filter((b): b is { ifIndex: number; link: string } => b.link !== undefined);
    tx.step(
      `stop router ${name}`,
      () => {
        if (hv.placement.has(name)) hv.removeRouter(name);
        this.#routers.delete(name);
        this.#removed.add(name);
      },
      () => {
        if (!hv.placement.has(name)) hv.addRouter(rec.router);
        this.#routers.set(name, rec);
        this.#removed.delete(name);
        for (const b of bound)
          if (hv.binding.lookup(name, b.ifIndex) === undefined) hv.bind(name, b.ifIndex, b.link);
      },
    );
    tx.atCommit(() => {
      rec.router.setTransmit((ifIndex, batch) => {
        const link = links[ifIndex];
        if (link === undefined) return;
        try {
          link.send(batch);
        } catch {
          // A link replaced in the same change is closed already: its peers lose it anyway.
        }
      });
      try {
        rec.router.shutdown(hv.clock(), why);
      } finally {
        rec.router.close();
      }
    });
  }

  #createLink(l: LinkConfig, cfg: DaemonConfig): void {
    const hv = this.hypervisor;
    switch (l.kind) {
      case "tun":
        hv.addTun({
          name: l.name,
          device: l.device,
          ...(l.mtu === undefined ? {} : { mtu: l.mtu }),
          ...(l.txQueueLen === undefined ? {} : { txQueueLen: l.txQueueLen }),
        });
        return;
      case "tap":
        hv.addTap({
          name: l.name,
          device: l.device,
          ...(l.mtu === undefined ? {} : { mtu: l.mtu }),
          ...(l.txQueueLen === undefined ? {} : { txQueueLen: l.txQueueLen }),
          ...(l.mac === undefined ? {} : { mac: macBytes(l.mac) }),
        });
        return;
      case "vxlan":
        if (hv.vxlanEndpoint === undefined) {
          hv.openVxlanEndpoint({ address: cfg.vxlan.listen.host, port: cfg.vxlan.listen.port });
        }
        hv.addVxlan({
          name: l.name,
          vni: l.vni,
          remotes: l.remotes,
          remotePort: l.remotePort,
          learning: l.learning,
          ...(l.ageMs === undefined ? {} : { ageMs: l.ageMs }),
          ...(l.maxLearned === undefined ? {} : { maxLearned: l.maxLearned }),
        });
        return;
      case "memory": {
        const [mine, peer] = memoryLinkPair({
          arena: hv.arena,
          names: [l.name, l.peer],
          layer: l.layer,
        });
        try {
          hv.addLink(mine);
        } catch (e) {
          mine.close();
          peer.close();
          throw e;
        }
        this.#peers.set(l.name, peer);
        return;
      }
    }
  }

  #destroyLink(name: string): void {
    this.hypervisor.removeLink(name, true);
    this.#peers.get(name)?.close();
    this.#peers.delete(name);
  }

  #linkKind(name: string): string {
    const link = this.hypervisor.links.get(name);
    if (link instanceof DeviceLink) return link.kind;
    if (link instanceof VxlanLink) return "vxlan";
    if (link instanceof MemoryLink) return "memory";
    return "other";
  }

  async #readToken(cfg: DaemonConfig): Promise<string | undefined> {
    const tcp = cfg.hypervisor.api.tcp;
    if (tcp === undefined) return undefined;
    let text: string;
    try {
      text = await readFile(tcp.tokenFile, "utf8");
    } catch (e) {
      throw new DaemonStartError(
        `hypervisor.api.tcp.tokenFile: cannot read ${tcp.tokenFile}: ${(e as NodeJS.ErrnoException).code ?? e}`,
      );
    }
    const token = text.trim();
    if (token.length < MIN_TOKEN_LENGTH || /\s/.test(token)) {
      throw new DaemonStartError(
        `hypervisor.api.tcp.tokenFile: ${tcp.tokenFile} must hold one token of at least ${MIN_TOKEN_LENGTH} characters without spaces`,
      );
    }
    const mode = (await stat(tcp.tokenFile)).mode;
    if ((mode & 0o077) !== 0) {
      this.logger.warn(
        { file: tcp.tokenFile, mode: (mode & 0o777).toString(8) },
        "the API token file is readable by other users: chmod 600 it",
      );
    }
    return token;
  }

  // ---- ownership record ---------------------------------------------------------------

  /**
   * Brings the record up to date: every placed router owned (claimed at the
   * next epoch when new here), routers taken out since the last write
   * "abandoned" at their epoch (a later router of the same name starts a
   * new epoch).
   */
  async #saveOwnership(): Promise<void> {
    const store = this.ownership;
    try {
      for (const r of this.#routers.values()) {
        this.#ownedFile.meta.set(r.name, { origin: r.origin, since: r.since });
      }
      for (const name of this.#removed) {
        const e = store.get(name);
        if (!this.#routers.has(name) && e?.role === "owned") {
          await store.set(name, "abandoned", e.epoch);
        }
      }
      this.#removed.clear();
      for (const r of this.#routers.values()) {
        if (!store.owns(r.name)) await store.claim(r.name);
      }
    } catch (e) {
      this.logger.error({ err: e }, "cannot write the ownership record");
      throw e;
    }
  }

  // ---- API operations -------------------------------------------------------------------

  #serial<T>(op: () => Promise<T>): Promise<T> {
    const run = this.#ops.then(op, op);
    this.#ops = run.catch(() => {});
    return run;
  }

  #require(name: string): RouterRecord {
    const rec = this.#routers.get(name);
    if (rec === undefined) {
      const known = [...this.#routers.keys()].join(", ") || "none";
      throw new ApiError(404, "UnknownRouter", `no router ${name} here (routers: ${known})`);
    }
    return rec;
  }

  #open(): void {
    if (this.#stopping)
      throw new ApiError(503, ApiErrorCode.ShuttingDown, "vroomd is shutting down");
  }

  status(): StatusView {
    const hv = this.hypervisor;
    const cfg = this.config;
    const tcp = this.#api.tcpAddress;
    return {
      hypervisor: cfg.hypervisor.name,
      version: VERSION,
      pid: process.pid,
      startedAt: this.startedAt.toISOString(),
      uptimeSeconds: Math.round((Date.now() - this.startedAt.getTime()) / 1000),
      configFile: this.configFile,
      stateDir: cfg.hypervisor.stateDir,
      api: { socket: cfg.hypervisor.api.socket, ...(tcp === undefined ? {} : { tcp }) },
      ...(this.#metricsServer?.address === undefined
        ? {}
        : { metrics: this.#metricsServer.address }),
      counts: {
        routers: hv.placement.size,
        links: hv.links.size,
        bindings: hv.binding.size,
        switchingRules: hv.switching.size,
      },
      lastReload: this.lastReload,
    };
  }

  listRouters(): RouterSummary[] {
    return [...this.#routers.values()]
      .sort((a, b) => a.name.localeCompare(b.name))
      .map((r) => this.#summary(r));
  }

  #summary(r: RouterRecord): RouterSummary {
    const c = r.router.counters().router as {
      rxPackets: number;
      txPackets: number;
      drops: Record<string, number>;
    };
    return {
      name: r.name,
      origin: r.origin,
      interfaces: r.router.ifaces.length,
      bound: r.router.ifaces.filter((i) => this.hypervisor.binding.linkOf(r.router, i.index))
        .length,
      fib: { ipv4: r.router.fib.size4, ipv6: r.router.fib.size6 },
      rxPackets: c.rxPackets,
      txPackets: c.txPackets,
      drops: Object.values(c.drops).reduce((a, b) => a + b, 0),
    };
  }

  routerDetail(name: string): RouterDetail {
    const r = this.#require(name);
    const stats = this.hypervisor.stats().routers[name];
    const { deadline, ...path } = stats ?? { deadline: Number.POSITIVE_INFINITY };
    return {
      ...this.#summary(r),
      since: r.since,
      config: sectionWithLinks(r),
      interfaceList: interfaceViews(this.hypervisor, r.router),
      counters: r.router.counters().router,
      path: { ...path, nextDeadlineMs: Number.isFinite(deadline) ? deadline : null },
      rib: { prefixes: r.router.rib.size },
      inactiveStatics: r.router.inactiveStatics.map((s) => ({
        route: staticRouteText(s.route),
        reason: s.reason,
      })),
      bgp: r.router.bgp === undefined ? null : bgpSummary(r.router.bgp),
    };
  }

  interfaces(name: string): InterfaceView[] {
    return interfaceViews(this.hypervisor, this.#require(name).router);
  }

  routes(name: string): RouteView[] {
    return routeViews(this.#require(name).router);
  }

  fib(
    name: string,
    family?: Family,
    limit?: number,
  ): { total: { ipv4: number; ipv6: number }; entries: FibEntryView[] } {
    const router = this.#require(name).router;
    return {
      total: { ipv4: router.fib.size4, ipv6: router.fib.size6 },
      entries: fibViews(router, family, limit),
    };
  }

  neighbors(name: string): NeighborView[] {
    return neighborViews(this.#require(name).router);
  }

  links(): LinkView[] {
    return linkViews(this.hypervisor).sort((a, b) => a.name.localeCompare(b.name));
  }

  link(name: string): LinkView {
    this.hypervisor.links.require(name);
    return this.links().find((l) => l.name === name)!;
  }

  switchingRules(): SwitchRuleView[] {
    return this.hypervisor.switching
      .list()
      .map((r) => ({
        from: r.from.name,
        to: r.to.name,
        origin: (this.#apiRules.has(r.from.name) ? "api" : "config") as RouterOrigin,
      }))
      .sort((a, b) => a.from.localeCompare(b.from));
  }

  /** Creates a router from a router section (interfaces may name their `link`); stores it. */
  createRouter(input: unknown): Promise<RouterDetail> {
    return this.#serial(async () => {
      this.#open();
      const checked = checkRouterSection(input);
      if (!checked.ok) {
        const lines = checked.issues.map((i) => `${i.path.join(".") || "(router)"}: ${i.message}`);
        throw new ApiError(422, ApiErrorCode.InvalidConfig, `invalid router: ${lines.join("; ")}`, {
          issues: checked.issues.map((i) => ({ path: i.path.join("."), message: i.message })),
        });
      }
      const config = checked.router;
      if (this.#routers.has(config.name)) {
        const origin = this.#routers.get(config.name)!.origin;
        throw new ApiError(
          409,
          "DuplicateRouter",
          `router ${config.name} already exists (${origin === "config" ? `in ${this.configFile}` : "created through the API"})`,
        );
      }
      const since = new Date().toISOString();
      const stored: StoredRouter = {
        version: 1,
        name: config.name,
        createdAt: since,
        router: input as Record<string, unknown>,
      };
      const tx = new Transaction();
      try {
        this.#placeRouter(tx, config, "api", since, stored);
      } catch (e) {
        tx.rollback();
        throw e;
      }
      try {
        await this.state.saveRouter(stored);
        await this.#saveOwnership();
      } catch (e) {
        tx.rollback();
        await this.state.deleteRouter(config.name).catch(() => {});
        throw e;
      }
      tx.commit();
      this.logger.info({ router: config.name, bindings: config.bindings }, "router created");
      return this.routerDetail(config.name);
    });
  }

  /** Deletes a router created through the API (and its stored file). */
  deleteRouter(name: string): Promise<void> {
    return this.#serial(async () => {
      this.#open();
      const rec = this.#require(name);
      if (rec.origin === "config") {
        throw new ApiError(
          409,
          ApiErrorCode.Conflict,
          `router ${name} comes from ${this.configFile}: remove it there and reload`,
        );
      }
      const tx = new Transaction();
      this.#unplaceRouter(tx, name, "router deleted");
      try {
        await this.state.deleteRouter(name);
        await this.#saveOwnership();
      } catch (e) {
        tx.rollback();
        throw e;
      }
      tx.commit();
      this.logger.info({ router: name }, "router deleted");
    });
  }

  /** Binds (or, with `rebind`, moves) a router's interface to a link. */
  bindInterface(
    routerName: string,
    iface: string,
    link: string,
    rebind: boolean,
  ): Promise<{ router: string; interface: string; link: string; previous: string | null }> {
    return this.#serial(async () => {
      this.#open();
      const rec = this.#require(routerName);
      const ifIndex = this.#ifIndex(rec, iface);
      const hv = this.hypervisor;
      const previous = hv.binding.lookup(routerName, ifIndex)?.name ?? null;
      if (rebind) hv.rebind(routerName, ifIndex, link);
      else hv.bind(routerName, ifIndex, link);
      const undo = () => {
        if (previous === null) hv.unbind(routerName, ifIndex);
        else hv.rebind(routerName, ifIndex, previous);
      };
      await this.#storeBinding(rec, ifIndex, link, undo);
      const ifName = rec.router.ifaces[ifIndex].name;
      this.logger.info(
        { router: routerName, interface: ifName, link, previous },
        rebind ? "interface rebound" : "interface bound",
      );
      return { router: routerName, interface: ifName, link, previous };
    });
  }

  unbindInterface(
    routerName: string,
    iface: string,
  ): Promise<{ router: string; interface: string; previous: string }> {
    return this.#serial(async () => {
      this.#open();
      const rec = this.#require(routerName);
      const ifIndex = this.#ifIndex(rec, iface);
      const hv = this.hypervisor;
      const previous = hv.unbind(routerName, ifIndex).name;
      await this.#storeBinding(rec, ifIndex, undefined, () =>
        hv.bind(routerName, ifIndex, previous),
      );
      const ifName = rec.router.ifaces[ifIndex].name;
      this.logger.info({ router: routerName, interface: ifName, previous }, "interface unbound");
      return { router: routerName, interface: ifName, previous };
    });
  }

  /** API routers: stores the new binding with the router (undoing the change if that fails). */
  async #storeBinding(
    rec: RouterRecord,
    ifIndex: number,
    link: string | undefined,
    undo: () => void,
  ): Promise<void> {
    if (rec.origin !== "api" || rec.stored === undefined) return;
    const section = structuredClone(rec.stored.router);
    const ifcs = section.interfaces as Record<string, unknown>[];
    if (link === undefined) delete ifcs[ifIndex].link;
    else ifcs[ifIndex].link = link;
    const stored: StoredRouter = { ...rec.stored, router: section };
    try {
      await this.state.saveRouter(stored);
    } catch (e) {
      undo();
      throw e;
    }
    rec.stored = stored;
  }

  #ifIndex(rec: RouterRecord, iface: string): number {
    const i = rec.router.ifaces.findIndex((f) => f.name === iface);
    if (i >= 0) return i;
    const names = rec.router.ifaces.map((f) => f.name).join(", ");
    throw new ApiError(
      404,
      "UnknownInterface",
      `router ${rec.name} has no interface ${iface} (it has: ${names})`,
    );
  }

  addSwitch(
    from: string,
    to: string,
    replace: boolean,
  ): Promise<SwitchRuleView & { previous: string | null }> {
    return this.#serial(async () => {
      this.#open();
      let previous: string | null = null;
      if (replace) previous = this.hypervisor.replaceSwitch(from, to)?.name ?? null;
      else this.hypervisor.addSwitch(from, to);
      this.#apiRules.add(from);
      this.logger.info({ from, to, previous }, "switching rule added");
      return { from, to, origin: "api" as const, previous };
    });
  }

  removeSwitch(from: string): Promise<{ from: string; to: string }> {
    return this.#serial(async () => {
      this.#open();
      const to = this.hypervisor.removeSwitch(from).name;
      this.#apiRules.delete(from);
      this.logger.info({ from, to }, "switching rule removed");
      return { from, to };
    });
  }

  // ---- BGP ------------------------------------------------------------------------------

  /** A speaker's event, logged: sessions up and down at info, the rest at debug. */
  #bgpEvent(router: string, runtime: Map<string, NeighborRuntime>, e: BgpLogEvent): void {
    const fields = {
      router,
      neighbor: e.neighbor,
      event: e.event,
      ...(e.detail === undefined ? {} : { detail: e.detail }),
    };
    if (e.event === "established" || e.event === "down") {
      const rt = e.neighbor === undefined ? undefined : runtime.get(e.neighbor);
      if (rt !== undefined) rt.since = Date.now();
      this.logger.info(
        fields,
        e.event === "established" ? "BGP session established" : "BGP session down",
      );
    } else this.logger.debug(fields, `BGP ${e.event}`);
  }

  #requireBgp(name: string): { rec: RouterRecord; speaker: BgpSpeaker } {
    const rec = this.#require(name);
    const speaker = rec.router.bgp;
    if (speaker === undefined) {
      throw new ApiError(
        404,
        ApiErrorCode.BgpNotConfigured,
        `router ${name} does not run BGP (its configuration has no bgp section)`,
      );
    }
    return { rec, speaker };
  }

  #requireNeighbor(rec: RouterRecord, speaker: BgpSpeaker, address: string): Neighbor {
    const n = findNeighbor(speaker, address);
    if (n === undefined) {
      const known = speaker.neighborList.map((x) => x.name).join(", ") || "none";
      throw new ApiError(
        404,
        ApiErrorCode.UnknownBgpNeighbor,
        `router ${rec.name} has no BGP neighbour ${address} (neighbours: ${known})`,
      );
    }
    return n;
  }

  #neighborViews(rec: RouterRecord, speaker: BgpSpeaker, only?: Neighbor): BgpNeighborsView {
    return bgpNeighborViews(
      rec.router,
      speaker,
      rec.bgp,
      this.hypervisor.clock(),
      Date.now(),
      only,
    );
  }

  /** A router's BGP neighbours: state, timers, counters, channels, last error. */
  bgpNeighbors(name: string): BgpNeighborsView {
    const { rec, speaker } = this.#requireBgp(name);
    return this.#neighborViews(rec, speaker);
  }

  /** The Loc-RIB, or one neighbour's routes received (after import policy) or advertised. */
  bgpRoutes(
    name: string,
    q: { family?: FamilyName; neighbor?: string; direction?: "in" | "out"; limit?: number },
  ): BgpRoutesView {
    const { rec, speaker } = this.#requireBgp(name);
    const neighbor =
      q.neighbor === undefined ? undefined : this.#requireNeighbor(rec, speaker, q.neighbor);
    return bgpRouteViews(rec.router, speaker, {
      ...(q.family === undefined ? {} : { family: q.family }),
      ...(neighbor === undefined ? {} : { neighbor }),
      ...(q.direction === undefined ? {} : { direction: q.direction }),
      ...(q.limit === undefined ? {} : { limit: q.limit }),
    });
  }

  /**
   * Asks a neighbour to send its routes again (RFC 2918 ROUTE-REFRESH), for
   * one family or every family the session carries.
   */
  bgpRefresh(
    name: string,
    address: string,
    family?: FamilyName,
  ): Promise<{ router: string; neighbor: string; families: FamilyName[] }> {
    return this.#serial(async () => {
      this.#open();
      const { rec, speaker } = this.#requireBgp(name);
      const n = this.#requireNeighbor(rec, speaker, address);
      const fsm = n.session;
      const refuse = (why: string) =>
        new ApiError(
          409,
          ApiErrorCode.BgpRefreshRefused,
          `cannot refresh ${n.name} of ${name}: ${why}`,
        );
      if (fsm?.negotiated === undefined)
        throw refuse(`the session is ${n.stateName}, not Established`);
      if (!fsm.negotiated.routeRefresh) {
        throw refuse("the peer did not announce the route refresh capability (RFC 2918)");
      }
      const carried = fsm.negotiated.families.map(nameOfFamily);
      if (family !== undefined && !carried.includes(family)) {
        throw refuse(`the session does not carry ${family} (it carries ${carried.join(", ")})`);
      }
      const families = family === undefined ? carried : [family];
      const now = this.hypervisor.clock();
      for (const f of families) {
        if (!speaker.refresh(n.name, familyOfName(f), now)) {
          throw refuse(`the speaker refused to refresh ${f}`);
        }
      }
      rec.router.pollSoon();
      this.logger.info({ router: name, neighbor: n.name, families }, "BGP route refresh sent");
      return { router: name, neighbor: n.name, families };
    });
  }

  /**
   * Takes a neighbour administratively down (Cease, Administrative
   * Shutdown, with `message` as shutdown communication) or up again. Lasts
   * until the router is rebuilt or vroomd restarts.
   */
  bgpSetEnabled(
    name: string,
    address: string,
    enabled: boolean,
    message?: string,
  ): Promise<{ router: string; neighbor: BgpNeighborView }> {
    return this.#serial(async () => {
      this.#open();
      const { rec, speaker } = this.#requireBgp(name);
      const n = this.#requireNeighbor(rec, speaker, address);
      const was = n.enabled;
      speaker.setNeighborEnabled(n.name, enabled, this.hypervisor.clock(), message);
      rec.router.pollSoon();
      const rt = rec.bgp.get(n.name);
      if (rt !== undefined) {
        if (was !== n.enabled) rt.since = Date.now();
        if (enabled) delete rt.message;
        else if (message !== undefined) rt.message = message;
        else if (was) delete rt.message;
      }
      this.logger.info(
        {
          router: name,
          neighbor: n.name,
          ...(message === undefined ? {} : { message }),
        },
        enabled ? "BGP neighbour enabled" : "BGP neighbour disabled",
      );
      return { router: name, neighbor: this.#neighborViews(rec, speaker, n).neighbors[0] };
    });
  }

  /** Cease to every BGP peer of every router, then wait (hypervisor running) for the TCP closes. */
  async #closeSessions(message: string): Promise<void> {
    const routers = [...this.#routers.values()].map((r) => r.router);
    if (!routers.some((r) => r.bgp !== undefined)) return;
    const now = this.hypervisor.clock();
    for (const r of routers) {
      try {
        r.shutdown(now, message);
      } catch (e) {
        this.logger.error({ err: e, router: r.name }, "shutdown: stopping BGP failed");
      }
    }
    const { waitedMs, open } = await drainConnections(routers);
    if (open > 0) {
      this.logger.warn({ waitedMs, open }, "BGP connections still open at shutdown: closed anyway");
    } else this.logger.info({ waitedMs }, "BGP sessions closed");
  }

  // ---- migration ----------------------------------------------------------------------

  #requireMigration(): DaemonMigration {
    if (this.migration === undefined) {
      throw new ApiError(
        409,
        ApiErrorCode.MigrationNotConfigured,
        `this hypervisor has no migration section in ${this.configFile}`,
      );
    }
    return this.migration;
  }

  /** Starts moving `router` to peer `to` (live by default); answers once the target accepted it. */
  migrate(router: string, to: string, mode?: MigrationMode): Promise<MigrationView> {
    this.#open();
    return this.#requireMigration().start(router, to, mode);
  }

  migrations(): MigrationView[] {
    return this.#requireMigration().list();
  }

  migrationView(id: string): MigrationView {
    return this.#requireMigration().get(id);
  }

  /** Progress events of migration `id` until the returned function is called. */
  subscribeMigration(id: string, fn: (e: MigrationEvent) => void): () => void {
    return this.#requireMigration().subscribe(id, fn);
  }

  /**
   * The migration host over this daemon's routers (./migration-host.ts):
   * its `VirtualRouter`s leave, arriving routers are placed by `#placeArrived`.
   */
  #routerMigrationHost(): MigrationHost {
    const max = this.config.migration?.maxRouters;
    this.#migrationHost = routerMigrationHost({
      arena: this.hypervisor.arena,
      clock: this.hypervisor.clock,
      router: (name) => this.#routers.get(name)?.router,
      count: () => this.#routers.size,
      place: (router, epoch) => this.#placeArrived(router, epoch),
      controlLoaded: (name, config) => this.#storeEarly(name, config),
      retired: (name, activated) => this.#arrivalRetired(name, activated),
      ...(max === undefined ? {} : { maxRouters: max }),
    });
    return this.#migrationHost;
  }

  /**
   * Places a router that moved here, at activation (its control plane
   * starts right after, in the standby): bound to the links prepared for
   * it, in the router table, its BGP events logged. A router of this file
   * coming back (same name, same section) is the file's router again, on
   * its own links; any other is an API router, its section stored with the
   * prepared links (written right after, in the daemon's order of
   * operations), owned at `epoch` (the migration protocol wrote that entry).
   */
  #placeArrived(router: VirtualRouter, epoch: number): StandbyResult {
    const hv = this.hypervisor;
    const name = router.name;
    const migration = this.migration;
    if (migration === undefined) return { ok: false, error: "no migration service" };
    if (this.#stopping) return { ok: false, error: "vroomd is shutting down" };
    if (this.#routers.has(name)) return { ok: false, error: `router ${name} already runs here` };
    const links = migration.target.prepared(name);
    if (links.length !== router.ifaces.length) {
      return {
        ok: false,
        error: `${links.length} links were prepared for ${name}, it has ${router.ifaces.length} interfaces`,
      };
    }
    const arrival = this.#arrival(name, router.configInput, links);
    if (!arrival.ok) return arrival;
    const { config, origin } = arrival;
    // Stored already when the ownership record was written (see #storeArrivals)?
    const early = this.#arrivalsStored.get(name);
    this.#arrivalsStored.delete(name);
    const stored = early ?? arrival.stored;
    const since = stored?.createdAt ?? new Date().toISOString();
    const bound: number[] = [];
    try {
      hv.addRouter(router);
      for (const [ifIndex, link] of links.entries()) {
        hv.bind(name, ifIndex, link);
        bound.push(ifIndex);
      }
    } catch (e) {
      for (const i of bound) hv.unbind(name, i);
      if (hv.placement.has(name)) hv.removeRouter(name);
      return { ok: false, error: `placing ${name}: ${(e as Error).message}` };
    }
    const bgp = new Map<string, NeighborRuntime>();
    const now = Date.now();
    for (const n of router.bgp?.neighborList ?? []) bgp.set(n.name, { since: now });
    router.onBgpEvent = (e) => this.#bgpEvent(name, bgp, e);
    this.#routers.set(name, { name, origin, config, router, since, stored, bgp });
    this.#ownedFile.meta.set(name, { origin, since });
    this.logger.info({ router: name, epoch, origin, links }, "router moved here: placed");
    if (stored !== undefined && early === undefined) {
      const file = stored;
      void this.#serial(async () => {
        if (this.#routers.get(name)?.stored !== file) return;
        await this.state.saveRouter(file);
      }).catch((e) =>
        this.logger.error({ err: e, router: name }, "cannot store the router that moved here"),
      );
    }
    return { ok: true };
  }

  /**
   * What a router arriving with `section` (its configuration as input) on
   * the prepared `links` is here: this file's router coming back (same
   * section, same links), or an API router whose section, with the links
   * and their definitions, is stored in the state directory.
   */
  #arrival(
    name: string,
    input: unknown,
    links: string[],
  ):
    | { ok: true; config: DaemonRouterConfig; origin: RouterOrigin; stored?: StoredRouter }
    | { ok: false; error: string } {
    const section = input as Record<string, unknown>;
    const fromFile = this.config.routers.find((r) => r.name === name);
    if (
      fromFile !== undefined &&
      JSON.stringify(fromFile.section) === JSON.stringify(section) &&
      fromFile.bindings.every((b) => links[b.ifIndex] === b.link)
    )
      return { ok: true, config: fromFile, origin: "config" };
    const ifcs = Array.isArray(section.interfaces) ? section.interfaces : [];
    const withLinks = {
      ...section,
      interfaces: ifcs.map((ifc: unknown, i: number) => ({
        ...(ifc as Record<string, unknown>),
        link: links[i],
      })),
    };
    const checked = checkRouterSection(withLinks);
    if (!checked.ok) {
      return {
        ok: false,
        error: `router ${name}: ${checked.issues.map((i) => `${i.path.join(".")}: ${i.message}`).join("; ")}`,
      };
    }
    const made: StoredLink[] = [];
    for (const l of links) {
      const link = this.hypervisor.links.get(l);
      if (link instanceof VxlanLink)
        made.push({ name: l, vni: link.vni, remotes: link.remotes(), remotePort: link.remotePort });
    }
    return {
      ok: true,
      config: checked.router,
      origin: "api",
      stored: {
        version: 1,
        name,
        createdAt: new Date().toISOString(),
        router: withLinks,
        ...(made.length > 0 ? { links: made } : {}),
      },
    };
  }

  /**
   * Before the ownership record says a router that is arriving is owned
   * here, its configuration and links are stored (durably, like the
   * record): a crash between the record and the activation leaves a
   * router this daemon can start again, never one it owns but cannot run.
   */
  async #storeArrivals(owned: string[]): Promise<void> {
    const host = this.#migrationHost;
    const target = this.migration?.target;
    if (host === undefined || target === undefined) return;
    for (const name of owned) {
      if (this.#routers.has(name) || this.#arrivalsStored.has(name)) continue;
      const input = host.stagedConfig(name);
      if (input === undefined) continue;
      const arrival = this.#arrival(name, input, target.prepared(name));
      if (!arrival.ok || arrival.stored === undefined) continue;
      const early = await this.#earlyStores.get(name);
      if (early !== undefined && sameStoredRouter(early, arrival.stored)) {
        this.#arrivalsStored.set(name, early); // stored before the freeze: nothing to write now
        continue;
      }
      await this.state.saveRouter(arrival.stored);
      this.#arrivalsStored.set(name, arrival.stored);
    }
  }

  /**
   * An arriving router's control image loaded (before the freeze): its
   * configuration and links are stored now, so that the write the commit
   * waits for (#storeArrivals) finds them there unless the final state
   * changed them. Not owned yet, the file is not started at a restart.
   */
  #storeEarly(name: string, config: unknown): void {
    const target = this.migration?.target;
    if (target === undefined) return;
    const arrival = this.#arrival(name, config, target.prepared(name));
    if (!arrival.ok || arrival.stored === undefined) return;
    const stored = arrival.stored;
    const before = this.#earlyStores.get(name) ?? Promise.resolve(undefined);
    this.#earlyStores.set(
      name,
      before.then(async (previous) => {
        if (previous !== undefined && sameStoredRouter(previous, stored)) return previous;
        try {
          await this.state.saveRouter(stored);
          return stored;
        } catch (e) {
          this.logger.warn({ router: name, err: e }, "arriving router not stored ahead");
          return undefined;
        }
      }),
    );
  }

  /** An arriving router's standby is done with: a discarded one leaves no stored file behind. */
  #arrivalRetired(name: string, activated: boolean): void {
    const early = this.#earlyStores.get(name);
    this.#earlyStores.delete(name);
    if (activated || early === undefined) return;
    void early.then(async (stored) => {
      if (stored === undefined || this.#routers.has(name) || this.#earlyStores.has(name)) return;
      if (this.ownership.get(name)?.role === "owned") return;
      await this.state.deleteRouter(name).catch((e) => {
        this.logger.warn({ router: name, err: e }, "stored arriving router not removed");
      });
    });
  }

  /** A link a router brought when it moved here (stored with it), made again at start. */
  #restoreArrivedLink(tx: Transaction, l: StoredLink, cfg: DaemonConfig): void {
    if (this.hypervisor.links.get(l.name) !== undefined) return;
    tx.step(
      `create link ${l.name} (brought by a router that moved here)`,
      () =>
        this.#createLink(
          {
            name: l.name,
            kind: "vxlan",
            vni: l.vni,
            remotes: l.remotes,
            remotePort: l.remotePort,
            learning: false,
          },
          cfg,
        ),
      () => this.hypervisor.removeLink(l.name),
    );
  }

  /** Links of the file the hypervisor lacks (an arriving router took them, then rolled back): made again. */
  #restoreFileLinks(): void {
    for (const l of this.config.links) {
      if (this.hypervisor.links.get(l.name) !== undefined) continue;
      try {
        this.#createLink(l, this.config);
        this.logger.info({ link: l.name }, "link of the file restored after a rolled-back arrival");
      } catch (e) {
        this.logger.error({ err: e, link: l.name }, "cannot restore a link of the file");
      }
    }
  }

  /**
   * A router that moved away: out of the hypervisor and the daemon (its
   * peers already talk to the new home, so no Cease), its stored file gone,
   * the links made for it when it arrived (not the file's) removed once
   * nothing uses them. The migration protocol writes its ownership entry
   * ("gone").
   */
  #dropMoved(router: string): Promise<void> {
    return this.#serial(async () => {
      const hv = this.hypervisor;
      const rec = this.#routers.get(router);
      if (rec === undefined) {
        if (hv.placement.has(router)) hv.removeRouter(router);
        return;
      }
      if (hv.placement.has(router)) hv.removeRouter(router);
      this.#routers.delete(router);
      rec.router.close();
      if (rec.origin === "api") {
        await this.state.deleteRouter(router);
        const fileLinks = new Set(this.config.links.map((l) => l.name));
        for (const b of rec.config.bindings) {
          const link = hv.links.get(b.link);
          if (link === undefined || fileLinks.has(b.link)) continue;
          const used =
            hv.binding.byLink(link) !== undefined ||
            hv.switching.list().some((r) => r.from === link || r.to === link);
          if (!used) hv.removeLink(b.link, true);
        }
      }
      this.logger.info({ router }, "router moved away: dropped");
    });
  }

  // ---- shutdown ----------------------------------------------------------------------

  /** Clean shutdown; idempotent (later calls wait for the first). */
  stop(): Promise<void> {
    if (this.#stopped === undefined) {
      this.#stopping = true;
      this.#stopped = this.#serial(async () => {
        this.logger.info("vroomd stopping");
        await this.#teardown();
        this.logger.info("vroomd stopped");
      });
    }
    return this.#stopped;
  }

  async #teardown(): Promise<void> {
    this.#stopping = true;
    const errors: unknown[] = [];
    const attempt = async (what: string, fn: () => unknown) => {
      try {
        await fn();
      } catch (e) {
        errors.push(e);
        this.logger.error({ err: e }, `shutdown: ${what} failed`);
      }
    };
    await attempt("stopping the migration service", () => this.migration?.close());
    await attempt("closing BGP sessions", () => this.#closeSessions("vroomd shutting down"));
    await attempt("closing the API", () => this.#api.close());
    await attempt("closing the metrics listener", () => this.#metricsServer?.close());
    const hv = this.hypervisor;
    for (const rule of hv.switching.list()) {
      await attempt(`removing switching ${rule.from.name}`, () => hv.removeSwitch(rule.from.name));
    }
    for (const name of [...this.#routers.keys()]) {
      await attempt(`stopping router ${name}`, () => {
        const rec = this.#routers.get(name)!;
        this.#routers.delete(name);
        hv.removeRouter(name);
        rec.router.close();
      });
    }
    await attempt("closing links", () => hv.close());
    for (const peer of this.#peers.values())
      await attempt("closing a memory link", () => peer.close());
    this.#peers.clear();
    await attempt("releasing the state directory", () => this.state.close());
  }
}

/** The router section with the interfaces' current `link` (as configured). */
function sectionWithLinks(r: RouterRecord): Record<string, unknown> {
  if (r.stored !== undefined) return r.stored.router;
  const section = structuredClone(r.config.section);
  const ifcs = section.interfaces as Record<string, unknown>[] | undefined;
  for (const b of r.config.bindings)
    if (ifcs?.[b.ifIndex] !== undefined) ifcs[b.ifIndex].link = b.link;
  return section;
}

/** What a link holds that another link cannot share: its device or its VNI. */
function resourceOf(l: LinkConfig): string {
  switch (l.kind) {
    case "tun":
    case "tap":
      return `device ${l.device}`;
    case "vxlan":
      return `vni ${l.vni}`;
    case "memory":
      return `memory ${l.name}`;
  }
}

function macBytes(mac: number): Uint8Array {
  const out = new Uint8Array(6);
  for (let i = 5; i >= 0; i--) {
    out[i] = mac % 256;
    mac = Math.floor(mac / 256);
  }
  return out;
}

/** Whether two stored routers hold the same section and links (their creation time aside). */
function sameStoredRouter(a: StoredRouter, b: StoredRouter): boolean {
  return (
    JSON.stringify(a.router) === JSON.stringify(b.router) &&
    JSON.stringify(a.links ?? []) === JSON.stringify(b.links ?? [])
  );
}
