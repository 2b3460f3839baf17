/**
 * What a router's control plane asks of the router's own routes: where a
 * next hop is reached, which of the router's addresses faces a neighbour,
 * the MSS a connection over that interface may use, and the connected and
 * static routes it may redistribute. It also installs what BGP's decision
 * process chose into the RIB (`BgpRouteSink`).
 *
 * Resolution (RFC 4271 section 5.1.3, 9.1.2.1) looks only at connected
 * subnets and static routes, never at BGP routes: a next hop on one of the
 * router's subnets is reached directly on that interface; one covered by a
 * forwarding static route is reached through that route's gateway (one
 * level of recursion, as the static route itself is resolved by subnet).
 * Reject and blackhole statics make a next hop unreachable.
 *
 * A full table goes through few next hops, so each resolved next hop keeps
 * one adjacency, held here and shared by every route through it; RIB
 * entries take their own reference (`Rib.addHop4/6`). When interfaces or
 * static routes change, `invalidate` drops the cache and BGP re-resolves.
 */
import { mask4, mask6Word } from "../fib/prefix.ts";
import type { Family, NextHop } from "../fib/types.ts";
import { AdjacencyKind, type AdjacencyTable } from "./adjacency.ts";
import type { StaticRoute } from "./config.ts";
import type { RouterInterface } from "./interface.ts";
import type { Rib } from "./rib.ts";

/** Largest IP packet the router builds itself (a packet slot, less room for link headers). */
const MAX_OWN_PACKET = 2048 - 64;

export interface Resolution {
  ifc: RouterInterface;
  /** The gateway packets go to: the next hop itself, or a static route's gateway. */
  gateway: Uint32Array;
  /** 0 for a directly connected next hop, 1 through a static route. */
  metric: number;
}

export class NextHops {
  /** Resolved next hop (as text of its words) → adjacency held for BGP routes. */
  private readonly held = new Map<string, NextHop>();

  constructor(
    private readonly ifaces: readonly RouterInterface[],
    private readonly statics: () => readonly StaticRoute[],
    private readonly rib: Rib,
    private readonly adjacencies: AdjacencyTable,
  ) {}

  /** How `addr` is reached through connected and static routes, or undefined. */
  resolve(family: Family, addr: ArrayLike<number>): Resolution | undefined {
    if (this.isOwn(family, addr)) return undefined;
    const ifc = this.ifaces.find((i) => holds(i, family, addr));
    if (ifc) return { ifc, gateway: Uint32Array.from(addr), metric: 0 };
    let best: StaticRoute | undefined;
    for (const r of this.statics()) {
      const p = r.prefix;
      if (p.family !== family || (best && best.prefix.length >= p.length)) continue;
      if (covers(family, p.words, p.length, addr)) best = r;
    }
    if (best?.action !== "forward") return undefined;
    const gw = best.via ?? Uint32Array.from(addr);
    const out =
      best.interface !== undefined
        ? this.ifaces.find((i) => i.name === best.interface)
        : this.ifaces.find((i) => holds(i, family, gw));
    return out ? { ifc: out, gateway: gw, metric: 1 } : undefined;
  }

  /**
   * The router's address of `family` on the interface facing `remote`
   * (which may be of the other family, as a BGP session's neighbour).
   */
  sourceAddressFor(family: Family, remote: ArrayLike<number>): Uint32Array | undefined {
    const remoteFamily: Family = remote.length === 1 ? 4 : 6;
    const r = this.resolve(remoteFamily, remote);
    if (!r) return undefined;
    if (family === 4) {
      const a = r.ifc.ipv4[0];
      return a ? Uint32Array.of(a.address) : undefined;
    }
    const a = r.ifc.ipv6[0];
    return a ? Uint32Array.from(a.address) : undefined;
  }

  /** The MSS for a connection to `remote`: its interface's MTU less the IP and TCP headers. */
  mssFor(family: Family, remote: ArrayLike<number>): number {
    const r = this.resolve(family, remote);
    const mtu = Math.min(r?.ifc.mtu ?? 1500, MAX_OWN_PACKET);
    return mtu - (family === 4 ? 40 : 60);
  }

  /** Connected subnets and forwarding static routes, for redistribution. */
  *localRoutes(): Generator<{
    source: "connected" | "static";
    family: Family;
    prefix: Uint32Array;
    length: number;
  }> {
    for (const ifc of this.ifaces) {
      for (const a of ifc.ipv4) {
        if (a.length < 32) {
          const net = Uint32Array.of((a.address & mask4(a.length)) >>> 0);
          yield { source: "connected", family: 4, prefix: net, length: a.length };
        }
      }
      for (const a of ifc.ipv6) {
        if (a.length < 128) {
          const net = a.address.map((w, i) => (w & mask6Word(a.length, i)) >>> 0);
          yield { source: "connected", family: 6, prefix: net, length: a.length };
        }
      }
    }
    for (const r of this.statics()) {
      yield {
        source: "static",
        family: r.prefix.family,
        prefix: r.prefix.words,
        length: r.prefix.length,
      };
    }
  }

  /**
   * The adjacency for routes through next hop `addr` (held while any BGP
   * route uses it), or undefined when it does not resolve.
   */
  adjacencyFor(family: Family, addr: ArrayLike<number>): NextHop | undefined {
    const key = family === 4 ? String(addr[0]) : Array.prototype.join.call(addr, ":");
    const known = this.held.get(key);
    if (known !== undefined) return known;
    const r = this.resolve(family, addr);
    if (!r) return undefined;
    const hop = this.adjacencies.acquire({
      kind: AdjacencyKind.Forward,
      ifIndex: r.ifc.index,
      gateway: [...r.gateway],
    });
    this.held.set(key, hop);
    return hop;
  }

  /** Forgets every resolution (interfaces or static routes changed). */
  invalidate(): void {
    for (const hop of this.held.values()) this.adjacencies.release(hop);
    this.held.clear();
  }

  // ---- BGP's routes into the RIB -------------------------------------------

  /** A route BGP chose, through `nextHop`; unresolvable next hops leave the prefix without one. */
  install(
    family: Family,
    prefix: Uint32Array,
    length: number,
    nextHop: Uint32Array,
    distance: number,
  ): void {
    const hop = this.adjacencyFor(family, nextHop);
    if (hop === undefined) {
      this.remove(family, prefix, length);
      return;
    }
    if (family === 4) this.rib.addHop4("bgp", distance, prefix[0], length, hop);
    else this.rib.addHop6("bgp", distance, prefix, length, hop);
  }

  remove(family: Family, prefix: Uint32Array, length: number): void {
    if (family === 4) this.rib.remove4("bgp", prefix[0], length);
    else this.rib.remove6("bgp", prefix, length);
  }

  private isOwn(family: Family, addr: ArrayLike<number>): boolean {
    if (family === 4) return this.ifaces.some((i) => i.ipv4.some((a) => a.address === addr[0]));
    return this.ifaces.some((i) => i.ipv6.some((a) => a.address.every((w, k) => w === addr[k])));
  }
}

/** Whether one of `ifc`'s subnets holds `addr`. */
export function holds(ifc: RouterInterface, family: Family, addr: ArrayLike<number>): boolean {
  if (family === 4) return ifc.ipv4.some((a) => covers(4, [a.address], a.length, addr));
  return ifc.ipv6.some((a) => covers(6, a.address, a.length, addr));
}

function covers(
  family: Family,
  prefix: ArrayLike<number>,
  length: number,
  addr: ArrayLike<number>,
): boolean {
  if (family === 4) return ((prefix[0] ^ addr[0]) & mask4(length)) === 0;
  for (let i = 0; i < 4; i++)
    if (((prefix[i] ^ addr[i]) & mask6Word(length, i)) !== 0) return false;
  return true;
}
