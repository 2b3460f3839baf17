/**
 * Test bench for the router's TCP: two stacks (A and B) joined by an
 * in-memory wire with a fake clock. The wire copies every segment (the
 * stack's output is only valid during `emit`), delivers it after a delay,
 * and can lose, duplicate and reorder segments, from a seeded generator so
 * that a failing case runs again the same way. Hooks see and may drop
 * single segments. Applications are recorders of everything the stack
 * tells them.
 */

import type { TcpConnection } from "../../../router/tcp/connection.ts";
import { TcpStack } from "../../../router/tcp/stack.ts";
import type { TcpCloseReason } from "../../../router/tcp/state.ts";
import type {
  Family,
  TcpEndpoint,
  TcpOutput,
  TcpStackOptions,
  TcpUser,
} from "../../../router/tcp/types.ts";
import { parseTcp, type TcpRepr } from "../../../router/wire/tcp.ts";

export const A4 = Uint32Array.of(0xc6120001); // 198.18.0.1
export const B4 = Uint32Array.of(0xc6120002); // 198.18.0.2
export const A6 = Uint32Array.of(0x20010db8, 0, 0, 1); // 2001:db8::1
export const B6 = Uint32Array.of(0x20010db8, 0, 0, 2); // 2001:db8::2

export function addr(side: "a" | "b", family: Family): Uint32Array {
  return family === 4 ? (side === "a" ? A4 : B4) : side === "a" ? A6 : B6;
}

export function endpoint(side: "a" | "b", family: Family, port: number): TcpEndpoint {
  return { family, address: addr(side, family), port };
}

/** A small deterministic generator (mulberry32). */
export function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export interface Packet {
  at: number;
  /** Order of emission, to keep delivery stable. */
  n: number;
  from: "a" | "b";
  family: Family;
  src: Uint32Array;
  dst: Uint32Array;
  bytes: Uint8Array;
}

export interface WireOptions {
  /** One-way delay, ms. */
  delay?: number;
  /** Probability a segment is lost. */
  loss?: number;
  /** Probability a segment is sent twice. */
  duplicate?: number;
  /** Probability a segment is held back by up to `jitter` ms more. */
  reorder?: number;
  jitter?: number;
  seed?: number;
}

/** Everything a connection told its application. */
export class Recorder implements TcpUser {
  readonly chunks: Uint8Array[] = [];
  readonly events: string[] = [];
  received = 0;
  closedReason: TcpCloseReason | undefined;
  conn: TcpConnection | undefined;
  accepted_: TcpConnection[] = [];
  onData?: (c: TcpConnection, bytes: Uint8Array) => void;
  onWritable?: (c: TcpConnection) => void;
  onPeerClosed?: (c: TcpConnection) => void;
  onAccepted?: (c: TcpConnection) => void;

  accepted(c: TcpConnection): void {
    this.events.push("accepted");
    this.conn = c;
    this.accepted_.push(c);
    this.onAccepted?.(c);
  }

  connected(c: TcpConnection): void {
    this.events.push("connected");
    this.conn = c;
  }

  data(c: TcpConnection, bytes: Uint8Array): void {
    this.chunks.push(bytes.slice());
    this.received += bytes.length;
    this.onData?.(c, bytes);
  }

  peerClosed(c: TcpConnection): void {
    this.events.push("peerClosed");
    this.onPeerClosed?.(c);
  }

  writable(c: TcpConnection): void {
    this.events.push("writable");
    this.onWritable?.(c);
  }

  closed(_c: TcpConnection, reason: TcpCloseReason): void {
    this.events.push(`closed:${reason}`);
    this.closedReason = reason;
  }

  bytes(): Uint8Array {
    return concat(this.chunks);
  }
}

export function concat(chunks: Uint8Array[]): Uint8Array {
  let n = 0;
  for (const c of chunks) n += c.length;
  const out = new Uint8Array(n);
  let at = 0;
  for (const c of chunks) {
    out.set(c, at);
    at += c.length;
  }
  return out;
}

/** `n` octets of a pattern that differs at every offset (position-sensitive). */
export function pattern(n: number, seed = 1): Uint8Array {
  const out = new Uint8Array(n);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    out[i] = x & 0xff;
  }
  return out;
}

export const SECRET_A = new Uint8Array(32).fill(0xa1);
export const SECRET_B = new Uint8Array(32).fill(0xb2);

/** Fast test timings: min RTO 200 ms, MSL 1 s. */
export const FAST: Partial<TcpStackOptions> = { minRto: 200, initialRto: 1000, msl: 1000 };

export class Net {
  now = 0;
  a: TcpStack;
  b: TcpStack;
  readonly queue: Packet[] = [];
  /** Every segment put on the wire (before loss), parsed. */
  readonly log: { at: number; from: "a" | "b"; seg: TcpRepr; dropped: boolean }[] = [];
  /** Return true to drop a segment (after the random loss). */
  drop: ((p: Packet, seg: TcpRepr) => boolean) | undefined;
  wire: WireOptions;
  keepLog = true;
  private n = 0;
  private random: () => number;
  readonly options: { a: Partial<TcpStackOptions>; b: Partial<TcpStackOptions> };

  constructor(
    wire: WireOptions = {},
    options: { a?: Partial<TcpStackOptions>; b?: Partial<TcpStackOptions> } = {},
  ) {
    this.wire = wire;
    this.random = rng(wire.seed ?? 1);
    this.options = { a: { ...FAST, ...options.a }, b: { ...FAST, ...options.b } };
    this.a = new TcpStack(this.stackOptions("a"));
    this.b = new TcpStack(this.stackOptions("b"));
  }

  stackOptions(side: "a" | "b"): TcpStackOptions {
    return {
      secret: side === "a" ? SECRET_A : SECRET_B,
      ...this.options[side],
      emit: (out) => this.emit(side, out),
    };
  }

  stack(side: "a" | "b"): TcpStack {
    return side === "a" ? this.a : this.b;
  }

  private emit(from: "a" | "b", out: TcpOutput): void {
    const bytes = out.segment.slice();
    const p: Packet = {
      at: this.now + (this.wire.delay ?? 1),
      n: this.n++,
      from,
      family: out.family,
      src: out.src.slice(),
      dst: out.dst.slice(),
      bytes,
    };
    let dropped = this.random() < (this.wire.loss ?? 0);
    let seg: TcpRepr | undefined;
    if (this.keepLog || this.drop !== undefined) {
      const r = parseTcp(bytes, 0, bytes.length);
      if (!r.ok) throw new Error(`stack ${from} sent a malformed segment (${r.error})`);
      seg = r.repr;
      if (!dropped && this.drop?.(p, seg)) dropped = true;
      if (this.keepLog) this.log.push({ at: this.now, from, seg, dropped });
    }
    if (dropped) return;
    if (this.random() < (this.wire.reorder ?? 0))
      p.at += 1 + this.random() * (this.wire.jitter ?? 5);
    this.push(p);
    if (this.random() < (this.wire.duplicate ?? 0)) {
      this.push({ ...p, n: this.n++, at: p.at + this.random() * 3, bytes: bytes.slice() });
    }
  }

  private push(p: Packet): void {
    let i = this.queue.length;
    while (
      i > 0 &&
      (this.queue[i - 1].at > p.at || (this.queue[i - 1].at === p.at && this.queue[i - 1].n > p.n))
    )
      i--;
    this.queue.splice(i, 0, p);
  }

  /** Delivers one packet to its stack now. */
  deliver(p: Packet): void {
    const to = p.from === "a" ? this.b : this.a;
    to.input(p.family, p.src, p.dst, p.bytes, 0, p.bytes.length, this.now);
  }

  /** Flushes output both stacks have waiting at the current time. */
  settle(): void {
    this.a.poll(this.now);
    this.b.poll(this.now);
  }

  /** Runs events (deliveries and timers) up to time `until`. */
  runUntil(until: number): void {
    this.settle();
    for (;;) {
      const next = Math.min(
        this.queue.length > 0 ? this.queue[0].at : Number.POSITIVE_INFINITY,
        this.a.nextDeadline(),
        this.b.nextDeadline(),
      );
      if (next > until) break;
      if (next > this.now) this.now = next;
      while (this.queue.length > 0 && this.queue[0].at <= this.now) {
        const p = this.queue.shift()!;
        this.deliver(p);
      }
      this.a.poll(this.now);
      this.b.poll(this.now);
    }
    if (until > this.now && Number.isFinite(until)) this.now = until;
  }

  /** Runs until `cond` holds (checked after every event), at most `limit` ms more; answers whether it held. */
  runWhile(cond: () => boolean, limit = 600_000): boolean {
    const end = this.now + limit;
    this.settle();
    let steps = 0;
    while (!cond()) {
      const next = Math.min(
        this.queue.length > 0 ? this.queue[0].at : Number.POSITIVE_INFINITY,
        this.a.nextDeadline(),
        this.b.nextDeadline(),
      );
      if (next > end || !Number.isFinite(next)) return cond();
      if (next > this.now) this.now = next;
      while (this.queue.length > 0 && this.queue[0].at <= this.now)
        this.deliver(this.queue.shift()!);
      this.a.poll(this.now);
      this.b.poll(this.now);
      if (++steps > 5_000_000) throw new Error("simulation did not settle");
    }
    return true;
  }

  /**
   * Replaces one side's stack by one imported from its export (a live
   * migration): the same applications, the same wire, the segments in
   * flight delivered to the new stack. `clockShift` runs the importer on a
   * clock that many ms ahead (the harness keeps one clock, so the new stack
   * is driven through an offset view of it).
   */
  migrate(side: "a" | "b"): TcpStack {
    const old = this.stack(side);
    const state = old.export(this.now);
    const fresh = TcpStack.import(
      state,
      this.stackOptions(side),
      {
        user: (id) => old.connection(id)!.user,
        listener: (id) => {
          const l = old.listener(id)!;
          return { user: l.user, md5KeyFor: l.md5KeyFor, filter: l.filter };
        },
      },
      this.now,
    );
    if (side === "a") this.a = fresh;
    else this.b = fresh;
    return fresh;
  }

  /** Segments sent by one side, optionally only those matching. */
  sent(from: "a" | "b", match: (s: TcpRepr) => boolean = () => true): TcpRepr[] {
    return this.log.filter((e) => e.from === from && match(e.seg)).map((e) => e.seg);
  }
}

/** Opens A -> B (B listening on `port`); answers both ends and their recorders. */
export function open(
  net: Net,
  family: Family = 4,
  o: {
    port?: number;
    mssA?: number;
    mssB?: number;
    keyA?: Uint8Array;
    keyB?: Uint8Array;
    receiveBufferA?: number;
    receiveBufferB?: number;
    sendBufferA?: number;
    sendBufferB?: number;
  } = {},
): { ca: TcpConnection; cb: TcpConnection; ra: Recorder; rb: Recorder } {
  const port = o.port ?? 179;
  const ra = new Recorder();
  const rb = new Recorder();
  net.b.listen({
    family,
    port,
    mss: o.mssB ?? 1460,
    user: rb,
    md5KeyFor: o.keyB ? () => o.keyB : undefined,
    receiveBuffer: o.receiveBufferB,
    sendBuffer: o.sendBufferB,
  });
  const ca = net.a.connect(
    endpoint("a", family, 0),
    endpoint("b", family, port),
    {
      mss: o.mssA ?? 1460,
      user: ra,
      md5Key: o.keyA,
      receiveBuffer: o.receiveBufferA,
      sendBuffer: o.sendBufferA,
    },
    net.now,
  );
  const ok = net.runWhile(() => ra.conn !== undefined && rb.conn !== undefined, 120_000);
  if (!ok) throw new Error(`handshake did not complete: A ${ca.stats().state}`);
  return { ca, cb: rb.conn!, ra, rb };
}

/**
 * Streams `data` from `c` (its stack on `net`), refilling as send space frees,
 * until everything was taken; the caller runs the net.
 */
export function streamer(
  c: TcpConnection,
  data: Uint8Array,
  rec: Recorder,
): { offered: () => number } {
  let at = 0;
  const pump = (conn: TcpConnection) => {
    while (at < data.length) {
      const n = conn.send(data.subarray(at, Math.min(data.length, at + 65536)));
      at += n;
      if (n === 0) break;
    }
  };
  rec.onWritable = pump;
  pump(c);
  return { offered: () => at };
}

export function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}
