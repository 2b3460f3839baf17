/**
 * What the router's TCP shows its applications (BGP) and its host stack:
 * endpoints, the segments it sends, the callbacks it makes, its options,
 * and its counters. No I/O: segments go out through `emit`, time comes in
 * as `now` (milliseconds, monotonic).
 */
import type { TcpConnection } from "./connection.ts";
import type { TcpCloseReason } from "./state.ts";

export type Family = 4 | 6;

/**
 * One end of a connection. `address` holds one word for IPv4 and four for
 * IPv6, most significant first, as fib/ holds addresses.
 */
export interface TcpEndpoint {
  family: Family;
  address: Uint32Array;
  port: number;
}

/**
 * A segment the stack sends: the IP header is the caller's, from `family`,
 * `src` and `dst`; `segment` is the TCP header and data with the checksum
 * (and MD5 signature) filled in. The object, its arrays and the segment's
 * octets are the stack's and valid only during the `emit` call: copy what
 * is kept.
 */
export interface TcpOutput {
  family: Family;
  src: Uint32Array;
  dst: Uint32Array;
  segment: Uint8Array;
}

/**
 * The application's side of a connection. Callbacks run inside the stack's
 * `input`, `poll` or the connection's own methods; they may call any
 * method of the connection or the stack, but do no I/O themselves.
 */
export interface TcpUser {
  /** A listener's connection is established (called on the listener's user). */
  accepted?(c: TcpConnection): void;
  /** An active open (`connect`) is established. */
  connected?(c: TcpConnection): void;
  /**
   * Data, in order, as soon as it arrives. `bytes` may be a view into the
   * received packet: valid only during the call, copy what is kept.
   */
  data(c: TcpConnection, bytes: Uint8Array): void;
  /** The peer closed its side (its FIN arrived, after all its data). */
  peerClosed?(c: TcpConnection): void;
  /** Send space freed after `send` refused data (or took less than offered). */
  writable?(c: TcpConnection): void;
  /** The connection is over, once, for any reason. */
  closed(c: TcpConnection, reason: TcpCloseReason): void;
}

/** Timing and sizing knobs of a stack (defaults in brackets). */
export interface TcpStackConfig {
  /** Smallest RTO, ms [1000; RFC 6298 2.4]. */
  minRto: number;
  /** Largest RTO, ms [60000]. */
  maxRto: number;
  /** RTO before the first sample, ms [1000]. */
  initialRto: number;
  /** Maximum segment lifetime, ms; TIME-WAIT lasts 2 MSL [30000, as Linux's 60 s TIME-WAIT]. */
  msl: number;
  /** Delayed ACK timer, ms [40]. */
  delayedAck: number;
  /** How long FIN-WAIT-2 waits for the peer's FIN after `close`, ms [60000]. */
  finWait2Timeout: number;
  /** Retransmissions of a SYN or SYN-ACK before giving up [6]. */
  synRetries: number;
  /** Retransmissions (or unanswered window probes) before giving up [15]. */
  maxRetransmits: number;
  /** Longest time sent data may stay unacknowledged, ms; 0 for none [0]. */
  userTimeout: number;
  /** Send buffer limit per connection, octets [4 MiB]. */
  sendBuffer: number;
  /** Receive window per connection, octets [4 MiB]. */
  receiveBuffer: number;
  /** Out-of-order pieces held per connection [512]. */
  maxOutOfOrder: number;
  /** Challenge ACKs a second, per stack (RFC 5961 7) [1000]. */
  challengeAckLimit: number;
  /** Offer and accept window scaling (RFC 7323) [true]. */
  windowScaling: boolean;
}

export const DEFAULT_TCP_CONFIG: Readonly<TcpStackConfig> = {
  minRto: 1000,
  maxRto: 60_000,
  initialRto: 1000,
  msl: 30_000,
  delayedAck: 40,
  finWait2Timeout: 60_000,
  synRetries: 6,
  maxRetransmits: 15,
  userTimeout: 0,
  sendBuffer: 4 << 20,
  receiveBuffer: 4 << 20,
  maxOutOfOrder: 512,
  challengeAckLimit: 1000,
  windowScaling: true,
};

export interface TcpStackOptions extends Partial<TcpStackConfig> {
  /** Key of the ISN and ephemeral port hashes (RFC 6528, RFC 6056): at least 16 random octets. */
  secret: Uint8Array;
  /**
   * Sends a segment (see TcpOutput: valid only during the call). It must
   * not feed segments back into this stack's `input` from inside the call
   * (a loopback queues them and delivers them after).
   */
  emit(out: TcpOutput): void;
  /**
   * Called when a connection has output waiting outside `input` and `poll`
   * (the application called `send` from elsewhere): call `poll` soon.
   */
  wake?(): void;
}

/** Per-connection settings, for `connect` and for a listener's connections. */
export interface TcpConnectionOptions {
  /** MSS to advertise and to send at most (the MTU minus 40 for IPv4, 60 for IPv6). */
  mss: number;
  sendBuffer?: number;
  receiveBuffer?: number;
  /** ms; 0 for none. */
  userTimeout?: number;
}

export interface TcpConnectOptions extends TcpConnectionOptions {
  /** RFC 2385 key: every segment is signed and must arrive signed. */
  md5Key?: Uint8Array;
  user: TcpUser;
}

export interface TcpListenOptions extends TcpConnectionOptions {
  family: Family;
  port: number;
  /** Local addresses to accept on; any address the stack is given when absent. */
  addresses?: Uint32Array[];
  /** The RFC 2385 key for a remote address, or undefined for none (one key per BGP neighbour). */
  md5KeyFor?(remote: Uint32Array): Uint8Array | undefined;
  /** Whether to accept a SYN from `remote` at all; a refused one is answered with a reset. */
  filter?(remote: TcpEndpoint, local: TcpEndpoint): boolean;
  /** Connections in SYN-RECEIVED at once; more SYNs are dropped [16]. */
  backlog?: number;
  user: TcpUser;
}

/** The stack's counters (monotonic). */
export interface TcpCounters {
  segmentsIn: number;
  segmentsOut: number;
  /** Data octets received in order and sent (retransmissions included). */
  bytesIn: number;
  bytesOut: number;
  /** Segments sent again (timeouts, fast retransmits, probes of lost data). */
  retransmits: number;
  fastRetransmits: number;
  /** Retransmission timer expiries. */
  timeouts: number;
  /** Segments too short, with a bad data offset or bad options, or with port 0. */
  malformed: number;
  badChecksum: number;
  /** Segments dropped for a missing, wrong or unexpected MD5 signature. */
  badMd5: number;
  resetsSent: number;
  resetsReceived: number;
  /** Segments for no connection and no listener. */
  noConnection: number;
  activeOpens: number;
  passiveOpens: number;
  /** SYNs dropped because a listener's backlog was full. */
  listenOverflows: number;
  /** SYNs refused by a listener's filter. */
  refused: number;
  challengeAcks: number;
  /** Segments outside the receive window (answered with an ACK). */
  outOfWindow: number;
  dupAcks: number;
  /** Segments held for reassembly, and pieces dropped because the queue was full. */
  outOfOrder: number;
  outOfOrderDropped: number;
  windowProbes: number;
  /** Connections ended by a timeout. */
  connectionTimeouts: number;
}

export function zeroCounters(): TcpCounters {
  return {
    segmentsIn: 0,
    segmentsOut: 0,
    bytesIn: 0,
    bytesOut: 0,
    retransmits: 0,
    fastRetransmits: 0,
    timeouts: 0,
    malformed: 0,
    badChecksum: 0,
    badMd5: 0,
    resetsSent: 0,
    resetsReceived: 0,
    noConnection: 0,
    activeOpens: 0,
    passiveOpens: 0,
    listenOverflows: 0,
    refused: 0,
    challengeAcks: 0,
    outOfWindow: 0,
    dupAcks: 0,
    outOfOrder: 0,
    outOfOrderDropped: 0,
    windowProbes: 0,
    connectionTimeouts: 0,
  };
}

/** The counters a connection keeps of its own. */
export interface TcpConnectionCounters {
  segmentsIn: number;
  segmentsOut: number;
  bytesIn: number;
  bytesOut: number;
  retransmits: number;
  fastRetransmits: number;
  timeouts: number;
  dupAcks: number;
  outOfOrder: number;
  windowProbes: number;
}

export function zeroConnectionCounters(): TcpConnectionCounters {
  return {
    segmentsIn: 0,
    segmentsOut: 0,
    bytesIn: 0,
    bytesOut: 0,
    retransmits: 0,
    fastRetransmits: 0,
    timeouts: 0,
    dupAcks: 0,
    outOfOrder: 0,
    windowProbes: 0,
  };
}

/** A connection's state and figures, for logs and `vroomctl`. */
export interface TcpConnectionStats extends TcpConnectionCounters {
  state: string;
  /** ms; 0 before the first sample. */
  srtt: number;
  rttvar: number;
  rto: number;
  cwnd: number;
  ssthresh: number;
  /** The peer's window, octets. */
  sendWindow: number;
  /** The window we advertise, octets. */
  receiveWindow: number;
  /** Octets sent and not acknowledged. */
  inFlight: number;
  /** Octets queued, sent or not, not acknowledged. */
  sendQueued: number;
  /** Octets held: out of order, and in order while receiving is paused. */
  outOfOrderQueued: number;
  heldQueued: number;
  /** The MSS segments are cut to. */
  sendMss: number;
  sendScale: number;
  receiveScale: number;
  md5: boolean;
}

/** The MSS for an interface MTU (RFC 9293 3.7.1, RFC 8201): MTU minus the IP and TCP headers. */
export function mssForMtu(family: Family, mtu: number): number {
  return mtu - (family === 4 ? 40 : 60);
}
