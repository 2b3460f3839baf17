/**
 * A virtual router's BGP-4 speaker (RFC 4271), sans I/O: it talks to its
 * peers through the router's userspace TCP (transport.ts) and to its router
 * through `BgpRouterHooks`, and takes time as `now` (milliseconds) in every
 * call. `poll(now)` runs timers and background work and answers the next
 * deadline.
 *
 * Route flow: an UPDATE is parsed in place (wire/update.ts, RFC 7606
 * error handling); its attributes are interned once (attr-intern.ts) and
 * run through the neighbour's import policy once per prefix-list
 * signature (policy.ts); each prefix goes straight into the session's
 * Adj-RIB-In (adj-rib-in.ts) and through the decision process
 * (decision.ts) against the other sources' routes for that prefix; a new
 * best route goes to the Loc-RIB (loc-rib.ts), to the router
 * (`install`/`remove`, distance 20 for eBGP and 200 for iBGP; the router's
 * own redistributed routes are not installed back) and to every other
 * established peer's Adj-RIB-Out (adj-rib-out.ts) through its export
 * policy and the rules of RFC 4271 (LOCAL_PREF only on iBGP; routes from
 * iBGP not to iBGP peers; own AS prepended and NEXT_HOP set to self on
 * eBGP; MED not passed between ASes; NO_EXPORT, NO_ADVERTISE,
 * NO_EXPORT_SUBCONFED honoured; nothing sent back to the peer it came
 * from). UPDATEs go out as the connection's send buffer makes room.
 *
 * Bulk work — flushing the routes of a session that went down, the first
 * advertisement of the table to a new session, re-running the decision
 * after next hops changed — runs in slices of `workSlice` prefixes per
 * `poll`, so keepalives keep flowing while a full table loads or leaves.
 *
 * Hooks receive prefixes and next hops in reused arrays, valid only during
 * the call; `commit` (optional) closes each batch of install/remove calls.
 */
import { formatIPv4, formatIPv6, formatPrefix } from "../../fib/prefix.ts";
import type { Family } from "../../fib/types.ts";
import { AdjRibIn } from "./adj-rib-in.ts";
import { AdjRibOut, WITHDRAW } from "./adj-rib-out.ts";
import { AttrInterner, type InternedAttrs, NO_ATTRS } from "./attr-intern.ts";
import type { BgpConfig } from "./config.ts";
import { Decision, SourceKind } from "./decision.ts";
import { type BgpError, bgpError, CeaseSubcode, ErrorCode } from "./errors.ts";
import { BgpState, LOW_WATER, type PeerFsm, STATE_NAMES } from "./fsm.ts";
import { LocRib } from "./loc-rib.ts";
import { ACCEPT_ALL, compilePolicies, type Policy, REJECT_ALL, withChanges } from "./policy.ts";
import { PrefixList, type PrefixTable } from "./prefix-table.ts";
import { Neighbor, type NeighborOwner } from "./session.ts";
import type { ExportMarks, SpeakerState } from "./state.ts";
import { exportSpeaker, importSpeaker } from "./state.ts";
import type { BgpConnection, BgpTransport, TcpEndpoint, TransportUser } from "./transport.ts";
import { sameAddress } from "./transport.ts";
import {
  asPathContains,
  asPathPrepend,
  asPathText,
  Community,
  communityText,
  EMPTY_PATH,
  hasCommunity,
  Origin,
  type PathAttributes,
} from "./wire/attributes.ts";
import { afiOf, familyOf, Safi } from "./wire/families.ts";
import { NlriReader } from "./wire/nlri.ts";
import { ceaseError } from "./wire/notification.ts";
import { encodeRouteRefresh, parseRouteRefresh } from "./wire/route-refresh.ts";
import {
  encodeEndOfRib,
  endOfRibFamily,
  parseUpdate,
  UpdateAction,
  UpdatePacker,
} from "./wire/update.ts";

/** What the speaker needs from its router. */
export interface BgpRouterHooks {
  /** The Loc-RIB's best route for a prefix, learned from a peer, into the router's RIB. */
  install(
    family: Family,
    prefix: Uint32Array,
    length: number,
    nextHop: Uint32Array,
    distance: number,
  ): void;
  remove(family: Family, prefix: Uint32Array, length: number): void;
  /** End of a batch of install/remove calls. */
  commit?(): void;
  /** Reachability of a next hop through the router's non-BGP routes. */
  resolve(family: Family, nextHop: Uint32Array): { reachable: boolean; metric: number };
  /**
   * The router's address of `family` on the interface facing `remote` (the
   * local end of sessions, and the next hop the router gives for itself).
   * `remote` is 1 or 4 words and may be of the other family: an IPv6 next
   * hop for routes carried over an IPv4 session is asked with the IPv4
   * neighbour address.
   */
  sourceAddressFor(family: Family, remote: Uint32Array): Uint32Array | undefined;
  /** The router's connected and static routes (redistribution). */
  localRoutes(): Iterable<{
    source: "connected" | "static";
    family: Family;
    prefix: Uint32Array;
    length: number;
  }>;
  /** MSS to offer on a connection to `remote` (default 1360 for IPv4, 1340 for IPv6). */
  mssFor?(family: Family, remote: Uint32Array): number;
}

export interface BgpLogEvent {
  neighbor?: string;
  event: string;
  detail?: string;
}

export interface BgpSpeakerOptions {
  /** Random numbers in [0, 1) for timer jitter (default Math.random). */
  random?: () => number;
  log?: (e: BgpLogEvent) => void;
  /** Prefixes of background work per poll (default 20000). */
  workSlice?: number;
}

/** Administrative distances the speaker asks for. */
export const BGP_DISTANCE = { ebgp: 20, ibgp: 200 } as const;

export interface NeighborStatus {
  name: string;
  asn: number;
  description?: string;
  ebgp: boolean;
  enabled: boolean;
  state: string;
  connections: { state: string; outgoing: boolean }[];
  uptimeMs: number | undefined;
  peerId: string | undefined;
  holdTime: number | undefined;
  keepaliveMs: number | undefined;
  families: string[];
  fourOctetAs: boolean | undefined;
  routeRefresh: boolean | undefined;
  messagesIn: Record<string, number>;
  messagesOut: Record<string, number>;
  updatesIn: number;
  updatesOut: number;
  prefixesReceived: number;
  prefixesAccepted: number;
  prefixesRejected: number;
  prefixesAdvertised: number;
  prefixesWaiting: number;
  withdrawalsReceived: number;
  treatAsWithdraw: number;
  attributeDiscard: number;
  flaps: number;
  establishedCount: number;
  endOfRibReceived: string[];
  lastError:
    | { direction: string; code?: number; subcode?: number; text: string; at: number }
    | undefined;
}

export interface RouteView {
  prefix: string;
  family: Family;
  words: Uint32Array;
  length: number;
  from: string;
  kind: "ebgp" | "ibgp" | "connected" | "static";
  origin: "igp" | "egp" | "incomplete";
  asPath: string;
  nextHop: string | undefined;
  linkLocal?: string;
  med?: number;
  localPref?: number;
  atomicAggregate: boolean;
  aggregator?: string;
  communities: string[];
  largeCommunities: string[];
}

interface Job {
  kind: "redecide" | "export";
  family: Family;
  words: Uint32Array;
  lens: Uint8Array;
  pos: number;
  /** For export jobs: the session the job feeds. */
  neighbor?: Neighbor;
  session?: PeerFsm;
  /** Called when the job is finished. */
  done?: () => void;
}

const CONNECTED_SLOT = 0;
const STATIC_SLOT = 1;
const fi = (f: Family) => (f === 4 ? 0 : 1);

export class BgpSpeaker implements NeighborOwner {
  readonly asn: number;
  readonly routerId: number;
  readonly idleHoldMs: number;
  readonly neighborList: Neighbor[];
  readonly interner = new AttrInterner();
  readonly loc = new LocRib();
  /** Route sources by slot: 0 connected, 1 static, then one per session (kept until flushed). */
  readonly sources: (AdjRibIn | undefined)[] = [];
  /** Sources the decision process consults. */
  active: AdjRibIn[] = [];
  readonly jobs: Job[] = [];
  /** The speaker's own idea of the time (the latest `now` it was given). */
  clock = 0;
  started = false;
  readonly transportUser: TransportUser;
  private policies: Map<string, Policy>;
  private readonly decision: Decision;
  private readonly connections = new Map<string, PeerFsm>();
  private readonly connectionOwner = new Map<string, Neighbor>();
  private readonly rand: () => number;
  private readonly workSlice: number;
  private readonly packer = new UpdatePacker();
  private readonly reader = new NlriReader();
  private readonly scratch4 = new Uint32Array(1);
  private generation = 0;
  private readonly nextHops = new Map<number | string, Uint32Array>();
  private readonly resolved = new Map<string, { reachable: boolean; metric: number }>();
  /** Per neighbour: (attribute id, signature, source kind) → export result, for the current batch. */
  private readonly exportMemo = new Map<Neighbor, Map<number, number>>();
  private hookCalls = 0;
  private listening = false;

  constructor(
    public config: BgpConfig,
    readonly hooks: BgpRouterHooks,
    readonly transport: BgpTransport,
    readonly options: BgpSpeakerOptions = {},
  ) {
    this.asn = config.asn;
    this.routerId = config.routerId;
    this.idleHoldMs = config.idleHoldTime * 1000;
    this.rand = options.random ?? Math.random;
    this.workSlice = options.workSlice ?? 20_000;
    this.policies = compilePolicies(config);
    this.decision = new Decision({
      alwaysCompareMed: config.alwaysCompareMed,
      defaultLocalPref: config.defaultLocalPref,
      localAs: config.asn,
    });
    const none = new Uint32Array(1);
    this.sources[CONNECTED_SLOT] = new AdjRibIn(
      CONNECTED_SLOT,
      SourceKind.Local,
      0,
      4,
      none,
      "connected",
    );
    this.sources[STATIC_SLOT] = new AdjRibIn(STATIC_SLOT, SourceKind.Local, 0, 4, none, "static");
    this.active = [this.sources[CONNECTED_SLOT]!, this.sources[STATIC_SLOT]!];
    this.neighborList = config.neighbors.map((n) => new Neighbor(n, this));
    this.transportUser = this.makeTransportUser();
  }

  // ---- the management side ---------------------------------------------------------

  /** Starts listening and every enabled neighbour; loads redistributed routes. */
  start(now: number): void {
    this.clock = now;
    this.started = true;
    if (this.config.listen && !this.listening) {
      this.listening = true;
      for (const family of [4, 6] as Family[]) {
        if (!this.neighborList.some((n) => n.config.family === family)) continue;
        this.transport.listen({
          family,
          port: this.config.port,
          mss: family === 4 ? 1360 : 1340,
          user: this.transportUser,
          md5KeyFor: (remote: Uint32Array) => {
            const n = this.neighborFor({ family, address: remote, port: 0 });
            return n?.config.password !== undefined
              ? new TextEncoder().encode(n.config.password)
              : undefined;
          },
        });
      }
    }
    this.localRoutesChanged(now);
    for (const n of this.neighborList) n.start(now);
    this.endBatch(now);
  }

  /** Cease (Administrative Shutdown, with `message` as shutdown communication) to every peer. */
  stop(now: number, message?: string): void {
    this.clock = now;
    this.started = false;
    for (const n of this.neighborList)
      n.stop(now, ceaseError(CeaseSubcode.AdministrativeShutdown, message));
    this.endBatch(now);
  }

  /** Stops or starts one neighbour (Administrative Shutdown / start). */
  setNeighborEnabled(name: string, enabled: boolean, now: number, message?: string): boolean {
    const n = this.neighbor(name);
    if (!n) return false;
    this.clock = now;
    if (enabled) {
      n.config = { ...n.config, enabled: true };
      n.start(now);
    } else n.stop(now, ceaseError(CeaseSubcode.AdministrativeShutdown, message));
    this.endBatch(now);
    return true;
  }

  /** Runs timers and a slice of background work; answers the next deadline. */
  poll(now: number): number {
    this.clock = now;
    let next = Number.POSITIVE_INFINITY;
    for (const n of this.neighborList) next = Math.min(next, n.poll(now));
    this.runJobs(this.workSlice);
    this.endBatch(now);
    if (this.jobs.length > 0) return now;
    for (const n of this.neighborList) for (const f of n.fsms) next = Math.min(next, f.poll(now));
    return next;
  }

  /** The router's reachability of next hops changed: re-resolve and re-decide what depends on it. */
  nextHopsChanged(now: number): void {
    this.clock = now;
    this.generation++;
    this.resolved.clear();
    const changed = new Set<number>();
    for (const e of this.interner.all()) {
      if (e.resolvedGen < 0 || !e.attrs.nextHop) continue;
      const reachable = e.reachable;
      const metric = e.metric;
      this.resolve(e);
      if (e.reachable !== reachable || e.metric !== metric) changed.add(e.id);
    }
    if (changed.size === 0) return;
    for (const family of [4, 6] as Family[]) {
      const list = new PrefixList(family, 1024);
      for (const src of this.active) {
        const t = src.table(family);
        for (let s = 0; s < t.capacity; s++) {
          if (t.lens[s] !== 0 && changed.has(t.values[s])) {
            if (family === 4) list.push4(t.keys[s], t.lens[s] - 1);
            else list.push6(t.keys, s * 4, t.lens[s] - 1);
          }
        }
      }
      if (list.count > 0) {
        this.jobs.push({
          kind: "redecide",
          family,
          words: list.words.subarray(0, list.count * list.stride),
          lens: list.lens.subarray(0, list.count),
          pos: 0,
        });
      }
    }
    this.log(undefined, "next hops changed", `${changed.size} attribute sets affected`);
  }

  /** The router's connected or static routes changed: redistribute again. */
  localRoutesChanged(now: number): void {
    this.clock = now;
    const want = new Map<
      string,
      { slot: number; family: Family; prefix: Uint32Array; length: number }
    >();
    const redistributes = new Map<string, Policy>();
    for (const r of this.config.redistribute) {
      redistributes.set(r.source, r.policy === undefined ? ACCEPT_ALL : this.policy(r.policy));
    }
    const routes: {
      slot: number;
      family: Family;
      prefix: Uint32Array;
      length: number;
      attrId: number;
    }[] = [];
    for (const r of this.hooks.localRoutes()) {
      const policy = redistributes.get(r.source);
      if (!policy) continue;
      const base: PathAttributes = {
        origin: Origin.Incomplete,
        asPath: EMPTY_PATH,
        atomicAggregate: false,
        localPref: this.config.defaultLocalPref,
      };
      const sig = policy.prefixDependent ? policy.signature(r.family, r.prefix, 0, r.length) : 0;
      const res = policy.apply(r.family, sig, base, this.asn);
      if (!res.accept) continue;
      const slot = r.source === "connected" ? CONNECTED_SLOT : STATIC_SLOT;
      want.set(`${slot}/${r.family}/${r.prefix.join(".")}/${r.length}`, { slot, ...r });
      routes.push({
        slot,
        family: r.family,
        prefix: r.prefix,
        length: r.length,
        attrId: this.interner.intern(res.attrs),
      });
    }
    // Withdraw what is no longer there.
    for (const slot of [CONNECTED_SLOT, STATIC_SLOT]) {
      const src = this.sources[slot]!;
      for (const family of [4, 6] as Family[]) {
        const snap = src.table(family).snapshot();
        const stride = family === 4 ? 1 : 4;
        for (let i = 0; i < snap.lens.length; i++) {
          const words = snap.words.subarray(i * stride, i * stride + stride);
          if (!want.has(`${slot}/${family}/${words.join(".")}/${snap.lens[i]}`)) {
            if (src.remove(family, snap.words, i * stride, snap.lens[i], this.interner)) {
              this.redecide(family, snap.words, i * stride, snap.lens[i]);
            }
          }
        }
      }
    }
    for (const r of routes) {
      const src = this.sources[r.slot]!;
      if (src.set(r.family, r.prefix, 0, r.length, r.attrId, this.interner)) {
        this.redecide(r.family, r.prefix, 0, r.length);
      }
    }
    this.endBatch(now);
  }

  /**
   * Applies new policies, prefix lists, redistribution and neighbour
   * import/export policy names (the rest of `config` is taken as is, and
   * must name the same neighbours). A neighbour whose import policy
   * changed is asked for its routes again (ROUTE-REFRESH), or reset with
   * Cease / Other Configuration Change when it cannot refresh; one whose
   * export policy changed gets the Loc-RIB judged again and only the
   * differences sent.
   */
  updatePolicies(config: BgpConfig, now: number): void {
    this.clock = now;
    const before = new Map(this.neighborList.map((n) => [n.name, this.policyText(n, this.config)]));
    const redistribution =
      JSON.stringify(this.config.redistribute) +
      this.policyDump(
        this.config,
        this.config.redistribute.map((r) => r.policy),
      );
    this.config = config;
    this.policies = compilePolicies(config);
    for (const n of this.neighborList) {
      const nc = config.neighbors.find((c) => c.name === n.name);
      if (!nc) continue;
      n.config = { ...n.config, import: nc.import, export: nc.export };
      const was = before.get(n.name)!;
      const is = this.policyText(n, config);
      const fsm = n.session;
      if (!fsm) continue;
      if (was.import !== is.import) {
        const neg = fsm.negotiated!;
        if (neg.routeRefresh) {
          for (const f of neg.families) this.refresh(n.name, f);
          this.log(n.name, "import policy changed", "route refresh sent");
        } else {
          n.reset(now, ceaseError(CeaseSubcode.OtherConfigurationChange));
          continue;
        }
      }
      if (was.export !== is.export) {
        this.log(n.name, "export policy changed");
        for (const family of neg(fsm)) {
          const snap = this.loc.table(family).snapshot();
          this.jobs.push({
            kind: "export",
            family,
            words: snap.words,
            lens: snap.lens,
            pos: 0,
            neighbor: n,
            session: fsm,
          });
        }
      }
    }
    const now2 =
      JSON.stringify(config.redistribute) +
      this.policyDump(
        config,
        config.redistribute.map((r) => r.policy),
      );
    if (now2 !== redistribution) this.localRoutesChanged(now);
    this.endBatch(now);
  }

  private policyText(n: Neighbor, config: BgpConfig): { import: string; export: string } {
    const nc = config.neighbors.find((c) => c.name === n.name) ?? n.config;
    return {
      import: `${nc.import}|${this.policyDump(config, [nc.import])}`,
      export: `${nc.export}|${this.policyDump(config, [nc.export])}`,
    };
  }

  /** The named policies and the prefix lists they use, as text (to tell whether they changed). */
  private policyDump(config: BgpConfig, names: (string | undefined)[]): string {
    const replacer = (_k: string, v: unknown) =>
      v instanceof RegExp ? v.source : ArrayBuffer.isView(v) ? Array.from(v as Uint32Array) : v;
    return names
      .map((name) => {
        const def = name === undefined ? undefined : config.policies.get(name);
        if (!def) return `${name}`;
        const lists = def.terms.map((t) => t.match.prefixList).filter((l) => l !== undefined);
        return JSON.stringify([def, lists.map((l) => config.prefixLists.get(l!))], replacer);
      })
      .join(";");
  }

  /** Asks a neighbour to send its routes of `family` again (RFC 2918). False when it cannot. */
  refresh(name: string, family: Family, now?: number): boolean {
    if (now !== undefined) this.clock = now;
    const n = this.neighbor(name);
    const fsm = n?.session;
    if (!n || !fsm?.negotiated?.routeRefresh || !n.carries(family)) return false;
    fsm.sendMessage(
      encodeRouteRefresh({ afi: afiOf(family), safi: Safi.Unicast, subtype: 0 }),
      this.clock,
    );
    return true;
  }

  neighbor(name: string): Neighbor | undefined {
    return this.neighborList.find((n) => n.name === name);
  }

  /** Every neighbour's state, uptime, negotiated parameters and counters. */
  neighbors(now = this.clock): NeighborStatus[] {
    return this.neighborList.map((n) => {
      const neg = n.session?.negotiated;
      const c = n.counters;
      let advertised = 0;
      let waiting = 0;
      for (const o of n.out) {
        if (!o) continue;
        advertised += o.advertised.size;
        waiting += o.waiting;
      }
      const status: NeighborStatus = {
        name: n.name,
        asn: n.config.asn,
        ebgp: n.ebgp,
        enabled: n.enabled,
        state: n.stateName,
        connections: n.fsms.map((f) => ({ state: STATE_NAMES[f.state], outgoing: f.outgoing })),
        uptimeMs: n.establishedAt === undefined ? undefined : now - n.establishedAt,
        peerId: neg ? formatIPv4(neg.peerId) : undefined,
        holdTime: neg?.holdTime,
        keepaliveMs: neg && neg.holdTime > 0 ? neg.keepaliveMs : undefined,
        families: neg ? neg.families.map((f) => (f === 4 ? "ipv4" : "ipv6")) : [],
        fourOctetAs: neg?.as4,
        routeRefresh: neg?.routeRefresh,
        messagesIn: { ...c.messagesIn },
        messagesOut: { ...c.messagesOut },
        updatesIn: c.messagesIn.update,
        updatesOut: c.messagesOut.update,
        prefixesReceived: c.prefixesReceived,
        prefixesAccepted: n.source?.size ?? 0,
        prefixesRejected: c.prefixesRejected,
        prefixesAdvertised: advertised,
        prefixesWaiting: waiting,
        withdrawalsReceived: c.withdrawalsReceived,
        treatAsWithdraw: c.treatAsWithdraw,
        attributeDiscard: c.attributeDiscard,
        flaps: c.flaps,
        establishedCount: c.established,
        endOfRibReceived: ([4, 6] as Family[])
          .filter((f) => n.eorReceived[fi(f)])
          .map((f) => (f === 4 ? "ipv4" : "ipv6")),
        lastError: n.lastError ? { ...n.lastError } : undefined,
      };
      if (n.config.description !== undefined) status.description = n.config.description;
      return status;
    });
  }

  /** The Loc-RIB of `family`: each prefix's best route with its attributes (for `show route`). */
  *routes(family: Family): Generator<RouteView> {
    const t = this.loc.table(family);
    for (let s = 0; s < t.capacity; s++) {
      if (t.lens[s] === 0) continue;
      const words = family === 4 ? Uint32Array.of(t.keys[s]) : t.keys.slice(s * 4, s * 4 + 4);
      yield this.view(family, words, t.lens[s] - 1, t.value(s, 0), t.value(s, 1));
    }
  }

  /** Routes of one neighbour's Adj-RIB-In (post-policy) or Adj-RIB-Out (advertised). */
  *neighborRoutes(name: string, family: Family, which: "in" | "out"): Generator<RouteView> {
    const n = this.neighbor(name);
    if (!n) return;
    const t: PrefixTable | undefined =
      which === "in" ? n.source?.table(family) : n.out[fi(family)]?.advertised;
    if (!t) return;
    for (let s = 0; s < t.capacity; s++) {
      if (t.lens[s] === 0) continue;
      const words = family === 4 ? Uint32Array.of(t.keys[s]) : t.keys.slice(s * 4, s * 4 + 4);
      yield this.view(
        family,
        words,
        t.lens[s] - 1,
        which === "in" ? n.source!.slot : -1,
        t.values[s],
      );
    }
  }

  /** Counts for monitoring: routes per table, attribute sets, background work. */
  stats(): {
    locRib4: number;
    locRib6: number;
    attributeSets: number;
    jobs: number;
    pendingPrefixes: number;
  } {
    let pendingPrefixes = 0;
    for (const j of this.jobs) pendingPrefixes += j.lens.length - j.pos;
    return {
      locRib4: this.loc.t4.size,
      locRib6: this.loc.t6.size,
      attributeSets: this.interner.size,
      jobs: this.jobs.length,
      pendingPrefixes,
    };
  }

  /** Calls `install` for every learned best route (e.g. into a fresh router RIB after import). */
  reinstall(now: number): void {
    this.clock = now;
    for (const family of [4, 6] as Family[]) {
      const t = this.loc.table(family);
      for (let s = 0; s < t.capacity; s++) {
        if (t.lens[s] === 0) continue;
        const src = this.sources[t.value(s, 0)];
        if (!src || src.kind === SourceKind.Local) continue;
        this.install(
          family,
          t.keys,
          s * t.stride,
          t.lens[s] - 1,
          src,
          this.interner.get(t.value(s, 1)),
        );
      }
    }
    this.endBatch(now);
  }

  /** The whole state as plain data (sessions, RIBs, timers as deadlines); finishes background work first. */
  export(now: number, marks?: ExportMarks): SpeakerState {
    this.clock = now;
    while (this.jobs.length > 0) this.runJobs(1 << 30);
    this.endBatch(now);
    return exportSpeaker(this, now, marks);
  }

  /**
   * Restores a state exported by a speaker of the same configuration. The
   * connections come back by id through `connection` (from the TCP stack's
   * own import, with `transportUser` as their user); deadlines are moved by
   * `now - exportedAt`. The router's RIB is not told (see `reinstall`).
   * Tables loaded by an earlier import at the same stamps are kept (see
   * state.ts); answers whether the routes to install changed.
   */
  import(
    state: SpeakerState,
    now: number,
    connection: (id: string) => BgpConnection | undefined,
  ): boolean {
    this.clock = now;
    const changed = importSpeaker(this, state, now, connection);
    this.started = true;
    // The listeners come back with the TCP stack's own import.
    this.listening = this.config.listen;
    return changed;
  }

  /** @internal Tables `import` loaded: path → the sender's stamp and the live table's stamp after loading. */
  readonly importedTables = new Map<string, { from: number; live: number }>();

  // ---- internals reached by state.ts ---------------------------------------------------

  /** @internal */
  get internals() {
    return {
      connections: this.connections,
      connectionOwner: this.connectionOwner,
      setActive: (a: AdjRibIn[]) => {
        this.active = a;
      },
      setListening: (v: boolean) => {
        this.listening = v;
      },
    };
  }

  // ---- NeighborOwner ---------------------------------------------------------------

  random(): number {
    return this.rand();
  }

  connect(n: Neighbor, fsm: PeerFsm, now: number): BgpConnection | undefined {
    const family = n.config.family;
    const local = n.config.localAddress ?? this.hooks.sourceAddressFor(family, n.config.address);
    if (!local) {
      this.log(n.name, "no local address toward the neighbour");
      return undefined;
    }
    const mss = this.hooks.mssFor?.(family, n.config.address) ?? (family === 4 ? 1360 : 1340);
    const opts: { mss: number; md5Key?: Uint8Array; user: TransportUser } = {
      mss,
      user: this.transportUser,
    };
    if (n.config.password !== undefined) opts.md5Key = new TextEncoder().encode(n.config.password);
    let conn: BgpConnection;
    try {
      conn = this.transport.connect(
        { family, address: local, port: 0 },
        { family, address: n.config.address, port: n.config.port },
        opts,
        now,
      );
    } catch (e) {
      this.log(n.name, "connect failed", (e as Error).message);
      return undefined;
    }
    this.connections.set(conn.id, fsm);
    this.connectionOwner.set(conn.id, n);
    return conn;
  }

  bind(conn: BgpConnection, fsm: PeerFsm | undefined): void {
    if (fsm) this.connections.set(conn.id, fsm);
    else this.connections.delete(conn.id);
  }

  forget(fsm: PeerFsm): void {
    for (const [id, f] of this.connections) {
      if (f === fsm) {
        this.connections.delete(id);
        this.connectionOwner.delete(id);
      }
    }
  }

  sessionUp(n: Neighbor, _now: number): void {
    const fsm = n.session!;
    const neg = fsm.negotiated!;
    const conn = fsm.conn!;
    const slot = this.allocSlot();
    const src = new AdjRibIn(
      slot,
      n.ebgp ? SourceKind.Ebgp : SourceKind.Ibgp,
      neg.peerId,
      n.config.family,
      n.config.address,
      n.name,
    );
    this.sources[slot] = src;
    this.active.push(src);
    n.source = src;
    n.updateContext = {
      as4: neg.as4,
      ebgp: n.ebgp,
      peerAs: n.config.asn,
      enforceFirstAs: n.config.enforceFirstAs,
      ipv4: neg.families.includes(4),
      ipv6: neg.families.includes(6),
      mpErrorDisables: n.config.mpErrors === "disable",
    };
    n.eorSent[0] = n.eorSent[1] = false;
    n.eorReceived[0] = n.eorReceived[1] = false;
    for (const family of [4, 6] as Family[]) {
      const configured = family === 4 ? n.config.nextHop4 : n.config.nextHop6;
      let self = configured;
      if (!self && conn.local.family === family) self = conn.local.address;
      // For the other family: the router's address of that family on the interface facing the peer.
      if (!self) self = this.hooks.sourceAddressFor(family, n.config.address);
      n.selfNextHop[fi(family)] = self;
      n.out[fi(family)] = neg.families.includes(family)
        ? new AdjRibOut(family, this.interner)
        : undefined;
    }
    this.log(
      n.name,
      "established",
      `peer ${formatIPv4(neg.peerId)} AS${neg.peerAs}, hold ${neg.holdTime}s`,
    );
    // The first advertisement: the whole Loc-RIB, in slices.
    for (const family of neg.families) {
      const snap = this.loc.table(family).snapshot();
      this.jobs.push({
        kind: "export",
        family,
        words: snap.words,
        lens: snap.lens,
        pos: 0,
        neighbor: n,
        session: fsm,
        done: () => {
          if (n.session === fsm) this.fill(n, this.clock);
        },
      });
    }
  }

  sessionDown(n: Neighbor, now: number): void {
    const src = n.source;
    n.source = undefined;
    n.updateContext = undefined;
    for (let i = 0; i < 2; i++) {
      n.out[i]?.clear();
      n.out[i] = undefined;
    }
    this.clearMemo(n);
    this.log(n.name, "down", n.lastError?.text);
    if (!src) return;
    src.alive = false;
    this.active = this.active.filter((s) => s !== src);
    this.flushSource(src, 4);
    this.flushSource(src, 6, () => {
      this.sources[src.slot] = undefined;
    });
    this.endBatch(now);
  }

  update(
    n: Neighbor,
    buf: Uint8Array,
    off: number,
    len: number,
    now: number,
  ): BgpError | undefined {
    this.clock = now;
    const ctx = n.updateContext;
    const src = n.source;
    if (!ctx || !src) return undefined;
    const p = parseUpdate(buf, off, len, ctx);
    const c = n.counters;
    if (p.problems.length > 0) {
      for (const q of p.problems) {
        if (q.action === UpdateAction.AttributeDiscard) c.attributeDiscard++;
      }
      this.log(
        n.name,
        "malformed UPDATE",
        p.problems
          .map((q) => `attr ${q.type}: action ${q.action}, subcode ${q.subcode}`)
          .join("; "),
      );
    }
    if (p.action === UpdateAction.SessionReset) return p.error;
    const eor = endOfRibFamily(p, len);
    if (eor !== undefined) {
      n.eorReceived[fi(eor)] = true;
      return undefined;
    }
    if (p.action === UpdateAction.AfiSafiDisable && p.disable !== undefined) {
      const f = p.disable;
      if (!src.disabled[fi(f)]) {
        src.disabled[fi(f)] = true;
        this.log(n.name, "AFI/SAFI disabled", f === 4 ? "ipv4 unicast" : "ipv6 unicast");
        this.flushSource(src, f);
      }
    }
    const withdrawAll = p.action >= UpdateAction.TreatAsWithdraw;
    if (withdrawAll) c.treatAsWithdraw++;
    const r = this.reader;
    // Withdrawals.
    if (ctx.ipv4 && !src.disabled[0] && p.withdrawnCount > 0) {
      r.reset(buf, p.withdrawnOff, p.withdrawnEnd, 4);
      while (r.next()) {
        c.withdrawalsReceived++;
        this.scratch4[0] = r.addr;
        this.withdraw(src, 4, this.scratch4, 0, r.length);
      }
    }
    const mu = p.mpUnreach;
    if (mu && !src.disabled[fi(mu.family)]) {
      r.reset(buf, mu.off, mu.end, mu.family);
      while (r.next()) {
        c.withdrawalsReceived++;
        if (mu.family === 4) {
          this.scratch4[0] = r.addr;
          this.withdraw(src, 4, this.scratch4, 0, r.length);
        } else this.withdraw(src, 6, r.words, 0, r.length);
      }
    }
    // Announcements.
    if (ctx.ipv4 && !src.disabled[0] && p.nlriCount > 0) {
      const attrs =
        withdrawAll || !p.attrs || p.nextHop4 === undefined
          ? undefined
          : { ...p.attrs, nextHop: this.sharedNextHop(Uint32Array.of(p.nextHop4)) };
      this.announce(n, src, 4, buf, p.nlriOff, p.nlriEnd, attrs, p.originatorId);
    }
    const mr = p.mpReach;
    if (mr && !src.disabled[fi(mr.family)] && mr.count > 0) {
      let attrs: PathAttributes | undefined;
      if (!withdrawAll && p.attrs) {
        const nextHop = this.sharedNextHop(mr.nextHop);
        attrs = mr.linkLocal
          ? { ...p.attrs, nextHop, linkLocal: this.sharedNextHop(mr.linkLocal) }
          : { ...p.attrs, nextHop };
      }
      this.announce(n, src, mr.family, buf, mr.off, mr.end, attrs, p.originatorId);
    }
    const max = n.config.maxPrefixes;
    if (max !== undefined && src.size > max) {
      const data = new Uint8Array(7);
      const afi = src.t6.size > src.t4.size ? 2 : 1;
      data[1] = afi;
      data[2] = Safi.Unicast;
      new DataView(data.buffer).setUint32(3, max);
      return bgpError(ErrorCode.Cease, CeaseSubcode.MaximumPrefixesReached, data);
    }
    return undefined;
  }

  routeRefresh(
    n: Neighbor,
    buf: Uint8Array,
    off: number,
    len: number,
    now: number,
  ): BgpError | undefined {
    this.clock = now;
    const r = parseRouteRefresh(buf, off, len);
    if (!r.ok) return r.error;
    const family = familyOf(r.repr.afi, r.repr.safi);
    // RFC 2918 section 4: an AFI/SAFI not advertised is ignored; so are the RFC 7313 markers.
    if (family === undefined || r.repr.subtype !== 0 || !n.carries(family)) return undefined;
    const out = n.out[fi(family)];
    if (!out) return undefined;
    this.log(n.name, "route refresh requested", family === 4 ? "ipv4" : "ipv6");
    out.resendAll();
    this.fill(n, now);
    return undefined;
  }

  writable(n: Neighbor, now: number): void {
    this.fill(n, now);
  }

  // ---- routes ----------------------------------------------------------------------

  private announce(
    n: Neighbor,
    src: AdjRibIn,
    family: Family,
    buf: Uint8Array,
    off: number,
    end: number,
    attrs: PathAttributes | undefined,
    originatorId: number | undefined,
  ): void {
    const c = n.counters;
    const r = this.reader.reset(buf, off, end, family);
    const w = family === 4 ? this.scratch4 : r.words;
    let rawId = NO_ATTRS;
    let policy: Policy = REJECT_ALL;
    if (attrs) {
      // RFC 4271 9.1.2: a path with our AS is a loop; RFC 4456: our own ORIGINATOR_ID too;
      // RFC 4271 6.3: a next hop that is our own address is refused.
      const loop =
        asPathContains(attrs.asPath, this.asn) ||
        (originatorId !== undefined && originatorId === this.routerId) ||
        this.isOwnAddress(n, family, attrs.nextHop!);
      if (attrs.localPref === undefined)
        attrs = { ...attrs, localPref: this.config.defaultLocalPref };
      if (!loop) {
        rawId = this.interner.intern(attrs);
        policy = this.importPolicy(n);
      }
    }
    // The policy's answer depends on the prefix only through its signature: one run per signature.
    const memo = policy.prefixDependent ? new Map<number, number>() : undefined;
    let single = -1;
    while (r.next()) {
      if (family === 4) this.scratch4[0] = r.addr;
      if (!attrs) {
        this.withdraw(src, family, w, 0, r.length);
        continue;
      }
      c.prefixesReceived++;
      let id: number;
      if (policy === REJECT_ALL) id = NO_ATTRS;
      else if (!memo) {
        if (single < 0) single = this.runImport(policy, family, 0, attrs, rawId);
        id = single;
      } else {
        const sig = policy.signature(family, w, 0, r.length);
        const cached = memo.get(sig);
        if (cached !== undefined) id = cached;
        else {
          id = this.runImport(policy, family, sig, attrs, rawId);
          memo.set(sig, id);
        }
      }
      if (id === NO_ATTRS) {
        c.prefixesRejected++;
        this.withdraw(src, family, w, 0, r.length);
        continue;
      }
      this.interner.ref(id);
      if (src.set(family, w, 0, r.length, id, this.interner)) this.redecide(family, w, 0, r.length);
    }
    if (memo) for (const id of memo.values()) this.interner.unref(id);
    if (single > 0) this.interner.unref(single);
    this.interner.unref(rawId);
  }

  /** The import policy's attribute set for a route (one reference for the caller), or NO_ATTRS. */
  private runImport(
    policy: Policy,
    family: Family,
    sig: number,
    attrs: PathAttributes,
    rawId: number,
  ): number {
    const res = policy.apply(family, sig, attrs, this.asn);
    if (!res.accept) return NO_ATTRS;
    if (res.attrs === attrs) {
      this.interner.ref(rawId);
      return rawId;
    }
    return this.interner.intern(res.attrs);
  }

  private withdraw(
    src: AdjRibIn,
    family: Family,
    w: ArrayLike<number>,
    o: number,
    length: number,
  ): void {
    if (src.remove(family, w, o, length, this.interner)) this.redecide(family, w, o, length);
  }

  /** One array per distinct next hop (a million routes share a handful). */
  private sharedNextHop(a: Uint32Array): Uint32Array {
    const key = a.length === 1 ? a[0] : `${a[0]}.${a[1]}.${a[2]}.${a[3]}`;
    const hit = this.nextHops.get(key);
    if (hit) return hit;
    if (this.nextHops.size > 4096) this.nextHops.clear();
    this.nextHops.set(key, a);
    return a;
  }

  private isOwnAddress(n: Neighbor, family: Family, nextHop: Uint32Array): boolean {
    const self = n.selfNextHop[fi(family)];
    return self !== undefined && sameAddress(self, nextHop);
  }

  private importPolicy(n: Neighbor): Policy {
    const name = n.config.import;
    if (name === undefined) return n.ebgp ? REJECT_ALL : ACCEPT_ALL; // RFC 8212
    return this.policy(name);
  }

  private exportPolicy(n: Neighbor): Policy {
    const name = n.config.export;
    if (name === undefined) return n.ebgp ? REJECT_ALL : ACCEPT_ALL; // RFC 8212
    return this.policy(name);
  }

  private policy(name: string): Policy {
    return this.policies.get(name) ?? REJECT_ALL;
  }

  /** Next-hop resolution of an attribute set, cached per generation. */
  private resolve(e: InternedAttrs): boolean {
    if (e.resolvedGen === this.generation) return e.reachable;
    e.resolvedGen = this.generation;
    const nh = e.attrs.nextHop;
    if (!nh) {
      e.reachable = true;
      e.metric = 0;
      return true;
    }
    const key = nh.join(".");
    let r = this.resolved.get(key);
    if (!r) {
      r = this.hooks.resolve(nh.length === 1 ? 4 : 6, nh);
      this.resolved.set(key, { reachable: r.reachable, metric: r.metric });
    }
    e.reachable = r.reachable;
    e.metric = r.metric;
    return r.reachable;
  }

  /** Runs the decision process for one prefix and carries out what changed. */
  redecide(family: Family, w: ArrayLike<number>, o: number, length: number): void {
    const d = this.decision;
    d.reset();
    const active = this.active;
    for (let i = 0; i < active.length; i++) {
      const src = active[i];
      const t = family === 4 ? src.t4 : src.t6;
      if (t.size === 0) continue;
      const s = family === 4 ? t.find4(w[o], length) : t.find6(w, o, length);
      if (s < 0) continue;
      const e = this.interner.get(t.values[s]);
      if (!this.resolve(e)) continue;
      d.add(src, e);
    }
    const best = d.select();
    const lt = this.loc.table(family);
    const ls = lt.find(w, o, length);
    if (best < 0) {
      if (ls < 0) return;
      const oldSrc = this.sources[lt.value(ls, 0)];
      this.loc.remove(family, ls, this.interner);
      if (oldSrc && oldSrc.kind !== SourceKind.Local) this.uninstall(family, w, o, length);
      this.exportChange(family, w, o, length, -1, NO_ATTRS);
      return;
    }
    const src = d.sources[best] as AdjRibIn;
    const e = d.attrs[best];
    if (ls >= 0) {
      const oldSlot = lt.value(ls, 0);
      const oldId = lt.value(ls, 1);
      if (oldSlot === src.slot && oldId === e.id) return;
      const oldSrc = this.sources[oldSlot];
      const oldE = this.interner.get(oldId);
      this.loc.set(family, w, o, length, src.slot, e.id, this.interner);
      if (src.kind === SourceKind.Local) {
        if (oldSrc && oldSrc.kind !== SourceKind.Local) this.uninstall(family, w, o, length);
      } else if (
        !oldSrc ||
        oldSrc.kind !== src.kind ||
        !sameAddress(oldE.attrs.nextHop ?? [], e.attrs.nextHop!)
      ) {
        this.install(family, w, o, length, src, e);
      }
    } else {
      this.loc.set(family, w, o, length, src.slot, e.id, this.interner);
      if (src.kind !== SourceKind.Local) this.install(family, w, o, length, src, e);
    }
    this.exportChange(family, w, o, length, src.slot, e.id);
  }

  private install(
    family: Family,
    w: ArrayLike<number>,
    o: number,
    length: number,
    src: AdjRibIn,
    e: InternedAttrs,
  ): void {
    const p = family === 4 ? this.scratch4Hook : this.scratch6Hook;
    for (let i = 0; i < p.length; i++) p[i] = w[o + i];
    this.hookCalls++;
    this.hooks.install(
      family,
      p,
      length,
      e.attrs.nextHop!,
      src.kind === SourceKind.Ebgp ? BGP_DISTANCE.ebgp : BGP_DISTANCE.ibgp,
    );
  }

  private uninstall(family: Family, w: ArrayLike<number>, o: number, length: number): void {
    const p = family === 4 ? this.scratch4Hook : this.scratch6Hook;
    for (let i = 0; i < p.length; i++) p[i] = w[o + i];
    this.hookCalls++;
    this.hooks.remove(family, p, length);
  }

  private readonly scratch4Hook = new Uint32Array(1);
  private readonly scratch6Hook = new Uint32Array(4);

  /** Tells every established peer carrying `family` of a new best route (slot -1: none). */
  private exportChange(
    family: Family,
    w: ArrayLike<number>,
    o: number,
    length: number,
    slot: number,
    attrId: number,
  ): void {
    const list = this.neighborList;
    for (let i = 0; i < list.length; i++) {
      const n = list[i];
      const out = n.out[fi(family)];
      if (!out) continue;
      out.want(
        w,
        o,
        length,
        slot < 0 ? WITHDRAW : this.exportAttrs(n, family, w, o, length, slot, attrId),
      );
    }
  }

  /** The attributes `n` gets for a route (WITHDRAW when it gets none), memoised per batch. */
  private exportAttrs(
    n: Neighbor,
    family: Family,
    w: ArrayLike<number>,
    o: number,
    length: number,
    slot: number,
    attrId: number,
  ): number {
    const src = this.sources[slot];
    if (!src || src === n.source) return WITHDRAW;
    // RFC 4271 9.2: routes learned from iBGP are not advertised to iBGP peers.
    if (src.kind === SourceKind.Ibgp && !n.ebgp) return WITHDRAW;
    const e = this.interner.get(attrId);
    const a = e.attrs;
    if (a.communities) {
      // RFC 1997 well-known communities.
      if (hasCommunity(a, Community.NoAdvertise)) return WITHDRAW;
      if (
        n.ebgp &&
        (hasCommunity(a, Community.NoExport) || hasCommunity(a, Community.NoExportSubconfed))
      )
        return WITHDRAW;
    }
    const policy = this.exportPolicy(n);
    if (policy === REJECT_ALL) return WITHDRAW;
    const sig = policy.prefixDependent ? policy.signature(family, w, o, length) : 0;
    const key = (sig * 4 + src.kind) * 67108864 + attrId;
    let memo = this.exportMemo.get(n);
    if (!memo) {
      memo = new Map();
      this.exportMemo.set(n, memo);
    }
    const cached = memo.get(key);
    if (cached !== undefined) return cached;
    const id = this.computeExport(n, family, sig, src, a, policy);
    // The memo holds the result and the route's set (whose id must not be reused meanwhile).
    this.interner.ref(attrId);
    memo.set(key, id);
    return id;
  }

  private computeExport(
    n: Neighbor,
    family: Family,
    sig: number,
    src: AdjRibIn,
    a: PathAttributes,
    policy: Policy,
  ): number {
    const local = src.kind === SourceKind.Local;
    let base = a;
    if (n.ebgp) {
      // LOCAL_PREF stays inside the AS (RFC 4271 5.1.5); a MED learned from another AS is not passed on (5.1.4).
      base = withChanges(a, { localPref: undefined, med: local ? a.med : undefined });
    }
    const res = policy.apply(family, sig, base, this.asn);
    if (!res.accept) return WITHDRAW;
    let out = res.attrs;
    const self = n.selfNextHop[fi(family)];
    if (n.ebgp) {
      if (!self) return WITHDRAW;
      out = withChanges(out, {
        asPath: asPathPrepend(out.asPath, this.asn),
        nextHop: self,
        linkLocal: undefined,
        localPref: undefined,
        med: res.medSet || local ? out.med : undefined,
      });
    } else {
      const nhSelf = local || res.nextHopSelf || n.config.nextHopSelf || !out.nextHop;
      if (nhSelf && !self) return WITHDRAW;
      out = withChanges(out, {
        localPref: out.localPref ?? this.config.defaultLocalPref,
        nextHop: nhSelf ? self : out.nextHop,
        linkLocal: undefined,
      });
    }
    return this.interner.intern(out);
  }

  private clearMemo(n?: Neighbor): void {
    for (const [k, memo] of this.exportMemo) {
      if (n && k !== n) continue;
      for (const [key, id] of memo) {
        this.interner.unref(id);
        this.interner.unref(key % 67108864);
      }
      this.exportMemo.delete(k);
    }
  }

  /** Flushes `src`'s routes of `family` in the background. */
  private flushSource(src: AdjRibIn, family: Family, done?: () => void): void {
    const snap = src.takeAll(family, this.interner);
    this.jobs.push({ kind: "redecide", family, words: snap.words, lens: snap.lens, pos: 0, done });
  }

  private allocSlot(): number {
    for (let i = STATIC_SLOT + 1; i < this.sources.length; i++)
      if (this.sources[i] === undefined) return i;
    return this.sources.length;
  }

  /** Runs up to `budget` prefixes of background work. */
  private runJobs(budget: number): void {
    while (budget > 0 && this.jobs.length > 0) {
      const job = this.jobs[0];
      const stride = job.family === 4 ? 1 : 4;
      const n = job.lens.length;
      const start = job.pos;
      const end = Math.min(n, job.pos + budget);
      if (job.kind === "export") {
        const nb = job.neighbor!;
        const out = nb.out[fi(job.family)];
        if (nb.session !== job.session || !out) job.pos = n;
        for (; job.pos < end; job.pos++) {
          const o = job.pos * stride;
          const ls = this.loc.find(job.family, job.words, o, job.lens[job.pos]);
          if (ls < 0) continue;
          const slot = this.loc.source(job.family, ls);
          const id = this.loc.attrs(job.family, ls);
          out!.want(
            job.words,
            o,
            job.lens[job.pos],
            this.exportAttrs(nb, job.family, job.words, o, job.lens[job.pos], slot, id),
          );
        }
      } else {
        for (; job.pos < end; job.pos++)
          this.redecide(job.family, job.words, job.pos * stride, job.lens[job.pos]);
      }
      budget -= Math.max(1, end - start);
      if (job.pos >= n) {
        this.jobs.shift();
        job.done?.();
      }
      this.endBatch(this.clock);
    }
  }

  /** Hands waiting UPDATEs to `n`'s connection while its queue has room; End-of-RIB when done. */
  private fill(n: Neighbor, now: number): void {
    const fsm = n.session;
    if (!fsm || fsm.state !== BgpState.Established) return;
    const as4 = fsm.negotiated!.as4;
    const emit = (msg: Uint8Array) => {
      fsm.sendMessage(msg, now);
    };
    for (;;) {
      const room = LOW_WATER - fsm.queued;
      if (room <= 0 || n.session !== fsm) return;
      let produced = 0;
      for (const out of n.out) {
        if (out && out.waiting > 0) produced += out.drain(this.packer, as4, room, emit);
      }
      if (produced === 0) break;
    }
    // End-of-RIB (RFC 4724) once the first advertisement of a family is out.
    for (const family of fsm.negotiated!.families) {
      const i = fi(family);
      const out = n.out[i];
      if (n.eorSent[i] || !out || out.waiting > 0) continue;
      if (this.jobs.some((j) => j.kind === "export" && j.neighbor === n && j.family === family))
        continue;
      n.eorSent[i] = true;
      fsm.sendMessage(encodeEndOfRib(family), now);
    }
  }

  /** Ends a batch: outputs to every session, the router's commit, the export memo. */
  private endBatch(now: number): void {
    for (const n of this.neighborList) if (n.session) this.fill(n, now);
    this.clearMemo();
    if (this.hookCalls > 0) {
      this.hookCalls = 0;
      this.hooks.commit?.();
    }
  }

  // ---- transport callbacks ---------------------------------------------------------

  private neighborFor(remote: TcpEndpoint): Neighbor | undefined {
    return this.neighborList.find(
      (n) => n.config.family === remote.family && sameAddress(n.config.address, remote.address),
    );
  }

  private fsmOf(c: BgpConnection): PeerFsm | undefined {
    const fsm = this.connections.get(c.id);
    if (!fsm || fsm.finished || !fsm.conn || fsm.conn.id !== c.id) return undefined;
    return fsm;
  }

  private makeTransportUser(): TransportUser {
    return {
      accepted: (c) => {
        const n = this.neighborFor(c.remote);
        if (!n || !this.started) {
          this.log(undefined, "connection refused", `from ${formatAddress(c.remote)}`);
          c.abort(this.clock);
          return;
        }
        this.connectionOwner.set(c.id, n);
        n.accept(c, this.clock);
        this.endBatch(this.clock);
      },
      connected: (c) => {
        this.fsmOf(c)?.connected(this.clock);
        this.endBatch(this.clock);
      },
      data: (c, bytes, now) => {
        if (typeof now === "number") this.clock = now;
        const fsm = this.fsmOf(c);
        if (!fsm) return;
        fsm.receive(bytes, this.clock);
        this.endBatch(this.clock);
      },
      writable: (c) => {
        this.fsmOf(c)?.writableAgain(this.clock);
        this.endBatch(this.clock);
      },
      peerClosed: (c) => {
        const fsm = this.fsmOf(c);
        if (fsm) {
          fsm.connectionFailed(this.clock, true);
          this.endBatch(this.clock);
        }
      },
      closed: (c) => {
        const fsm = this.fsmOf(c);
        this.connections.delete(c.id);
        this.connectionOwner.delete(c.id);
        if (fsm) {
          fsm.connectionFailed(this.clock, false);
          this.endBatch(this.clock);
        }
      },
    };
  }

  private view(
    family: Family,
    words: Uint32Array,
    length: number,
    slot: number,
    attrId: number,
  ): RouteView {
    const src = slot >= 0 ? this.sources[slot] : undefined;
    const a = this.interner.attrs(attrId);
    const kind: RouteView["kind"] =
      !src || src.kind === SourceKind.Ebgp
        ? "ebgp"
        : src.kind === SourceKind.Ibgp
          ? "ibgp"
          : (src.name as "connected" | "static");
    const v: RouteView = {
      prefix: formatPrefix(family, words, length),
      family,
      words,
      length,
      from: src?.name ?? "",
      kind,
      origin: (["igp", "egp", "incomplete"] as const)[a.origin] ?? "incomplete",
      asPath: asPathText(a.asPath),
      nextHop: a.nextHop
        ? a.nextHop.length === 1
          ? formatIPv4(a.nextHop[0])
          : formatIPv6(a.nextHop)
        : undefined,
      atomicAggregate: a.atomicAggregate,
      communities: a.communities ? Array.from(a.communities, communityText) : [],
      largeCommunities: [],
    };
    if (a.linkLocal) v.linkLocal = formatIPv6(a.linkLocal);
    if (a.med !== undefined) v.med = a.med;
    if (a.localPref !== undefined) v.localPref = a.localPref;
    if (a.aggregator) v.aggregator = `${a.aggregator.asn} ${formatIPv4(a.aggregator.address)}`;
    const lc = a.largeCommunities;
    if (lc)
      for (let i = 0; i < lc.length; i += 3)
        v.largeCommunities.push(`${lc[i]}:${lc[i + 1]}:${lc[i + 2]}`);
    return v;
  }

  private log(neighbor: string | undefined, event: string, detail?: string): void {
    const l = this.options.log;
    if (!l) return;
    const e: BgpLogEvent = { event };
    if (neighbor !== undefined) e.neighbor = neighbor;
    if (detail !== undefined) e.detail = detail;
    l(e);
  }
}

function neg(fsm: PeerFsm): Family[] {
  return fsm.negotiated?.families ?? [];
}

function formatAddress(e: TcpEndpoint): string {
  return e.family === 4 ? formatIPv4(e.address[0]) : formatIPv6(e.address);
}
