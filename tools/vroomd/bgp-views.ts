/**
 * Plain-data views of a router's BGP speaker (router/bgp/speaker.ts), as the
 * management API returns them and vroomctl prints them in BIRD's shapes:
 * each neighbour's session (RFC 4271 FSM state, negotiated parameters,
 * message and prefix counters, last error) with one channel per address
 * family (RFC 4760: routes imported, exported and preferred), and routes
 * with their path attributes (ORIGIN, AS_PATH, NEXT_HOP, MED, LOCAL_PREF,
 * ATOMIC_AGGREGATE, AGGREGATOR; RFC 1997 communities, RFC 8092 large
 * communities) from the Loc-RIB or one neighbour's Adj-RIB-In or
 * Adj-RIB-Out.
 *
 * Times: the speaker counts in the hypervisor's clock (milliseconds); the
 * views give wall-clock ISO times, converted with the pair (clock now,
 * wall now) the caller passes. What the speaker does not keep — when a
 * neighbour last changed between up, start and down, and the message of
 * the last administrative shutdown — the daemon keeps per neighbour
 * (`NeighborRuntime`).
 *
 * Neighbours are named by their address as configured; `findNeighbor`
 * also takes any other spelling of the same address (RFC 5952 or not).
 */
import { formatIPv4, formatIPv6, parsePrefix } from "../../fib/prefix.ts";
import type { Family } from "../../fib/types.ts";
import type { Neighbor } from "../../router/bgp/session.ts";
import type { BgpSpeaker, RouteView as SpeakerRouteView } from "../../router/bgp/speaker.ts";
import type { TcpEndpoint } from "../../router/bgp/transport.ts";
import type { VirtualRouter } from "../../router/router.ts";

export type FamilyName = "ipv4" | "ipv6";
export const FAMILY_NAMES: readonly FamilyName[] = ["ipv4", "ipv6"];
export const familyOfName = (f: FamilyName): Family => (f === "ipv4" ? 4 : 6);
export const nameOfFamily = (f: Family): FamilyName => (f === 4 ? "ipv4" : "ipv6");

/** The BGP finite state machine's states (RFC 4271 section 8.2.2), in order. */
export const BGP_STATES = [
  "Idle",
  "Connect",
  "Active",
  "OpenSent",
  "OpenConfirm",
  "Established",
] as const;

/** What the daemon keeps per neighbour that the speaker does not. */
export interface NeighborRuntime {
  /** Wall-clock milliseconds of the last change between up, start and down. */
  since: number;
  /** The message of the last administrative shutdown (disable), until enabled again. */
  message?: string;
}

export interface BgpChannelView {
  family: FamilyName;
  /** "up" when the session carries the family. */
  state: "up" | "down";
  /** Routes in the Adj-RIB-In after the import policy. */
  imported: number;
  /** Routes advertised (the Adj-RIB-Out). */
  exported: number;
  /** Routes of this neighbour chosen best in the Loc-RIB. */
  preferred: number;
  /** Changes waiting to be sent. */
  waiting: number;
  endOfRibReceived: boolean;
}

export interface BgpNeighborView {
  /** The neighbour's address as configured (its name in the API). */
  name: string;
  /** The address in canonical text. */
  address: string;
  asn: number;
  description?: string;
  type: "ebgp" | "ibgp";
  /** Administrative state: false after `disable` (or `enabled: false` in the configuration). */
  enabled: boolean;
  /** BGP FSM state (the most advanced of the neighbour's connections). */
  state: string;
  /** As BIRD says it: up (Established), start (trying), down (disabled). */
  protocolState: "up" | "start" | "down";
  /** Last change between up, start and down (ISO time). */
  since: string;
  /** Seconds in Established, or null. */
  uptimeSeconds: number | null;
  connections: { state: string; outgoing: boolean }[];
  /** The router's address of the established session. */
  sourceAddress: string | null;
  /** The peer's BGP identifier. */
  peerId: string | null;
  /** Negotiated hold time (seconds) and keepalive interval (seconds), or null. */
  holdTime: number | null;
  keepaliveSeconds: number | null;
  /** Address families the session carries. */
  families: FamilyName[];
  fourOctetAs: boolean | null;
  routeRefresh: boolean | null;
  config: {
    families: FamilyName[];
    passive: boolean;
    port: number;
    holdTime: number;
    localAddress: string | null;
    /** Policy names; null: the default (RFC 8212: eBGP rejects, iBGP accepts). */
    import: string | null;
    export: string | null;
    md5: boolean;
  };
  messages: { in: Record<string, number>; out: Record<string, number> };
  prefixes: {
    /** Announcements received (every announcement counts). */
    received: number;
    /** Announcements the import policy (or a loop) refused. */
    rejected: number;
    /** Routes held after the import policy. */
    accepted: number;
    /** Routes advertised. */
    advertised: number;
    /** Changes waiting to be sent. */
    waiting: number;
    /** Withdrawals received. */
    withdrawn: number;
  };
  /** UPDATEs handled as withdrawals and attributes discarded (RFC 7606). */
  treatAsWithdraw: number;
  attributeDiscard: number;
  /** Times the session left Established, and reached it. */
  flaps: number;
  establishedCount: number;
  channels: BgpChannelView[];
  lastError: {
    direction: string;
    code?: number;
    subcode?: number;
    text: string;
    at: string;
  } | null;
  /** The message given with the last `disable`, while disabled. */
  adminMessage: string | null;
}

export interface BgpNeighborsView {
  router: string;
  asn: number;
  routerId: string;
  neighbors: BgpNeighborView[];
}

export interface BgpRouteView {
  prefix: string;
  family: FamilyName;
  /** The neighbour it was learned from, "connected" or "static" (absent for advertised routes). */
  from?: string;
  kind: "ebgp" | "ibgp" | "connected" | "static";
  origin: "igp" | "egp" | "incomplete";
  asPath: string;
  nextHop: string | null;
  linkLocal?: string;
  /** How the router reaches the next hop (learned routes). */
  via?: string;
  interface?: string;
  med?: number;
  localPref?: number;
  atomicAggregate: boolean;
  aggregator?: string;
  communities: string[];
  largeCommunities: string[];
}

export interface BgpRoutesView {
  router: string;
  family: FamilyName | null;
  neighbor: string | null;
  direction: "in" | "out" | null;
  /** Routes matched (before `limit`). */
  total: number;
  routes: BgpRouteView[];
}

export interface BgpSummaryView {
  asn: number;
  routerId: string;
  neighbors: number;
  established: number;
  locRib: { ipv4: number; ipv6: number };
}

/** The neighbour called `text` (its configured address, or any spelling of it). */
export function findNeighbor(speaker: BgpSpeaker, text: string): Neighbor | undefined {
  const exact = speaker.neighbor(text);
  if (exact !== undefined) return exact;
  if (text.includes("/")) return undefined;
  const p = parsePrefix(text);
  if (!p.ok) return undefined;
  const { family, words } = p.prefix;
  return speaker.neighborList.find(
    (n) =>
      n.config.family === family &&
      n.config.address.every((w: number, i: number) => w === words[i]),
  );
}

function addressText(family: Family, words: ArrayLike<number>): string {
  return family === 4 ? formatIPv4(words[0]) : formatIPv6(words);
}

function endpointText(e: TcpEndpoint): string {
  return addressText(e.family, e.address);
}

/** Per neighbour (by Adj-RIB-In slot) and family: best routes in the Loc-RIB. */
function preferredCounts(speaker: BgpSpeaker): Map<number, number>[] {
  return ([4, 6] as Family[]).map((family) => {
    const t = speaker.loc.table(family);
    const counts = new Map<number, number>();
    for (let s = 0; s < t.capacity; s++) {
      if (t.lens[s] === 0) continue;
      const slot = t.value(s, 0);
      counts.set(slot, (counts.get(slot) ?? 0) + 1);
    }
    return counts;
  });
}

/** Per family: routes accepted, advertised and waiting for one neighbour. */
export function neighborTables(
  n: Neighbor,
): Record<FamilyName, { accepted: number; advertised: number; waiting: number }> {
  const one = (family: Family) => {
    const out = n.out[family === 4 ? 0 : 1];
    return {
      accepted: n.source?.table(family).size ?? 0,
      advertised: out?.advertised.size ?? 0,
      waiting: out?.waiting ?? 0,
    };
  };
  return { ipv4: one(4), ipv6: one(6) };
}

/**
 * Every neighbour of `router`'s speaker. `clockNow` is the hypervisor's
 * clock, `wallNow` the wall clock (Date.now()) at the same instant.
 */
export function bgpNeighborViews(
  router: VirtualRouter,
  speaker: BgpSpeaker,
  runtime: ReadonlyMap<string, NeighborRuntime>,
  clockNow: number,
  wallNow: number,
  only?: Neighbor,
): BgpNeighborsView {
  const preferred = preferredCounts(speaker);
  const wall = (at: number) => new Date(wallNow - (clockNow - at)).toISOString();
  const statuses = speaker.neighbors(clockNow);
  const neighbors: BgpNeighborView[] = [];
  speaker.neighborList.forEach((n, i) => {
    if (only !== undefined && n !== only) return;
    const s = statuses[i];
    const c = n.config;
    const rt = runtime.get(n.name);
    const tables = neighborTables(n);
    const conn = n.session?.conn;
    const slot = n.source?.slot;
    const channels: BgpChannelView[] = c.families.map((family) => {
      const name = nameOfFamily(family);
      return {
        family: name,
        state: n.carries(family) ? "up" : "down",
        imported: tables[name].accepted,
        exported: tables[name].advertised,
        preferred: slot === undefined ? 0 : (preferred[family === 4 ? 0 : 1].get(slot) ?? 0),
        waiting: tables[name].waiting,
        endOfRibReceived: s.endOfRibReceived.includes(name),
      };
    });
    const view: BgpNeighborView = {
      name: n.name,
      address: addressText(c.family, c.address),
      asn: c.asn,
      type: s.ebgp ? "ebgp" : "ibgp",
      enabled: s.enabled,
      state: s.state,
      protocolState: !s.enabled ? "down" : s.state === "Established" ? "up" : "start",
      since: new Date(rt?.since ?? wallNow).toISOString(),
      uptimeSeconds: s.uptimeMs === undefined ? null : Math.max(0, Math.floor(s.uptimeMs / 1000)),
      connections: s.connections,
      sourceAddress: conn === undefined ? null : endpointText(conn.local),
      peerId: s.peerId ?? null,
      holdTime: s.holdTime ?? null,
      keepaliveSeconds: s.keepaliveMs === undefined ? null : s.keepaliveMs / 1000,
      families: s.families as FamilyName[],
      fourOctetAs: s.fourOctetAs ?? null,
      routeRefresh: s.routeRefresh ?? null,
      config: {
        families: c.families.map(nameOfFamily),
        passive: c.passive,
        port: c.port,
        holdTime: c.holdTime,
        localAddress: c.localAddress === undefined ? null : addressText(c.family, c.localAddress),
        import: c.import ?? null,
        export: c.export ?? null,
        md5: c.password !== undefined,
      },
      messages: { in: s.messagesIn, out: s.messagesOut },
      prefixes: {
        received: s.prefixesReceived,
        rejected: s.prefixesRejected,
        accepted: s.prefixesAccepted,
        advertised: s.prefixesAdvertised,
        waiting: s.prefixesWaiting,
        withdrawn: s.withdrawalsReceived,
      },
      treatAsWithdraw: s.treatAsWithdraw,
      attributeDiscard: s.attributeDiscard,
      flaps: s.flaps,
      establishedCount: s.establishedCount,
      channels,
      lastError:
        s.lastError === undefined
          ? null
          : {
              direction: s.lastError.direction,
              ...(s.lastError.code === undefined ? {} : { code: s.lastError.code }),
              ...(s.lastError.subcode === undefined ? {} : { subcode: s.lastError.subcode }),
              text: s.lastError.text,
              at: wall(s.lastError.at),
            },
      adminMessage: !s.enabled && rt?.message !== undefined ? rt.message : null,
    };
    if (s.description !== undefined) view.description = s.description;
    neighbors.push(view);
  });
  return {
    router: router.name,
    asn: speaker.asn,
    routerId: formatIPv4(speaker.routerId),
    neighbors,
  };
}

export interface BgpRouteQuery {
  family?: FamilyName;
  /** With `direction`: one neighbour's Adj-RIB-In ("in", after import policy) or Adj-RIB-Out ("out"). */
  neighbor?: Neighbor;
  direction?: "in" | "out";
  limit?: number;
}

function compareRoutes(a: SpeakerRouteView, b: SpeakerRouteView): number {
  if (a.family !== b.family) return a.family - b.family;
  for (let i = 0; i < a.words.length; i++) {
    if (a.words[i] !== b.words[i]) return a.words[i] < b.words[i] ? -1 : 1;
  }
  return a.length - b.length;
}

/** Routes of the Loc-RIB (or of one neighbour's Adj-RIB-In/Out), sorted by prefix. */
export function bgpRouteViews(
  router: VirtualRouter,
  speaker: BgpSpeaker,
  q: BgpRouteQuery,
): BgpRoutesView {
  const families: Family[] = q.family === undefined ? [4, 6] : [familyOfName(q.family)];
  const direction = q.neighbor === undefined ? undefined : (q.direction ?? "in");
  const raw: SpeakerRouteView[] = [];
  for (const family of families) {
    const it =
      q.neighbor === undefined
        ? speaker.routes(family)
        : speaker.neighborRoutes(q.neighbor.name, family, direction!);
    for (const r of it) raw.push(r);
  }
  raw.sort(compareRoutes);
  const total = raw.length;
  const taken = q.limit === undefined ? raw : raw.slice(0, q.limit);
  const reach = new Map<string, { via: string; interface: string } | null>();
  const routes = taken.map((r) => {
    const v: BgpRouteView = {
      prefix: r.prefix,
      family: nameOfFamily(r.family),
      kind: r.kind,
      origin: r.origin,
      asPath: r.asPath,
      nextHop: r.nextHop ?? null,
      atomicAggregate: r.atomicAggregate,
      communities: r.communities,
      largeCommunities: r.largeCommunities,
    };
    if (direction !== "out") v.from = r.from;
    if (r.linkLocal !== undefined) v.linkLocal = r.linkLocal;
    if (r.med !== undefined) v.med = r.med;
    if (r.localPref !== undefined) v.localPref = r.localPref;
    if (r.aggregator !== undefined) v.aggregator = r.aggregator;
    if (direction !== "out" && (r.kind === "ebgp" || r.kind === "ibgp") && r.nextHop) {
      let how = reach.get(r.nextHop);
      if (how === undefined) {
        how = null;
        const p = parsePrefix(r.nextHop);
        if (p.ok) {
          const res = router.nextHops.resolve(p.prefix.family, p.prefix.words);
          if (res !== undefined) {
            how = {
              via: addressText(p.prefix.family, res.gateway),
              interface: res.ifc.name,
            };
          }
        }
        reach.set(r.nextHop, how);
      }
      if (how !== null) {
        v.via = how.via;
        v.interface = how.interface;
      }
    }
    return v;
  });
  return {
    router: router.name,
    family: q.family ?? null,
    neighbor: q.neighbor?.name ?? null,
    direction: direction ?? null,
    total,
    routes,
  };
}

/** One line's worth of a router's BGP (router detail). */
export function bgpSummary(speaker: BgpSpeaker): BgpSummaryView {
  return {
    asn: speaker.asn,
    routerId: formatIPv4(speaker.routerId),
    neighbors: speaker.neighborList.length,
    established: speaker.neighborList.filter((n) => n.session !== undefined).length,
    locRib: { ipv4: speaker.loc.t4.size, ipv6: speaker.loc.t6.size },
  };
}
