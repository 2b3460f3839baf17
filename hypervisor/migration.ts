/**
 * The substrate side of live migration (DESIGN.md, "Migration", steps 1 and
 * 5; docs/MIGRATION.md): `HypervisorSourceSubstrate` and
 * `HypervisorTargetSubstrate` implement migration/host.ts's hooks over a
 * `Hypervisor`'s tables.
 *
 * The link scheme, for a router whose interface i sits on VXLAN segment V
 * (RFC 7348) with neighbours' VTEPs R:
 *
 * - Prepare (target): the target adds a VXLAN link with the same VNI V on
 *   its own endpoint, flooding to R: the link the router will be bound to
 *   for good. Segment V and its VTEPs are a fact of the network that the
 *   target is told about (`TargetLinkFactory`; vroomd reads them from its
 *   `migration.segments`), since the migration protocol carries interfaces
 *   by name, layer, MTU and MAC only.
 * - Redirect (source, at commit): for each of the router's links a tunnel
 *   link towards the target with the same VNI V, on a second VXLAN endpoint
 *   of the source (its own UDP port, since the source's main endpoint already
 *   holds V), and a switching rule old link -> tunnel. The target's endpoint
 *   demultiplexes V to the link it prepared, so redirected frames and frames
 *   from neighbours already re-homed arrive on the same link: nothing to
 *   switch at the target, nothing to reorder at re-home time. The source's
 *   router is unbound at the same instant, so only the target transmits.
 * - The reverse direction goes straight from the target to the neighbours'
 *   VTEPs: a VXLAN receiver takes VNI V from any source address (and a
 *   learning one moves its entry for the router's MAC to the target), so no
 *   traffic of the moved router goes back through the source. The target's
 *   link does not learn: redirected frames come from the source's tunnel
 *   address, and a learned entry would send answers back that way.
 * - Re-home (source): the neighbour's end is pointed at the target by a
 *   `Rehomer` (vroomd: an operator command such as `bridge fdb append` then
 *   `del`). When it succeeds, `unswitch` removes that redirect and its
 *   tunnel; with no rehomer, or when it reports that it could not, the
 *   redirect stays (listed by `redirects()`, removed by `clearRedirect`):
 *   the neighbour still reaches the router through the source, never a
 *   black hole.
 * - Drop (source): the router leaves the placement; links stay.
 * - Halt and resume (source, stop-and-copy migrations only): `halt` adds,
 *   for each of the router's links, a switching rule to a `HaltLink` that
 *   drops and counts every packet it is given, so nothing reaches the
 *   router from then on; `redirect` retargets those rules to the tunnels in
 *   the same step (the halt ends where the redirect begins), and `resume`
 *   removes them after a rollback. `halted()` shows the packets dropped.
 *
 * Every hook is all or nothing (a failure undoes what the call did) and
 * safe to repeat, since the migration drivers retry failed hooks.
 */
import type {
  InterfaceRequirement,
  RouterRequirements,
  SourceSubstrate,
  TargetSubstrate,
} from "../migration/host.ts";
import type { PacketBatch } from "../router/batch.ts";
import { HypervisorError } from "./errors.ts";
import type { Hypervisor } from "./hypervisor.ts";
import { batchTotals, type Link, type LinkLayer, type LinkStats } from "./link.ts";
import { type VxlanEndpoint, VxlanLink } from "./links/vxlan.ts";

// ---- source ------------------------------------------------------------------------------

/** One old link of a moving router. */
export interface RedirectRequest {
  router: string;
  ifIndex: number;
  /** The link the interface was bound to. */
  link: Link;
  /** The target hypervisor. */
  peer: string;
}

/** Makes the link (not yet added) that carries an old link's traffic to the target. */
export type TunnelFactory = (request: RedirectRequest) => Link;

/**
 * Points the neighbour's end of an old link at the target; answers whether
 * it did (false: the redirect must stay). Throwing counts as a failure the
 * migration driver retries.
 */
export type Rehomer = (request: RedirectRequest & { tunnel: Link }) => Promise<boolean>;

export interface SourceSubstrateOptions {
  hypervisor: Hypervisor;
  tunnel: TunnelFactory;
  rehome?: Rehomer;
  /** Removes the router (default: `hypervisor.removeRouter` when it is placed). */
  drop?: (router: string) => Promise<void> | void;
}

export interface RedirectView {
  router: string;
  ifIndex: number;
  peer: string;
  from: string;
  tunnel: string;
  /** The neighbour's end was re-homed (the redirect goes at the next `unswitch`). */
  rehomed: boolean;
}

interface Redirect {
  peer: string;
  old: Link;
  tunnel: Link;
  rehomed: boolean;
}

/**
 * Where a halted router's links lead: it accepts every packet switched to
 * it and drops it, counted (`stats().drops.halted`). It never receives.
 */
export class HaltLink implements Link {
  readonly name: string;
  readonly layer: LinkLayer;
  #packets = 0;
  #bytes = 0;
  #closed = false;

  constructor(name: string, layer: LinkLayer) {
    this.name = name;
    this.layer = layer;
  }

  onReceive(): void {}

  send(batch: PacketBatch): number {
    const { packets, bytes } = batchTotals(batch);
    this.#packets += packets;
    this.#bytes += bytes;
    return packets;
  }

  /** Packets and bytes dropped so far. */
  get dropped(): { packets: number; bytes: number } {
    return { packets: this.#packets, bytes: this.#bytes };
  }

  stats(): LinkStats {
    return {
      rxPackets: 0,
      rxBytes: 0,
      txPackets: 0,
      txBytes: 0,
      drops: this.#packets > 0 ? { halted: this.#packets } : {},
    };
  }

  close(): void {
    this.#closed = true;
  }

  get closed(): boolean {
    return this.#closed;
  }
}

/** The link a halted link `link` is switched to. */
export function haltLinkName(link: string): string {
  return `${link}!halt`;
}

interface Halt {
  old: Link;
  sink: HaltLink;
}

/** A halted router as `halted()` shows it. */
export interface HaltView {
  router: string;
  /** The router's links, each switched to a HaltLink. */
  links: string[];
  /** Packets and bytes dropped since the halt. */
  packets: number;
  bytes: number;
}

export class HypervisorSourceSubstrate implements SourceSubstrate {
  readonly #hv: Hypervisor;
  readonly #options: SourceSubstrateOptions;
  /** router -> ifIndex -> redirect. */
  readonly #redirects = new Map<string, Map<number, Redirect>>();
  /** router -> ifIndex -> halt (stop-and-copy, until the redirect or the resume). */
  readonly #halts = new Map<string, Map<number, Halt>>();
  /** Packets and bytes dropped by halts that ended, by router. */
  readonly #haltedBefore = new Map<string, { packets: number; bytes: number }>();

  constructor(options: SourceSubstrateOptions) {
    this.#hv = options.hypervisor;
    this.#options = options;
  }

  async redirect(router: string, peer: string): Promise<void> {
    const existing = this.#redirects.get(router);
    if (existing !== undefined && existing.size > 0) {
      const other = [...existing.values()].find((r) => r.peer !== peer);
      if (other === undefined) return; // a repeated call
      throw new HypervisorError(
        "BadArgument",
        `${router} is already redirected to ${other.peer}, not ${peer}`,
      );
    }
    const bound = this.#bound(router);
    const halts = this.#halts.get(router);
    const made = new Map<number, Redirect>();
    try {
      for (const { ifIndex, link } of bound) {
        const tunnel = this.#options.tunnel({ router, ifIndex, link, peer });
        try {
          this.#hv.addLink(tunnel);
        } catch (e) {
          tunnel.close();
          throw e;
        }
        made.set(ifIndex, { peer, old: link, tunnel, rehomed: false });
        // A halted link's rule is retargeted: its packets go to the target from this batch on.
        if (halts?.get(ifIndex)?.old === link) this.#hv.replaceSwitch(link.name, tunnel.name);
        else this.#hv.addSwitch(link.name, tunnel.name);
      }
    } catch (e) {
      for (const [ifIndex, r] of made) this.#undo(r, halts?.get(ifIndex));
      throw e;
    }
    // The switching rules now take every frame from the old links; the
    // source's copy of the router falls silent at the same instant.
    for (const { ifIndex } of bound) this.#hv.unbind(router, ifIndex);
    this.#redirects.set(router, made);
    if (halts !== undefined) this.#endHalt(router, halts);
  }

  async halt(router: string): Promise<void> {
    if (this.#halts.has(router)) return; // a repeated call
    if ((this.#redirects.get(router)?.size ?? 0) > 0) {
      throw new HypervisorError("BadArgument", `${router} is already redirected: nothing to halt`);
    }
    const made = new Map<number, Halt>();
    try {
      for (const { ifIndex, link } of this.#bound(router)) {
        const sink = new HaltLink(haltLinkName(link.name), link.layer);
        this.#hv.addLink(sink);
        made.set(ifIndex, { old: link, sink });
        this.#hv.addSwitch(link.name, sink.name);
      }
    } catch (e) {
      this.#endHalt(router, made);
      throw e;
    }
    this.#halts.set(router, made);
  }

  async resume(router: string): Promise<void> {
    const halts = this.#halts.get(router);
    if (halts !== undefined) this.#endHalt(router, halts);
  }

  /** Halted routers, all or one: their links and what was dropped since the halt. */
  halted(router?: string): HaltView[] {
    const out: HaltView[] = [];
    for (const [name, halts] of this.#halts) {
      if (router !== undefined && name !== router) continue;
      let packets = 0;
      let bytes = 0;
      for (const h of halts.values()) {
        packets += h.sink.dropped.packets;
        bytes += h.sink.dropped.bytes;
      }
      out.push({ router: name, links: [...halts.values()].map((h) => h.old.name), packets, bytes });
    }
    return out;
  }

  /**
   * Packets and bytes the halts of `router` dropped, the current one and
   * those that ended (a redirect or a resume), since this substrate began.
   */
  haltDrops(router: string): { packets: number; bytes: number } {
    const before = this.#haltedBefore.get(router) ?? { packets: 0, bytes: 0 };
    const now = this.halted(router)[0];
    return {
      packets: before.packets + (now?.packets ?? 0),
      bytes: before.bytes + (now?.bytes ?? 0),
    };
  }

  async rehome(router: string, ifIndex: number, peer: string): Promise<void> {
    const r = this.#redirects.get(router)?.get(ifIndex);
    if (r === undefined || r.rehomed) return; // no link on that interface, or done
    const rehomer = this.#options.rehome;
    if (rehomer === undefined) return;
    r.rehomed = await rehomer({ router, ifIndex, link: r.old, peer, tunnel: r.tunnel });
  }

  async unswitch(router: string, ifIndex: number): Promise<void> {
    const all = this.#redirects.get(router);
    const r = all?.get(ifIndex);
    if (r === undefined || !r.rehomed) return; // kept: the neighbour still sends here
    this.#undo(r);
    all!.delete(ifIndex);
    if (all!.size === 0) this.#redirects.delete(router);
  }

  async drop(router: string): Promise<void> {
    if (this.#options.drop !== undefined) {
      await this.#options.drop(router);
      return;
    }
    if (this.#hv.placement.has(router)) this.#hv.removeRouter(router);
  }

  /** The redirects in place, all or one router's. */
  redirects(router?: string): RedirectView[] {
    const out: RedirectView[] = [];
    for (const [name, all] of this.#redirects) {
      if (router !== undefined && name !== router) continue;
      for (const [ifIndex, r] of all) {
        out.push({
          router: name,
          ifIndex,
          peer: r.peer,
          from: r.old.name,
          tunnel: r.tunnel.name,
          rehomed: r.rehomed,
        });
      }
    }
    return out;
  }

  /** The operator re-homed the neighbour by hand: removes a kept redirect; false when none. */
  clearRedirect(router: string, ifIndex: number): boolean {
    const all = this.#redirects.get(router);
    const r = all?.get(ifIndex);
    if (r === undefined) return false;
    this.#undo(r);
    all!.delete(ifIndex);
    if (all!.size === 0) this.#redirects.delete(router);
    return true;
  }

  /** The router's interfaces that are bound, with their links. */
  #bound(router: string): { ifIndex: number; link: Link }[] {
    const port = this.#hv.placement.require(router);
    const bound: { ifIndex: number; link: Link }[] = [];
    for (const iface of port.interfaces()) {
      const link = this.#hv.binding.lookup(router, iface.index);
      if (link !== undefined) bound.push({ ifIndex: iface.index, link });
    }
    return bound;
  }

  /** Undoes a redirect; a link that was halted goes back to its halt. */
  #undo(r: Redirect, halt?: Halt): void {
    if (this.#hv.switching.target(r.old) === r.tunnel) {
      if (halt !== undefined && halt.old === r.old)
        this.#hv.replaceSwitch(r.old.name, halt.sink.name);
      else this.#hv.removeSwitch(r.old.name);
    }
    if (this.#hv.links.get(r.tunnel.name) === r.tunnel) this.#hv.removeLink(r.tunnel.name);
  }

  /** Removes the halt rules still in place and the halt links, keeping their counts. */
  #endHalt(router: string, halts: Map<number, Halt>): void {
    const total = this.#haltedBefore.get(router) ?? { packets: 0, bytes: 0 };
    for (const h of halts.values()) {
      if (this.#hv.switching.target(h.old) === h.sink) this.#hv.removeSwitch(h.old.name);
      if (this.#hv.links.get(h.sink.name) === h.sink) this.#hv.removeLink(h.sink.name);
      total.packets += h.sink.dropped.packets;
      total.bytes += h.sink.dropped.bytes;
    }
    this.#haltedBefore.set(router, total);
    this.#halts.delete(router);
  }
}

/** Where a peer hypervisor's VXLAN endpoint listens on the underlay. */
export interface PeerVtep {
  address: string;
  /** UDP port of its main endpoint; default 4789. */
  port?: number;
}

/**
 * Tunnels for VXLAN links: a link with the old link's VNI on `endpoint` (a
 * second endpoint, on its own port), sending to the peer's main endpoint,
 * without learning. Other kinds of link cannot be carried to another host.
 */
export function vxlanTunnels(
  endpoint: VxlanEndpoint,
  peers: (peer: string) => PeerVtep | undefined,
): TunnelFactory {
  return ({ router, ifIndex, link, peer }) => {
    if (!(link instanceof VxlanLink)) {
      throw new HypervisorError(
        "BadArgument",
        `${router}/${ifIndex} is on ${link.layer.toUpperCase()} link ${link.name}, not VXLAN: it cannot be redirected to another host`,
      );
    }
    const vtep = peers(peer);
    if (vtep === undefined) {
      throw new HypervisorError("BadArgument", `no VXLAN endpoint address for peer ${peer}`);
    }
    return endpoint.link({
      name: tunnelLinkName(link.name, peer),
      vni: link.vni,
      remotes: [vtep.address],
      ...(vtep.port === undefined ? {} : { remotePort: vtep.port }),
      learning: false,
    });
  };
}

/** The tunnel carrying link `link` to `peer`. */
export function tunnelLinkName(link: string, peer: string): string {
  return `${link}>${peer}`;
}

// ---- target ------------------------------------------------------------------------------

export interface PrepareRequest {
  router: string;
  ifIndex: number;
  interface: InterfaceRequirement;
  /** The source hypervisor. */
  source: string;
}

/** Makes the link (not yet added) interface `ifIndex` will use here; throws naming what is missing. */
export type TargetLinkFactory = (request: PrepareRequest) => Link;

export interface TargetSubstrateOptions {
  hypervisor: Hypervisor;
  link: TargetLinkFactory;
  /** Told when a neighbour's end was re-homed here. */
  onRehomed?: (router: string, ifIndex: number) => void;
}

interface Prepared {
  source: string;
  links: Link[];
  rehomed: Set<number>;
}

export class HypervisorTargetSubstrate implements TargetSubstrate {
  readonly #hv: Hypervisor;
  readonly #options: TargetSubstrateOptions;
  readonly #prepared = new Map<string, Prepared>();

  constructor(options: TargetSubstrateOptions) {
    this.#hv = options.hypervisor;
    this.#options = options;
  }

  async prepareLinks(router: string, req: RouterRequirements, source: string): Promise<void> {
    if (this.#prepared.has(router)) await this.releaseLinks(router); // a retried hook
    const links: Link[] = [];
    try {
      req.interfaces.forEach((iface, ifIndex) => {
        const link = this.#options.link({ router, ifIndex, interface: iface, source });
        if (link.layer !== iface.layer) {
          link.close();
          throw new HypervisorError(
            "LayerMismatch",
            `${router}/${iface.name} needs an ${iface.layer.toUpperCase()} link, ${link.name} is ${link.layer.toUpperCase()}`,
          );
        }
        try {
          this.#hv.addLink(link);
        } catch (e) {
          link.close();
          throw e;
        }
        links.push(link);
      });
    } catch (e) {
      for (const l of links) this.#remove(l);
      throw e;
    }
    this.#prepared.set(router, { source, links, rehomed: new Set() });
  }

  async releaseLinks(router: string): Promise<void> {
    const p = this.#prepared.get(router);
    if (p === undefined) return;
    for (const l of p.links) {
      const b = this.#hv.binding.byLink(l);
      if (b !== undefined) this.#hv.unbind(b.router.name, b.ifIndex);
      this.#remove(l);
    }
    this.#prepared.delete(router);
  }

  async linkRehomed(router: string, ifIndex: number): Promise<void> {
    const p = this.#prepared.get(router);
    if (p === undefined && this.#boundHere(router, ifIndex)) {
      // This host restarted after the commit and runs the router on the links it brought
      // (stored with it): the neighbour's end now reaches that link.
      this.#options.onRehomed?.(router, ifIndex);
      return;
    }
    if (p === undefined || ifIndex < 0 || ifIndex >= p.links.length) {
      throw new HypervisorError("UnknownInterface", `no prepared link for ${router}/${ifIndex}`);
    }
    p.rehomed.add(ifIndex);
    this.#options.onRehomed?.(router, ifIndex);
  }

  /** The link prepared for `router`'s interface `ifIndex` (what activation binds it to). */
  linkFor(router: string, ifIndex: number): string | undefined {
    return this.#prepared.get(router)?.links[ifIndex]?.name;
  }

  /** The links prepared for `router`, in interface order. */
  prepared(router: string): string[] {
    return this.#prepared.get(router)?.links.map((l) => l.name) ?? [];
  }

  /** Interfaces whose neighbours re-homed here. */
  rehomed(router: string): number[] {
    return [...(this.#prepared.get(router)?.rehomed ?? [])].sort((a, b) => a - b);
  }

  /**
   * After activation the prepared links are the router's own: forgets them
   * (a later `releaseLinks` leaves them alone) and answers their names.
   */
  adopt(router: string): string[] {
    const names = this.prepared(router);
    this.#prepared.delete(router);
    return names;
  }

  /** Whether `router` runs here with interface `ifIndex` bound to a link. */
  #boundHere(router: string, ifIndex: number): boolean {
    if (!this.#hv.placement.has(router)) return false;
    try {
      return this.#hv.binding.lookup(router, ifIndex) !== undefined;
    } catch {
      return false; // no such interface
    }
  }

  #remove(link: Link): void {
    if (this.#hv.links.get(link.name) === link) this.#hv.removeLink(link.name);
    else link.close();
  }
}

/** A VXLAN segment a router's interface may be given here. */
export interface SegmentPlan {
  vni: number;
  /** The neighbours' VTEPs. */
  remotes: string[];
  remotePort?: number;
}

/**
 * Target links for VXLAN segments: `plan` names the segment of each
 * interface (undefined: this host was not told, and the link cannot be
 * made); the link is added to the hypervisor's main endpoint, named
 * `preparedLinkName(router, interface)`, flooding to the segment's VTEPs
 * without learning: redirected frames come from the source's tunnel
 * address, and a learned entry would send the router's answers back there.
 */
export function vxlanSegments(
  hypervisor: Hypervisor,
  plan: (router: string, iface: string) => SegmentPlan | undefined,
  /** The endpoint to use when the hypervisor has none open yet (default: 0.0.0.0:4789). */
  open: () => VxlanEndpoint = () => hypervisor.openVxlanEndpoint(),
): TargetLinkFactory {
  return ({ router, interface: iface }) => {
    if (iface.layer !== "l2") {
      throw new HypervisorError(
        "LayerMismatch",
        `${router}/${iface.name} is an L3 interface: only VXLAN-attached (L2) interfaces can move between hosts`,
      );
    }
    const seg = plan(router, iface.name);
    if (seg === undefined) {
      throw new HypervisorError(
        "BadArgument",
        `no VXLAN segment known here for ${router}/${iface.name}`,
      );
    }
    const endpoint = hypervisor.vxlanEndpoint ?? open();
    return endpoint.link({
      name: preparedLinkName(router, iface.name),
      vni: seg.vni,
      remotes: seg.remotes,
      ...(seg.remotePort === undefined ? {} : { remotePort: seg.remotePort }),
      learning: false,
    });
  };
}

/** The link prepared for `router`'s interface `iface`. */
export function preparedLinkName(router: string, iface: string): string {
  return `${router}.${iface}`;
}
