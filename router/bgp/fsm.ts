/**
 * The BGP finite state machine of RFC 4271 section 8, one instance per TCP
 * connection (section 8 lets a speaker run several per peer while a
 * connection collision is resolved; session.ts holds a neighbour's and
 * resolves collisions, section 6.8). Optional attributes of section 8.1
 * in use: none of DelayOpen, passive TCP establishment is the incoming
 * instance, DampPeerOscillations is the neighbour's idle hold (session.ts).
 *
 * One handler per state (`idle`, `connect`, `active`, `openSent`,
 * `openConfirm`, `established`), each taking an `FsmEvent` (numbered as in
 * RFC 4271 section 8.1). The transitions each state may make are written
 * down in `TRANSITIONS`, and `enter` refuses any other. Timers are absolute
 * deadlines in milliseconds: ConnectRetry and Keepalive are jittered by a
 * factor in [0.75, 1] (section 10), Hold is not; a hold time of 0 turns off
 * Hold and Keepalive.
 *
 * Messages arrive as bytes (`receive`) and are framed by stream.ts; the
 * current message is kept in fields while its event is handled so that
 * nothing is allocated per message. Output goes through a queue that hands
 * the connection only what its send buffer accepts (`flush`).
 */
import type { Family } from "../../fib/types.ts";
import {
  type BgpError,
  bgpError,
  CeaseSubcode,
  describeError,
  ErrorCode,
  FsmSubcode,
} from "./errors.ts";
import type { BgpConnection } from "./transport.ts";
import { KEEPALIVE, MessageType, messageType } from "./wire/header.ts";
import { ceaseError, encodeNotification, parseNotification } from "./wire/notification.ts";
import { encodeOpen, type OpenRepr, parseOpen } from "./wire/open.ts";
import { MessageFramer } from "./wire/stream.ts";

export const BgpState = {
  Idle: 0,
  Connect: 1,
  Active: 2,
  OpenSent: 3,
  OpenConfirm: 4,
  Established: 5,
} as const;
export type BgpState = (typeof BgpState)[keyof typeof BgpState];

export const STATE_NAMES = ["Idle", "Connect", "Active", "OpenSent", "OpenConfirm", "Established"];

/** Events, numbered as in RFC 4271 section 8.1 (RouteRefreshMsg is RFC 2918's, numbered here). */
export const FsmEvent = {
  ManualStart: 1,
  ManualStop: 2,
  AutomaticStart: 3,
  ConnectRetryTimerExpires: 9,
  HoldTimerExpires: 10,
  KeepaliveTimerExpires: 11,
  TcpCrAcked: 16,
  TcpConnectionConfirmed: 17,
  TcpConnectionFails: 18,
  BgpOpen: 19,
  BgpHeaderErr: 21,
  BgpOpenMsgErr: 22,
  OpenCollisionDump: 23,
  NotifMsgVerErr: 24,
  NotifMsg: 25,
  KeepAliveMsg: 26,
  UpdateMsg: 27,
  UpdateMsgErr: 28,
  RouteRefreshMsg: 100,
} as const;
export type FsmEvent = (typeof FsmEvent)[keyof typeof FsmEvent];

/** The states each state may move to. */
export const TRANSITIONS: readonly (readonly BgpState[])[] = [
  /* Idle */ [BgpState.Connect, BgpState.Active],
  /* Connect */ [BgpState.Connect, BgpState.Active, BgpState.OpenSent, BgpState.Idle],
  /* Active */ [BgpState.Connect, BgpState.Active, BgpState.OpenSent, BgpState.Idle],
  /* OpenSent */ [BgpState.OpenConfirm, BgpState.Active, BgpState.Idle],
  /* OpenConfirm */ [BgpState.Established, BgpState.Idle],
  /* Established */ [BgpState.Idle],
];

/** Why an FSM went back to Idle. */
export const DownReason = {
  AdminStop: 0,
  HoldTimerExpired: 1,
  NotificationSent: 2,
  NotificationReceived: 3,
  ConnectionFailed: 4,
  PeerClosed: 5,
  CollisionLost: 6,
} as const;
export type DownReason = (typeof DownReason)[keyof typeof DownReason];

export const DOWN_REASON_NAMES = [
  "administrative stop",
  "hold timer expired",
  "NOTIFICATION sent",
  "NOTIFICATION received",
  "connection failed",
  "peer closed the connection",
  "connection collision lost",
];

/** The hold time a fresh connection waits for OPEN (RFC 4271 section 8.2.2: 4 minutes). */
export const LARGE_HOLD_MS = 240_000;

/** What a session agreed on from the two OPENs. */
export interface Negotiated {
  /** Seconds; 0 means no hold timer and no keepalives. */
  holdTime: number;
  keepaliveMs: number;
  as4: boolean;
  families: Family[];
  routeRefresh: boolean;
  peerId: number;
  peerAs: number;
  peerOpen: OpenRepr;
}

/** What an FSM asks of its neighbour (session.ts). */
export interface FsmHost {
  readonly name: string;
  random(): number;
  /** Our OPEN. */
  openMessage(): OpenRepr;
  /** Checks a syntactically valid OPEN against the configuration. */
  acceptOpen(fsm: PeerFsm, open: OpenRepr): BgpError | Negotiated;
  /** Connection collision detection (RFC 4271 6.8) for `fsm`, which just got a valid OPEN: false dumps it. */
  resolveCollision(fsm: PeerFsm, now: number): boolean;
  /** Opens a TCP connection to the peer (outgoing FSMs). */
  connect(fsm: PeerFsm, now: number): BgpConnection | undefined;
  established(fsm: PeerFsm, now: number): void;
  update(
    fsm: PeerFsm,
    buf: Uint8Array,
    off: number,
    len: number,
    now: number,
  ): BgpError | undefined;
  routeRefresh(
    fsm: PeerFsm,
    buf: Uint8Array,
    off: number,
    len: number,
    now: number,
  ): BgpError | undefined;
  /** The FSM reached Idle and is done. */
  idle(fsm: PeerFsm, now: number, reason: DownReason, error: BgpError | undefined): void;
  /** The output queue ran low: more UPDATEs may be generated. */
  writable(fsm: PeerFsm, now: number): void;
  countIn(type: number): void;
  countOut(type: number): void;
}

/** Output waiting for room in the connection's send buffer. */
class OutQueue {
  chunks: Uint8Array[] = [];
  bytes = 0;
  push(b: Uint8Array): void {
    this.chunks.push(b);
    this.bytes += b.length;
  }
  /** Hands `conn` what it accepts; answers whether everything went. */
  flush(conn: BgpConnection): boolean {
    while (this.chunks.length > 0) {
      const c = this.chunks[0];
      const n = conn.send(c);
      this.bytes -= n;
      if (n < c.length) {
        this.chunks[0] = c.subarray(n);
        return false;
      }
      this.chunks.shift();
    }
    return true;
  }
  clear(): void {
    this.chunks = [];
    this.bytes = 0;
  }
}

/** Below this many queued octets the speaker generates more UPDATEs. */
export const LOW_WATER = 64 * 1024;

export class PeerFsm {
  state: BgpState = BgpState.Idle;
  conn: BgpConnection | undefined;
  connectRetryAt = Number.POSITIVE_INFINITY;
  holdAt = Number.POSITIVE_INFINITY;
  keepaliveAt = Number.POSITIVE_INFINITY;
  /** A message arrived since the last poll (the hold timer restarts from the poll's time too). */
  heard = false;
  negotiated: Negotiated | undefined;
  connectRetryCounter = 0;
  readonly framer = new MessageFramer();
  readonly out = new OutQueue();
  /** The time the speaker last knew (message handlers have no `now` of their own). */
  clock = 0;
  private done = false;
  // The message being handled.
  private mBuf: Uint8Array = KEEPALIVE as Uint8Array;
  private mOff = 0;
  private mLen = 0;
  private pendingError: BgpError | undefined;

  constructor(
    readonly host: FsmHost,
    /** True for the connection this speaker opens, false for one it accepted. */
    readonly outgoing: boolean,
    readonly connectRetryMs: number,
    readonly holdTimeS: number,
  ) {}

  get stateName(): string {
    return STATE_NAMES[this.state];
  }

  /** Whether this FSM has reached Idle for good. */
  get finished(): boolean {
    return this.done;
  }

  // ---- inputs -----------------------------------------------------------------

  /** Starts an outgoing FSM (Idle → Connect), or takes an accepted connection (Idle → Active → OpenSent). */
  start(now: number, conn?: BgpConnection): void {
    this.clock = now;
    if (conn) {
      this.conn = conn;
      this.enter(BgpState.Active);
      this.dispatch(FsmEvent.TcpConnectionConfirmed, now);
    } else {
      this.dispatch(FsmEvent.ManualStart, now);
    }
  }

  /** ManualStop: Cease (with `error`, Administrative Shutdown by default) and Idle. */
  stop(now: number, error?: BgpError): void {
    this.clock = now;
    this.pendingError = error;
    this.dispatch(FsmEvent.ManualStop, now);
  }

  /** Collision resolution lost (OpenCollisionDump). */
  dump(now: number): void {
    this.clock = now;
    this.dispatch(FsmEvent.OpenCollisionDump, now);
  }

  /** Ends the session with a NOTIFICATION (e.g. maximum prefixes). */
  fail(now: number, error: BgpError): void {
    this.clock = now;
    this.notifyAndIdle(error, now);
  }

  connected(now: number): void {
    this.clock = now;
    this.dispatch(FsmEvent.TcpCrAcked, now);
  }

  connectionFailed(now: number, peerClosed: boolean): void {
    this.clock = now;
    this.peerClosed = peerClosed;
    this.dispatch(FsmEvent.TcpConnectionFails, now);
  }
  private peerClosed = false;

  /** Bytes from the connection. */
  receive(bytes: Uint8Array, now: number): void {
    this.clock = now;
    if (this.done) return;
    const err = this.framer.push(bytes, this.onMessage);
    if (err && !this.done) {
      this.pendingError = err;
      this.dispatch(FsmEvent.BgpHeaderErr, now);
    }
  }

  /** Room in the send buffer again. */
  writableAgain(now: number): void {
    this.clock = now;
    if (this.conn && !this.done) {
      this.out.flush(this.conn);
      if (this.out.bytes < LOW_WATER) this.host.writable(this, now);
    }
  }

  /** Runs due timers; answers the next deadline. */
  poll(now: number): number {
    this.clock = now;
    if (this.done) return Number.POSITIVE_INFINITY;
    if (this.heard) {
      // The message came at some time since the last call: count it from now at the latest.
      this.heard = false;
      if (this.holdAt !== Number.POSITIVE_INFINITY)
        this.holdAt = Math.max(this.holdAt, this.holdDeadline(now));
    }
    if (now >= this.holdAt) this.dispatch(FsmEvent.HoldTimerExpires, now);
    if (!this.done && now >= this.connectRetryAt)
      this.dispatch(FsmEvent.ConnectRetryTimerExpires, now);
    if (!this.done && now >= this.keepaliveAt) this.dispatch(FsmEvent.KeepaliveTimerExpires, now);
    if (this.done) return Number.POSITIVE_INFINITY;
    return Math.min(this.holdAt, this.connectRetryAt, this.keepaliveAt);
  }

  /** Sends an UPDATE or ROUTE-REFRESH (Established only); answers whether it went out whole. */
  sendMessage(bytes: Uint8Array, now: number): boolean {
    if (this.state !== BgpState.Established || !this.conn) return false;
    this.send(bytes, now);
    return this.out.bytes === 0;
  }

  /** Octets waiting in the output queue. */
  get queued(): number {
    return this.out.bytes;
  }

  // ---- dispatch -----------------------------------------------------------------

  private readonly onMessage = (buf: Uint8Array, off: number, len: number): boolean => {
    if (this.done) return false;
    const type = messageType(buf, off);
    this.host.countIn(type);
    this.mBuf = buf;
    this.mOff = off;
    this.mLen = len;
    if (this.state === BgpState.OpenConfirm || this.state === BgpState.Established) {
      this.holdAt = this.holdDeadline(this.clock);
      this.heard = true;
    }
    switch (type) {
      case MessageType.Open: {
        const r = parseOpen(buf, off, len);
        if (!r.ok) {
          this.pendingError = r.error;
          this.dispatch(FsmEvent.BgpOpenMsgErr, this.clock);
        } else {
          this.receivedOpen = r.repr;
          this.dispatch(FsmEvent.BgpOpen, this.clock);
        }
        break;
      }
      case MessageType.Update:
        this.dispatch(FsmEvent.UpdateMsg, this.clock);
        break;
      case MessageType.Notification: {
        const n = parseNotification(buf, off, len);
        this.pendingError = n;
        this.dispatch(
          n.code === ErrorCode.OpenMessage && n.subcode === 1
            ? FsmEvent.NotifMsgVerErr
            : FsmEvent.NotifMsg,
          this.clock,
        );
        break;
      }
      case MessageType.Keepalive:
        this.dispatch(FsmEvent.KeepAliveMsg, this.clock);
        break;
      case MessageType.RouteRefresh:
        this.dispatch(FsmEvent.RouteRefreshMsg, this.clock);
        break;
    }
    return !this.done;
  };

  private receivedOpen: OpenRepr | undefined;

  private dispatch(ev: FsmEvent, now: number): void {
    if (this.done) return;
    switch (this.state) {
      case BgpState.Idle:
        this.idle(ev, now);
        return;
      case BgpState.Connect:
        this.connect(ev, now);
        return;
      case BgpState.Active:
        this.active(ev, now);
        return;
      case BgpState.OpenSent:
        this.openSent(ev, now);
        return;
      case BgpState.OpenConfirm:
        this.openConfirm(ev, now);
        return;
      case BgpState.Established:
        this.established(ev, now);
        return;
    }
  }

  // ---- one handler per state ------------------------------------------------------

  private idle(ev: FsmEvent, now: number): void {
    switch (ev) {
      case FsmEvent.ManualStart:
      case FsmEvent.AutomaticStart:
        this.connectRetryCounter = 0;
        this.startConnectRetry(now);
        this.enter(BgpState.Connect);
        this.openTcp(now);
        return;
      case FsmEvent.ManualStop:
        this.finish(now, DownReason.AdminStop, undefined);
        return;
    }
    // Other events are ignored in Idle (RFC 4271 8.2.2).
  }

  private connect(ev: FsmEvent, now: number): void {
    switch (ev) {
      case FsmEvent.ManualStop:
        this.connectRetryCounter = 0;
        this.dropTcp(now, true);
        this.finish(now, DownReason.AdminStop, undefined);
        return;
      case FsmEvent.ConnectRetryTimerExpires:
        this.dropTcp(now, true);
        this.startConnectRetry(now);
        this.enter(BgpState.Connect);
        this.openTcp(now);
        return;
      case FsmEvent.TcpCrAcked:
      case FsmEvent.TcpConnectionConfirmed:
        this.connectRetryAt = Number.POSITIVE_INFINITY;
        this.sendOpen(now);
        this.enter(BgpState.OpenSent);
        return;
      case FsmEvent.TcpConnectionFails:
        this.connectRetryAt = Number.POSITIVE_INFINITY;
        this.dropTcp(now, true);
        this.finish(now, DownReason.ConnectionFailed, undefined);
        return;
    }
    this.fsmError(ev, now);
  }

  private active(ev: FsmEvent, now: number): void {
    switch (ev) {
      case FsmEvent.ManualStop:
        this.dropTcp(now, true);
        this.finish(now, DownReason.AdminStop, undefined);
        return;
      case FsmEvent.ConnectRetryTimerExpires:
        this.startConnectRetry(now);
        this.enter(BgpState.Connect);
        this.openTcp(now);
        return;
      case FsmEvent.TcpCrAcked:
      case FsmEvent.TcpConnectionConfirmed:
        this.connectRetryAt = Number.POSITIVE_INFINITY;
        this.sendOpen(now);
        this.enter(BgpState.OpenSent);
        return;
      case FsmEvent.TcpConnectionFails:
        this.connectRetryCounter++;
        this.dropTcp(now, true);
        this.finish(now, DownReason.ConnectionFailed, undefined);
        return;
    }
    this.fsmError(ev, now);
  }

  private openSent(ev: FsmEvent, now: number): void {
    switch (ev) {
      case FsmEvent.ManualStop:
        this.notifyAndIdle(
          this.pendingError ?? ceaseError(CeaseSubcode.AdministrativeShutdown),
          now,
          DownReason.AdminStop,
        );
        return;
      case FsmEvent.HoldTimerExpires:
        this.notifyAndIdle(
          bgpError(ErrorCode.HoldTimerExpired, 0),
          now,
          DownReason.HoldTimerExpired,
        );
        return;
      case FsmEvent.TcpConnectionFails:
        this.dropTcp(now, true);
        if (this.outgoing) {
          // RFC 4271 8.2.2: back to Active, ConnectRetry restarted.
          this.holdAt = Number.POSITIVE_INFINITY;
          this.startConnectRetry(now);
          this.enter(BgpState.Active);
        } else {
          this.finish(
            now,
            this.peerClosed ? DownReason.PeerClosed : DownReason.ConnectionFailed,
            undefined,
          );
        }
        return;
      case FsmEvent.BgpOpen: {
        const open = this.receivedOpen!;
        const result = this.host.acceptOpen(this, open);
        if ("code" in result) {
          this.notifyAndIdle(result, now);
          return;
        }
        this.negotiated = result;
        if (!this.host.resolveCollision(this, now)) {
          this.dispatch(FsmEvent.OpenCollisionDump, now);
          return;
        }
        if (this.done) return;
        this.connectRetryAt = Number.POSITIVE_INFINITY;
        this.send(KEEPALIVE as Uint8Array, now);
        this.restartHold(now);
        this.restartKeepalive(now);
        this.enter(BgpState.OpenConfirm);
        return;
      }
      case FsmEvent.BgpHeaderErr:
      case FsmEvent.BgpOpenMsgErr:
        this.notifyAndIdle(this.pendingError!, now);
        return;
      case FsmEvent.OpenCollisionDump:
        this.notifyAndIdle(
          ceaseError(CeaseSubcode.ConnectionCollisionResolution),
          now,
          DownReason.CollisionLost,
        );
        return;
      case FsmEvent.NotifMsgVerErr:
      case FsmEvent.NotifMsg:
        this.dropTcp(now, false);
        this.finish(now, DownReason.NotificationReceived, this.pendingError);
        return;
    }
    this.fsmError(ev, now);
  }

  /**
   * The events OpenConfirm and Established handle alike (RFC 4271 8.2.2):
   * administrative stop, hold timer, keepalive timer, TCP failure,
   * NOTIFICATION, collision dump. Answers whether `ev` was one of them.
   */
  private sessionEvent(ev: FsmEvent, now: number): boolean {
    switch (ev) {
      case FsmEvent.ManualStop:
        this.notifyAndIdle(
          this.pendingError ?? ceaseError(CeaseSubcode.AdministrativeShutdown),
          now,
          DownReason.AdminStop,
        );
        return true;
      case FsmEvent.HoldTimerExpires:
        this.notifyAndIdle(
          bgpError(ErrorCode.HoldTimerExpired, 0),
          now,
          DownReason.HoldTimerExpired,
        );
        return true;
      case FsmEvent.KeepaliveTimerExpires:
        this.send(KEEPALIVE as Uint8Array, now);
        this.restartKeepalive(now);
        return true;
      case FsmEvent.TcpConnectionFails:
        this.dropTcp(now, true);
        this.finish(
          now,
          this.peerClosed ? DownReason.PeerClosed : DownReason.ConnectionFailed,
          undefined,
        );
        return true;
      case FsmEvent.NotifMsgVerErr:
      case FsmEvent.NotifMsg:
        this.dropTcp(now, false);
        this.finish(now, DownReason.NotificationReceived, this.pendingError);
        return true;
      case FsmEvent.OpenCollisionDump:
        this.notifyAndIdle(
          ceaseError(CeaseSubcode.ConnectionCollisionResolution),
          now,
          DownReason.CollisionLost,
        );
        return true;
    }
    return false;
  }

  private openConfirm(ev: FsmEvent, now: number): void {
    if (this.sessionEvent(ev, now)) return;
    switch (ev) {
      case FsmEvent.BgpHeaderErr:
      case FsmEvent.BgpOpenMsgErr:
        this.notifyAndIdle(this.pendingError!, now);
        return;
      case FsmEvent.KeepAliveMsg:
        this.restartHold(now);
        this.enter(BgpState.Established);
        this.host.established(this, now);
        return;
    }
    this.fsmError(ev, now);
  }

  private established(ev: FsmEvent, now: number): void {
    if (this.sessionEvent(ev, now)) return;
    switch (ev) {
      case FsmEvent.KeepAliveMsg:
        return;
      case FsmEvent.UpdateMsg: {
        const err = this.host.update(this, this.mBuf, this.mOff, this.mLen, now);
        if (err && !this.done) {
          this.pendingError = err;
          this.dispatch(FsmEvent.UpdateMsgErr, now);
        }
        return;
      }
      case FsmEvent.RouteRefreshMsg: {
        const err = this.host.routeRefresh(this, this.mBuf, this.mOff, this.mLen, now);
        if (err && !this.done) this.notifyAndIdle(err, now);
        return;
      }
      case FsmEvent.UpdateMsgErr:
      case FsmEvent.BgpHeaderErr:
      case FsmEvent.BgpOpenMsgErr:
        this.notifyAndIdle(this.pendingError!, now);
        return;
    }
    this.fsmError(ev, now);
  }

  // ---- actions -------------------------------------------------------------------

  /** Any other event: NOTIFICATION Finite State Machine Error (subcode per RFC 6608), Idle. */
  private fsmError(_ev: FsmEvent, now: number): void {
    const sub =
      this.state === BgpState.OpenSent
        ? FsmSubcode.UnexpectedInOpenSent
        : this.state === BgpState.OpenConfirm
          ? FsmSubcode.UnexpectedInOpenConfirm
          : this.state === BgpState.Established
            ? FsmSubcode.UnexpectedInEstablished
            : FsmSubcode.Unspecified;
    this.notifyAndIdle(bgpError(ErrorCode.FiniteStateMachine, sub), now);
  }

  private enter(to: BgpState): void {
    if (!TRANSITIONS[this.state].includes(to)) {
      throw new Error(`BGP FSM: no transition ${STATE_NAMES[this.state]} → ${STATE_NAMES[to]}`);
    }
    this.state = to;
  }

  private notifyAndIdle(
    err: BgpError,
    now: number,
    reason: DownReason = DownReason.NotificationSent,
  ): void {
    if (this.conn) {
      this.send(encodeNotification(err), now);
      this.conn.close(now);
      this.conn = undefined;
    }
    this.finish(now, reason, err);
  }

  private finish(now: number, reason: DownReason, err: BgpError | undefined): void {
    if (this.done) return;
    this.done = true;
    if (this.conn) this.dropTcp(now, true);
    this.connectRetryAt = Number.POSITIVE_INFINITY;
    this.holdAt = Number.POSITIVE_INFINITY;
    this.keepaliveAt = Number.POSITIVE_INFINITY;
    this.out.clear();
    this.state = BgpState.Idle;
    this.host.idle(this, now, reason, err);
  }

  private openTcp(now: number): void {
    this.framer.reset();
    this.conn = this.host.connect(this, now);
    // No route to the peer, or no local address: the connection fails at once.
    if (!this.conn) this.dispatch(FsmEvent.TcpConnectionFails, now);
  }

  private dropTcp(now: number, abort: boolean): void {
    const c = this.conn;
    this.conn = undefined;
    if (!c) return;
    if (abort) c.abort(now);
    else c.close(now);
  }

  private sendOpen(now: number): void {
    this.send(encodeOpen(this.host.openMessage()), now);
    this.holdAt = now + LARGE_HOLD_MS;
  }

  private send(bytes: Uint8Array, now: number): void {
    if (!this.conn) return;
    this.host.countOut(bytes[18]);
    this.out.push(bytes);
    const all = this.out.flush(this.conn);
    const t = bytes[18];
    if (
      all &&
      (t === MessageType.Update || t === MessageType.Keepalive) &&
      this.state >= BgpState.OpenConfirm
    ) {
      // RFC 4271 8.2.2: sending a KEEPALIVE or UPDATE restarts the KeepaliveTimer.
      this.restartKeepalive(now);
    }
  }

  private startConnectRetry(now: number): void {
    this.connectRetryAt = now + this.jitter(this.connectRetryMs);
  }

  private holdDeadline(now: number): number {
    const n = this.negotiated;
    if (!n) return now + LARGE_HOLD_MS;
    return n.holdTime === 0 ? Number.POSITIVE_INFINITY : now + n.holdTime * 1000;
  }

  private restartHold(now: number): void {
    this.holdAt = this.holdDeadline(now);
  }

  private restartKeepalive(now: number): void {
    const n = this.negotiated;
    this.keepaliveAt =
      !n || n.holdTime === 0 ? Number.POSITIVE_INFINITY : now + this.jitter(n.keepaliveMs);
  }

  /** RFC 4271 section 10: a random factor in [0.75, 1]. */
  private jitter(ms: number): number {
    return Math.round(ms * (0.75 + 0.25 * this.host.random()));
  }

  /** For logs: "OpenSent → NOTIFICATION sent (hold timer expired)". */
  static describe(reason: DownReason, err: BgpError | undefined): string {
    const r = DOWN_REASON_NAMES[reason];
    return err ? `${r}: ${describeError(err.code, err.subcode)}` : r;
  }

  /** State and timers as plain data (export); see state.ts. */
  snapshot(): {
    outgoing: boolean;
    state: BgpState;
    connectionId: string | undefined;
    connectRetryAt: number;
    holdAt: number;
    keepaliveAt: number;
    negotiated: Negotiated | undefined;
    connectRetryCounter: number;
    partial: Uint8Array;
    queued: Uint8Array[];
  } {
    return {
      outgoing: this.outgoing,
      state: this.state,
      connectionId: this.conn?.id,
      connectRetryAt: this.connectRetryAt,
      holdAt: this.holdAt,
      keepaliveAt: this.keepaliveAt,
      negotiated: this.negotiated,
      connectRetryCounter: this.connectRetryCounter,
      partial: this.framer.pendingBytes(),
      queued: this.out.chunks.map((c) => c.slice()),
    };
  }

  /** Restores timers and state (import); see state.ts. */
  restore(s: {
    state: BgpState;
    conn: BgpConnection | undefined;
    connectRetryAt: number;
    holdAt: number;
    keepaliveAt: number;
    negotiated: Negotiated | undefined;
    connectRetryCounter: number;
    partial: Uint8Array;
    queued: Uint8Array[];
  }): void {
    this.state = s.state;
    this.conn = s.conn;
    this.connectRetryAt = s.connectRetryAt;
    this.holdAt = s.holdAt;
    this.keepaliveAt = s.keepaliveAt;
    this.negotiated = s.negotiated;
    this.connectRetryCounter = s.connectRetryCounter;
    this.framer.restore(s.partial);
    for (const q of s.queued) this.out.push(q);
  }
}
