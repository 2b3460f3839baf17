/**
 * One configured neighbour: its FSMs (one per TCP connection, fsm.ts),
 * connection collision detection (RFC 4271 section 6.8, with equal
 * identifiers settled by AS number as RFC 6286 section 2.3 says), the
 * checks of a received OPEN (RFC 4271 6.2, RFC 5492, RFC 6793, RFC 6286,
 * RFC 7607) and what the two OPENs negotiate, automatic restart after an
 * error (the idle hold time, doubled after each consecutive failure: RFC
 * 4271's DampPeerOscillations), and the counters the management side reads.
 *
 * The routes of a session (its Adj-RIB-In and Adj-RIBs-Out) belong to the
 * speaker, which the neighbour reaches through `NeighborOwner`.
 */
import type { Family } from "../../fib/types.ts";
import type { AdjRibIn } from "./adj-rib-in.ts";
import type { AdjRibOut } from "./adj-rib-out.ts";
import type { NeighborConfig } from "./config.ts";
import {
  type BgpError,
  bgpError,
  CeaseSubcode,
  describeError,
  ErrorCode,
  OpenSubcode,
} from "./errors.ts";
import {
  BgpState,
  DOWN_REASON_NAMES,
  DownReason,
  type FsmHost,
  type Negotiated,
  PeerFsm,
  STATE_NAMES,
} from "./fsm.ts";
import type { BgpConnection } from "./transport.ts";
import { type Capability, CapabilityCode } from "./wire/capabilities.ts";
import { afiOf, familyOf, Safi } from "./wire/families.ts";
import { MessageType } from "./wire/header.ts";
import { ceaseError, encodeNotification } from "./wire/notification.ts";
import { AS_TRANS, BGP_VERSION, type OpenRepr, openAsn } from "./wire/open.ts";
import type { UpdateContext } from "./wire/update.ts";

/** What a neighbour asks of the speaker. */
export interface NeighborOwner {
  readonly asn: number;
  readonly routerId: number;
  readonly idleHoldMs: number;
  random(): number;
  connect(n: Neighbor, fsm: PeerFsm, now: number): BgpConnection | undefined;
  bind(conn: BgpConnection, fsm: PeerFsm | undefined): void;
  /** The FSM is done: its connections are no longer its. */
  forget(fsm: PeerFsm): void;
  sessionUp(n: Neighbor, now: number): void;
  sessionDown(n: Neighbor, now: number): void;
  update(n: Neighbor, buf: Uint8Array, off: number, len: number, now: number): BgpError | undefined;
  routeRefresh(
    n: Neighbor,
    buf: Uint8Array,
    off: number,
    len: number,
    now: number,
  ): BgpError | undefined;
  writable(n: Neighbor, now: number): void;
}

const TYPES = ["open", "update", "notification", "keepalive", "routeRefresh"] as const;

/** Messages by type, in one direction. */
export interface MessageCounts {
  open: number;
  update: number;
  notification: number;
  keepalive: number;
  routeRefresh: number;
}

export class NeighborCounters {
  readonly messagesIn: MessageCounts = {
    open: 0,
    update: 0,
    notification: 0,
    keepalive: 0,
    routeRefresh: 0,
  };
  readonly messagesOut: MessageCounts = {
    open: 0,
    update: 0,
    notification: 0,
    keepalive: 0,
    routeRefresh: 0,
  };
  /** Prefixes announced to us (every announcement counts). */
  prefixesReceived = 0;
  /** Prefixes withdrawn by the peer. */
  withdrawalsReceived = 0;
  /** Announcements the import policy (or a loop) refused. */
  prefixesRejected = 0;
  /** UPDATEs handled as withdrawals (RFC 7606). */
  treatAsWithdraw = 0;
  /** Attributes discarded (RFC 7606). */
  attributeDiscard = 0;
  /** Times the session left Established. */
  flaps = 0;
  /** Times the session reached Established. */
  established = 0;

  count(dir: "in" | "out", type: number): void {
    const name = TYPES[type - 1];
    if (name === undefined) return;
    (dir === "in" ? this.messagesIn : this.messagesOut)[name]++;
  }
}

export interface LastError {
  /** "sent" or "received" NOTIFICATION, or a local event. */
  direction: "sent" | "received" | "local";
  code?: number;
  subcode?: number;
  text: string;
  at: number;
}

export class Neighbor implements FsmHost {
  readonly name: string;
  fsms: PeerFsm[] = [];
  /** The Established FSM. */
  session: PeerFsm | undefined;
  enabled = false;
  idleHoldAt = Number.POSITIVE_INFINITY;
  failures = 0;
  readonly counters = new NeighborCounters();
  lastError: LastError | undefined;
  establishedAt: number | undefined;
  // Routes of the current session (kept by the speaker).
  source: AdjRibIn | undefined;
  readonly out: (AdjRibOut | undefined)[] = [undefined, undefined];
  /** Initial advertisement finished and End-of-RIB sent, per family. */
  readonly eorSent = [false, false];
  readonly eorReceived = [false, false];
  /** The router's address put as NEXT_HOP toward this peer, per family. */
  readonly selfNextHop: (Uint32Array | undefined)[] = [undefined, undefined];
  updateContext: UpdateContext | undefined;

  constructor(
    public config: NeighborConfig,
    private readonly owner: NeighborOwner,
  ) {
    this.name = config.name;
  }

  get ebgp(): boolean {
    return this.config.asn !== this.owner.asn;
  }

  /** The most advanced state among the neighbour's connections. */
  get state(): BgpState {
    let s: BgpState = BgpState.Idle;
    for (const f of this.fsms) if (f.state > s) s = f.state;
    return s;
  }

  get stateName(): string {
    return STATE_NAMES[this.state];
  }

  /** Starts (or restarts) the neighbour. */
  start(now: number): void {
    if (!this.config.enabled) return;
    this.enabled = true;
    this.failures = 0;
    this.idleHoldAt = Number.POSITIVE_INFINITY;
    if (this.fsms.length === 0) this.launch(now);
  }

  /** Stops every connection with `error` (Cease) and stays down until started again. */
  stop(now: number, error: BgpError): void {
    this.enabled = false;
    this.idleHoldAt = Number.POSITIVE_INFINITY;
    for (const f of [...this.fsms]) f.stop(now, error);
  }

  /** Opens the outgoing connection (unless passive). */
  private launch(now: number): void {
    if (this.config.passive) return;
    const fsm = new PeerFsm(this, true, this.config.connectRetryTime * 1000, this.config.holdTime);
    this.fsms.push(fsm);
    fsm.start(now);
  }

  /** A connection from the peer was accepted. */
  accept(conn: BgpConnection, now: number): void {
    if (!this.enabled || this.session) {
      // RFC 4271 6.8: a connection colliding with an Established one is closed.
      this.owner.bind(conn, undefined);
      conn.send(encodeNotification(ceaseError(CeaseSubcode.ConnectionRejected)));
      this.counters.count("out", MessageType.Notification);
      conn.close(now);
      return;
    }
    for (const f of this.fsms) {
      // An older incoming connection from the same peer is stale.
      if (!f.outgoing && !f.finished) f.dump(now);
    }
    const fsm = new PeerFsm(this, false, this.config.connectRetryTime * 1000, this.config.holdTime);
    this.fsms.push(fsm);
    this.owner.bind(conn, fsm);
    fsm.start(now, conn);
  }

  /** Runs the neighbour's timers; answers the next deadline. */
  poll(now: number): number {
    let next = Number.POSITIVE_INFINITY;
    for (const f of [...this.fsms]) next = Math.min(next, f.poll(now));
    if (now >= this.idleHoldAt) {
      this.idleHoldAt = Number.POSITIVE_INFINITY;
      if (this.enabled && !this.fsms.some((f) => f.outgoing)) this.launch(now);
      for (const f of this.fsms) next = Math.min(next, f.poll(now));
    }
    return Math.min(next, this.idleHoldAt);
  }

  // ---- FsmHost ---------------------------------------------------------------------

  random(): number {
    return this.owner.random();
  }

  openMessage(): OpenRepr {
    const caps: Capability[] = this.config.families.map((f) => ({
      kind: "multiprotocol" as const,
      afi: afiOf(f),
      safi: Safi.Unicast,
    }));
    caps.push({ kind: "route-refresh" }, { kind: "four-octet-as", asn: this.owner.asn });
    return {
      version: BGP_VERSION,
      myAs: this.owner.asn > 0xffff ? AS_TRANS : this.owner.asn,
      holdTime: this.config.holdTime,
      bgpId: this.owner.routerId,
      capabilities: caps,
    };
  }

  acceptOpen(_fsm: PeerFsm, open: OpenRepr): BgpError | Negotiated {
    const peerAs = openAsn(open);
    if (peerAs === 0 || peerAs !== this.config.asn) {
      return bgpError(ErrorCode.OpenMessage, OpenSubcode.BadPeerAs);
    }
    if (open.holdTime === 1 || open.holdTime === 2) {
      return bgpError(ErrorCode.OpenMessage, OpenSubcode.UnacceptableHoldTime);
    }
    if (open.bgpId === 0 || (!this.ebgp && open.bgpId === this.owner.routerId)) {
      return bgpError(ErrorCode.OpenMessage, OpenSubcode.BadBgpIdentifier);
    }
    let mp = false;
    const offered = new Set<Family>();
    let as4 = false;
    let routeRefresh = false;
    for (const c of open.capabilities) {
      if (c.kind === "multiprotocol") {
        mp = true;
        const f = familyOf(c.afi, c.safi);
        if (f !== undefined) offered.add(f);
      } else if (c.kind === "four-octet-as") as4 = true;
      else if (c.kind === "route-refresh") routeRefresh = true;
      else if (c.kind === "other" && c.code === CapabilityCode.EnhancedRouteRefresh)
        routeRefresh = true;
    }
    // RFC 4760 section 8: without the capability, IPv4 unicast only.
    if (!mp) offered.add(4);
    const families = this.config.families.filter((f) => offered.has(f));
    const holdTime = Math.min(this.config.holdTime, open.holdTime);
    const third = Math.floor(holdTime / 3);
    const keepalive =
      this.config.keepaliveTime !== undefined ? Math.min(this.config.keepaliveTime, third) : third;
    return {
      holdTime,
      keepaliveMs: Math.max(1, keepalive) * 1000,
      as4,
      families,
      routeRefresh,
      peerId: open.bgpId,
      peerAs,
      peerOpen: open,
    };
  }

  resolveCollision(fsm: PeerFsm, now: number): boolean {
    const peer = fsm.negotiated!;
    for (const other of this.fsms) {
      if (other === fsm || other.finished) continue;
      if (other.state === BgpState.Established) return false;
      if (other.state !== BgpState.OpenConfirm) continue;
      // Keep the connection opened by the speaker with the higher identifier (RFC 4271 6.8),
      // or with equal identifiers the higher AS (RFC 6286 2.3).
      const local = this.owner.routerId;
      const keepOurs = local !== peer.peerId ? local > peer.peerId : this.owner.asn > peer.peerAs;
      const winner = keepOurs === fsm.outgoing ? fsm : other;
      if (winner !== fsm) return false;
      other.dump(now);
    }
    return true;
  }

  connect(fsm: PeerFsm, now: number): BgpConnection | undefined {
    return this.owner.connect(this, fsm, now);
  }

  established(fsm: PeerFsm, now: number): void {
    for (const other of [...this.fsms]) if (other !== fsm && !other.finished) other.dump(now);
    this.session = fsm;
    this.failures = 0;
    this.establishedAt = now;
    this.counters.established++;
    this.owner.sessionUp(this, now);
  }

  update(
    _fsm: PeerFsm,
    buf: Uint8Array,
    off: number,
    len: number,
    now: number,
  ): BgpError | undefined {
    return this.owner.update(this, buf, off, len, now);
  }

  routeRefresh(
    _fsm: PeerFsm,
    buf: Uint8Array,
    off: number,
    len: number,
    now: number,
  ): BgpError | undefined {
    return this.owner.routeRefresh(this, buf, off, len, now);
  }

  idle(fsm: PeerFsm, now: number, reason: DownReason, error: BgpError | undefined): void {
    const at = this.fsms.indexOf(fsm);
    if (at >= 0) this.fsms.splice(at, 1);
    this.owner.forget(fsm);
    const wasUp = fsm === this.session;
    // A connection that loses a collision, or ends while another one carries on, is no error.
    const collision =
      reason === DownReason.CollisionLost ||
      (error?.code === ErrorCode.Cease &&
        error.subcode === CeaseSubcode.ConnectionCollisionResolution) ||
      (!wasUp && this.fsms.some((f) => !f.finished && f.state >= BgpState.OpenSent));
    if (!collision && reason !== DownReason.AdminStop) {
      this.lastError = {
        direction:
          reason === DownReason.NotificationReceived ? "received" : error ? "sent" : "local",
        text: error
          ? `${DOWN_REASON_NAMES[reason]}: ${describeError(error.code, error.subcode)}`
          : DOWN_REASON_NAMES[reason],
        at: now,
      };
      if (error) {
        this.lastError.code = error.code;
        this.lastError.subcode = error.subcode;
      }
    }
    if (wasUp) {
      this.session = undefined;
      this.establishedAt = undefined;
      this.counters.flaps++;
      this.owner.sessionDown(this, now);
    } else if (!collision) {
      this.failures++;
    }
    if (this.enabled && this.fsms.length === 0 && this.idleHoldAt === Number.POSITIVE_INFINITY) {
      const base = this.owner.idleHoldMs;
      const delay = Math.min(120_000, base * 2 ** Math.max(0, Math.min(this.failures, 8) - 1));
      this.idleHoldAt = now + (base === 0 ? 0 : Math.max(base, delay));
    }
  }

  writable(_fsm: PeerFsm, now: number): void {
    this.owner.writable(this, now);
  }

  countIn(type: number): void {
    this.counters.count("in", type);
  }

  countOut(type: number): void {
    this.counters.count("out", type);
  }

  /** Whether the session carries `family`. */
  carries(family: Family): boolean {
    return this.session?.negotiated?.families.includes(family) ?? false;
  }

  /** Ends an Established session with a NOTIFICATION (e.g. maximum prefixes). */
  reset(now: number, error: BgpError): void {
    this.session?.fail(now, error);
  }
}
