/**
 * One TCP connection: its TCB and the state machine of RFC 9293 section
 * 3.10 (event processing), with one handler per state (see state.ts for
 * the transitions), over a sans-IO core: segments come in as `Segment`s
 * with the time, go out through the stack's `emit`, and timers are
 * deadlines the stack's `poll` runs.
 *
 * What it implements:
 * - Active, passive and simultaneous open (RFC 9293 3.5); MSS (3.7.1,
 *   RFC 6691: the sender takes the option octets off the peer's MSS) and
 *   window scaling (RFC 7323: offered when enabled, used when both sides
 *   sent it; the SYN's own window is never scaled).
 * - Acceptability tests (3.10.7.4 first step) with the special case for a
 *   zero window; RST and SYN in synchronized states per RFC 5961 (an exact
 *   sequence number resets, anything else in the window draws a
 *   rate-limited challenge ACK); ACK acceptability per RFC 5961 5.2.
 * - Sliding window: the peer's window (SND.WL1/WL2 updates), ours from the
 *   receive buffer minus data held for a paused application, never
 *   shrunk, with receiver silly window avoidance (3.8.6.2.2); sender SWS
 *   avoidance without Nagle's algorithm (segments go out as soon as the
 *   application's data is flushed: BGP writes whole messages).
 * - Retransmission per RFC 6298 (rto.ts; Karn's algorithm: one timed
 *   segment at a time, timing dropped on any retransmission), go-back-N
 *   from SND.UNA after a timeout; congestion control per RFC 5681 and
 *   RFC 6582 (congestion.ts), fast retransmit on the third duplicate ACK.
 * - Out-of-order data held for reassembly (buffers.ts, bounded); a
 *   delayed ACK at most `delayedAck` ms, and at once for every second
 *   full-sized segment, for out-of-order data, for data that fills a hole
 *   and for a FIN (RFC 5681 4.2, RFC 9293 3.8.6.3).
 * - Zero-window probing (3.8.6.1) as Linux does it: an ACK one below
 *   SND.UNA, which the peer must answer with its window, backed off like
 *   the RTO; unanswered probes count like retransmissions.
 * - FIN both ways, half-close (the application still receives after
 *   `close`), TIME-WAIT for 2 MSL (re-acknowledging a retransmitted FIN),
 *   a FIN-WAIT-2 limit, abort with RST, and giving up after `synRetries`
 *   or `maxRetransmits` retransmissions or the user timeout (RFC 5482).
 * - RFC 2385 signatures on every segment when the connection has a key
 *   (the stack checks incoming ones before they get here).
 * - Export and import of everything (snapshot.ts), timers as deadlines.
 *
 * Received data is handed to the application as it arrives, in order (a
 * view into the received packet when nothing is held). `pauseReceive`
 * makes the connection hold in-order data instead, which closes the window
 * as it fills; `resumeReceive` delivers it and reopens the window.
 */
import {
  fillTcpChecksum,
  TCP_HEADER_LEN,
  TcpFlag,
  writeMd5Option,
  writeMssOption,
  writeTcpHeader,
  writeWindowScaleOption,
} from "../wire/tcp.ts";
import { ChunkQueue, ReassemblyQueue, SendBuffer } from "./buffers.ts";
import { NewReno } from "./congestion.ts";
import { tcpMd5Sign } from "./md5.ts";
import { RtoEstimator } from "./rto.ts";
import type { Segment } from "./segment.ts";
import { seqAdd, seqDiff, seqGe, seqGt, seqLe, seqLt, seqMax } from "./seq.ts";
import type { TcpConnectionState } from "./snapshot.ts";
import {
  TcpCloseReason,
  TcpState,
  tcpCanReceive,
  tcpCanSend,
  tcpStateFromName,
  tcpStateName,
  tcpTransitionAllowed,
} from "./state.ts";
import {
  type Family,
  type TcpConnectionCounters,
  type TcpConnectionStats,
  type TcpCounters,
  type TcpEndpoint,
  type TcpStackConfig,
  type TcpUser,
  zeroConnectionCounters,
} from "./types.ts";

const INF = Number.POSITIVE_INFINITY;
const S = TcpState;
const { Fin, Syn, Rst, Psh, Ack } = TcpFlag;

/** MSS assumed when the peer sends none (RFC 9293 3.7.1; RFC 8200's 1280 minus 60 for IPv6). */
export function defaultPeerMss(family: Family): number {
  return family === 4 ? 536 : 1220;
}

/** What a connection needs from its stack. */
export interface ConnectionHost {
  readonly config: TcpStackConfig;
  readonly counters: TcpCounters;
  /** Where outgoing segments are built (at offset 0). */
  readonly scratch: Uint8Array;
  /** Whether the stack is inside `input` or `poll` (output then waits for its flush). */
  readonly busy: boolean;
  /** Sends `scratch[0 .. len)` from the connection's local end to its remote end. */
  transmit(c: TcpConnection, len: number): void;
  /** The connection has output to send at the next flush. */
  dirty(c: TcpConnection): void;
  /** Sends what `dirty` connections have now (outside input and poll). */
  flush(now: number): void;
  /** A listener's connection became established. */
  established(c: TcpConnection): void;
  /** The connection reached CLOSED: forget it. */
  removed(c: TcpConnection): void;
  /** Whether another challenge ACK may go out now (RFC 5961 7). */
  challengeAllowed(now: number): boolean;
}

/** What `connect` and a listener give a new connection. */
export interface ConnectionParams {
  id: string;
  local: TcpEndpoint;
  remote: TcpEndpoint;
  user: TcpUser;
  mss: number;
  md5Key: Uint8Array | undefined;
  sendBuffer: number;
  receiveBuffer: number;
  userTimeout: number;
  listenerId: string | undefined;
  /** The pseudo-header sum without length (the same both ways). */
  pseudo: number;
  iss: number;
}

type Handler = (c: TcpConnection, seg: Segment, now: number) => void;

/** The smallest window shift that fits `buffer` in the 16-bit field (RFC 7323 2.3). */
export function windowShiftFor(buffer: number): number {
  let shift = 0;
  while (shift < 14 && buffer / 2 ** shift > 0xffff) shift++;
  return shift;
}

/**
 * A connection. Applications use its methods and `stats()`; the TCB fields
 * are open to the stack, to export and to tests, and are not to be written.
 */
export class TcpConnection {
  readonly id: string;
  readonly family: Family;
  readonly local: TcpEndpoint;
  readonly remote: TcpEndpoint;
  /** Whom callbacks go to; an `accepted` callback may hand the connection to another user. */
  user: TcpUser;
  state: TcpState = S.Closed;
  /** The listener that made it, undefined for `connect`. */
  readonly listenerId: string | undefined;
  readonly md5Key: Uint8Array | undefined;
  /** Our MSS (advertised, and the most we send). */
  readonly mss: number;
  readonly userTimeout: number;
  readonly receiveBuffer: number;
  readonly pseudo: number;
  readonly counters: TcpConnectionCounters;

  // Send sequence space (RFC 9293 3.3.1); sndMax is the highest sequence number sent.
  iss: number;
  sndUna: number;
  sndNxt: number;
  sndMax: number;
  sndWnd = 0;
  sndWl1 = 0;
  sndWl2 = 0;
  maxSndWnd = 0;
  /** Sequence number of sendBuf's first octet. */
  sndBufSeq: number;
  sendBuf: SendBuffer;
  finQueued = false;
  finSeq = 0;
  /** `close` in SYN-RECEIVED: FIN once established. */
  closeRequested = false;
  wantWritable = false;

  // Receive sequence space.
  irs = 0;
  rcvNxt = 0;
  /** Right edge of the window advertised last. */
  rcvAdv = 0;
  readonly ooo: ReassemblyQueue;
  readonly held = new ChunkQueue();
  paused = false;
  peerClosedPending = false;

  peerMss: number;
  /** Window scaling: offered (SYN-SENT), or agreed by both SYNs (RFC 7323 2.2). */
  windowScaling: boolean;
  sndScale = 0;
  rcvScale = 0;

  rto: RtoEstimator;
  rttTiming = false;
  rttSeq = 0;
  rttSentAt = 0;
  cc: NewReno;

  rexmtAt = INF;
  persistAt = INF;
  delackAt = INF;
  /** TIME-WAIT's end, or FIN-WAIT-2's limit. */
  closeAt = INF;
  /** Consecutive retransmission timeouts. */
  retransmits = 0;
  /** Window probes since the peer was last heard. */
  probes = 0;
  persistShift = 0;
  /** When the oldest unacknowledged data was sent or last acknowledged (user timeout). */
  progressSince = 0;
  lastSendAt = 0;
  ackNow = false;
  /** In-order octets received since the last ACK sent. */
  unackedBytes = 0;
  /** The largest segment received (what "full-sized" means for delayed ACKs). */
  rcvMss: number;
  synRetransmitted = false;
  announced = false;
  notifiedClosed = false;

  constructor(
    private readonly host: ConnectionHost,
    p: ConnectionParams,
  ) {
    this.id = p.id;
    this.family = p.local.family;
    this.local = p.local;
    this.remote = p.remote;
    this.user = p.user;
    this.listenerId = p.listenerId;
    this.md5Key = p.md5Key;
    this.mss = p.mss;
    this.userTimeout = p.userTimeout;
    this.receiveBuffer = p.receiveBuffer;
    this.pseudo = p.pseudo;
    this.counters = zeroConnectionCounters();
    this.iss = p.iss;
    this.sndUna = p.iss;
    this.sndNxt = p.iss;
    this.sndMax = p.iss;
    this.sndBufSeq = seqAdd(p.iss, 1);
    this.sendBuf = new SendBuffer(p.sendBuffer);
    this.ooo = new ReassemblyQueue(host.config.maxOutOfOrder);
    this.peerMss = defaultPeerMss(this.family);
    this.rcvMss = Math.min(p.mss, defaultPeerMss(this.family));
    const c = host.config;
    this.windowScaling = c.windowScaling;
    this.rto = new RtoEstimator({ min: c.minRto, max: c.maxRto, initial: c.initialRto });
    this.cc = new NewReno(this.sendMss, p.iss);
  }

  // ---- the application's side ---------------------------------------------------

  /** Queues data to send; answers how many octets were taken (the send buffer is bounded). */
  send(bytes: Uint8Array): number {
    if (!tcpCanSend(this.state) || this.finQueued || this.closeRequested) return 0;
    const n = this.sendBuf.write(bytes);
    if (n < bytes.length) this.wantWritable = true;
    if (n > 0) this.host.dirty(this);
    return n;
  }

  /** Octets `send` would take now. */
  sendSpace(): number {
    if (!tcpCanSend(this.state) || this.finQueued || this.closeRequested) return 0;
    return this.sendBuf.space();
  }

  /** Octets queued and not yet acknowledged. */
  sendQueued(): number {
    return this.sendBuf.length;
  }

  /** Closes our side: a FIN after the data queued (RFC 9293 3.10.4). The peer may still send. */
  close(now: number): void {
    switch (this.state) {
      case S.SynSent:
        this.terminate(TcpCloseReason.Normal);
        return;
      case S.SynReceived:
        this.closeRequested = true;
        return;
      case S.Established:
        this.transition(S.FinWait1);
        break;
      case S.CloseWait:
        this.transition(S.LastAck);
        break;
      default:
        return;
    }
    this.queueFin();
    this.host.dirty(this);
    if (!this.host.busy) this.host.flush(now);
  }

  /** Ends the connection at once with a reset (RFC 9293 3.10.5); `closed(Aborted)` follows. */
  abort(now: number): void {
    if (this.state === S.Closed) return;
    if (
      this.state === S.SynReceived ||
      this.state === S.Established ||
      this.state === S.FinWait1 ||
      this.state === S.FinWait2 ||
      this.state === S.CloseWait
    ) {
      this.emitReset(this.sndMax, true, now);
    }
    this.terminate(TcpCloseReason.Aborted);
  }

  /** Holds received data instead of delivering it; the window closes as it fills. */
  pauseReceive(): void {
    this.paused = true;
  }

  /** Delivers what was held, then reopens the window. */
  resumeReceive(now: number): void {
    this.paused = false;
    const before = seqDiff(this.rcvAdv, this.rcvNxt);
    this.deliverHeld();
    if (this.state === S.Closed || this.paused) return;
    const free = this.receiveBuffer - this.held.bytes;
    if (free - before >= Math.min(this.receiveBuffer / 2, this.mss)) {
      this.ackNow = true;
      this.host.dirty(this);
      if (!this.host.busy) this.host.flush(now);
    }
  }

  stats(): TcpConnectionStats {
    return {
      ...this.counters,
      state: tcpStateName(this.state),
      srtt: this.rto.srtt,
      rttvar: this.rto.rttvar,
      rto: this.rto.rto,
      cwnd: this.cc.cwnd,
      ssthresh: this.cc.ssthresh,
      sendWindow: this.sndWnd,
      receiveWindow: Math.max(0, seqDiff(this.rcvAdv, this.rcvNxt)),
      inFlight: seqDiff(this.sndMax, this.sndUna),
      sendQueued: this.sendBuf.length,
      outOfOrderQueued: this.ooo.bytes,
      heldQueued: this.held.bytes,
      sendMss: this.sendMss,
      sendScale: this.sndScale,
      receiveScale: this.rcvScale,
      md5: this.md5Key !== undefined,
    };
  }

  /** The MSS segments are cut to: the smaller MSS less the options every segment carries. */
  get sendMss(): number {
    return Math.max(Math.min(this.peerMss, this.mss) - (this.md5Key ? 20 : 0), 32);
  }

  // ---- opening ----------------------------------------------------------------------

  /** Active open (RFC 9293 3.10.1): SYN-SENT, the SYN goes out at once. */
  openActive(now: number): void {
    this.transition(S.SynSent);
    this.sendSyn(now);
  }

  /** Passive open from a listener's SYN (RFC 9293 3.10.7.2): SYN-RECEIVED, the SYN-ACK goes out at once. */
  openPassive(seg: Segment, now: number): void {
    this.irs = seg.seq;
    this.rcvNxt = seqAdd(seg.seq, 1);
    this.rcvAdv = seqAdd(this.rcvNxt, Math.min(this.receiveBuffer, 0xffff));
    this.negotiate(seg);
    this.sndWnd = seg.wnd;
    this.maxSndWnd = seg.wnd;
    this.sndWl1 = seg.seq;
    this.sndWl2 = this.iss;
    this.transition(S.SynReceived);
    this.sendSynAck(now);
  }

  /** MSS and window scale from the peer's SYN. */
  private negotiate(seg: Segment): void {
    const o = seg.options;
    if (o.mss > 0) this.peerMss = o.mss;
    this.windowScaling = this.windowScaling && o.windowScale >= 0;
    if (this.windowScaling) {
      this.sndScale = Math.min(o.windowScale, 14);
      this.rcvScale = windowShiftFor(this.receiveBuffer);
    } else {
      this.sndScale = 0;
      this.rcvScale = 0;
    }
  }

  // ---- segment arrival ----------------------------------------------------------------

  /** A segment for this connection (checked, signature verified). */
  segmentArrives(seg: Segment, now: number): void {
    this.counters.segmentsIn++;
    HANDLERS[this.state](this, seg, now);
  }

  /** SYN-SENT (RFC 9293 3.10.7.3). */
  onSynSent(seg: Segment, now: number): void {
    const ack = seg.has(Ack);
    if (ack && (seqLe(seg.ack, this.iss) || seqGt(seg.ack, this.sndMax))) {
      if (!seg.has(Rst)) this.emitBareReset(seg.ack, now);
      return;
    }
    if (seg.has(Rst)) {
      // RFC 5961 3.2: in SYN-SENT a reset counts only if it acknowledges our SYN.
      if (ack) {
        this.host.counters.resetsReceived++;
        this.terminate(TcpCloseReason.Refused);
      }
      return;
    }
    if (!seg.has(Syn)) return;
    this.irs = seg.seq;
    this.rcvNxt = seqAdd(seg.seq, 1);
    this.negotiate(seg);
    this.rcvAdv = seqAdd(this.rcvNxt, Math.min(this.receiveBuffer, 0xffff));
    this.sndWnd = seg.wnd;
    this.maxSndWnd = seg.wnd;
    this.sndWl1 = seg.seq;
    this.sndWl2 = seg.ack;
    if (!ack) {
      // Simultaneous open: our SYN goes again, as a SYN-ACK (RFC 9293 Figure 8).
      this.transition(S.SynReceived);
      this.sndNxt = this.iss;
      this.host.dirty(this);
      return;
    }
    this.synAcked(seg.ack, now);
    this.transition(S.Established);
    this.ackNow = true;
    this.host.dirty(this);
    this.announce();
  }

  /** SYN-RECEIVED. */
  onSynReceived(seg: Segment, now: number): void {
    if (seg.has(Syn) && !seg.has(Rst) && seg.seq === this.irs) {
      if (!seg.has(Ack)) {
        // The peer's SYN again: our SYN-ACK was lost.
        this.sndNxt = this.iss;
        this.host.dirty(this);
        return;
      }
      // The peer's SYN-ACK of a simultaneous open (RFC 9293 Figure 8, line 6).
      if (seqGt(seg.ack, this.sndUna) && seqLe(seg.ack, this.sndMax)) {
        this.establishFrom(seg, now);
        if (this.state !== S.Closed) this.ackNow = true;
      } else {
        this.emitBareReset(seg.ack, now);
      }
      return;
    }
    if (!this.checkSequence(seg, now)) return;
    if (!seg.has(Ack)) return;
    if (!(seqGt(seg.ack, this.sndUna) && seqLe(seg.ack, this.sndMax))) {
      this.emitBareReset(seg.ack, now);
      return;
    }
    if (!this.establishFrom(seg, now)) return;
    if (tcpCanReceive(this.state)) this.processText(seg, now);
  }

  /** The ACK of our SYN in SYN-RECEIVED: ESTABLISHED. Answers false when the connection went away meanwhile. */
  private establishFrom(seg: Segment, now: number): boolean {
    this.synAcked(seg.ack, now);
    this.sndWnd = seg.wnd << this.sndScale;
    this.maxSndWnd = Math.max(this.maxSndWnd, this.sndWnd);
    this.sndWl1 = seg.seq;
    this.sndWl2 = seg.ack;
    this.transition(S.Established);
    if (this.listenerId !== undefined) this.host.established(this);
    this.announce();
    if (this.state === S.Closed) return false;
    if (this.closeRequested && this.state === S.Established) {
      this.closeRequested = false;
      this.transition(S.FinWait1);
      this.queueFin();
    }
    this.host.dirty(this);
    return true;
  }

  /** Our SYN is acknowledged (by `ack`, our ISS + 1). */
  private synAcked(ack: number, now: number): void {
    this.sndUna = ack;
    if (seqLt(this.sndNxt, ack)) this.sndNxt = ack;
    if (this.rttTiming && !this.synRetransmitted) this.rto.sample(now - this.rttSentAt);
    this.rttTiming = false;
    if (this.synRetransmitted) this.rto.synRetransmitted();
    this.rexmtAt = INF;
    this.retransmits = 0;
    this.progressSince = now;
    this.cc = new NewReno(this.sendMss, this.iss);
    if (this.rcvAdv === 0 || seqLt(this.rcvAdv, this.rcvNxt)) {
      this.rcvAdv = seqAdd(this.rcvNxt, Math.min(this.receiveBuffer, 0xffff));
    }
  }

  /** ESTABLISHED. */
  onEstablished(seg: Segment, now: number): void {
    if (!this.checkSequence(seg, now) || !seg.has(Ack)) return;
    if (!this.processAck(seg, now)) return;
    this.processText(seg, now);
  }

  /** FIN-WAIT-1: our FIN sent, perhaps not yet acknowledged. */
  onFinWait1(seg: Segment, now: number): void {
    if (!this.checkSequence(seg, now) || !seg.has(Ack)) return;
    if (!this.processAck(seg, now)) return;
    if (this.finAcked()) this.enterFinWait2(now);
    this.processText(seg, now);
  }

  /** FIN-WAIT-2: our FIN acknowledged, waiting for the peer's. */
  onFinWait2(seg: Segment, now: number): void {
    if (!this.checkSequence(seg, now) || !seg.has(Ack)) return;
    if (!this.processAck(seg, now)) return;
    this.processText(seg, now);
  }

  /** CLOSE-WAIT: the peer's FIN received; its data is over. */
  onCloseWait(seg: Segment, now: number): void {
    if (!this.checkSequence(seg, now) || !seg.has(Ack)) return;
    this.processAck(seg, now);
  }

  /** CLOSING: both FINs sent, ours not yet acknowledged. */
  onClosing(seg: Segment, now: number): void {
    if (!this.checkSequence(seg, now) || !seg.has(Ack)) return;
    if (!this.processAck(seg, now)) return;
    if (this.finAcked()) {
      this.enterTimeWait(now);
      this.closedIfDone();
    }
  }

  /** LAST-ACK: waiting for the ACK of our FIN after the peer's. */
  onLastAck(seg: Segment, now: number): void {
    if (!this.checkSequence(seg, now) || !seg.has(Ack)) return;
    if (!this.processAck(seg, now)) return;
    if (this.finAcked()) this.terminate(TcpCloseReason.Normal);
  }

  /** TIME-WAIT: a retransmitted FIN is acknowledged again and restarts the 2 MSL wait. */
  onTimeWait(seg: Segment, now: number): void {
    if (seg.has(Fin) && !seg.has(Rst) && seqLt(seg.seq, this.rcvNxt)) {
      this.closeAt = now + 2 * this.host.config.msl;
    }
    if (!this.checkSequence(seg, now)) return;
    // An acceptable segment in TIME-WAIT carries nothing new: acknowledge it.
    if (seg.seqLen > 0) {
      this.ackNow = true;
      this.host.dirty(this);
    }
  }

  /**
   * The first steps every synchronized state shares (RFC 9293 3.10.7.4):
   * acceptability, RST and SYN (RFC 5961). Answers whether to go on.
   */
  private checkSequence(seg: Segment, now: number): boolean {
    if (!this.acceptable(seg)) {
      if (!seg.has(Rst)) {
        this.host.counters.outOfWindow++;
        this.ackNow = true;
        this.host.dirty(this);
      }
      return false;
    }
    if (seg.has(Rst)) {
      if (seg.seq === this.rcvNxt) this.resetArrives();
      else this.challengeAck(now);
      return false;
    }
    if (seg.has(Syn)) {
      this.challengeAck(now);
      return false;
    }
    return true;
  }

  /** RFC 9293 3.10.7.4's four cases, with the zero-window allowance for ACKs at RCV.NXT. */
  private acceptable(seg: Segment): boolean {
    const wnd = Math.max(0, seqDiff(this.rcvAdv, this.rcvNxt));
    const rel = seqDiff(seg.seq, this.rcvNxt);
    if (rel === 0) return true;
    const len = seg.seqLen;
    if (wnd === 0) return false;
    if (rel >= 0 && rel < wnd) return true;
    if (len === 0) return false;
    const last = rel + len - 1;
    return last >= 0 && last < wnd;
  }

  private resetArrives(): void {
    this.host.counters.resetsReceived++;
    if (this.state === S.TimeWait) this.terminate(TcpCloseReason.Normal);
    else if (this.state === S.SynReceived)
      this.terminate(this.listenerId === undefined ? TcpCloseReason.Refused : TcpCloseReason.Reset);
    else this.terminate(TcpCloseReason.Reset);
  }

  private challengeAck(now: number): void {
    if (!this.host.challengeAllowed(now)) return;
    this.host.counters.challengeAcks++;
    this.ackNow = true;
    this.host.dirty(this);
  }

  /** The ACK field (RFC 9293 3.10.7.4 fifth step, RFC 5961 5.2). Answers false to drop the segment. */
  private processAck(seg: Segment, now: number): boolean {
    const ack = seg.ack;
    if (seqGt(ack, this.sndMax) || seqLt(ack, seqAdd(this.sndUna, -this.maxSndWnd))) {
      this.ackNow = true;
      this.host.dirty(this);
      return false;
    }
    this.probes = 0;
    const wnd = seg.wnd << this.sndScale;
    if (seqGt(ack, this.sndUna)) {
      this.ackAdvances(ack, now);
      if (this.state === S.Closed) return false;
    } else if (
      ack === this.sndUna &&
      seg.dataLen === 0 &&
      (seg.flags & (Syn | Fin)) === 0 &&
      this.sndMax !== this.sndUna &&
      wnd === this.sndWnd
    ) {
      this.counters.dupAcks++;
      this.host.counters.dupAcks++;
      const flight = seqDiff(this.sndMax, this.sndUna);
      if (this.cc.dupAck(ack, flight, this.sndMax, this.sendMss)) {
        this.counters.fastRetransmits++;
        this.host.counters.fastRetransmits++;
        this.retransmitFirst(now);
      }
      this.host.dirty(this);
    }
    if (
      seqGe(ack, this.sndUna) &&
      (seqLt(this.sndWl1, seg.seq) || (this.sndWl1 === seg.seq && seqLe(this.sndWl2, ack)))
    ) {
      this.sndWnd = wnd;
      this.sndWl1 = seg.seq;
      this.sndWl2 = ack;
      if (wnd > this.maxSndWnd) this.maxSndWnd = wnd;
      if (wnd > 0) {
        this.persistAt = INF;
        this.persistShift = 0;
      }
      this.host.dirty(this);
    }
    return true;
  }

  /** New data (or our FIN) acknowledged up to `ack`. */
  private ackAdvances(ack: number, now: number): void {
    const acked = seqDiff(ack, this.sndUna);
    const data = Math.min(Math.max(seqDiff(ack, this.sndBufSeq), 0), this.sendBuf.length);
    if (data > 0) {
      this.sendBuf.consume(data);
      this.sndBufSeq = seqAdd(this.sndBufSeq, data);
    }
    this.sndUna = ack;
    if (seqLt(this.sndNxt, ack)) this.sndNxt = ack;
    if (this.rttTiming && seqGt(ack, this.rttSeq)) {
      this.rto.sample(now - this.rttSentAt);
      this.rttTiming = false;
    }
    this.retransmits = 0;
    this.progressSince = now;
    const flight = seqDiff(this.sndMax, this.sndUna);
    if (this.cc.newAck(acked, ack, flight, this.sendMss)) this.retransmitFirst(now);
    this.rexmtAt = this.sndUna === this.sndMax ? INF : now + this.rto.rto;
    this.host.dirty(this);
    if (this.wantWritable && this.sendBuf.space() >= Math.min(this.sendBuf.limit / 4, 1 << 16)) {
      this.wantWritable = false;
      this.user.writable?.(this);
    }
  }

  private finAcked(): boolean {
    return this.finQueued && seqGt(this.sndUna, this.finSeq);
  }

  /** Data and FIN (RFC 9293 3.10.7.4, seventh and eighth steps). */
  private processText(seg: Segment, now: number): void {
    let rel = seqDiff(seg.seq, this.rcvNxt);
    let off = seg.dataOff;
    let len = seg.dataLen;
    let fin = seg.has(Fin);
    const carried = len > 0 || fin;
    if (rel < 0) {
      const cut = Math.min(-rel, len);
      off += cut;
      len -= cut;
      rel += cut;
      if (rel < 0) fin = false;
    }
    const wnd = Math.max(0, seqDiff(this.rcvAdv, this.rcvNxt));
    if (rel + len > wnd) {
      len = Math.max(0, wnd - rel);
      fin = false;
    }
    if (len === 0 && !fin) {
      if (carried) {
        this.ackNow = true;
        this.host.dirty(this);
      }
      return;
    }
    if (rel > 0) {
      if (len > 0) {
        const added = this.ooo.insert(this.rcvNxt, seqAdd(this.rcvNxt, rel), seg.buf, off, len);
        if (added < 0) this.host.counters.outOfOrderDropped++;
        this.counters.outOfOrder++;
        this.host.counters.outOfOrder++;
      }
      if (fin && this.ooo.finSeq < 0) this.ooo.finSeq = seqAdd(this.rcvNxt, rel + len);
      this.ackNow = true;
      this.host.dirty(this);
      return;
    }
    if (len > 0) {
      this.rcvNxt = seqAdd(this.rcvNxt, len);
      this.unackedBytes += len;
      if (len > this.rcvMss) this.rcvMss = Math.min(len, this.mss);
      this.deliver(seg.buf.subarray(off, off + len));
      if (this.state === S.Closed) return;
    }
    let filled = false;
    if (!this.ooo.empty) {
      for (
        let p = this.ooo.takeReady(this.rcvNxt);
        p !== undefined;
        p = this.ooo.takeReady(this.rcvNxt)
      ) {
        filled = true;
        const skip = -seqDiff(p.seq, this.rcvNxt);
        if (skip >= p.data.length) continue;
        const d = skip === 0 ? p.data : p.data.subarray(skip);
        this.rcvNxt = seqAdd(this.rcvNxt, d.length);
        this.deliver(d);
        if (this.state === S.Closed) return;
      }
    }
    if (!fin && this.ooo.finSeq >= 0 && this.ooo.finSeq === this.rcvNxt) fin = true;
    if (fin) {
      this.finArrives(now);
      return;
    }
    if (filled || this.unackedBytes >= 2 * this.rcvMss) {
      this.ackNow = true;
      this.host.dirty(this);
    } else if (this.delackAt === INF) {
      this.delackAt = now + this.host.config.delayedAck;
    }
  }

  /** In-order data for the application (held while paused). */
  private deliver(bytes: Uint8Array): void {
    this.counters.bytesIn += bytes.length;
    this.host.counters.bytesIn += bytes.length;
    if (this.paused || this.held.bytes > 0) {
      this.held.push(bytes);
      return;
    }
    this.user.data(this, bytes);
  }

  private deliverHeld(): void {
    while (this.held.bytes > 0 && !this.paused && this.state !== S.Closed) {
      const chunk = this.held.shift();
      if (chunk !== undefined) this.user.data(this, chunk);
    }
    if (
      this.held.bytes === 0 &&
      !this.paused &&
      this.peerClosedPending &&
      this.state !== S.Closed
    ) {
      this.peerClosedPending = false;
      this.user.peerClosed?.(this);
      this.closedIfDone();
    }
  }

  /** In TIME-WAIT, once the application has everything, it hears of the end. */
  private closedIfDone(): void {
    if (this.state === S.TimeWait && !this.peerClosedPending && this.held.bytes === 0) {
      this.notifyClosed(TcpCloseReason.Normal);
    }
  }

  /** The peer's FIN, in order. */
  private finArrives(now: number): void {
    this.rcvNxt = seqAdd(this.rcvNxt, 1);
    this.ooo.clear();
    this.ackNow = true;
    this.host.dirty(this);
    switch (this.state) {
      case S.Established:
        this.transition(S.CloseWait);
        break;
      case S.FinWait1:
        if (this.finAcked()) this.enterTimeWait(now);
        else this.transition(S.Closing);
        break;
      case S.FinWait2:
        this.enterTimeWait(now);
        break;
    }
    if (this.held.bytes > 0) this.peerClosedPending = true;
    else this.user.peerClosed?.(this);
    this.closedIfDone();
  }

  private enterFinWait2(now: number): void {
    if (this.state !== S.FinWait1) return;
    this.transition(S.FinWait2);
    this.closeAt = now + this.host.config.finWait2Timeout;
  }

  private enterTimeWait(now: number): void {
    this.transition(S.TimeWait);
    this.rexmtAt = INF;
    this.persistAt = INF;
    this.closeAt = now + 2 * this.host.config.msl;
  }

  private queueFin(): void {
    this.finQueued = true;
    this.finSeq = seqAdd(this.sndBufSeq, this.sendBuf.length);
  }

  // ---- output ---------------------------------------------------------------------------

  /** Sends what the state, the windows and the ACK policy allow now. */
  output(now: number): void {
    switch (this.state) {
      case S.SynSent:
        if (this.sndNxt === this.iss) this.sendSyn(now);
        return;
      case S.SynReceived:
        if (this.sndNxt === this.iss) this.sendSynAck(now);
        else if (this.ackNow) this.emitSegment(this.sndMax, Ack, 0, 0, now);
        return;
      case S.TimeWait:
        if (this.ackNow) this.emitSegment(this.sndMax, Ack, 0, 0, now);
        return;
      case S.Closed:
      case S.Listen:
        return;
      default:
        this.sendData(now);
    }
  }

  private sendSyn(now: number): void {
    this.emitSegment(this.iss, Syn, 0, 0, now);
    this.afterSynSent(now);
  }

  private sendSynAck(now: number): void {
    this.emitSegment(this.iss, Syn | Ack, 0, 0, now);
    this.afterSynSent(now);
  }

  private afterSynSent(now: number): void {
    const again = this.sndMax !== this.iss;
    this.sndNxt = seqAdd(this.iss, 1);
    this.sndMax = this.sndNxt;
    if (again) {
      this.counters.retransmits++;
      this.host.counters.retransmits++;
    } else {
      this.rttTiming = true;
      this.rttSeq = this.iss;
      this.rttSentAt = now;
    }
    this.rexmtAt = now + this.rto.rto;
  }

  private sendData(now: number): void {
    const mss = this.sendMss;
    if (this.sndMax === this.sndUna && now - this.lastSendAt > this.rto.rto) {
      this.cc.restartAfterIdle(mss);
    }
    for (;;) {
      const offset = seqDiff(this.sndNxt, this.sndBufSeq);
      const unsent = this.sendBuf.length - offset;
      const inFlight = seqDiff(this.sndNxt, this.sndUna);
      const usable = Math.min(this.sndWnd, this.cc.cwnd) - inFlight;
      let n = Math.min(unsent, mss, usable);
      if (n < 0) n = 0;
      const fin =
        this.finQueued && n === Math.max(unsent, 0) && seqAdd(this.sndNxt, n) === this.finSeq;
      if (n === 0 && !fin) break;
      // Sender SWS avoidance (RFC 9293 3.8.6.2.1) without Nagle: a short segment
      // only when it empties the queue, is half the largest window, or nothing is in flight.
      if (n < mss && n < unsent && inFlight > 0 && n < this.maxSndWnd / 2) break;
      const seq = this.sndNxt;
      const retransmission = seqLt(seq, this.sndMax);
      this.emitSegment(
        seq,
        Ack | (fin ? Fin : 0) | (n > 0 && n === unsent ? Psh : 0),
        offset,
        n,
        now,
      );
      if (this.sndUna === this.sndMax && !retransmission) this.progressSince = now;
      this.sndNxt = seqAdd(seq, n + (fin ? 1 : 0));
      if (seqGt(this.sndNxt, this.sndMax)) this.sndMax = this.sndNxt;
      if (retransmission) {
        this.counters.retransmits++;
        this.host.counters.retransmits++;
      } else if (!this.rttTiming) {
        this.rttTiming = true;
        this.rttSeq = seq;
        this.rttSentAt = now;
      }
      if (this.rexmtAt === INF) this.rexmtAt = now + this.rto.rto;
      if (fin) break;
    }
    // A bare ACK carries SND.MAX, as BSD's does: after a timeout pulled SND.NXT
    // back, the peer has RCV.NXT beyond it and would drop (and answer) the ACK.
    if (this.ackNow) this.emitSegment(this.sndMax, Ack, 0, 0, now);
    const unsent = this.sendBuf.length - seqDiff(this.sndNxt, this.sndBufSeq);
    // Probe a zero window when nothing is on its way from SND.NXT (after a
    // timeout pulled SND.NXT back to SND.UNA, octets sent before still wait).
    if (
      this.sndWnd === 0 &&
      unsent > 0 &&
      this.sndNxt === this.sndUna &&
      this.rexmtAt === INF &&
      this.persistAt === INF
    ) {
      this.persistAt = now + this.persistInterval();
    }
  }

  /** Sends the first unacknowledged segment again (fast retransmit, NewReno partial ACK). */
  private retransmitFirst(now: number): void {
    const offset = seqDiff(this.sndUna, this.sndBufSeq);
    const n = Math.max(0, Math.min(this.sendBuf.length - offset, this.sendMss));
    const fin = this.finQueued && seqAdd(this.sndUna, n) === this.finSeq;
    if (n === 0 && !fin) return;
    this.emitSegment(this.sndUna, Ack | (fin ? Fin : 0), offset, n, now);
    this.counters.retransmits++;
    this.host.counters.retransmits++;
    this.rttTiming = false;
    this.rexmtAt = now + this.rto.rto;
  }

  /** Our window field: free receive space, never shrinking the advertised edge, SWS-avoiding. */
  private windowField(syn: boolean): number {
    const free = Math.max(0, this.receiveBuffer - this.held.bytes);
    if (syn) return Math.min(free, 0xffff);
    const current = Math.max(0, seqDiff(this.rcvAdv, this.rcvNxt));
    let wnd = current;
    if (free > current && free - current >= Math.min(this.receiveBuffer / 2, this.mss)) wnd = free;
    const unit = 2 ** this.rcvScale;
    let field = Math.floor(wnd / unit);
    if (field * unit < current) field = Math.ceil(current / unit);
    if (field > 0xffff) field = 0xffff;
    this.rcvAdv = seqMax(this.rcvAdv, seqAdd(this.rcvNxt, field * unit));
    return field;
  }

  /** Builds and sends one segment: `n` octets from the send buffer at `offset`. */
  private emitSegment(seq: number, flags: number, offset: number, n: number, now: number): void {
    const buf = this.host.scratch;
    const syn = (flags & Syn) !== 0;
    const ws = syn && this.windowScaling;
    let hl = TCP_HEADER_LEN;
    if (syn) hl += ws ? 8 : 4;
    if (this.md5Key !== undefined) hl += 20;
    const window = this.windowField(syn);
    writeTcpHeader(
      buf,
      0,
      this.local.port,
      this.remote.port,
      seq,
      flags & Ack ? this.rcvNxt : 0,
      flags,
      window,
      hl,
    );
    let at = TCP_HEADER_LEN;
    if (syn) {
      at += writeMssOption(buf, at, this.mss);
      if (ws) at += writeWindowScaleOption(buf, at, windowShiftFor(this.receiveBuffer));
    }
    let md5At = -1;
    if (this.md5Key !== undefined) {
      md5At = at + 4;
      at += writeMd5Option(buf, at);
    }
    if (n > 0) this.sendBuf.copyOut(offset, n, buf, hl);
    const len = hl + n;
    if (this.md5Key !== undefined) {
      tcpMd5Sign(
        this.family,
        this.local.address,
        this.remote.address,
        buf,
        0,
        len,
        md5At,
        this.md5Key,
      );
    }
    fillTcpChecksum(buf, 0, len, this.pseudo);
    this.counters.segmentsOut++;
    this.counters.bytesOut += n;
    this.host.counters.bytesOut += n;
    if (flags & Ack) {
      this.ackNow = false;
      this.delackAt = INF;
      this.unackedBytes = 0;
    }
    this.lastSendAt = now;
    this.host.transmit(this, len);
  }

  /** A reset from this connection (abort): <SEQ=seq><ACK=RCV.NXT><CTL=RST,ACK>. */
  private emitReset(seq: number, withAck: boolean, now: number): void {
    this.host.counters.resetsSent++;
    const buf = this.host.scratch;
    const hl = TCP_HEADER_LEN + (this.md5Key !== undefined ? 20 : 0);
    const flags = Rst | (withAck ? Ack : 0);
    writeTcpHeader(
      buf,
      0,
      this.local.port,
      this.remote.port,
      seq,
      withAck ? this.rcvNxt : 0,
      flags,
      0,
      hl,
    );
    if (this.md5Key !== undefined) {
      writeMd5Option(buf, TCP_HEADER_LEN);
      tcpMd5Sign(
        this.family,
        this.local.address,
        this.remote.address,
        buf,
        0,
        hl,
        TCP_HEADER_LEN + 4,
        this.md5Key,
      );
    }
    fillTcpChecksum(buf, 0, hl, this.pseudo);
    this.counters.segmentsOut++;
    this.lastSendAt = now;
    this.host.transmit(this, hl);
  }

  /** <SEQ=SEG.ACK><CTL=RST>, for an unacceptable ACK in SYN-SENT or SYN-RECEIVED. */
  private emitBareReset(seq: number, now: number): void {
    this.emitReset(seq, false, now);
  }

  // ---- timers -----------------------------------------------------------------------

  /** The earliest deadline of this connection's timers (Infinity when none). */
  deadline(): number {
    let d = this.rexmtAt;
    if (this.persistAt < d) d = this.persistAt;
    if (this.delackAt < d) d = this.delackAt;
    if (this.closeAt < d) d = this.closeAt;
    if (this.userTimeout > 0 && this.sndMax !== this.sndUna) {
      const u = this.progressSince + this.userTimeout;
      if (u < d) d = u;
    }
    return d;
  }

  /** Runs the timers due at `now`. */
  timers(now: number): void {
    if (this.closeAt <= now) {
      this.closeAt = INF;
      if (this.state === S.TimeWait) this.terminate(TcpCloseReason.Normal);
      else if (this.state === S.FinWait2) this.giveUp();
      return;
    }
    if (
      this.userTimeout > 0 &&
      this.sndMax !== this.sndUna &&
      this.progressSince + this.userTimeout <= now
    ) {
      this.giveUp();
      return;
    }
    if (this.delackAt <= now) {
      this.delackAt = INF;
      this.ackNow = true;
      this.host.dirty(this);
    }
    if (this.rexmtAt <= now) {
      this.retransmitTimeout();
      if (this.state === S.Closed) return;
    }
    if (this.persistAt <= now) this.windowProbe(now);
  }

  /** RFC 6298 5.4-5.6 and RFC 5681 3.1 on a timeout; then go back to SND.UNA. */
  private retransmitTimeout(): void {
    this.rexmtAt = INF;
    if (this.sndUna === this.sndMax) return;
    this.retransmits++;
    const opening = this.state === S.SynSent || this.state === S.SynReceived;
    const limit = opening ? this.host.config.synRetries : this.host.config.maxRetransmits;
    if (this.retransmits > limit) {
      this.giveUp();
      return;
    }
    this.counters.timeouts++;
    this.host.counters.timeouts++;
    this.rto.backOff();
    this.rttTiming = false;
    if (opening) this.synRetransmitted = true;
    else this.cc.timeout(seqDiff(this.sndMax, this.sndUna), this.sndMax, this.sendMss);
    this.sndNxt = this.sndUna;
    // The retransmission goes out at the flush, which restarts the timer.
    this.host.dirty(this);
  }

  private persistInterval(): number {
    const c = this.host.config;
    return Math.min(Math.max(this.rto.rto, c.minRto) * 2 ** this.persistShift, c.maxRto);
  }

  /** The persist timer: probe a zero window (RFC 9293 3.8.6.1). */
  private windowProbe(now: number): void {
    this.persistAt = INF;
    const unsent = this.sendBuf.length - seqDiff(this.sndNxt, this.sndBufSeq);
    if (this.sndWnd > 0 || unsent <= 0 || this.sndNxt !== this.sndUna) return;
    this.probes++;
    if (this.probes > this.host.config.maxRetransmits) {
      this.giveUp();
      return;
    }
    this.counters.windowProbes++;
    this.host.counters.windowProbes++;
    this.emitSegment(seqAdd(this.sndUna, -1), Ack, 0, 0, now);
    if (this.persistShift < 30) this.persistShift++;
    this.persistAt = now + this.persistInterval();
  }

  private giveUp(): void {
    this.host.counters.connectionTimeouts++;
    this.terminate(TcpCloseReason.Timeout);
  }

  // ---- endings ----------------------------------------------------------------------

  private transition(to: TcpState): void {
    if (!tcpTransitionAllowed(this.state, to)) {
      throw new Error(
        `TCP ${this.id}: no transition from ${tcpStateName(this.state)} to ${tcpStateName(to)}`,
      );
    }
    this.state = to;
  }

  /** Whether the application holds this connection (it made it, or was given it). */
  private get userKnows(): boolean {
    return this.listenerId === undefined || this.announced;
  }

  private announce(): void {
    this.announced = true;
    if (this.listenerId !== undefined) this.user.accepted?.(this);
    else this.user.connected?.(this);
  }

  private notifyClosed(reason: TcpCloseReason): void {
    if (this.notifiedClosed || !this.userKnows) return;
    this.notifiedClosed = true;
    this.user.closed(this, reason);
  }

  /** CLOSED: forget everything, tell the application once. */
  terminate(reason: TcpCloseReason): void {
    if (this.state === S.Closed) return;
    this.transition(S.Closed);
    this.rexmtAt = INF;
    this.persistAt = INF;
    this.delackAt = INF;
    this.closeAt = INF;
    this.host.removed(this);
    if (reason === TcpCloseReason.Normal && this.userKnows && !this.notifiedClosed) {
      // The application gets what it held before it hears of the end.
      this.paused = false;
      while (this.held.bytes > 0) {
        const chunk = this.held.shift();
        if (chunk !== undefined) this.user.data(this, chunk);
      }
      if (this.peerClosedPending) {
        this.peerClosedPending = false;
        this.user.peerClosed?.(this);
      }
    }
    this.held.clear();
    this.ooo.clear();
    this.sendBuf = new SendBuffer(1);
    this.notifyClosed(reason);
  }

  // ---- export and import ----------------------------------------------------------------

  /** Everything, as plain data; times shifted by `shift` ms. */
  export(shift = 0): TcpConnectionState {
    const t = (x: number) => (x === INF ? null : x + shift);
    return {
      id: this.id,
      family: this.family,
      local: { address: Array.from(this.local.address), port: this.local.port },
      remote: { address: Array.from(this.remote.address), port: this.remote.port },
      state: tcpStateName(this.state),
      listenerId: this.listenerId ?? null,
      announced: this.announced,
      notifiedClosed: this.notifiedClosed,
      mss: this.mss,
      peerMss: this.peerMss,
      windowScaling: this.windowScaling,
      md5Key: this.md5Key === undefined ? null : this.md5Key.slice(),
      userTimeout: this.userTimeout,
      sendScale: this.sndScale,
      receiveScale: this.rcvScale,
      iss: this.iss,
      irs: this.irs,
      sndUna: this.sndUna,
      sndNxt: this.sndNxt,
      sndMax: this.sndMax,
      sndWnd: this.sndWnd,
      sndWl1: this.sndWl1,
      sndWl2: this.sndWl2,
      maxSndWnd: this.maxSndWnd,
      sndBufSeq: this.sndBufSeq,
      sendBuffer: this.sendBuf.toBytes(),
      sendBufferLimit: this.sendBuf.limit,
      finQueued: this.finQueued,
      finSeq: this.finSeq,
      closeRequested: this.closeRequested,
      wantWritable: this.wantWritable,
      rcvNxt: this.rcvNxt,
      rcvAdv: this.rcvAdv,
      receiveBuffer: this.receiveBuffer,
      receiving: {
        paused: this.paused,
        held: this.held.chunks.map((c) => c.slice()),
        peerClosedPending: this.peerClosedPending,
      },
      outOfOrder: {
        pieces: this.ooo.pieces.map((p) => ({ seq: p.seq, data: p.data.slice() })),
        finSeq: this.ooo.finSeq,
      },
      rto: this.rto.export(),
      rtt: { timing: this.rttTiming, seq: this.rttSeq, sentAt: this.rttSentAt + shift },
      congestion: this.cc.export(),
      timers: {
        retransmit: t(this.rexmtAt),
        persist: t(this.persistAt),
        delayedAck: t(this.delackAt),
        close: t(this.closeAt),
      },
      retransmits: this.retransmits,
      probes: this.probes,
      persistShift: this.persistShift,
      progressSince: this.progressSince + shift,
      lastSendAt: this.lastSendAt + shift,
      ackNow: this.ackNow,
      unackedBytes: this.unackedBytes,
      rcvMss: this.rcvMss,
      synRetransmitted: this.synRetransmitted,
      counters: { ...this.counters },
    };
  }

  /** Rebuilds a connection from checked state (see snapshot.ts); times shifted by `shift` ms. */
  static import(
    host: ConnectionHost,
    s: TcpConnectionState,
    user: TcpUser,
    pseudo: number,
    shift = 0,
  ): TcpConnection {
    const family = s.family;
    const c = new TcpConnection(host, {
      id: s.id,
      local: { family, address: Uint32Array.from(s.local.address), port: s.local.port },
      remote: { family, address: Uint32Array.from(s.remote.address), port: s.remote.port },
      user,
      mss: s.mss,
      md5Key: s.md5Key === null ? undefined : s.md5Key.slice(),
      sendBuffer: s.sendBufferLimit,
      receiveBuffer: s.receiveBuffer,
      userTimeout: s.userTimeout,
      listenerId: s.listenerId ?? undefined,
      pseudo,
      iss: s.iss,
    });
    const t = (x: number | null) => (x === null ? INF : x + shift);
    c.state = tcpStateFromName(s.state) ?? S.Closed;
    c.announced = s.announced;
    c.notifiedClosed = s.notifiedClosed;
    c.peerMss = s.peerMss;
    c.windowScaling = s.windowScaling;
    c.sndScale = s.sendScale;
    c.rcvScale = s.receiveScale;
    c.irs = s.irs;
    c.sndUna = s.sndUna;
    c.sndNxt = s.sndNxt;
    c.sndMax = s.sndMax;
    c.sndWnd = s.sndWnd;
    c.sndWl1 = s.sndWl1;
    c.sndWl2 = s.sndWl2;
    c.maxSndWnd = s.maxSndWnd;
    c.sndBufSeq = s.sndBufSeq;
    c.sendBuf = SendBuffer.from(s.sendBuffer, s.sendBufferLimit);
    c.finQueued = s.finQueued;
    c.finSeq = s.finSeq;
    c.closeRequested = s.closeRequested;
    c.wantWritable = s.wantWritable;
    c.rcvNxt = s.rcvNxt;
    c.rcvAdv = s.rcvAdv;
    c.paused = s.receiving.paused;
    for (const chunk of s.receiving.held) c.held.push(chunk);
    c.peerClosedPending = s.receiving.peerClosedPending;
    for (const p of s.outOfOrder.pieces) {
      c.ooo.pieces.push({ seq: p.seq, data: p.data.slice() });
      c.ooo.bytes += p.data.length;
    }
    c.ooo.finSeq = s.outOfOrder.finSeq;
    c.rto = RtoEstimator.import(s.rto, c.rto.config);
    c.rttTiming = s.rtt.timing;
    c.rttSeq = s.rtt.seq;
    c.rttSentAt = s.rtt.sentAt + shift;
    c.cc = NewReno.import(s.congestion);
    c.rexmtAt = t(s.timers.retransmit);
    c.persistAt = t(s.timers.persist);
    c.delackAt = t(s.timers.delayedAck);
    c.closeAt = t(s.timers.close);
    c.retransmits = s.retransmits;
    c.probes = s.probes;
    c.persistShift = s.persistShift;
    c.progressSince = s.progressSince + shift;
    c.lastSendAt = s.lastSendAt + shift;
    c.ackNow = s.ackNow;
    c.unackedBytes = s.unackedBytes;
    c.rcvMss = s.rcvMss;
    c.synRetransmitted = s.synRetransmitted;
    Object.assign(c.counters, s.counters);
    return c;
  }
}

const ignore: Handler = () => {};

/** One handler per state (state.ts); LISTEN and CLOSED segments never reach a connection. */
const HANDLERS: Readonly<Record<TcpState, Handler>> = {
  [S.Closed]: ignore,
  [S.Listen]: ignore,
  [S.SynSent]: (c, s, n) => c.onSynSent(s, n),
  [S.SynReceived]: (c, s, n) => c.onSynReceived(s, n),
  [S.Established]: (c, s, n) => c.onEstablished(s, n),
  [S.FinWait1]: (c, s, n) => c.onFinWait1(s, n),
  [S.FinWait2]: (c, s, n) => c.onFinWait2(s, n),
  [S.CloseWait]: (c, s, n) => c.onCloseWait(s, n),
  [S.Closing]: (c, s, n) => c.onClosing(s, n),
  [S.LastAck]: (c, s, n) => c.onLastAck(s, n),
  [S.TimeWait]: (c, s, n) => c.onTimeWait(s, n),
};
