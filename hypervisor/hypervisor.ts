/**
 * The hypervisor (DESIGN.md, substrate layer; the VROOM paper's Figure 1a):
 * one per host process, it owns the packet arena, the substrate links (TUN,
 * TAP, one VXLAN endpoint and its links, any other `Link`), the virtual
 * routers placed here and the three run-time tables that join them:
 * placement (./placement.ts), binding (./binding.ts) and local switching
 * (./switching.ts).
 *
 * The packet path, per received batch (Click/VPP style: counters, no
 * allocation per packet):
 *
 *   link rx -> switching rule? -> target link tx, unchanged
 *           -> binding?        -> router.receive(ifIndex, batch, now)
 *           -> else            -> dropped ("unbound")
 *   router transmit(ifIndex, batch) -> binding at send time -> link tx
 *                                      (none: dropped, "unbound-interface")
 *
 * Tables are read on every batch, so any change (bind, rebind, a switching
 * rule) applies to the next batch. Routers keep their timers as deadlines
 * (router/port.ts): the hypervisor asks `poll(now)` for a router's next
 * deadline when it is placed and after each batch it receives, and keeps one
 * timer for the earliest deadline of all; when it fires every router due is
 * polled. Exceptions from a router are caught, counted and reported to
 * `onError`, never let loose in a native callback. `close()` closes every
 * link, the endpoint and the timer, so the process can exit.
 */
import { PacketArena, type PacketBatch } from "../router/batch.ts";
import type { RouterPort } from "../router/port.ts";
import { BindingTable } from "./binding.ts";
import { HypervisorError } from "./errors.ts";
import { batchTotals, DropCounts, type Link, LinkRegistry, type LinkStats } from "./link.ts";
import { TapLink, type TapLinkOptions } from "./links/tap.ts";
import { TunLink, type TunLinkOptions } from "./links/tun.ts";
import {
  VxlanEndpoint,
  type VxlanEndpointOptions,
  type VxlanLink,
  type VxlanLinkOptions,
} from "./links/vxlan.ts";
import { PlacementTable } from "./placement.ts";
import { SwitchingTable } from "./switching.ts";

/** Default arena: 16 MiB, 128 batches of 64 slots of 2048 bytes. */
export const DEFAULT_ARENA_BYTES = 16 << 20;

export interface HypervisorOptions {
  /** Size of the packet arena links draw their batches from. */
  arenaBytes?: number;
  /** Milliseconds, monotonic; default `performance.now`. */
  clock?: () => number;
  /** Where router exceptions go; default console.error. */
  onError?: (error: unknown, where: string) => void;
}

/** What the packet path did with one link's traffic. */
export interface LinkPathCounters {
  rxBatches: number;
  rxPackets: number;
  rxBytes: number;
  /** Packets handed to the router bound to the link. */
  toRouter: number;
  /** Packets sent on by a switching rule (accepted by the target). */
  switched: number;
  /** Packets routers sent on the link (accepted). */
  txPackets: number;
  /** "unbound" (rx, no rule and no binding), "switch-refused", "tx-refused". */
  drops: Record<string, number>;
}

export interface RouterPathCounters {
  rxBatches: number;
  rxPackets: number;
  txBatches: number;
  /** Packets the router sent that a link accepted. */
  txPackets: number;
  /** Exceptions from receive or poll. */
  errors: number;
  /** "unbound-interface", "tx-refused". */
  drops: Record<string, number>;
  /** The router's next deadline (Infinity: none). */
  deadline: number;
}

export interface HypervisorStats {
  links: Record<
    string,
    {
      layer: string;
      link: LinkStats;
      path: LinkPathCounters;
      /** "router/ifIndex" when bound. */
      boundTo?: string;
      switchedTo?: string;
    }
  >;
  routers: Record<string, RouterPathCounters>;
}

class LinkEntry {
  rxBatches = 0;
  rxPackets = 0;
  rxBytes = 0;
  toRouter = 0;
  switched = 0;
  txPackets = 0;
  readonly drops = new DropCounts();
  constructor(readonly link: Link) {}
}

class RouterEntry {
  rxBatches = 0;
  rxPackets = 0;
  txBatches = 0;
  txPackets = 0;
  errors = 0;
  deadline = Number.POSITIVE_INFINITY;
  readonly drops = new DropCounts();
  constructor(readonly router: RouterPort) {}
}

function pathCounters(e: LinkEntry): LinkPathCounters {
  return {
    rxBatches: e.rxBatches,
    rxPackets: e.rxPackets,
    rxBytes: e.rxBytes,
    toRouter: e.toRouter,
    switched: e.switched,
    txPackets: e.txPackets,
    drops: e.drops.snapshot(),
  };
}

const noTransmit = (): void => {};
const noWake = (): void => {};

export class Hypervisor {
  readonly arena: PacketArena;
  readonly clock: () => number;
  /** The tables, to read; change them through the methods below. */
  readonly links = new LinkRegistry();
  readonly placement = new PlacementTable();
  readonly binding: BindingTable;
  readonly switching: SwitchingTable;
  readonly #onError: (error: unknown, where: string) => void;
  readonly #linkEntries = new Map<Link, LinkEntry>();
  readonly #routerEntries = new Map<RouterPort, RouterEntry>();
  #endpoint: VxlanEndpoint | undefined;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #timerAt = Number.POSITIVE_INFINITY;
  #sweeping = false;
  #wokeInSweep = false;
  #closed = false;

  constructor(options: HypervisorOptions = {}) {
    this.arena = new PacketArena(options.arenaBytes ?? DEFAULT_ARENA_BYTES);
    this.clock = options.clock ?? (() => performance.now());
    this.#onError =
      options.onError ?? ((error, where) => console.error(`vroom hypervisor: ${where}:`, error));
    this.binding = new BindingTable(this.placement, this.links);
    this.switching = new SwitchingTable(this.links);
  }

  get closed(): boolean {
    return this.#closed;
  }

  // ---- links -------------------------------------------------------------------

  /** Adds a link (names are unique) and starts receiving from it. */
  addLink<L extends Link>(link: L): L {
    this.#open();
    this.links.add(link);
    const entry = new LinkEntry(link);
    this.#linkEntries.set(link, entry);
    link.onReceive((batch, now) => this.#receive(entry, batch, now));
    return link;
  }

  /**
   * Removes a link and closes it (unless `close` is false); throws LinkInUse
   * while it is bound or named by a switching rule.
   */
  removeLink(name: string, close = true): Link {
    const link = this.links.require(name);
    const b = this.binding.byLink(link);
    if (b !== undefined) {
      throw new HypervisorError(
        "LinkInUse",
        `link ${name} carries ${b.router.name}/${b.ifIndex}: unbind it first`,
      );
    }
    if (this.switching.mentions(link)) {
      throw new HypervisorError(
        "LinkInUse",
        `link ${name} is in a switching rule: remove it first`,
      );
    }
    this.links.remove(name);
    this.#linkEntries.delete(link);
    link.onReceive(null);
    if (close) link.close();
    return link;
  }

  /** Creates a TUN device link from the arena and adds it. */
  addTun(options: Omit<TunLinkOptions, "arena">): TunLink {
    this.#open();
    return this.#adding(new TunLink({ clock: this.clock, ...options, arena: this.arena }));
  }

  /** Creates a TAP device link from the arena and adds it. */
  addTap(options: Omit<TapLinkOptions, "arena">): TapLink {
    this.#open();
    return this.#adding(new TapLink({ clock: this.clock, ...options, arena: this.arena }));
  }

  /** Opens the hypervisor's VXLAN endpoint (one per hypervisor). */
  openVxlanEndpoint(options: Omit<VxlanEndpointOptions, "arena"> = {}): VxlanEndpoint {
    this.#open();
    if (this.#endpoint !== undefined) {
      throw new HypervisorError(
        "BadArgument",
        `the VXLAN endpoint is already open (port ${this.#endpoint.port})`,
      );
    }
    this.#endpoint = new VxlanEndpoint({ clock: this.clock, ...options, arena: this.arena });
    return this.#endpoint;
  }

  get vxlanEndpoint(): VxlanEndpoint | undefined {
    return this.#endpoint;
  }

  /** Creates a VXLAN link on the endpoint (opened with defaults if need be) and adds it. */
  addVxlan(options: VxlanLinkOptions): VxlanLink {
    this.#open();
    if (this.links.has(options.name)) {
      throw new HypervisorError("DuplicateLink", `link ${options.name} already exists`);
    }
    const endpoint = this.#endpoint ?? this.openVxlanEndpoint();
    return this.#adding(endpoint.link(options));
  }

  #adding<L extends Link>(link: L): L {
    try {
      return this.addLink(link);
    } catch (e) {
      link.close();
      throw e;
    }
  }

  // ---- routers (placement) -----------------------------------------------------

  /** Places a router here: its output goes through the binding table from now on. */
  addRouter(router: RouterPort): void {
    this.#open();
    this.placement.add(router);
    const entry = new RouterEntry(router);
    this.#routerEntries.set(router, entry);
    router.setTransmit((ifIndex, batch) => this.#transmit(entry, ifIndex, batch));
    router.setWake?.(() => this.#wake(entry));
    this.#poll(entry, this.clock());
  }

  /** Removes a router, unbinding its interfaces (their links stay); answers it. */
  removeRouter(name: string): RouterPort {
    const router = this.placement.remove(name);
    this.binding.unbindRouter(router);
    this.#routerEntries.delete(router);
    router.setTransmit(noTransmit);
    router.setWake?.(noWake);
    return router;
  }

  // ---- binding and switching ---------------------------------------------------

  bind(router: string, ifIndex: number, link: string): void {
    this.#open();
    this.binding.bind(router, ifIndex, link);
  }

  /** Moves an interface to another link at once; answers the link it left. */
  rebind(router: string, ifIndex: number, link: string): Link {
    this.#open();
    return this.binding.rebind(router, ifIndex, link);
  }

  unbind(router: string, ifIndex: number): Link {
    return this.binding.unbind(router, ifIndex);
  }

  /** Sends everything received on `from` out of `to`, bypassing routers. */
  addSwitch(from: string, to: string): void {
    this.#open();
    this.switching.add(from, to);
  }

  replaceSwitch(from: string, to: string): Link | undefined {
    this.#open();
    return this.switching.replace(from, to);
  }

  removeSwitch(from: string): Link {
    return this.switching.remove(from);
  }

  // ---- packet path -------------------------------------------------------------

  #receive(entry: LinkEntry, batch: PacketBatch, now: number): void {
    const { packets, bytes } = batchTotals(batch);
    entry.rxBatches++;
    entry.rxPackets += packets;
    entry.rxBytes += bytes;
    if (packets === 0) return;
    const link = entry.link;
    const to = this.switching.target(link);
    if (to !== undefined) {
      const sent = to.send(batch);
      entry.switched += sent;
      entry.drops.add("switch-refused", packets - sent);
      return;
    }
    const b = this.binding.byLink(link);
    if (b === undefined) {
      entry.drops.add("unbound", packets);
      return;
    }
    entry.toRouter += packets;
    const r = this.#routerEntries.get(b.router);
    if (r === undefined) return; // cannot happen: unplaced routers are unbound
    r.rxBatches++;
    r.rxPackets += packets;
    try {
      b.router.receive(b.ifIndex, batch, now);
    } catch (e) {
      r.errors++;
      this.#onError(e, `router ${b.router.name} receive on interface ${b.ifIndex}`);
    }
    this.#poll(r, now);
  }

  #transmit(entry: RouterEntry, ifIndex: number, batch: PacketBatch): void {
    let packets = 0;
    for (let i = 0; i < batch.count; i++) if (batch.lengths[i] !== 0) packets++;
    if (packets === 0) return;
    entry.txBatches++;
    const link = this.binding.linkOf(entry.router, ifIndex);
    if (link === undefined) {
      entry.drops.add("unbound-interface", packets);
      return;
    }
    const sent = link.send(batch);
    entry.txPackets += sent;
    entry.drops.add("tx-refused", packets - sent);
    const l = this.#linkEntries.get(link);
    if (l !== undefined) {
      l.txPackets += sent;
      l.drops.add("tx-refused", packets - sent);
    }
  }

  // ---- router timers -----------------------------------------------------------

  #poll(entry: RouterEntry, now: number): void {
    let next: number;
    try {
      next = entry.router.poll(now);
    } catch (e) {
      entry.errors++;
      this.#onError(e, `router ${entry.router.name} poll`);
      next = Number.POSITIVE_INFINITY;
    }
    entry.deadline = Number.isNaN(next) ? Number.POSITIVE_INFINITY : next;
    if (!this.#sweeping && entry.deadline < this.#timerAt) this.#arm(entry.deadline);
  }

  /** A router asked to be polled soon: its deadline becomes now. */
  #wake(entry: RouterEntry): void {
    if (this.#closed || this.#routerEntries.get(entry.router) !== entry) return;
    const now = this.clock();
    if (entry.deadline <= now) return;
    entry.deadline = now;
    if (this.#sweeping) this.#wokeInSweep = true;
    else if (now < this.#timerAt) this.#arm(now);
  }

  #arm(at: number): void {
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#timerAt = at;
    if (at === Number.POSITIVE_INFINITY || this.#closed) return;
    const delay = Math.min(Math.max(0, Math.ceil(at - this.clock())), 0x7fffffff);
    this.#timer = setTimeout(this.#onTimer, delay);
  }

  readonly #onTimer = (): void => {
    this.#timer = undefined;
    this.#timerAt = Number.POSITIVE_INFINITY;
    const now = this.clock();
    let next = Number.POSITIVE_INFINITY;
    this.#sweeping = true;
    try {
      this.#wokeInSweep = false;
      for (const entry of this.#routerEntries.values()) {
        if (entry.deadline <= now) this.#poll(entry, now);
        if (entry.deadline < next) next = entry.deadline;
      }
      if (this.#wokeInSweep) {
        // A router polled later in the sweep woke one polled earlier.
        for (const entry of this.#routerEntries.values()) next = Math.min(next, entry.deadline);
      }
    } finally {
      this.#sweeping = false;
    }
    this.#arm(next);
  };

  // ---- inspection and shutdown -------------------------------------------------

  stats(): HypervisorStats {
    const links: HypervisorStats["links"] = {};
    for (const [link, e] of this.#linkEntries) {
      const b = this.binding.byLink(link);
      const to = this.switching.target(link);
      links[link.name] = {
        layer: link.layer,
        link: link.stats(),
        path: pathCounters(e),
        ...(b === undefined ? {} : { boundTo: `${b.router.name}/${b.ifIndex}` }),
        ...(to === undefined ? {} : { switchedTo: to.name }),
      };
    }
    const routers: HypervisorStats["routers"] = {};
    for (const [router, e] of this.#routerEntries) {
      routers[router.name] = {
        rxBatches: e.rxBatches,
        rxPackets: e.rxPackets,
        txBatches: e.txBatches,
        txPackets: e.txPackets,
        errors: e.errors,
        drops: e.drops.snapshot(),
        deadline: e.deadline,
      };
    }
    return { links, routers };
  }

  /** The packet-path counters of one link; throws UnknownLink. */
  linkCounters(name: string): LinkPathCounters {
    const entry = this.#linkEntries.get(this.links.require(name));
    if (entry === undefined) throw new HypervisorError("UnknownLink", `no link ${name}`);
    return pathCounters(entry);
  }

  /** Closes every link, the VXLAN endpoint and the timer; idempotent. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#timerAt = Number.POSITIVE_INFINITY;
    const errors: unknown[] = [];
    for (const link of this.links.links()) {
      try {
        link.onReceive(null);
        link.close();
      } catch (e) {
        errors.push(e);
      }
    }
    try {
      this.#endpoint?.close();
    } catch (e) {
      errors.push(e);
    }
    for (const router of this.#routerEntries.keys()) {
      router.setTransmit(noTransmit);
      try {
        router.close?.();
      } catch (e) {
        errors.push(e);
      }
    }
    if (errors.length > 0) throw errors[0];
  }

  #open(): void {
    if (this.#closed) throw new HypervisorError("Closed", "the hypervisor is closed");
  }
}
