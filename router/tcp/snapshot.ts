/**
 * The TCP stack as plain data, for migration (DESIGN.md, "Migration",
 * step 3): every listener, every connection's TCB, its buffers and timers
 * (absolute deadlines, null for a timer not running), and the counters.
 * Numbers, strings, booleans, arrays and Uint8Arrays only, so the state
 * goes through structured clone or a binary codec as it is.
 *
 * The zod schema is the one description of the format: the TypeScript
 * types are inferred from it, and `TcpStack.import` checks what it is
 * given against it (plus the relations between sequence numbers and
 * buffers that a schema cannot say) before anything is built, so a bad
 * state is refused with the path of the field at fault.
 */
import { z } from "zod";
import { TCP_STATE_NAMES } from "./state.ts";

export const TCP_SNAPSHOT_VERSION = 1;

const u32 = z.number().int().min(0).max(0xffffffff);
const nat = z.number().int().min(0);
const port = z.number().int().min(1).max(0xffff);
const time = z.number().finite();
const timer = time.nullable();
const bytes = z.custom<Uint8Array>((v) => v instanceof Uint8Array, "expected a Uint8Array");
const family = z.union([z.literal(4), z.literal(6)]);

const endpoint = z.object({
  address: z.array(u32).min(1).max(4),
  port,
});

const connectionCounters = z.object({
  segmentsIn: nat,
  segmentsOut: nat,
  bytesIn: nat,
  bytesOut: nat,
  retransmits: nat,
  fastRetransmits: nat,
  timeouts: nat,
  dupAcks: nat,
  outOfOrder: nat,
  windowProbes: nat,
});

const stackCounters = z.object({
  segmentsIn: nat,
  segmentsOut: nat,
  bytesIn: nat,
  bytesOut: nat,
  retransmits: nat,
  fastRetransmits: nat,
  timeouts: nat,
  malformed: nat,
  badChecksum: nat,
  badMd5: nat,
  resetsSent: nat,
  resetsReceived: nat,
  noConnection: nat,
  activeOpens: nat,
  passiveOpens: nat,
  listenOverflows: nat,
  refused: nat,
  challengeAcks: nat,
  outOfWindow: nat,
  dupAcks: nat,
  outOfOrder: nat,
  outOfOrderDropped: nat,
  windowProbes: nat,
  connectionTimeouts: nat,
});

export const TcpConnectionStateSchema = z.object({
  id: z.string().min(1),
  family,
  local: endpoint,
  remote: endpoint,
  state: z.enum(TCP_STATE_NAMES),
  /** The listener that made it (a passive open), or null for `connect`. */
  listenerId: z.string().nullable(),
  /** Whether the application was told it is open (connected/accepted). */
  announced: z.boolean(),
  /** Whether the application was told it is over. */
  notifiedClosed: z.boolean(),
  mss: z.number().int().min(64).max(0xffff),
  peerMss: z.number().int().min(1).max(0xffff),
  /** Window scaling offered (SYN-SENT) or agreed. */
  windowScaling: z.boolean(),
  md5Key: bytes.nullable(),
  userTimeout: nat,
  sendScale: z.number().int().min(0).max(14),
  receiveScale: z.number().int().min(0).max(14),
  iss: u32,
  irs: u32,
  sndUna: u32,
  sndNxt: u32,
  sndMax: u32,
  sndWnd: nat,
  sndWl1: u32,
  sndWl2: u32,
  maxSndWnd: nat,
  /** Sequence number of sendBuffer[0]. */
  sndBufSeq: u32,
  sendBuffer: bytes,
  sendBufferLimit: z.number().int().min(1),
  finQueued: z.boolean(),
  finSeq: u32,
  closeRequested: z.boolean(),
  wantWritable: z.boolean(),
  rcvNxt: u32,
  /** The right edge of the window advertised last. */
  rcvAdv: u32,
  receiveBuffer: z.number().int().min(1),
  receiving: z.object({
    paused: z.boolean(),
    held: z.array(bytes),
    peerClosedPending: z.boolean(),
  }),
  outOfOrder: z.object({
    pieces: z.array(z.object({ seq: u32, data: bytes })),
    /** Sequence number of a FIN received out of order, or -1. */
    finSeq: z.number().int().min(-1).max(0xffffffff),
  }),
  rto: z.object({
    srtt: z.number().min(0).finite(),
    rttvar: z.number().min(0).finite(),
    sampled: z.boolean(),
    rto: z.number().positive().finite(),
  }),
  rtt: z.object({ timing: z.boolean(), seq: u32, sentAt: time }),
  congestion: z.object({
    cwnd: z.number().int().min(1),
    ssthresh: z.number().int().min(1),
    dupAcks: nat,
    inRecovery: z.boolean(),
    recover: u32,
    bytesAcked: nat,
  }),
  timers: z.object({
    retransmit: timer,
    persist: timer,
    delayedAck: timer,
    /** TIME-WAIT's 2 MSL, or FIN-WAIT-2's limit. */
    close: timer,
  }),
  retransmits: nat,
  probes: nat,
  persistShift: nat,
  progressSince: time,
  lastSendAt: time,
  ackNow: z.boolean(),
  unackedBytes: nat,
  rcvMss: z.number().int().min(1),
  synRetransmitted: z.boolean(),
  counters: connectionCounters,
});
export type TcpConnectionState = z.infer<typeof TcpConnectionStateSchema>;

export const TcpListenerStateSchema = z.object({
  id: z.string().min(1),
  family,
  port,
  /** Local addresses, or null for any. */
  addresses: z.array(z.array(u32).min(1).max(4)).nullable(),
  mss: z.number().int().min(64).max(0xffff),
  backlog: z.number().int().min(1),
  sendBuffer: z.number().int().min(1).nullable(),
  receiveBuffer: z.number().int().min(1).nullable(),
  userTimeout: nat.nullable(),
});
export type TcpListenerState = z.infer<typeof TcpListenerStateSchema>;

export const TcpStackStateSchema = z.object({
  version: z.literal(TCP_SNAPSHOT_VERSION),
  /** The exporter's clock when exported, so an importer on another clock can shift deadlines; null when not given. */
  exportedAt: time.nullable(),
  nextId: nat,
  ephemeralCounter: nat,
  challenge: z.object({ windowStart: time, count: nat }),
  counters: stackCounters,
  listeners: z.array(TcpListenerStateSchema),
  connections: z.array(TcpConnectionStateSchema),
});
export type TcpStackState = z.infer<typeof TcpStackStateSchema>;
