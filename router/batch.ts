/**
 * Packet batches: the unit the packet path works on (DESIGN.md, "Packet
 * path"), in the style of VPP's vectors and Click's batches.
 *
 * A batch is `capacity` fixed-size slots in one shared arena (one
 * ArrayBuffer per hypervisor, so moving a packet from one batch to another
 * is `arena.copyWithin`, with no allocation). Packet i occupies
 * `arena[start(i) .. start(i) + lengths[i])`, where `start(i) = base + i *
 * stride + headroom`. The headroom is the same for the whole batch; a link
 * that wraps packets (a VXLAN link's 8-byte header) receives datagrams at
 * the slot start and sets the headroom past its header, or fills it in
 * before sending. Native queues read and write `view` with the same stride.
 *
 * A packet of length 0 is a hole (dropped in place); consumers skip it.
 */

/** Bytes a slot holds: an Ethernet frame of a 1500-byte MTU with a VLAN tag, plus headroom. */
export const DEFAULT_STRIDE = 2048;

export class PacketBatch {
  /** The shared arena this batch lives in. */
  readonly arena: Uint8Array;
  /** Arena offset of slot 0. */
  readonly base: number;
  readonly stride: number;
  readonly capacity: number;
  /** `arena[base .. base + capacity * stride)`: what native queues read into and write from. */
  readonly view: Uint8Array;
  /** Length of packet i (0: a hole). */
  readonly lengths: Uint32Array;
  /** Bytes before each packet in its slot. */
  headroom = 0;
  /** Packets in the batch. */
  count = 0;
  private packetsView: Uint8Array;
  private packetsAt = 0;

  constructor(arena: Uint8Array, base: number, capacity: number, stride = DEFAULT_STRIDE) {
    if (base < 0 || base + capacity * stride > arena.length) {
      throw new RangeError(`batch of ${capacity} x ${stride} bytes at ${base} exceeds the arena`);
    }
    this.arena = arena;
    this.base = base;
    this.stride = stride;
    this.capacity = capacity;
    this.view = arena.subarray(base, base + capacity * stride);
    this.lengths = new Uint32Array(capacity);
    this.packetsView = arena.subarray(base);
  }

  /** Arena offset of packet i's first byte. */
  start(i: number): number {
    return this.base + i * this.stride + this.headroom;
  }

  /**
   * The arena from packet 0's first byte on: packet i sits at `i * stride`
   * in it, as native queues send (made once per headroom, not per call).
   */
  packets(): Uint8Array {
    if (this.packetsAt !== this.headroom) {
      this.packetsView = this.arena.subarray(this.base + this.headroom);
      this.packetsAt = this.headroom;
    }
    return this.packetsView;
  }

  /** Room a packet has in its slot, after the headroom. */
  room(): number {
    return this.stride - this.headroom;
  }

  /** Empties the batch (keeps its headroom). */
  clear(): void {
    this.count = 0;
  }

  /**
   * Appends a copy of `length` bytes at arena offset `from`; returns the new
   * packet's index, or -1 when the batch is full or the packet does not fit.
   */
  push(from: number, length: number): number {
    if (this.count === this.capacity || length > this.stride - this.headroom) return -1;
    const i = this.count++;
    this.arena.copyWithin(this.start(i), from, from + length);
    this.lengths[i] = length;
    return i;
  }

  /** Reserves the next slot for a packet the caller writes; returns its index or -1 when full. */
  reserve(length: number): number {
    if (this.count === this.capacity || length > this.stride - this.headroom) return -1;
    const i = this.count++;
    this.lengths[i] = length;
    return i;
  }
}

/**
 * One ArrayBuffer carved into batches. Released batches' regions are reused
 * by later batches of the same byte size (links and routers come and go in
 * a few sizes), so a long-lived hypervisor does not run out.
 */
export class PacketArena {
  readonly bytes: Uint8Array;
  private used = 0;
  private readonly live = new Set<number>();
  private readonly free = new Map<number, number[]>();

  constructor(size: number) {
    this.bytes = new Uint8Array(size);
  }

  /** A new batch of `capacity` slots; throws RangeError when the arena is exhausted. */
  batch(capacity: number, stride = DEFAULT_STRIDE): PacketBatch {
    const size = capacity * stride;
    const base = this.free.get(size)?.pop() ?? this.used;
    const batch = new PacketBatch(this.bytes, base, capacity, stride);
    if (base === this.used) this.used += size;
    this.live.add(base);
    return batch;
  }

  /** Gives a batch's region back; the batch must not be used afterwards. */
  release(batch: PacketBatch): void {
    if (batch.arena !== this.bytes || !this.live.delete(batch.base)) {
      throw new RangeError(`batch at ${batch.base} is not a live batch of this arena`);
    }
    const size = batch.capacity * batch.stride;
    const list = this.free.get(size);
    if (list) list.push(batch.base);
    else this.free.set(size, [batch.base]);
  }

  /** Bytes in live batches. */
  allocated(): number {
    let freeBytes = 0;
    for (const [size, bases] of this.free) freeBytes += size * bases.length;
    return this.used - freeBytes;
  }
}
