/**
 * The target side of a router's migration: a standby that loads the
 * data-plane image and changes into a FIB and adjacency table of its own,
 * keeps the latest control image and the final state, runs nothing, and at
 * `activate` makes the live `VirtualRouter` of them (migration/host.ts's
 * `StandbyRouter`, satisfied structurally).
 *
 * Every load checks everything before it changes anything: the frame
 * (magic, version, kind, length, CRC), the seq it leads to, the adjacency
 * table, that every FIB next hop names an adjacency, and the FIB part
 * through `Fib.restore` / `Fib.applyJournal` (themselves all or nothing).
 * Control images may send BGP tables as unchanged since the last round
 * (router/bgp/state.ts); they are put back from the image held.
 *
 * The router is prepared ahead of the freeze: each control image that
 * changes the routes (or the configuration, or the adjacency table) builds
 * a held router on the loaded FIB whose RIB *adopts* it (router/rib.ts: the
 * FIB already holds the source's choices, so the RIB is rebuilt without
 * writing it, and the journal's seq stays the source's), on a copy of the
 * adjacency table so that nothing it holds leaks into the standby's. At
 * activation, when the final state's routes, configuration and table are
 * those the prepared router was built on, it only takes the final TCP and
 * session state (tables of unchanged stamps are kept), the neighbour tables
 * and counters: work in proportion to what changed, not to the table.
 * Otherwise activation builds the router as a fresh one, writing the FIB
 * where the RIB disagrees (it never should). Either way the final state is
 * checked against the configuration it carries (name, interfaces, MACs)
 * first, the router is handed to the host (`place`), starts, and processes
 * the segments the source kept.
 */
import { Fib } from "../../fib/fib.ts";
import { decodeJournal } from "../../fib/journal.ts";
import { NO_ROUTE } from "../../fib/types.ts";
import { type AdjacencyEntry, AdjacencyTable } from "../adjacency.ts";
import type { PacketArena } from "../batch.ts";
import { resolveSpeakerState, routeIdentity } from "../bgp/state.ts";
import { parseRouterConfig, type RouterConfig } from "../config.ts";
import { type ControlPlaneImport, VirtualRouter } from "../router.ts";
import { type ControlImage, decodeControl } from "./control.ts";
import { decodeDataPlane } from "./dataplane.ts";
import { ImageKind, openFrame } from "./frame.ts";
import { decodeKept } from "./kept.ts";
import { collectAfterLoad } from "./quiet-gc.ts";

export type StandbyResult = { ok: true } | { ok: false; error: string };

export interface StandbyOptions {
  arena: PacketArena;
  batchSize?: number;
  /**
   * Places the activated router on this host (binds its links, stores its
   * configuration); its control plane starts right after. An error refuses
   * the activation.
   */
  place(router: VirtualRouter, epoch: number): StandbyResult;
}

/** A held router built from a control image, ready to take the final state. */
interface PreparedRouter {
  router: VirtualRouter;
  /** The standby's adjacency table it was built against (the router holds a copy). */
  table: AdjacencyTable;
  /** Entries of the router's copy right after loading (more: the RIB needed new adjacencies). */
  tableSize: number;
  config: string;
  routes: string;
}

/** How the last activation went (for tests and reports). */
export type ActivationPath = "prepared" | "built";

export class VirtualStandbyRouter {
  private fib: Fib | undefined;
  private adjacencies: AdjacencyTable | undefined;
  private control: { image: ControlImage; version: number } | undefined;
  private final: ControlImage | undefined;
  private live: VirtualRouter | undefined;
  private discarded = false;
  /** The epoch the router was activated under. */
  epoch: number | undefined;
  /** FIB changes the rebuilt RIB made at activation (0 when the image matched the router's routes). */
  activationFibChanges = 0;
  /** Milliseconds spent collecting garbage after large control images (see quiet-gc.ts). */
  quietGcMs = 0;
  /** Whether the last activation used the prepared router or built one. */
  activationPath: ActivationPath | undefined;
  private prepared: PreparedRouter | undefined;
  /** Called once the standby is active (true) or discarded (false). */
  onRetired: (activated: boolean) => void = () => {};
  /**
   * Called with the configuration (as input) of each control image loaded:
   * what the router will run with unless the final state changes it, known
   * before the freeze (the host may record it then).
   */
  onControl: (config: unknown) => void = () => {};

  constructor(
    readonly name: string,
    private readonly options: StandbyOptions,
  ) {}

  /** The live router, after `activate`. */
  get router(): VirtualRouter | undefined {
    return this.live;
  }

  get dataPlaneSeq(): number {
    return this.fib?.seq ?? -1;
  }

  /**
   * The configuration (as input) of the staged final state, while the
   * standby waits for the commit: what the host records before it writes
   * that it owns the router.
   */
  get stagedConfig(): unknown {
    return this.live || this.discarded ? undefined : this.final?.config;
  }

  /** The control version loaded last (-1: none). */
  get controlVersion(): number {
    return this.control?.version ?? -1;
  }

  loadDataPlane(bytes: Uint8Array, seq: number): StandbyResult {
    const bad = this.usable();
    if (bad) return bad;
    if (this.fib) return { ok: false, error: "a data-plane image was already loaded" };
    const d = decodeDataPlane(bytes, ImageKind.DataPlaneImage);
    if (!d.ok) return d;
    if (d.seq !== seq)
      return { ok: false, error: `data-plane image at seq ${d.seq}, ${seq} expected` };
    const table = loadTable(d.adjacencies ?? []);
    if (!table.ok) return table;
    const snap = d.snapshot;
    if (!snap) return { ok: false, error: "data-plane image: no FIB snapshot" };
    for (const routes of [snap.routes4, snap.routes6]) {
      for (let i = 0; i < routes.count; i++) {
        if (!table.table.has(routes.nextHops[i]))
          return {
            ok: false,
            error: `data-plane image: a route uses adjacency ${routes.nextHops[i]}, not in the table`,
          };
      }
    }
    const fib = new Fib();
    const r = fib.restoreDecoded(snap);
    if (!r.ok) return r;
    this.fib = fib;
    this.adjacencies = table.table;
    return { ok: true };
  }

  applyDataPlaneChanges(bytes: Uint8Array, seq: number): StandbyResult {
    const bad = this.usable();
    if (bad) return bad;
    const fib = this.fib;
    const current = this.adjacencies;
    if (!fib || !current) return { ok: false, error: "data-plane changes before the image" };
    const d = decodeDataPlane(bytes, ImageKind.DataPlaneChanges);
    if (!d.ok) return d;
    if (d.seq !== seq)
      return { ok: false, error: `data-plane changes lead to seq ${d.seq}, ${seq} expected` };
    let table = current;
    if (d.adjacencies) {
      const t = loadTable(d.adjacencies);
      if (!t.ok) return t;
      table = t.table;
    }
    const entries =
      d.fib.length > 0
        ? decodeJournal(d.fib)
        : { ok: true as const, firstSeq: fib.seq + 1, entries: [] };
    if (!entries.ok) return entries;
    if (d.fib.length === 0 && seq !== fib.seq)
      return {
        ok: false,
        error: `data-plane changes without FIB entries lead to seq ${seq}, the FIB is at ${fib.seq}`,
      };
    // After the changes, every route must name an adjacency of the (new) table.
    const touched = new Map<string, number>();
    for (const e of entries.entries) {
      const hop = e.op === "insert" ? e.nextHop : NO_ROUTE;
      if (hop !== NO_ROUTE && !table.has(hop))
        return {
          ok: false,
          error: `data-plane changes: seq ${e.seq} uses adjacency ${hop}, not in the table`,
        };
      touched.set(`${e.family}:${e.prefix.join(",")}/${e.length}`, hop);
    }
    if (table !== current) {
      const gone = new Set<number>();
      for (const e of current.entries()) {
        const now = table.has(e.index) ? table.spec(e.index) : undefined;
        if (
          !now ||
          now.kind !== e.kind ||
          now.ifIndex !== e.ifIndex ||
          now.gateway.join() !== e.gateway.join()
        )
          gone.add(e.index);
      }
      if (gone.size > 0) {
        let stale: string | undefined;
        fib.forEach4((p, l, hop) => {
          if (stale === undefined && gone.has(hop) && !touched.has(`4:${p}/${l}`))
            stale = `${p}/${l}`;
        });
        fib.forEach6((p, l, hop) => {
          if (
            stale === undefined &&
            gone.has(hop) &&
            !touched.has(`6:${Array.from(p).join(",")}/${l}`)
          )
            stale = `${Array.from(p).join(",")}/${l}`;
        });
        if (stale !== undefined)
          return {
            ok: false,
            error: `data-plane changes: route ${stale} keeps an adjacency the new table drops`,
          };
      }
    }
    if (d.fib.length > 0) {
      const r = fib.applyJournal(d.fib);
      if (!r.ok) return r;
    }
    this.adjacencies = table;
    return { ok: true };
  }

  loadControl(bytes: Uint8Array, version: number): StandbyResult {
    const bad = this.usable();
    if (bad) return bad;
    const d = decodeControl(bytes, ImageKind.ControlImage);
    if (!d.ok) return d;
    const checked = this.checkImage(d.image, d.version, version);
    if (checked) return checked;
    const image = this.resolve(d.image, undefined);
    if (!image.ok) return image;
    return this.takeControl(image.image, d.version, bytes.length);
  }

  applyControlChanges(bytes: Uint8Array, version: number): StandbyResult {
    const bad = this.usable();
    if (bad) return bad;
    if (!this.control) return { ok: false, error: "control changes before the control image" };
    const f = openFrame(bytes, ImageKind.ControlChanges);
    if (!f.ok) return f;
    if (f.body.length === 0) {
      if (f.seq !== version || version !== this.control.version)
        return {
          ok: false,
          error: `empty control changes at ${f.seq}, standby at ${this.control.version}, ${version} expected`,
        };
      return { ok: true };
    }
    const d = decodeControl(bytes, ImageKind.ControlChanges);
    if (!d.ok) return d;
    if (d.version < this.control.version)
      return {
        ok: false,
        error: `control changes lead back to ${d.version} from ${this.control.version}`,
      };
    const checked = this.checkImage(d.image, d.version, version);
    if (checked) return checked;
    const image = this.resolve(d.image, this.control.image);
    if (!image.ok) return image;
    return this.takeControl(image.image, d.version, bytes.length);
  }

  /**
   * A control image (whole, or put together from changes) checked and
   * resolved: the router is prepared on it, the host told its
   * configuration, and the garbage of a large one collected now.
   */
  private takeControl(image: ControlImage, version: number, bytes: number): StandbyResult {
    const prepared = this.prepare(image);
    if (!prepared.ok) return prepared;
    this.control = { image, version };
    this.onControl(image.config);
    this.quietGcMs += collectAfterLoad(bytes);
    return { ok: true };
  }

  stageFinal(bytes: Uint8Array): StandbyResult {
    const bad = this.usable();
    if (bad) return bad;
    const d = decodeControl(bytes, ImageKind.FinalState);
    if (!d.ok) return d;
    const checked = this.checkImage(d.image, d.version, d.version);
    if (checked) return checked;
    for (const [i, p] of (d.image.kept ?? []).entries()) {
      const one = decodeKept(encodeOne(p));
      if (!one.ok) return { ok: false, error: `final state: kept segment ${i}: ${one.error}` };
    }
    const image = this.resolve(d.image, this.control?.image);
    if (!image.ok) return image;
    this.final = image.image;
    return { ok: true };
  }

  activate(epoch: number, now: number, sourceTime: number): StandbyResult {
    const bad = this.usable();
    if (bad) return bad;
    const fib = this.fib;
    const adjacencies = this.adjacencies;
    const image = this.final;
    if (!fib || !adjacencies) return { ok: false, error: "activate without a data-plane image" };
    if (!image) return { ok: false, error: "activate without a final state" };
    if (!Number.isFinite(now) || !Number.isFinite(sourceTime))
      return { ok: false, error: "activate: clocks must be finite" };
    const shift = now - sourceTime;
    const seqBefore = fib.seq;
    let router: VirtualRouter | undefined;
    try {
      router = this.takePrepared(image, now, sourceTime);
      if (router) this.activationPath = "prepared";
      else {
        const built = this.build(image, fib, adjacencies, false, now, sourceTime);
        if (!built.ok) return built;
        router = built.router;
        this.activationPath = "built";
      }
      this.activationFibChanges = fib.seq - seqBefore;
      for (const [i, ifc] of router.ifaces.entries()) {
        ifc.arp.import(image.interfaces[i].arp, shift);
        ifc.nd.import(image.interfaces[i].nd, shift);
      }
      router.restoreCounters(Object.fromEntries(image.interfaces.map((i) => [i.name, i.counters])));
      const placed = this.options.place(router, epoch);
      if (!placed.ok) {
        router.close();
        return placed;
      }
      router.startControlPlane();
      router.inputSegments(image.kept ?? [], now);
    } catch (e) {
      router?.close();
      return { ok: false, error: `activate: ${e instanceof Error ? e.message : String(e)}` };
    }
    this.live = router;
    this.epoch = epoch;
    this.final = undefined;
    this.control = undefined;
    this.onRetired(true);
    return { ok: true };
  }

  /**
   * The prepared router with the final state's sessions, when it was built
   * on the same routes, configuration and adjacency table; otherwise (or
   * when taking the state fails) it is dropped and undefined answered.
   */
  private takePrepared(
    image: ControlImage,
    now: number,
    sourceTime: number,
  ): VirtualRouter | undefined {
    const p = this.prepared;
    this.prepared = undefined;
    if (!p) return undefined;
    const usable =
      p.table === this.adjacencies &&
      p.router.adjacencies.size === p.tableSize &&
      p.config === JSON.stringify(image.config) &&
      p.routes === routesOf(image);
    if (!usable) {
      p.router.close();
      return undefined;
    }
    const config = checkFinal(image, p.router.config);
    if (!config.ok) {
      p.router.close();
      throw new Error(config.error);
    }
    try {
      p.router.importControlPlane(controlImport(image, sourceTime), now);
    } catch {
      // A state the prepared router cannot take as it is: build afresh instead.
      p.router.close();
      return undefined;
    }
    p.router.finishAdoption();
    return p.router;
  }

  /**
   * Builds a held router of `image` on `fib` and `table`; `adopt`: the RIB
   * leaves the FIB alone (see the module comment).
   */
  private build(
    image: ControlImage,
    fib: Fib,
    table: AdjacencyTable,
    adopt: boolean,
    now: number,
    sourceTime: number,
  ): { ok: true; router: VirtualRouter } | { ok: false; error: string } {
    const parsed = parseRouterConfig(image.config);
    if (!parsed.ok)
      return { ok: false, error: `final state: configuration: ${parsed.errors.join("; ")}` };
    const checked = checkFinal(image, parsed.config);
    if (!checked.ok) return checked;
    const router = new VirtualRouter(parsed.config, {
      arena: this.options.arena,
      batchSize: this.options.batchSize,
      holdControlPlane: true,
      configInput: image.config,
      restore: { fib, adjacencies: table, adopt },
    });
    try {
      router.importControlPlane(controlImport(image, sourceTime), now);
    } catch (e) {
      router.close();
      throw e;
    }
    return { ok: true, router };
  }

  /**
   * Prepares the router for `image` ahead of the freeze (see the module
   * comment): kept when the image changes only session state, built again
   * otherwise. An image the router cannot be built from is refused now
   * rather than at activation.
   */
  private prepare(image: ControlImage): StandbyResult {
    const fib = this.fib;
    const table = this.adjacencies;
    if (!fib || !table) return { ok: true }; // the data plane comes first; activation builds then
    const config = JSON.stringify(image.config);
    const routes = routesOf(image);
    const p = this.prepared;
    if (p && p.table === table && p.config === config && p.routes === routes) return { ok: true };
    p?.router.close();
    this.prepared = undefined;
    const copy = loadTable(table.entries());
    if (!copy.ok) return copy;
    try {
      const built = this.build(image, fib, copy.table, true, image.takenAt, image.takenAt);
      if (!built.ok) return built;
      this.prepared = {
        router: built.router,
        table,
        tableSize: copy.table.size,
        config,
        routes,
      };
    } catch (e) {
      return { ok: false, error: `control image: ${e instanceof Error ? e.message : String(e)}` };
    }
    return { ok: true };
  }

  /** `image` with its BGP tables sent as unchanged put back from `previous`. */
  private resolve(
    image: ControlImage,
    previous: ControlImage | undefined,
  ): { ok: true; image: ControlImage } | { ok: false; error: string } {
    if (!image.bgp) return { ok: true, image };
    const r = resolveSpeakerState(image.bgp, previous?.bgp ?? undefined);
    if (!r.ok) return r;
    return { ok: true, image: { ...image, bgp: r.state } };
  }

  injectLate(bytes: Uint8Array, now: number): StandbyResult {
    if (!this.live) return { ok: false, error: "late segments before activation" };
    const d = decodeKept(bytes);
    if (!d.ok) return d;
    this.live.inputSegments(d.packets, now);
    return { ok: true };
  }

  discard(): void {
    if (this.live) throw new Error("an activated router is not discarded");
    this.discarded = true;
    this.onRetired(false);
    this.prepared?.router.close();
    this.prepared = undefined;
    this.fib = undefined;
    this.adjacencies = undefined;
    this.control = undefined;
    this.final = undefined;
  }

  private usable(): StandbyResult | undefined {
    if (this.discarded) return { ok: false, error: "the standby was discarded" };
    if (this.live) return { ok: false, error: "the router is already active" };
    return undefined;
  }

  private checkImage(
    image: ControlImage,
    got: number,
    expected: number,
  ): StandbyResult | undefined {
    if (got !== expected)
      return { ok: false, error: `control state at version ${got}, ${expected} expected` };
    if (image.name !== this.name)
      return {
        ok: false,
        error: `control state of router ${image.name}, this standby is for ${this.name}`,
      };
    return undefined;
  }
}

/** The final state against the configuration it carries: interfaces, MACs, BGP. */
function checkFinal(image: ControlImage, config: RouterConfig): StandbyResult {
  if (config.interfaces.length !== image.interfaces.length)
    return { ok: false, error: "final state: interfaces do not match the configuration" };
  for (const [i, ifc] of config.interfaces.entries()) {
    const got = image.interfaces[i];
    if (got.name !== ifc.name || got.mac !== ifc.mac)
      return {
        ok: false,
        error: `final state: interface ${i} (${got.name}) does not match the configuration`,
      };
  }
  if ((image.bgp === null) !== (config.bgp === undefined))
    return { ok: false, error: "final state: BGP state and configuration disagree" };
  return { ok: true };
}

/** What decides the routes a router built from `image` installs (see state.ts, `routeIdentity`). */
function routesOf(image: ControlImage): string {
  return image.bgp ? routeIdentity(image.bgp) : "";
}

/** The image's TCP and BGP state, timed on the source's clock at `sourceTime`. */
function controlImport(image: ControlImage, sourceTime: number): ControlPlaneImport {
  return {
    tcp: { ...(image.tcp as object), exportedAt: sourceTime },
    bgp: image.bgp ? { ...image.bgp, exportedAt: sourceTime } : undefined,
  };
}

function loadTable(
  entries: AdjacencyEntry[],
): { ok: true; table: AdjacencyTable } | { ok: false; error: string } {
  try {
    return { ok: true, table: AdjacencyTable.load(entries) };
  } catch (e) {
    return { ok: false, error: `adjacency table: ${e instanceof Error ? e.message : String(e)}` };
  }
}

function encodeOne(p: Uint8Array): Uint8Array {
  const out = new Uint8Array(8 + p.length);
  const view = new DataView(out.buffer);
  view.setUint32(0, 1);
  view.setUint32(4, p.length);
  out.set(p, 8);
  return out;
}

/** Builds standbys for this host; `check` answers whether it takes a router (the hypervisor's arithmetic). */
export class VirtualStandbyFactory<Req, Refusal> {
  constructor(
    private readonly options: StandbyOptions & {
      check(name: string, req: Req): Refusal | undefined;
      /** A standby for `name` loaded a control image with this configuration (as input). */
      controlLoaded?(name: string, config: unknown): void;
      /** The standby for `name` was activated or discarded. */
      retired?(name: string, activated: boolean): void;
    },
  ) {}

  check(name: string, req: Req): Refusal | undefined {
    return this.options.check(name, req);
  }

  create(name: string, _req: Req): VirtualStandbyRouter {
    const standby = new VirtualStandbyRouter(name, this.options);
    this.standbys.set(name, standby);
    standby.onRetired = (activated) => {
      if (this.standbys.get(name) !== standby) return;
      this.standbys.delete(name);
      this.options.retired?.(name, activated);
    };
    standby.onControl = (config) => {
      if (this.standbys.get(name) === standby) this.options.controlLoaded?.(name, config);
    };
    return standby;
  }

  /** The newest standby made for `name` (see `VirtualStandbyRouter.stagedConfig`). */
  standby(name: string): VirtualStandbyRouter | undefined {
    return this.standbys.get(name);
  }

  private readonly standbys = new Map<string, VirtualStandbyRouter>();
}
