/**
 * Plain-data views of a running router and of the hypervisor's links, as
 * the management API returns them and vroomctl prints them: interfaces with
 * their addresses, bindings and counters; the RIB (every route of every
 * source, the best one marked); the FIB (what forwarding uses); the ARP
 * (RFC 826) and neighbour discovery (RFC 4861) caches. Addresses are text
 * (RFC 5952 for IPv6), MACs colon-separated, route kinds named as iproute2
 * names them (unicast, local, prohibit, blackhole).
 */
import { formatIPv4, formatIPv6, formatPrefix } from "../../fib/prefix.ts";
import type { Family, NextHop } from "../../fib/types.ts";
import type { Hypervisor, LinkPathCounters } from "../../hypervisor/hypervisor.ts";
import type { LinkStats } from "../../hypervisor/link.ts";
import { DeviceLink } from "../../hypervisor/links/device.ts";
import { MemoryLink } from "../../hypervisor/links/memory.ts";
import { VxlanLink } from "../../hypervisor/links/vxlan.ts";
import { AdjacencyKind, type AdjacencySpec } from "../../router/adjacency.ts";
import type { StaticRoute } from "../../router/config.ts";
import { NeighborState } from "../../router/neighbors.ts";
import type { VirtualRouter } from "../../router/router.ts";
import { formatMac } from "../../router/wire/bytes.ts";

export type RouteType = "unicast" | "local" | "prohibit" | "blackhole";

export interface NextHopView {
  type: RouteType;
  /** Output interface (unicast). */
  interface?: string;
  /** Gateway (unicast through a gateway). */
  via?: string;
}

export interface RouteView extends NextHopView {
  prefix: string;
  family: Family;
  source: string;
  distance: number;
  /** The route the FIB uses for this prefix. */
  best: boolean;
}

export interface FibEntryView extends NextHopView {
  prefix: string;
  family: Family;
}

export interface InterfaceCountersView {
  rxPackets: number;
  rxBytes: number;
  txPackets: number;
  txBytes: number;
  icmpSuppressed: number;
  drops: Record<string, number>;
}

export interface InterfaceView {
  index: number;
  name: string;
  layer: "l2" | "l3";
  mtu: number;
  /** L2 interfaces only. */
  mac?: string;
  addresses: string[];
  /** The EUI-64 fe80::/64 address of an L2 interface. */
  linkLocal?: string;
  /** The substrate link the interface is bound to (null: none). */
  link: string | null;
  counters: InterfaceCountersView;
}

export interface NeighborView {
  interface: string;
  family: Family;
  address: string;
  /** Known once resolved. */
  mac?: string;
  state: "incomplete" | "reachable" | "stale";
  probes: number;
  /** Packets waiting for the address to resolve. */
  pending: number;
}

export interface LinkView {
  name: string;
  kind: string;
  layer: "l2" | "l3";
  device?: string;
  vni?: number;
  /** "router/interface" when bound. */
  boundTo?: string;
  switchedTo?: string;
  stats: LinkStats;
  path: LinkPathCounters;
}

function nextHopView(router: VirtualRouter, spec: AdjacencySpec): NextHopView {
  switch (spec.kind) {
    case AdjacencyKind.Local:
      return { type: "local" };
    case AdjacencyKind.Reject:
      return { type: "prohibit" };
    case AdjacencyKind.Blackhole:
      return { type: "blackhole" };
    default: {
      const out: NextHopView = { type: "unicast" };
      const ifc = router.ifaces[spec.ifIndex];
      if (ifc !== undefined) out.interface = ifc.name;
      if (spec.gateway.length === 1) out.via = formatIPv4(spec.gateway[0]);
      else if (spec.gateway.length === 4) out.via = formatIPv6(spec.gateway);
      return out;
    }
  }
}

/** Every RIB route, best first per prefix, prefixes sorted (IPv4 first). */
export function routeViews(router: VirtualRouter): RouteView[] {
  const out: { key: [number, bigint, number]; views: RouteView[] }[] = [];
  for (const e of router.rib.routes()) {
    const views: RouteView[] = [e.best, ...e.others].map((r, i) => ({
      prefix: e.prefix,
      family: e.family,
      source: r.source,
      distance: r.distance,
      best: i === 0,
      ...nextHopView(router, r.adjacency),
    }));
    out.push({ key: sortKey(e.prefix, e.family), views });
  }
  out.sort((a, b) => compareKeys(a.key, b.key));
  return out.flatMap((o) => o.views);
}

/** The FIB's entries (optionally one family), sorted; `limit` caps the answer. */
export function fibViews(
  router: VirtualRouter,
  family?: Family,
  limit = Number.POSITIVE_INFINITY,
): FibEntryView[] {
  const rows: { key: [number, bigint, number]; view: FibEntryView }[] = [];
  const spec = (hop: NextHop) => nextHopView(router, router.adjacencies.spec(hop));
  if (family !== 6) {
    router.fib.forEach4((prefix, length, hop) => {
      const text = formatPrefix(4, Uint32Array.of(prefix), length);
      rows.push({
        key: [4, BigInt(prefix >>> 0), length],
        view: { prefix: text, family: 4, ...spec(hop) },
      });
    });
  }
  if (family !== 4) {
    router.fib.forEach6((prefix, length, hop) => {
      const words = Uint32Array.from(prefix as ArrayLike<number>);
      rows.push({
        key: [6, words6(words), length],
        view: { prefix: formatPrefix(6, words, length), family: 6, ...spec(hop) },
      });
    });
  }
  rows.sort((a, b) => compareKeys(a.key, b.key));
  return rows.slice(0, Number.isFinite(limit) ? limit : rows.length).map((r) => r.view);
}

function words6(w: ArrayLike<number>): bigint {
  let v = 0n;
  for (let i = 0; i < 4; i++) v = (v << 32n) | BigInt(w[i] >>> 0);
  return v;
}

function sortKey(prefix: string, family: Family): [number, bigint, number] {
  const [addr, len] = prefix.split("/");
  if (family === 4) {
    const v = addr.split(".").reduce((a, b) => a * 256 + Number(b), 0);
    return [4, BigInt(v), Number(len)];
  }
  // formatPrefix gave RFC 5952 text; expand it for ordering.
  const parts = addr.split("::");
  const head = parts[0] === "" ? [] : parts[0].split(":");
  const tail = parts.length > 1 && parts[1] !== "" ? parts[1].split(":") : [];
  const groups = [...head, ...Array(8 - head.length - tail.length).fill("0"), ...tail];
  let v = 0n;
  for (const g of groups) v = (v << 16n) | BigInt(Number.parseInt(g || "0", 16));
  return [6, v, Number(len)];
}

function compareKeys(a: [number, bigint, number], b: [number, bigint, number]): number {
  if (a[0] !== b[0]) return a[0] - b[0];
  if (a[1] !== b[1]) return a[1] < b[1] ? -1 : 1;
  return a[2] - b[2];
}

export function interfaceViews(hv: Hypervisor, router: VirtualRouter): InterfaceView[] {
  const placed = hv.placement.get(router.name) === router;
  return router.ifaces.map((ifc) => {
    const link = placed ? hv.binding.linkOf(router, ifc.index) : undefined;
    const view: InterfaceView = {
      index: ifc.index,
      name: ifc.name,
      layer: ifc.layer,
      mtu: ifc.mtu,
      addresses: [
        ...ifc.ipv4.map((a) => `${formatIPv4(a.address)}/${a.length}`),
        ...ifc.ipv6.map((a) => `${formatIPv6(a.address)}/${a.length}`),
      ],
      link: link?.name ?? null,
      counters: ifc.counters.toJSON() as unknown as InterfaceCountersView,
    };
    if (ifc.layer === "l2") view.mac = formatMac(ifc.mac);
    if (ifc.linkLocal !== undefined) view.linkLocal = formatIPv6(ifc.linkLocal);
    return view;
  });
}

const STATE_NAMES: Record<number, NeighborView["state"]> = {
  [NeighborState.Incomplete]: "incomplete",
  [NeighborState.Reachable]: "reachable",
  [NeighborState.Stale]: "stale",
};

export function neighborViews(router: VirtualRouter): NeighborView[] {
  const out: NeighborView[] = [];
  for (const ifc of router.ifaces) {
    if (ifc.layer !== "l2") continue;
    for (const [family, cache] of [
      [4, ifc.arp],
      [6, ifc.nd],
    ] as const) {
      const rows: NeighborView[] = [];
      for (const n of cache.entries()) {
        const view: NeighborView = {
          interface: ifc.name,
          family,
          address: family === 4 ? formatIPv4(n.address[0]) : formatIPv6(n.address),
          state: STATE_NAMES[n.state] ?? "stale",
          probes: n.probes,
          pending: n.pending.length,
        };
        if (n.state !== NeighborState.Incomplete) view.mac = formatMac(n.mac);
        rows.push(view);
      }
      rows.sort((a, b) => compareKeys(sortKey(a.address, family), sortKey(b.address, family)));
      out.push(...rows);
    }
  }
  return out;
}

/** A static route as configuration text (for the inactive-routes list). */
export function staticRouteText(route: StaticRoute): string {
  const p = formatPrefix(route.prefix.family, route.prefix.words, route.prefix.length);
  if (route.action !== "forward") return `${p} ${route.action}`;
  const via =
    route.via === undefined
      ? ""
      : ` via ${route.via.length === 1 ? formatIPv4(route.via[0]) : formatIPv6(route.via)}`;
  return `${p}${via}${route.interface === undefined ? "" : ` dev ${route.interface}`}`;
}

export function linkViews(hv: Hypervisor): LinkView[] {
  const stats = hv.stats();
  return hv.links.links().map((link) => {
    const s = stats.links[link.name];
    const view: LinkView = {
      name: link.name,
      kind: linkKind(link),
      layer: link.layer,
      stats: s.link,
      path: s.path,
    };
    if (link instanceof DeviceLink) view.device = link.device;
    if (link instanceof VxlanLink) view.vni = link.vni;
    const b = hv.binding.byLink(link);
    if (b !== undefined) {
      const ifName = b.router.interfaces()[b.ifIndex]?.name ?? String(b.ifIndex);
      view.boundTo = `${b.router.name}/${ifName}`;
    }
    if (s.switchedTo !== undefined) view.switchedTo = s.switchedTo;
    return view;
  });
}

function linkKind(link: object): string {
  if (link instanceof DeviceLink) return link.kind;
  if (link instanceof VxlanLink) return "vxlan";
  if (link instanceof MemoryLink) return "memory";
  return "other";
}
