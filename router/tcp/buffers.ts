/**
 * A connection's buffers.
 *
 * - `SendBuffer`: the octets the application queued and the peer has not
 *   acknowledged yet, in a ring that grows by doubling from a small start up
 *   to its limit (so an idle BGP session does not hold megabytes) and
 *   shrinks back when it empties. Offset 0 is the oldest unacknowledged
 *   octet (SND.UNA's data); segments are copied out of it once, into the
 *   outgoing segment.
 * - `ReassemblyQueue`: octets that arrived ahead of RCV.NXT (RFC 9293
 *   3.10.7.4, seventh step: "segments with higher beginning sequence
 *   numbers SHOULD be held"), as non-overlapping copied pieces sorted by
 *   sequence number, bounded by a number of pieces; the window bounds the
 *   octets. A FIN that arrived out of order is remembered by its sequence
 *   number.
 * - `ChunkQueue`: in-order octets held while the application paused
 *   receiving, delivered in order when it resumes.
 */
import { seqAdd, seqDiff } from "./seq.ts";

const SEND_START = 16 * 1024;

export class SendBuffer {
  private ring: Uint8Array;
  private head = 0;
  /** Octets held. */
  length = 0;

  constructor(readonly limit: number) {
    this.ring = new Uint8Array(Math.min(SEND_START, limit));
  }

  /** Octets that can still be queued. */
  space(): number {
    return this.limit - this.length;
  }

  /** Queues as much of `src` as fits; answers the octets taken. */
  write(src: Uint8Array): number {
    const n = Math.min(src.length, this.limit - this.length);
    if (n === 0) return 0;
    this.reserve(this.length + n);
    const cap = this.ring.length;
    const tail = (this.head + this.length) % cap;
    const first = Math.min(n, cap - tail);
    this.ring.set(src.subarray(0, first), tail);
    if (first < n) this.ring.set(src.subarray(first, n), 0);
    this.length += n;
    return n;
  }

  /** Copies `n` octets from `offset` (0 = oldest) to `dst[dstOff]`. */
  copyOut(offset: number, n: number, dst: Uint8Array, dstOff: number): void {
    const cap = this.ring.length;
    const from = (this.head + offset) % cap;
    const first = Math.min(n, cap - from);
    dst.set(this.ring.subarray(from, from + first), dstOff);
    if (first < n) dst.set(this.ring.subarray(0, n - first), dstOff + first);
  }

  /** Drops the `n` oldest octets (acknowledged). */
  consume(n: number): void {
    if (n <= 0) return;
    n = Math.min(n, this.length);
    this.length -= n;
    this.head = this.length === 0 ? 0 : (this.head + n) % this.ring.length;
    if (this.length === 0 && this.ring.length > SEND_START * 4) {
      this.ring = new Uint8Array(Math.min(SEND_START, this.limit));
    }
  }

  /** A copy of everything held, oldest first. */
  toBytes(): Uint8Array {
    const out = new Uint8Array(this.length);
    if (this.length > 0) this.copyOut(0, this.length, out, 0);
    return out;
  }

  static from(bytes: Uint8Array, limit: number): SendBuffer {
    const b = new SendBuffer(Math.max(limit, bytes.length));
    b.write(bytes);
    return b;
  }

  private reserve(need: number): void {
    if (need <= this.ring.length) return;
    let cap = this.ring.length;
    while (cap < need) cap *= 2;
    cap = Math.min(cap, Math.max(this.limit, need));
    const next = new Uint8Array(cap);
    if (this.length > 0) this.copyOut(0, this.length, next, 0);
    this.ring = next;
    this.head = 0;
  }
}

/** One piece of out-of-order data. */
export interface OooPiece {
  seq: number;
  data: Uint8Array;
}

export class ReassemblyQueue {
  readonly pieces: OooPiece[] = [];
  /** Octets held. */
  bytes = 0;
  /** Sequence number of a FIN received out of order, or -1. */
  finSeq = -1;

  constructor(readonly maxPieces: number) {}

  get empty(): boolean {
    return this.pieces.length === 0;
  }

  /**
   * Holds what is new in `len` octets at `buf[off]` with sequence number
   * `seq` (ahead of `rcvNxt`); answers the octets added, or -1 when some
   * had to be dropped because the queue is full.
   */
  insert(rcvNxt: number, seq: number, buf: Uint8Array, off: number, len: number): number {
    let s = seqDiff(seq, rcvNxt);
    const e = s + len;
    let added = 0;
    let dropped = false;
    let k = 0;
    const pieces = this.pieces;
    while (s < e) {
      // Skip pieces wholly before s.
      while (k < pieces.length && seqDiff(pieces[k].seq, rcvNxt) + pieces[k].data.length <= s) k++;
      const nextStart = k < pieces.length ? seqDiff(pieces[k].seq, rcvNxt) : e;
      if (nextStart > s) {
        const end = Math.min(nextStart, e);
        if (pieces.length >= this.maxPieces) {
          dropped = true;
          break;
        }
        const at = off + (s - seqDiff(seq, rcvNxt));
        pieces.splice(k, 0, { seq: seqAdd(rcvNxt, s), data: buf.slice(at, at + (end - s)) });
        added += end - s;
        k++;
        s = end;
      } else {
        // Overlaps piece k: skip what it covers.
        s = nextStart + pieces[k].data.length;
        k++;
      }
    }
    this.bytes += added;
    return dropped ? -1 : added;
  }

  /**
   * The first piece when it starts at or before `rcvNxt` (removed from the
   * queue), else undefined. Its head may be before `rcvNxt`.
   */
  takeReady(rcvNxt: number): OooPiece | undefined {
    const first = this.pieces[0];
    if (first === undefined || seqDiff(first.seq, rcvNxt) > 0) return undefined;
    this.pieces.shift();
    this.bytes -= first.data.length;
    return first;
  }

  /** Drops pieces wholly before `rcvNxt`. */
  dropBefore(rcvNxt: number): void {
    while (this.pieces.length > 0) {
      const p = this.pieces[0];
      if (seqDiff(p.seq, rcvNxt) + p.data.length > 0) break;
      this.pieces.shift();
      this.bytes -= p.data.length;
    }
  }

  clear(): void {
    this.pieces.length = 0;
    this.bytes = 0;
    this.finSeq = -1;
  }
}

export class ChunkQueue {
  readonly chunks: Uint8Array[] = [];
  bytes = 0;

  /** Holds a copy of `data`. */
  push(data: Uint8Array): void {
    if (data.length === 0) return;
    this.chunks.push(data.slice());
    this.bytes += data.length;
  }

  shift(): Uint8Array | undefined {
    const c = this.chunks.shift();
    if (c !== undefined) this.bytes -= c.length;
    return c;
  }

  /** Puts a chunk back in front. */
  unshift(data: Uint8Array): void {
    this.chunks.unshift(data);
    this.bytes += data.length;
  }

  clear(): void {
    this.chunks.length = 0;
    this.bytes = 0;
  }
}
