/**
 * One virtual router's TCP (RFC 9293): listeners, connections by
 * four-tuple, active opens, resets for segments that belong to nothing,
 * timers and counters, and the whole of it as plain data for migration.
 * Sans-IO: segments come in through `input` (the IP header already
 * stripped, its addresses given), go out through the `emit` callback,
 * and `poll(now)` runs the timers and answers the next deadline.
 *
 * - Input checks the segment (unicast addresses, length, data offset,
 *   options, checksum over the IPv4 or IPv6 pseudo-header), counts and
 *   drops what is malformed,
 *   finds the connection (a hash of the four-tuple, with the last hit
 *   checked first: the bulk path finds its connection without hashing),
 *   checks the RFC 2385 signature against the connection's key (or the
 *   listener's key for the remote address) and hands the segment on.
 *   Segments without a valid signature where a key is set, and signed
 *   segments where none is, are dropped silently and counted.
 * - CLOSED (RFC 9293 3.10.7.1): a segment for no connection and no
 *   listener is answered with a reset (never a reset for a reset):
 *   <SEQ=SEG.ACK><CTL=RST> for an ACK, else
 *   <SEQ=0><ACK=SEG.SEQ+SEG.LEN><CTL=RST,ACK>.
 * - A SYN for a pair in TIME-WAIT with a sequence number above the old
 *   connection's RCV.NXT ends the TIME-WAIT and opens anew through the
 *   listener (RFC 1122 4.2.2.13).
 * - Output the application causes inside `input` or `poll` (replies in a
 *   `data` callback, window updates) goes out when the call ends, so an
 *   ACK carries the reply; `send` from elsewhere asks for a `poll` through
 *   the `wake` option.
 * - Challenge ACKs are limited per second for the whole stack (RFC 5961 7).
 * - Ephemeral ports per RFC 6056 algorithm 3, ISNs per RFC 6528 (isn.ts).
 *
 * Timers: `poll` visits every connection's earliest deadline (a router has
 * tens of sessions, not thousands). Export and import (snapshot.ts) carry
 * everything; imported deadlines keep their distance from `now` when the
 * exporter and the importer give their clocks.
 */
import { ipv4PseudoSum, ipv6PseudoSum } from "../wire/checksum.ts";
import { IpProtocol } from "../wire/ip.ts";
import {
  checkTcp,
  fillTcpChecksum,
  TCP_HEADER_LEN,
  TcpError,
  TcpFlag,
  tcpDstPort,
  tcpSrcPort,
  writeMd5Option,
  writeTcpHeader,
} from "../wire/tcp.ts";
import { type ConnectionHost, TcpConnection } from "./connection.ts";
import { EPHEMERAL_HIGH, EPHEMERAL_LOW, ephemeralOffset, initialSequence } from "./isn.ts";
import { type ListenerHost, TcpListener } from "./listener.ts";
import { TCP_MD5_MAX_KEY_LEN, tcpMd5Sign, tcpMd5Verify } from "./md5.ts";
import { Segment } from "./segment.ts";
import { seqAdd, seqDiff, seqGt } from "./seq.ts";
import {
  TCP_SNAPSHOT_VERSION,
  type TcpConnectionState,
  type TcpStackState,
  TcpStackStateSchema,
} from "./snapshot.ts";
import { TcpCloseReason, TcpState, tcpStateFromName } from "./state.ts";
import {
  DEFAULT_TCP_CONFIG,
  type Family,
  type TcpConnectOptions,
  type TcpCounters,
  type TcpEndpoint,
  type TcpListenOptions,
  type TcpOutput,
  type TcpStackConfig,
  type TcpStackOptions,
  type TcpUser,
  zeroCounters,
} from "./types.ts";

/** What an importer supplies that state cannot carry: the applications. */
export interface TcpImportBindings {
  /** The application of an imported connection (not asked for a listener's connection still opening). */
  user(connectionId: string): TcpUser;
  /** The application, key lookup and filter of an imported listener. */
  listener?(listenerId: string): Pick<TcpListenOptions, "user" | "md5KeyFor" | "filter">;
}

/** A state `TcpStack.import` refuses, with every problem found. */
export class TcpImportError extends Error {
  constructor(readonly problems: string[]) {
    super(`bad TCP state: ${problems.join("; ")}`);
    this.name = "TcpImportError";
  }
}

const EMPTY_WORDS = new Uint32Array(4);
const EMPTY_BYTES = new Uint8Array(0);
/** The largest segment: a 65535-octet MSS plus a full header. */
const SCRATCH_LEN = 0xffff + 64;

function words(family: Family): number {
  return family === 4 ? 1 : 4;
}

function pseudoSum(family: Family, src: ArrayLike<number>, dst: ArrayLike<number>): number {
  return family === 4
    ? ipv4PseudoSum(src[0], dst[0], IpProtocol.Tcp)
    : ipv6PseudoSum(src, dst, IpProtocol.Tcp);
}

/** Not unspecified, multicast or (IPv4) limited broadcast. */
function unicast(family: Family, a: Uint32Array): boolean {
  if (family === 4) {
    const w = a[0];
    return w !== 0 && w !== 0xffffffff && w >>> 28 !== 0xe;
  }
  return a[0] >>> 24 !== 0xff && (a[0] | a[1] | a[2] | a[3]) !== 0;
}

function tupleHash(
  family: Family,
  laddr: ArrayLike<number>,
  lport: number,
  raddr: ArrayLike<number>,
  rport: number,
): number {
  let h = Math.imul(lport ^ (rport << 16), 0x9e3779b1);
  for (let i = 0; i < words(family); i++) {
    h = Math.imul(h ^ laddr[i], 0x85ebca6b);
    h = Math.imul(h ^ raddr[i], 0xc2b2ae35);
  }
  return (h ^ (h >>> 15)) | 0;
}

function matches(
  c: TcpConnection,
  family: Family,
  laddr: ArrayLike<number>,
  lport: number,
  raddr: ArrayLike<number>,
  rport: number,
): boolean {
  if (c.family !== family || c.local.port !== lport || c.remote.port !== rport) return false;
  const la = c.local.address;
  const ra = c.remote.address;
  for (let i = 0; i < words(family); i++)
    if (la[i] !== laddr[i] || ra[i] !== raddr[i]) return false;
  return true;
}

function checkAddress(a: Uint32Array, family: Family, what: string): void {
  if (!(a instanceof Uint32Array) || a.length < words(family)) {
    throw new RangeError(`${what}: an IPv${family} address needs ${words(family)} 32-bit words`);
  }
}

function checkPort(port: number, min: number, what: string): void {
  if (!Number.isInteger(port) || port < min || port > 0xffff) {
    throw new RangeError(`${what} ${port} is not an integer in ${min}..65535`);
  }
}

function checkMss(mss: number): void {
  if (!Number.isInteger(mss) || mss < 64 || mss > 0xffff) {
    throw new RangeError(`MSS ${mss} is not an integer in 64..65535`);
  }
}

function checkKey(key: Uint8Array | undefined): void {
  if (key !== undefined && (key.length < 1 || key.length > TCP_MD5_MAX_KEY_LEN)) {
    throw new RangeError(`MD5 key of ${key.length} octets: 1 to ${TCP_MD5_MAX_KEY_LEN} allowed`);
  }
}

export class TcpStack {
  readonly config: TcpStackConfig;
  readonly counters: TcpCounters = zeroCounters();
  readonly #secret: Uint8Array;
  readonly #emit: (out: TcpOutput) => void;
  readonly #wake: (() => void) | undefined;
  readonly #scratch = new Uint8Array(SCRATCH_LEN);
  readonly #seg = new Segment();
  readonly #out: TcpOutput = {
    family: 4,
    src: EMPTY_WORDS,
    dst: EMPTY_WORDS,
    segment: EMPTY_BYTES,
  };
  readonly #table = new Map<number, TcpConnection[]>();
  readonly #byId = new Map<string, TcpConnection>();
  readonly #listeners = new Map<number, TcpListener[]>();
  readonly #listenersById = new Map<string, TcpListener>();
  readonly #dirty = new Set<TcpConnection>();
  #last: TcpConnection | undefined;
  #depth = 0;
  #wakePending = false;
  #nextId = 1;
  #ephemeral = 0;
  #challengeStart = Number.NEGATIVE_INFINITY;
  #challengeCount = 0;
  readonly #host: ConnectionHost;
  readonly #listenerHost: ListenerHost;

  constructor(options: TcpStackOptions) {
    if (!(options.secret instanceof Uint8Array) || options.secret.length < 16) {
      throw new RangeError("TCP stack secret: at least 16 octets");
    }
    const config: TcpStackConfig = { ...DEFAULT_TCP_CONFIG };
    for (const k of Object.keys(DEFAULT_TCP_CONFIG) as (keyof TcpStackConfig)[]) {
      const v = options[k];
      if (v !== undefined) (config as unknown as Record<string, unknown>)[k] = v;
    }
    checkConfig(config);
    this.config = config;
    this.#secret = options.secret.slice();
    this.#emit = options.emit;
    this.#wake = options.wake;
    const stack = this;
    this.#host = {
      config,
      counters: this.counters,
      scratch: this.#scratch,
      get busy() {
        return stack.#depth > 0;
      },
      transmit: (c, len) => this.#transmit(c.family, c.local.address, c.remote.address, len),
      dirty: (c) => this.#markDirty(c),
      flush: (now) => this.#flush(now),
      established: (c) => {
        const l = c.listenerId === undefined ? undefined : this.#listenersById.get(c.listenerId);
        if (l !== undefined && l.halfOpen > 0) l.halfOpen--;
      },
      removed: (c) => this.#remove(c),
      challengeAllowed: (now) => this.#challengeAllowed(now),
    };
    this.#listenerHost = {
      resetFor: (family, src, dst, key) => this.#resetFor(family, src, dst, key),
      openPassive: (l, family, src, dst, key, now) =>
        this.#openPassive(l, family, src, dst, key, now),
      refused: () => {
        this.counters.refused++;
      },
      overflow: () => {
        this.counters.listenOverflows++;
      },
      unlisten: (l, now) => this.#unlisten(l, now),
    };
  }

  // ---- the applications' side -------------------------------------------------------

  /** Listens on a port (of some local addresses, or any); throws RangeError on a clash or bad options. */
  listen(o: TcpListenOptions): TcpListener {
    if (o.family !== 4 && o.family !== 6) throw new RangeError(`family ${o.family} is not 4 or 6`);
    checkPort(o.port, 1, "port");
    checkMss(o.mss);
    for (const a of o.addresses ?? []) checkAddress(a, o.family, "listen address");
    if (o.backlog !== undefined && (!Number.isInteger(o.backlog) || o.backlog < 1)) {
      throw new RangeError(`backlog ${o.backlog} is not a positive integer`);
    }
    checkBuffers(o.sendBuffer, o.receiveBuffer);
    const l = new TcpListener(this.#listenerHost, `l${this.#nextId++}`, o);
    this.#addListener(l);
    return l;
  }

  /**
   * Opens a connection (RFC 9293 3.10.1): the SYN goes out at once. A
   * local port of 0 picks an ephemeral port. Throws RangeError on bad
   * arguments or when the four-tuple is taken.
   */
  connect(
    local: TcpEndpoint,
    remote: TcpEndpoint,
    o: TcpConnectOptions,
    now: number,
  ): TcpConnection {
    const family = local.family;
    if (family !== 4 && family !== 6) throw new RangeError(`family ${family} is not 4 or 6`);
    if (remote.family !== family) throw new RangeError("local and remote families differ");
    checkAddress(local.address, family, "local address");
    checkAddress(remote.address, family, "remote address");
    checkPort(local.port, 0, "local port");
    checkPort(remote.port, 1, "remote port");
    checkMss(o.mss);
    checkKey(o.md5Key);
    checkBuffers(o.sendBuffer, o.receiveBuffer);
    const n = words(family);
    const laddr = Uint32Array.from(local.address.subarray(0, n));
    const raddr = Uint32Array.from(remote.address.subarray(0, n));
    let port = local.port;
    if (port === 0) {
      port = this.#ephemeralPort(family, laddr, raddr, remote.port);
    } else if (this.#lookup(family, laddr, port, raddr, remote.port) !== undefined) {
      throw new RangeError(
        `a connection from port ${port} to port ${remote.port} of that address exists`,
      );
    }
    const l: TcpEndpoint = { family, address: laddr, port };
    const r: TcpEndpoint = { family, address: raddr, port: remote.port };
    const c = new TcpConnection(this.#host, {
      id: `c${this.#nextId++}`,
      local: l,
      remote: r,
      user: o.user,
      mss: o.mss,
      md5Key: o.md5Key?.slice(),
      sendBuffer: o.sendBuffer ?? this.config.sendBuffer,
      receiveBuffer: o.receiveBuffer ?? this.config.receiveBuffer,
      userTimeout: o.userTimeout ?? this.config.userTimeout,
      listenerId: undefined,
      pseudo: pseudoSum(family, laddr, raddr),
      iss: initialSequence(this.#secret, laddr, port, raddr, remote.port, now),
    });
    this.#add(c);
    this.counters.activeOpens++;
    c.openActive(now);
    return c;
  }

  connection(id: string): TcpConnection | undefined {
    return this.#byId.get(id);
  }

  connections(): IterableIterator<TcpConnection> {
    return this.#byId.values();
  }

  listener(id: string): TcpListener | undefined {
    return this.#listenersById.get(id);
  }

  listeners(): IterableIterator<TcpListener> {
    return this.#listenersById.values();
  }

  // ---- segments and time --------------------------------------------------------------

  /**
   * One received TCP segment, `len` octets at `buf[off]` (the IP header
   * stripped), from `src` to `dst`. Never throws on bad input (an
   * application callback may throw; the stack stays consistent).
   */
  input(
    family: Family,
    src: Uint32Array,
    dst: Uint32Array,
    buf: Uint8Array,
    off: number,
    len: number,
    now: number,
  ): void {
    this.counters.segmentsIn++;
    this.#depth++;
    try {
      this.#input(family, src, dst, buf, off, len, now);
    } finally {
      this.#depth--;
    }
    this.#flush(now);
  }

  #input(
    family: Family,
    src: Uint32Array,
    dst: Uint32Array,
    buf: Uint8Array,
    off: number,
    len: number,
    now: number,
  ): void {
    const seg = this.#seg;
    if (
      (family !== 4 && family !== 6) ||
      src.length < words(family) ||
      dst.length < words(family) ||
      off < 0 ||
      len < 0 ||
      off + len > buf.length
    ) {
      this.counters.malformed++;
      return;
    }
    if (!unicast(family, src) || !unicast(family, dst)) {
      // RFC 9293 3.9.2 / RFC 1122 4.2.3.10: TCP is unicast; never answer such a segment.
      this.counters.malformed++;
      return;
    }
    const e = checkTcp(buf, off, len, pseudoSum(family, src, dst), seg.options);
    if (e !== 0) {
      if (e === TcpError.BadChecksum) this.counters.badChecksum++;
      else this.counters.malformed++;
      return;
    }
    const sport = tcpSrcPort(buf, off);
    const dport = tcpDstPort(buf, off);
    if (sport === 0 || dport === 0) {
      this.counters.malformed++;
      return;
    }
    seg.load(buf, off, len);
    let c = this.#lookup(family, dst, dport, src, sport);
    if (
      c !== undefined &&
      c.state === TcpState.TimeWait &&
      (seg.flags & (TcpFlag.Syn | TcpFlag.Ack | TcpFlag.Rst)) === TcpFlag.Syn &&
      seqGt(seg.seq, c.rcvNxt) &&
      this.#findListener(family, dst, dport) !== undefined &&
      this.#signatureOk(c.md5Key, family, src, dst)
    ) {
      c.terminate(TcpCloseReason.Normal);
      c = undefined;
    }
    if (c !== undefined) {
      if (!this.#signatureOk(c.md5Key, family, src, dst)) {
        this.counters.badMd5++;
        return;
      }
      c.segmentArrives(seg, now);
      return;
    }
    const l = this.#findListener(family, dst, dport);
    const key = l?.md5KeyFor?.(src);
    if (!this.#signatureOk(key, family, src, dst)) {
      this.counters.badMd5++;
      return;
    }
    if (l !== undefined) {
      l.segmentArrives(seg, src, dst, key, now);
      return;
    }
    this.counters.noConnection++;
    if (!seg.has(TcpFlag.Rst)) this.#resetFor(family, src, dst, undefined);
  }

  /** Runs the timers due at `now`, sends what is waiting; answers the next deadline (Infinity for none). */
  poll(now: number): number {
    this.#depth++;
    try {
      for (const c of this.#byId.values()) {
        if (c.deadline() <= now) c.timers(now);
      }
    } finally {
      this.#depth--;
    }
    this.#flush(now);
    return this.nextDeadline();
  }

  /** The earliest timer of any connection (Infinity for none). */
  nextDeadline(): number {
    let d = Number.POSITIVE_INFINITY;
    for (const c of this.#byId.values()) {
      const t = c.deadline();
      if (t < d) d = t;
    }
    return d;
  }

  // ---- export and import ----------------------------------------------------------------

  /**
   * Everything as plain data. With `now`, the state records it, so an
   * importer that gives its own `now` keeps every deadline as far away as
   * it was.
   */
  export(now?: number): TcpStackState {
    const listeners = [...this.#listenersById.values()].map((l) => ({
      id: l.id,
      family: l.family,
      port: l.port,
      addresses: l.addresses === undefined ? null : l.addresses.map((a) => Array.from(a)),
      mss: l.mss,
      backlog: l.backlog,
      sendBuffer: l.sendBuffer ?? null,
      receiveBuffer: l.receiveBuffer ?? null,
      userTimeout: l.userTimeout ?? null,
    }));
    return {
      version: TCP_SNAPSHOT_VERSION,
      exportedAt: now ?? null,
      nextId: this.#nextId,
      ephemeralCounter: this.#ephemeral,
      challenge: {
        windowStart: Number.isFinite(this.#challengeStart) ? this.#challengeStart : -1e15,
        count: this.#challengeCount,
      },
      counters: { ...this.counters },
      listeners,
      connections: [...this.#byId.values()].map((c) => c.export()),
    };
  }

  /**
   * A stack from exported state (checked first: TcpImportError lists what
   * is wrong). `bindings` gives each connection's and listener's
   * application. With `now` and a state exported with its `now`, deadlines
   * move by the difference of the two clocks.
   */
  static import(
    state: unknown,
    options: TcpStackOptions,
    bindings: TcpImportBindings,
    now?: number,
  ): TcpStack {
    const parsed = TcpStackStateSchema.safeParse(state);
    if (!parsed.success) {
      throw new TcpImportError(
        parsed.error.issues.map((i) => `${i.path.join(".") || "(root)"}: ${i.message}`),
      );
    }
    const s = parsed.data;
    const problems = checkRelations(s);
    if (problems.length > 0) throw new TcpImportError(problems);
    const stack = new TcpStack(options);
    const shift = now !== undefined && s.exportedAt !== null ? now - s.exportedAt : 0;
    stack.#nextId = s.nextId;
    stack.#ephemeral = s.ephemeralCounter;
    stack.#challengeStart = s.challenge.windowStart + shift;
    stack.#challengeCount = s.challenge.count;
    Object.assign(stack.counters, s.counters);
    for (const ls of s.listeners) {
      const app = bindings.listener?.(ls.id);
      if (app === undefined) throw new TcpImportError([`listener ${ls.id}: no application given`]);
      const l = new TcpListener(stack.#listenerHost, ls.id, {
        family: ls.family,
        port: ls.port,
        addresses: ls.addresses?.map((a) => Uint32Array.from(a)),
        mss: ls.mss,
        backlog: ls.backlog,
        sendBuffer: ls.sendBuffer ?? undefined,
        receiveBuffer: ls.receiveBuffer ?? undefined,
        userTimeout: ls.userTimeout ?? undefined,
        user: app.user,
        md5KeyFor: app.md5KeyFor,
        filter: app.filter,
      });
      stack.#addListener(l);
    }
    for (const cs of s.connections) {
      // A listener's connection the application has not seen yet goes to the listener's user.
      const parent = cs.listenerId === null ? undefined : stack.#listenersById.get(cs.listenerId);
      const user = parent !== undefined && !cs.announced ? parent.user : bindings.user(cs.id);
      const c = TcpConnection.import(
        stack.#host,
        cs,
        user,
        pseudoSum(cs.family, cs.local.address, cs.remote.address),
        shift,
      );
      stack.#add(c);
      if (c.state === TcpState.SynReceived && c.listenerId !== undefined && !c.announced) {
        const l = stack.#listenersById.get(c.listenerId);
        if (l !== undefined) l.halfOpen++;
      }
    }
    return stack;
  }

  // ---- internals ------------------------------------------------------------------------

  #lookup(
    family: Family,
    laddr: ArrayLike<number>,
    lport: number,
    raddr: ArrayLike<number>,
    rport: number,
  ): TcpConnection | undefined {
    const last = this.#last;
    if (last !== undefined && matches(last, family, laddr, lport, raddr, rport)) return last;
    const bucket = this.#table.get(tupleHash(family, laddr, lport, raddr, rport));
    if (bucket === undefined) return undefined;
    for (const c of bucket) {
      if (matches(c, family, laddr, lport, raddr, rport)) {
        this.#last = c;
        return c;
      }
    }
    return undefined;
  }

  #add(c: TcpConnection): void {
    if (this.#byId.has(c.id)) throw new RangeError(`connection ${c.id} exists`);
    const h = tupleHash(c.family, c.local.address, c.local.port, c.remote.address, c.remote.port);
    const bucket = this.#table.get(h);
    if (bucket === undefined) this.#table.set(h, [c]);
    else bucket.push(c);
    this.#byId.set(c.id, c);
  }

  #remove(c: TcpConnection): void {
    const h = tupleHash(c.family, c.local.address, c.local.port, c.remote.address, c.remote.port);
    const bucket = this.#table.get(h);
    if (bucket !== undefined) {
      const i = bucket.indexOf(c);
      if (i >= 0) bucket.splice(i, 1);
      if (bucket.length === 0) this.#table.delete(h);
    }
    this.#byId.delete(c.id);
    this.#dirty.delete(c);
    if (this.#last === c) this.#last = undefined;
    if (c.listenerId !== undefined && !c.announced) {
      const l = this.#listenersById.get(c.listenerId);
      if (l !== undefined && l.halfOpen > 0) l.halfOpen--;
    }
  }

  #addListener(l: TcpListener): void {
    const same = this.#listeners.get(l.port) ?? [];
    for (const o of same) {
      if (o.family !== l.family) continue;
      const clash =
        o.addresses === undefined ||
        l.addresses === undefined ||
        l.addresses.some((a) => o.accepts(a));
      if (clash)
        throw new RangeError(`port ${l.port} already has a listener (${o.id}) on those addresses`);
    }
    if (this.#listenersById.has(l.id)) throw new RangeError(`listener ${l.id} exists`);
    same.push(l);
    this.#listeners.set(l.port, same);
    this.#listenersById.set(l.id, l);
  }

  #unlisten(l: TcpListener, now: number): void {
    const same = this.#listeners.get(l.port);
    if (same !== undefined) {
      const i = same.indexOf(l);
      if (i >= 0) same.splice(i, 1);
      if (same.length === 0) this.#listeners.delete(l.port);
    }
    this.#listenersById.delete(l.id);
    for (const c of [...this.#byId.values()]) {
      if (c.listenerId === l.id && !c.announced) c.abort(now);
    }
  }

  /** The listener for a segment to `dst:port`: one bound to that address first, then a wildcard. */
  #findListener(family: Family, dst: Uint32Array, port: number): TcpListener | undefined {
    const same = this.#listeners.get(port);
    if (same === undefined) return undefined;
    let any: TcpListener | undefined;
    for (const l of same) {
      if (l.family !== family) continue;
      if (l.addresses === undefined) any = l;
      else if (l.accepts(dst)) return l;
    }
    return any;
  }

  /** RFC 2385: with a key, a valid signature is required; without one, none is allowed. */
  #signatureOk(
    key: Uint8Array | undefined,
    family: Family,
    src: Uint32Array,
    dst: Uint32Array,
  ): boolean {
    const seg = this.#seg;
    const at = seg.options.md5At;
    if (key === undefined) return at < 0;
    return at >= 0 && tcpMd5Verify(family, src, dst, seg.buf, seg.off, seg.len, at, key);
  }

  #openPassive(
    l: TcpListener,
    family: Family,
    src: Uint32Array,
    dst: Uint32Array,
    key: Uint8Array | undefined,
    now: number,
  ): void {
    const seg = this.#seg;
    const n = words(family);
    const laddr = Uint32Array.from(dst.subarray(0, n));
    const raddr = Uint32Array.from(src.subarray(0, n));
    const rport = tcpSrcPort(seg.buf, seg.off);
    const c = new TcpConnection(this.#host, {
      id: `c${this.#nextId++}`,
      local: { family, address: laddr, port: l.port },
      remote: { family, address: raddr, port: rport },
      user: l.user,
      mss: l.mss,
      md5Key: key?.slice(),
      sendBuffer: l.sendBuffer ?? this.config.sendBuffer,
      receiveBuffer: l.receiveBuffer ?? this.config.receiveBuffer,
      userTimeout: l.userTimeout ?? this.config.userTimeout,
      listenerId: l.id,
      pseudo: pseudoSum(family, laddr, raddr),
      iss: initialSequence(this.#secret, laddr, l.port, raddr, rport, now),
    });
    this.#add(c);
    l.halfOpen++;
    this.counters.passiveOpens++;
    c.openPassive(seg, now);
  }

  /** RFC 9293 3.10.7.1's reset for the segment in #seg (never for a reset). */
  #resetFor(family: Family, src: Uint32Array, dst: Uint32Array, key: Uint8Array | undefined): void {
    const seg = this.#seg;
    if (seg.has(TcpFlag.Rst)) return;
    const buf = this.#scratch;
    const hl = TCP_HEADER_LEN + (key !== undefined ? 20 : 0);
    const sport = tcpDstPort(seg.buf, seg.off);
    const dport = tcpSrcPort(seg.buf, seg.off);
    if (seg.has(TcpFlag.Ack)) {
      writeTcpHeader(buf, 0, sport, dport, seg.ack, 0, TcpFlag.Rst, 0, hl);
    } else {
      const ack = seqAdd(seg.seq, seg.seqLen);
      writeTcpHeader(buf, 0, sport, dport, 0, ack, TcpFlag.Rst | TcpFlag.Ack, 0, hl);
    }
    if (key !== undefined) {
      writeMd5Option(buf, TCP_HEADER_LEN);
      tcpMd5Sign(family, dst, src, buf, 0, hl, TCP_HEADER_LEN + 4, key);
    }
    fillTcpChecksum(buf, 0, hl, pseudoSum(family, dst, src));
    this.counters.resetsSent++;
    this.#transmit(family, dst, src, hl);
  }

  #transmit(family: Family, src: Uint32Array, dst: Uint32Array, len: number): void {
    const out = this.#out;
    out.family = family;
    out.src = src;
    out.dst = dst;
    out.segment = this.#scratch.subarray(0, len);
    this.counters.segmentsOut++;
    this.#emit(out);
  }

  #markDirty(c: TcpConnection): void {
    this.#dirty.add(c);
    if (this.#depth === 0 && !this.#wakePending && this.#wake !== undefined) {
      this.#wakePending = true;
      this.#wake();
    }
  }

  #flush(now: number): void {
    if (this.#depth > 0) return;
    this.#wakePending = false;
    if (this.#dirty.size === 0) return;
    this.#depth++;
    try {
      for (const c of this.#dirty) {
        this.#dirty.delete(c);
        if (c.state !== TcpState.Closed) c.output(now);
      }
    } finally {
      this.#depth--;
    }
  }

  #challengeAllowed(now: number): boolean {
    if (now - this.#challengeStart >= 1000) {
      this.#challengeStart = now;
      this.#challengeCount = 0;
    }
    if (this.#challengeCount >= this.config.challengeAckLimit) return false;
    this.#challengeCount++;
    return true;
  }

  #ephemeralPort(family: Family, laddr: Uint32Array, raddr: Uint32Array, rport: number): number {
    const range = EPHEMERAL_HIGH - EPHEMERAL_LOW + 1;
    const offset = ephemeralOffset(this.#secret, laddr, raddr, rport);
    for (let i = 0; i < range; i++) {
      const port = EPHEMERAL_LOW + ((offset + this.#ephemeral + i) % range);
      if (this.#lookup(family, laddr, port, raddr, rport) === undefined) {
        this.#ephemeral = (this.#ephemeral + i + 1) % range;
        return port;
      }
    }
    throw new RangeError("no ephemeral port left for that destination");
  }
}

function checkConfig(c: TcpStackConfig): void {
  const positive: (keyof TcpStackConfig)[] = [
    "minRto",
    "maxRto",
    "initialRto",
    "msl",
    "finWait2Timeout",
    "sendBuffer",
    "receiveBuffer",
    "maxOutOfOrder",
  ];
  for (const k of positive) {
    const v = c[k] as number;
    if (typeof v !== "number" || !Number.isFinite(v) || v <= 0) {
      throw new RangeError(`TCP option ${k} (${v}) must be a positive number`);
    }
  }
  for (const k of [
    "delayedAck",
    "synRetries",
    "maxRetransmits",
    "userTimeout",
    "challengeAckLimit",
  ] as const) {
    const v = c[k];
    if (typeof v !== "number" || !Number.isFinite(v) || v < 0) {
      throw new RangeError(`TCP option ${k} (${v}) must be a number of at least 0`);
    }
  }
  if (c.minRto > c.maxRto) throw new RangeError(`minRto ${c.minRto} is above maxRto ${c.maxRto}`);
}

function checkBuffers(send: number | undefined, receive: number | undefined): void {
  for (const [what, v] of [
    ["send buffer", send],
    ["receive buffer", receive],
  ] as const) {
    if (v !== undefined && (!Number.isInteger(v) || v < 1 || v > 1 << 30)) {
      throw new RangeError(`${what} ${v} is not an integer in 1..2^30`);
    }
  }
}

/** What the schema cannot say: addresses per family, unique names, sequence numbers that fit the buffers. */
function checkRelations(s: TcpStackState): string[] {
  const problems: string[] = [];
  const ids = new Set<string>();
  const tuples = new Set<string>();
  for (const l of s.listeners) {
    if (ids.has(l.id)) problems.push(`listener ${l.id}: id used twice`);
    ids.add(l.id);
    for (const a of l.addresses ?? []) {
      if (a.length !== words(l.family))
        problems.push(`listener ${l.id}: address of ${a.length} words`);
    }
  }
  for (const c of s.connections) {
    const at = `connection ${c.id}`;
    if (ids.has(c.id)) problems.push(`${at}: id used twice`);
    ids.add(c.id);
    const n = words(c.family);
    if (c.local.address.length !== n || c.remote.address.length !== n) {
      problems.push(`${at}: IPv${c.family} addresses take ${n} words`);
    }
    const tuple = `${c.family}|${c.local.address}|${c.local.port}|${c.remote.address}|${c.remote.port}`;
    if (tuples.has(tuple)) problems.push(`${at}: four-tuple used twice`);
    tuples.add(tuple);
    const state = tcpStateFromName(c.state);
    if (state === TcpState.Closed || state === TcpState.Listen)
      problems.push(`${at}: state ${c.state}`);
    problems.push(...connectionRelations(c).map((p) => `${at}: ${p}`));
  }
  return problems;
}

function connectionRelations(c: TcpConnectionState): string[] {
  const p: string[] = [];
  if (seqDiff(c.sndNxt, c.sndUna) < 0) p.push("sndNxt before sndUna");
  if (seqDiff(c.sndMax, c.sndNxt) < 0) p.push("sndMax before sndNxt");
  const bufStart = seqDiff(c.sndBufSeq, c.sndUna);
  if (bufStart < -1 || bufStart > 1) p.push("send buffer does not start at sndUna");
  const len = c.sendBuffer.length;
  if (len > c.sendBufferLimit) p.push("send buffer above its limit");
  if (seqDiff(c.sndMax, c.sndBufSeq) > len + (c.finQueued ? 1 : 0))
    p.push("sndMax past the data queued");
  if (c.finQueued && seqDiff(c.finSeq, c.sndBufSeq) !== len && seqDiff(c.sndUna, c.finSeq) <= 0) {
    p.push("finSeq is not at the end of the send buffer");
  }
  if (seqDiff(c.rcvAdv, c.rcvNxt) < 0 && c.state !== "SYN-SENT") p.push("rcvAdv before rcvNxt");
  if (c.md5Key !== null && (c.md5Key.length < 1 || c.md5Key.length > TCP_MD5_MAX_KEY_LEN)) {
    p.push("MD5 key length");
  }
  let prevEnd = 0;
  for (const piece of c.outOfOrder.pieces) {
    const start = seqDiff(piece.seq, c.rcvNxt);
    if (start <= 0 || start < prevEnd)
      p.push("out-of-order pieces not after rcvNxt, sorted and apart");
    prevEnd = start + piece.data.length;
  }
  return p;
}
