/**
 * A virtual router (DESIGN.md, logical layer): interfaces with addresses, a
 * RIB fed by local, connected and static routes (BGP later), the FIB and
 * adjacencies the RIB installs, the data plane and the host stack. It meets
 * the hypervisor only through `RouterPort`: batches in, batches out through
 * the transmit function, timers through `poll`.
 *
 * Each interface address gives a local host route (/32, /128: deliver to
 * the host stack) and a connected route for its subnet. A static route
 * through a gateway takes the interface whose subnet holds the gateway;
 * one whose gateway no subnet holds stays inactive, listed with its reason.
 *
 * Migration (router/migrate/) needs three hooks here. A router can be built
 * on a FIB and adjacency table loaded from a data-plane image (`restore`),
 * its adjacencies pinned until the routes are added again. Its control
 * plane can be frozen: BGP and TCP timers stop, TCP segments for the router
 * are kept whole by the host stack, the data plane and ARP/ND keep running;
 * `thaw` feeds the kept segments to TCP and resumes. And a fresh router
 * takes over an exported control plane (`importControlPlane`): its TCP
 * stack and BGP speaker, with the learned routes installed again.
 *
 * Control plane states and their transitions: held → running (start),
 * held|running → frozen (freeze), frozen → held|running (thaw, back to the
 * state it left), held|running|frozen → stopped (shutdown).
 */
import { randomBytes } from "node:crypto";
import { Fib } from "../fib/fib.ts";
import { mask4, mask6Word } from "../fib/prefix.ts";
import type { Family } from "../fib/types.ts";
import { AdjacencyKind, type AdjacencySpec, AdjacencyTable } from "./adjacency.ts";
import type { PacketArena, PacketBatch } from "./batch.ts";
import { type BgpLogEvent, BgpSpeaker } from "./bgp/speaker.ts";
import type { SpeakerState } from "./bgp/state.ts";
import type { BgpTransport } from "./bgp/transport.ts";
import { parseRouterConfig, type RouterConfig, type StaticRoute } from "./config.ts";
import { DROP_REASON_NAMES, InterfaceCounters } from "./counters.ts";
import { DataPlane } from "./dataplane.ts";
import { HostStack } from "./host.ts";
import { RouterInterface } from "./interface.ts";
import { keptSegment } from "./migrate/kept.ts";
import type { NeighborActions } from "./neighbors.ts";
import { holds, NextHops } from "./nexthops.ts";
import type { PortInterface, RouterPort, TransmitFn } from "./port.ts";
import { DISTANCE, Rib } from "./rib.ts";
import { TcpStack } from "./tcp/stack.ts";
import type { TcpStackOptions } from "./tcp/types.ts";

export interface VirtualRouterOptions {
  /** Where the router's output batches live (shared with the hypervisor's links). */
  arena: PacketArena;
  /** Packets an interface's output batch holds before it is sent (default 256). */
  batchSize?: number;
  /**
   * Keep the control plane (BGP) from starting on the first poll, until
   * `startControlPlane` (a daemon starts it once the change that placed the
   * router has committed). Default: it starts on the first poll.
   */
  holdControlPlane?: boolean;
  /**
   * The configuration as plain input (what `parseRouterConfig` accepted), kept
   * so that the router can be rebuilt elsewhere; `create` records it itself.
   */
  configInput?: unknown;
  /**
   * Build on this FIB and adjacency table (loaded from a migrated data-plane
   * image) instead of empty ones; the table's pinned entries are unpinned
   * once the router's own routes are in (see `importControlPlane`). With
   * `adopt`, the FIB already holds what this router's RIB chooses (it was
   * cloned from the router's source): the RIB is built without writing it,
   * until `finishAdoption`.
   */
  restore?: { fib: Fib; adjacencies: AdjacencyTable; adopt?: boolean };
}

/**
 * Where a router's control plane is: not started yet, running, frozen for a
 * migration (data plane running), or stopped for good.
 */
export type ControlPlaneState = "held" | "running" | "frozen" | "stopped";

/** What `importControlPlane` takes: the two exports, taken at the same `now` on the source. */
export interface ControlPlaneImport {
  tcp: unknown;
  bgp: SpeakerState | undefined;
}

export class VirtualRouter implements RouterPort {
  readonly name: string;
  readonly config: RouterConfig;
  readonly fib: Fib;
  readonly adjacencies: AdjacencyTable;
  /** The configuration as input data, when known (see `VirtualRouterOptions.configInput`). */
  readonly configInput: unknown;
  readonly rib: Rib;
  readonly ifaces: RouterInterface[];
  /** Static routes not installed, and why. */
  readonly inactiveStatics: { route: StaticRoute; reason: string }[] = [];
  /** Static routes installed. */
  readonly activeStatics: StaticRoute[] = [];
  /** Next-hop resolution through connected and static routes, for the control plane. */
  readonly nextHops: NextHops;
  private tcpStack: TcpStack;
  private readonly tcpOptions: TcpStackOptions;
  /** The router's BGP speaker (router/bgp/), when its config has a `bgp` section. */
  readonly bgp: BgpSpeaker | undefined;
  /** Where the speaker's events go (the daemon logs them); default: nowhere. */
  onBgpEvent: (e: BgpLogEvent) => void = () => {};
  private readonly host: HostStack;
  private readonly dataPlane: DataPlane;
  private readonly arena: PacketArena;
  private closed = false;
  private transmit: TransmitFn = () => {};
  private wake: () => void = () => {};
  /** Inside receive or poll: output goes out when the call ends, no wake needed. */
  private busy = 0;
  private control: ControlPlaneState;
  /** The state a freeze left, to go back to at thaw. */
  private beforeFreeze: ControlPlaneState = "running";
  /** Control planes imported so far (a held router may take a newer one). */
  private imports = 0;

  /** Checks a configuration and builds the router, or returns every problem found. */
  static create(
    input: unknown,
    options: VirtualRouterOptions,
  ): { ok: true; router: VirtualRouter } | { ok: false; errors: string[] } {
    const parsed = parseRouterConfig(input);
    if (!parsed.ok) return parsed;
    return {
      ok: true,
      router: new VirtualRouter(parsed.config, {
        ...options,
        configInput: options.configInput ?? structuredClone(input),
      }),
    };
  }

  constructor(config: RouterConfig, options: VirtualRouterOptions) {
    this.name = config.name;
    this.config = config;
    this.configInput = options.configInput;
    this.fib = options.restore?.fib ?? new Fib();
    this.adjacencies = options.restore?.adjacencies ?? new AdjacencyTable();
    this.arena = options.arena;
    this.control = options.holdControlPlane ? "held" : "running";
    const batchSize = options.batchSize ?? 256;
    this.ifaces = config.interfaces.map(
      (c, i) => new RouterInterface(i, c, options.arena.batch(batchSize)),
    );
    this.rib = new Rib(this.fib, this.adjacencies);
    this.rib.adopting = options.restore?.adopt === true;
    this.host = new HostStack((ifc) => this.flush(ifc));
    this.dataPlane = new DataPlane(
      this.fib,
      this.adjacencies,
      this.ifaces,
      this.host,
      options.arena.batch(5),
    );
    this.host.dataPlane = this.dataPlane;
    this.tcpOptions = {
      secret: randomBytes(32),
      emit: (out) => this.host.sendTcp(out),
      wake: () => this.wake(),
    };
    this.tcpStack = new TcpStack(this.tcpOptions);
    this.host.tcp = this.tcpStack;
    // Segments sent from outside receive and poll (an API call that makes BGP
    // connect or send) wait in an output batch: have the router polled soon.
    this.host.onStrayOutput = () => {
      if (this.busy === 0) this.wake();
    };
    this.nextHops = new NextHops(this.ifaces, () => this.activeStatics, this.rib, this.adjacencies);
    for (const ifc of this.ifaces) this.addInterfaceRoutes(ifc);
    for (const route of config.staticRoutes) this.addStatic(route);
    const nh = this.nextHops;
    // The speaker reaches TCP through the router, so that an imported stack replaces the first.
    const transport: BgpTransport = {
      listen: (o) => this.tcpStack.listen(o),
      connect: (local, remote, o, now) => this.tcpStack.connect(local, remote, o, now),
    };
    this.bgp = config.bgp
      ? new BgpSpeaker(
          config.bgp,
          {
            install: (family, prefix, length, nextHop, distance) =>
              nh.install(family, prefix, length, nextHop, distance),
            remove: (family, prefix, length) => nh.remove(family, prefix, length),
            resolve: (family, nextHop) => {
              const r = nh.resolve(family, nextHop);
              return { reachable: r !== undefined, metric: r?.metric ?? 0 };
            },
            sourceAddressFor: (family, remote) => nh.sourceAddressFor(family, remote),
            localRoutes: () => nh.localRoutes(),
            mssFor: (family, remote) => nh.mssFor(family, remote),
          },
          transport,
          { log: (e) => this.onBgpEvent(e) },
        )
      : undefined;
  }

  /** The router's own TCP (router/tcp/): its BGP sessions run over it. */
  get tcp(): TcpStack {
    return this.tcpStack;
  }

  interfaces(): readonly PortInterface[] {
    return this.ifaces;
  }

  /** The interface called `name`, or undefined. */
  interfaceNamed(name: string): RouterInterface | undefined {
    return this.ifaces.find((i) => i.name === name);
  }

  setTransmit(transmit: TransmitFn): void {
    this.transmit = transmit;
  }

  setWake(wake: () => void): void {
    this.wake = wake;
  }

  receive(ifIndex: number, batch: PacketBatch, now: number): void {
    const ifc = this.ifaces[ifIndex];
    if (!ifc) throw new RangeError(`router ${this.name} has no interface ${ifIndex}`);
    this.busy++;
    try {
      this.dataPlane.receive(ifc, batch, now);
    } finally {
      this.busy--;
    }
  }

  /** Asks the hypervisor to poll the router soon (after acting on its control plane from outside). */
  pollSoon(): void {
    this.wake();
  }

  /** Where the control plane is. */
  get controlPlane(): ControlPlaneState {
    return this.control;
  }

  /** Lets a held control plane start: the next poll (asked for now) starts BGP. */
  startControlPlane(): void {
    if (this.control !== "held") return;
    this.control = "running";
    this.wake();
  }

  poll(now: number): number {
    this.host.now = now;
    this.busy++;
    try {
      return this.pollAll(now);
    } finally {
      this.busy--;
    }
  }

  private pollAll(now: number): number {
    let next = Number.POSITIVE_INFINITY;
    if (this.control !== "frozen") {
      if (this.bgp && !this.closed && this.control !== "held") {
        if (this.control === "running" && !this.bgp.started) this.bgp.start(now);
        next = this.bgp.poll(now);
      }
      next = Math.min(next, this.tcpStack.poll(now));
    }
    for (const ifc of this.ifaces) {
      if (ifc.layer !== "l2") continue;
      next = Math.min(next, ifc.arp.poll(now, this.neighborActions(ifc, 4, now)));
      next = Math.min(next, ifc.nd.poll(now, this.neighborActions(ifc, 6, now)));
    }
    this.dataPlane.flushAll();
    return next;
  }

  /** Tells the interface's neighbours where the router now is (after the interface moved). */
  announce(ifIndex: number, now: number): void {
    const ifc = this.ifaces[ifIndex];
    if (!ifc) throw new RangeError(`router ${this.name} has no interface ${ifIndex}`);
    this.host.announce(ifc, now);
  }

  /**
   * Stops the control plane for good: BGP sends every peer a Cease
   * NOTIFICATION (Administrative Shutdown) and closes its connections;
   * later polls run only the TCP timers (retransmissions, TIME-WAIT), never
   * a new session. `close` then releases the rest.
   */
  shutdown(now: number, message = "shutting down"): void {
    this.host.now = now;
    this.busy++;
    try {
      if (this.control === "frozen") this.resumeKept(now);
      if (
        this.control === "running" ||
        (this.control === "frozen" && this.beforeFreeze === "running")
      )
        this.bgp?.stop(now, message);
      this.control = "stopped";
      this.tcpStack.poll(now);
      this.dataPlane.flushAll();
    } finally {
      this.busy--;
    }
  }

  // ---- migration hooks ---------------------------------------------------------

  /**
   * Freezes the control plane at `now`: BGP and TCP run no timer and take no
   * input; TCP segments for the router are kept whole (`takeKept`); the data
   * plane, ARP and ND keep running. Throws unless held or running.
   */
  freeze(now: number): void {
    if (this.control !== "held" && this.control !== "running")
      throw new Error(`router ${this.name}: cannot freeze a control plane that is ${this.control}`);
    this.host.now = now;
    this.beforeFreeze = this.control;
    this.control = "frozen";
    this.host.frozen = [];
  }

  /** While frozen: the segments kept so far (whole IP packets), which the router forgets. */
  takeKept(): Uint8Array[] {
    const kept = this.host.frozen ?? [];
    if (this.host.frozen) this.host.frozen = [];
    return kept;
  }

  /**
   * Resumes a frozen control plane at `now`: the kept segments go to TCP in
   * their order of arrival, then the timers run again (those that fell due
   * meanwhile fire at the next poll). `handedOver`: segments `takeKept`
   * gave away (to a migration that rolled back), fed first. Throws unless frozen.
   */
  thaw(now: number, handedOver: readonly Uint8Array[] = []): void {
    if (this.control !== "frozen")
      throw new Error(`router ${this.name}: cannot thaw a control plane that is ${this.control}`);
    this.host.now = now;
    this.busy++;
    try {
      this.host.frozen?.unshift(...handedOver);
      this.resumeKept(now);
      this.control = this.beforeFreeze;
      this.dataPlane.flushAll();
    } finally {
      this.busy--;
    }
    this.wake();
  }

  /**
   * Feeds TCP segments handed over by a migration (whole IP packets) to the
   * router's TCP stack, or keeps them while frozen. Answers how many were
   * not TCP segments (dropped).
   */
  inputSegments(packets: readonly Uint8Array[], now: number): number {
    if (this.host.frozen) {
      this.host.frozen.push(...packets);
      return 0;
    }
    let bad = 0;
    this.host.now = now;
    this.busy++;
    try {
      for (const p of packets) {
        const seg = keptSegment(p);
        if ("error" in seg) bad++;
        else this.tcpStack.input(seg.family, seg.src, seg.dst, p, seg.offset, seg.length, now);
      }
      this.dataPlane.flushAll();
    } finally {
      this.busy--;
    }
    if (packets.length > 0) this.wake();
    return bad;
  }

  private resumeKept(now: number): void {
    const kept = this.host.frozen ?? [];
    this.host.frozen = undefined;
    this.inputSegments(kept, now);
  }

  /**
   * Takes over an exported control plane (a fresh router built with
   * `restore`, its control plane held): the TCP stack is imported with its
   * deadlines moved to `now`, the BGP speaker imported on the imported
   * connections, its learned routes installed in the RIB (and so the FIB),
   * and the adjacency table unpinned. Throws (TcpImportError, Error) on a
   * state that does not fit this router; the router is then unusable.
   *
   * A router still held may import again, a newer state of the same source
   * (a migration's final state after a pre-copy round): the TCP stack and
   * the sessions are replaced, tables of unchanged stamps kept; a state
   * whose routes changed is refused (build the router again).
   */
  importControlPlane(state: ControlPlaneImport, now: number): void {
    if (this.control !== "held")
      throw new Error(`router ${this.name}: imports a control plane only while held`);
    const bgp = this.bgp;
    if ((state.bgp === undefined) !== (bgp === undefined))
      throw new Error(
        `router ${this.name}: the BGP state ${bgp ? "is missing" : "is for a router without BGP"}`,
      );
    const neighbors = this.config.bgp?.neighbors ?? [];
    const keyFor = (family: Family, remote: Uint32Array) => {
      const n = neighbors.find(
        (c) => c.family === family && c.address.every((w, i) => w === remote[i]),
      );
      return n?.password !== undefined ? new TextEncoder().encode(n.password) : undefined;
    };
    const user = bgp?.transportUser;
    const stack = TcpStack.import(
      state.tcp,
      this.tcpOptions,
      {
        user: (id) => {
          if (!user) throw new Error(`TCP connection ${id} has no application on this router`);
          return user;
        },
        listener: (id) => {
          if (!user) throw new Error(`TCP listener ${id} has no application on this router`);
          const family = (
            state.tcp as { listeners: { id: string; family: Family }[] }
          ).listeners.find((l) => l.id === id)?.family;
          return {
            user,
            md5KeyFor: (remote: Uint32Array) => (family ? keyFor(family, remote) : undefined),
          };
        },
      },
      now,
    );
    this.tcpStack = stack;
    this.host.tcp = stack;
    if (bgp && state.bgp) {
      const routesChanged = bgp.import(state.bgp, now, (id) => stack.connection(id));
      if (routesChanged && this.imports > 0)
        throw new Error(
          `router ${this.name}: a second import changes the BGP routes; build the router again`,
        );
      if (routesChanged) bgp.reinstall(now);
    }
    this.imports++;
    // While adopting, the pins keep the FIB's adjacencies until the RIB owns the FIB.
    if (!this.rib.adopting) this.adjacencies.unpin();
  }

  /** Whether the RIB is still adopting a cloned FIB (see `VirtualRouterOptions.restore`). */
  get adopting(): boolean {
    return this.rib.adopting;
  }

  /** Ends the adoption: from now on the RIB writes the FIB as usual. */
  finishAdoption(): void {
    this.rib.adopting = false;
    this.adjacencies.unpin();
  }

  /** Sets each interface's counters from `counters()` output (interfaces by name). */
  restoreCounters(data: Record<string, Record<string, unknown>>): void {
    for (const ifc of this.ifaces) {
      const c = data[ifc.name];
      if (!c) continue;
      const num = (v: unknown) => (typeof v === "number" && Number.isFinite(v) ? v : 0);
      ifc.counters.rxPackets = num(c.rxPackets);
      ifc.counters.rxBytes = num(c.rxBytes);
      ifc.counters.txPackets = num(c.txPackets);
      ifc.counters.txBytes = num(c.txBytes);
      ifc.counters.icmpSuppressed = num(c.icmpSuppressed);
      const drops = (c.drops ?? {}) as Record<string, unknown>;
      ifc.counters.drops.fill(0);
      DROP_REASON_NAMES.forEach((name, i) => {
        ifc.counters.drops[i] = num(drops[name]);
      });
    }
  }

  /** Releases the router's output batches and scratch slots; idempotent. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.transmit = () => {};
    this.wake = () => {};
    for (const ifc of this.ifaces) this.arena.release(ifc.tx);
    this.arena.release(this.dataPlane.scratch);
  }

  /** The router's counters (totals over its interfaces) and each interface's, as plain data. */
  counters(): {
    router: Record<string, unknown>;
    interfaces: Record<string, Record<string, unknown>>;
  } {
    const total = new InterfaceCounters();
    for (const { counters: c } of this.ifaces) {
      total.rxPackets += c.rxPackets;
      total.rxBytes += c.rxBytes;
      total.txPackets += c.txPackets;
      total.txBytes += c.txBytes;
      total.icmpSuppressed += c.icmpSuppressed;
      c.drops.forEach((n, reason) => {
        total.drops[reason] += n;
      });
    }
    return {
      router: total.toJSON(),
      interfaces: Object.fromEntries(this.ifaces.map((i) => [i.name, i.counters.toJSON()])),
    };
  }

  private flush(ifc: RouterInterface): void {
    if (ifc.tx.count === 0) return;
    this.transmit(ifc.index, ifc.tx);
    ifc.tx.clear();
  }

  private neighborActions(ifc: RouterInterface, family: 4 | 6, now: number): NeighborActions {
    return {
      solicit: (n) => this.host.solicit(ifc, family, n, now),
      failed: (_n, pending) => this.host.unreachable(ifc, family, pending, now),
    };
  }

  private addInterfaceRoutes(ifc: RouterInterface): void {
    const local: AdjacencySpec = { kind: AdjacencyKind.Local, ifIndex: -1, gateway: [] };
    const onLink: AdjacencySpec = { kind: AdjacencyKind.Forward, ifIndex: ifc.index, gateway: [] };
    for (const a of ifc.ipv4) {
      this.rib.add({
        source: "local",
        distance: DISTANCE.local,
        family: 4,
        prefix: Uint32Array.of(a.address),
        length: 32,
        adjacency: local,
      });
      if (a.length < 32) {
        const net = (a.address & mask4(a.length)) >>> 0;
        this.rib.add({
          source: "connected",
          distance: DISTANCE.connected,
          family: 4,
          prefix: Uint32Array.of(net),
          length: a.length,
          adjacency: onLink,
        });
      }
    }
    for (const a of ifc.ipv6) {
      this.rib.add({
        source: "local",
        distance: DISTANCE.local,
        family: 6,
        prefix: a.address,
        length: 128,
        adjacency: local,
      });
      if (a.length < 128) {
        const net = a.address.map((w, i) => (w & mask6Word(a.length, i)) >>> 0);
        this.rib.add({
          source: "connected",
          distance: DISTANCE.connected,
          family: 6,
          prefix: net,
          length: a.length,
          adjacency: onLink,
        });
      }
    }
  }

  private addStatic(route: StaticRoute): void {
    const family = route.prefix.family;
    let adjacency: AdjacencySpec;
    if (route.action === "reject")
      adjacency = { kind: AdjacencyKind.Reject, ifIndex: -1, gateway: [] };
    else if (route.action === "blackhole")
      adjacency = { kind: AdjacencyKind.Blackhole, ifIndex: -1, gateway: [] };
    else {
      let ifc = route.interface !== undefined ? this.interfaceNamed(route.interface) : undefined;
      if (!ifc && route.via) ifc = this.ifaces.find((i) => holds(i, family, route.via!));
      if (!ifc) {
        this.inactiveStatics.push({ route, reason: "no interface's subnet holds the gateway" });
        return;
      }
      adjacency = {
        kind: AdjacencyKind.Forward,
        ifIndex: ifc.index,
        gateway: route.via ? [...route.via] : [],
      };
    }
    this.activeStatics.push(route);
    this.rib.add({
      source: "static",
      distance: route.distance,
      family,
      prefix: route.prefix.words,
      length: route.prefix.length,
      adjacency,
    });
  }
}
