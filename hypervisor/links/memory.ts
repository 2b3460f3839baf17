/**
 * In-memory links, in pairs, for tests (no RFC: a wire that never fails
 * unless told to). What one end sends, the other end receives: `send` copies
 * each non-empty packet into the peer's queue, and the peer delivers its
 * queue to its handler in batches of its own (from the arena it was given),
 * on a microtask after the send (the default) or when the test calls
 * `deliver()` (with `autoDeliver: false`), which lets a test hold packets "in
 * flight" while it changes a table.
 *
 * Options make the wire imperfect on purpose: `capacity` bounds the packets
 * queued at the receiving end (the rest are refused, "tx-full" at the
 * sender), `loss` drops packets on the wire (counted "lost" at the sender, and
 * still reported accepted, as a real wire would). Packets queued while no
 * handler is set wait until one is.
 */
import { DEFAULT_STRIDE, type PacketArena, type PacketBatch } from "../../router/batch.ts";
import {
  DropCounts,
  type Link,
  type LinkLayer,
  type LinkStats,
  type ReceiveHandler,
} from "../link.ts";

export interface MemoryLinkOptions {
  /** Where each end's receive batch lives. */
  arena: PacketArena;
  /** Names of the two ends; default "mem0" and "mem1". */
  names?: [string, string];
  layer?: LinkLayer;
  /** Slots of each end's receive batch; default 64. */
  batchSize?: number;
  stride?: number;
  /** Headroom of received batches; default 0. */
  headroom?: number;
  /** Packets each end can hold undelivered; default unbounded. */
  capacity?: number;
  /**
   * Packets lost on the wire: a probability (0..1, from `random`), or a
   * predicate over the sender's packet sequence number (0, 1, ...).
   */
  loss?: number | ((seq: number) => boolean);
  random?: () => number;
  /** Deliver on a microtask after each send (default true); else call `deliver()`. */
  autoDeliver?: boolean;
  clock?: () => number;
}

export class MemoryLink implements Link {
  readonly name: string;
  readonly layer: LinkLayer;
  peer!: MemoryLink;
  #closed = false;
  #handler: ReceiveHandler | null = null;
  readonly #rx: PacketBatch;
  readonly #headroom: number;
  readonly #queue: Uint8Array[] = [];
  #head = 0;
  readonly #capacity: number;
  readonly #lost: (seq: number) => boolean;
  readonly #arena: PacketArena;
  readonly #auto: boolean;
  readonly #clock: () => number;
  #scheduled = false;
  #seq = 0;
  #rxPackets = 0;
  #rxBytes = 0;
  #txPackets = 0;
  #txBytes = 0;
  readonly #drops = new DropCounts();

  constructor(name: string, options: MemoryLinkOptions) {
    this.name = name;
    this.layer = options.layer ?? "l3";
    this.#rx = options.arena.batch(options.batchSize ?? 64, options.stride ?? DEFAULT_STRIDE);
    this.#arena = options.arena;
    this.#headroom = options.headroom ?? 0;
    if (this.#headroom >= this.#rx.stride)
      throw new RangeError("headroom must be below the stride");
    this.#rx.headroom = this.#headroom;
    this.#capacity = options.capacity ?? Number.POSITIVE_INFINITY;
    const { loss } = options;
    if (typeof loss === "function") this.#lost = loss;
    else if (typeof loss === "number" && loss > 0) {
      const random = options.random ?? Math.random;
      this.#lost = () => random() < loss;
    } else this.#lost = () => false;
    this.#auto = options.autoDeliver ?? true;
    this.#clock = options.clock ?? (() => performance.now());
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** Packets waiting at this end. */
  pending(): number {
    return this.#queue.length - this.#head;
  }

  onReceive(handler: ReceiveHandler | null): void {
    this.#handler = handler;
    if (handler !== null && this.pending() > 0) this.#schedule();
  }

  send(batch: PacketBatch): number {
    const { lengths, count, arena } = batch;
    let accepted = 0;
    for (let i = 0; i < count; i++) {
      const len = lengths[i];
      if (len === 0) continue;
      if (this.#closed) {
        this.#drops.add("closed");
        continue;
      }
      if (this.peer.pending() >= this.peer.#capacity || this.peer.#closed) {
        this.#drops.add("tx-full");
        continue;
      }
      accepted++;
      this.#txPackets++;
      this.#txBytes += len;
      if (this.#lost(this.#seq++)) {
        this.#drops.add("lost");
        continue;
      }
      const start = batch.start(i);
      this.peer.#queue.push(arena.slice(start, start + len));
    }
    if (accepted > 0) this.peer.#schedule();
    return accepted;
  }

  /**
   * Hands every waiting packet to the handler, a batch at a time; answers how
   * many. Nothing happens without a handler or once closed.
   */
  deliver(): number {
    let delivered = 0;
    const rx = this.#rx;
    while (this.#handler !== null && !this.#closed && this.pending() > 0) {
      rx.headroom = this.#headroom;
      rx.count = 0;
      while (rx.count < rx.capacity && this.#head < this.#queue.length) {
        const p = this.#queue[this.#head++];
        const i = rx.reserve(p.length);
        if (i < 0) {
          this.#drops.add("rx-too-big");
          continue;
        }
        rx.arena.set(p, rx.start(i));
        this.#rxPackets++;
        this.#rxBytes += p.length;
      }
      if (this.#head === this.#queue.length) {
        this.#queue.length = 0;
        this.#head = 0;
      }
      if (rx.count === 0) continue;
      delivered += rx.count;
      this.#handler(rx, this.#clock());
    }
    return delivered;
  }

  #schedule(): void {
    if (!this.#auto || this.#scheduled) return;
    this.#scheduled = true;
    queueMicrotask(() => {
      this.#scheduled = false;
      this.deliver();
    });
  }

  stats(): LinkStats {
    return {
      rxPackets: this.#rxPackets,
      rxBytes: this.#rxBytes,
      txPackets: this.#txPackets,
      txBytes: this.#txBytes,
      drops: this.#drops.snapshot(),
    };
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#handler = null;
    this.#drops.add("closed", this.pending());
    this.#queue.length = 0;
    this.#head = 0;
    this.#arena.release(this.#rx);
  }
}

/** Two connected ends: what `a` sends, `b` receives, and the reverse. */
export function memoryLinkPair(options: MemoryLinkOptions): [MemoryLink, MemoryLink] {
  const [na, nb] = options.names ?? ["mem0", "mem1"];
  const a = new MemoryLink(na, options);
  const b = new MemoryLink(nb, options);
  a.peer = b;
  b.peer = a;
  return [a, b];
}
