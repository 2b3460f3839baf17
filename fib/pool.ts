/**
 * Block allocators over typed arrays, for the Poptrie tables.
 *
 * A pool hands out contiguous blocks of 1..maxBlock units from one typed
 * array (several parallel arrays for the node pool), with one free list per
 * exact block size: a trie node's children or leaves are always between 1 and
 * 32 units and are re-allocated at the same sizes under churn, so exact-size
 * lists reuse space without coalescing. When the arrays are full they grow by
 * half, copying; after a bulk build `trim` gives back the slack. Growth
 * replaces the arrays, so callers re-read them after any `alloc`.
 */

export abstract class BlockPool {
  /** Units handed out or on free lists (the high-water mark). */
  protected used = 0;
  protected capacity: number;
  private free: number[][];
  private freeUnits = 0;
  private freeEntries = 0;

  constructor(
    capacity: number,
    private readonly maxBlock: number,
  ) {
    this.capacity = Math.max(1, capacity);
    this.free = Array.from({ length: maxBlock + 1 }, () => []);
  }

  /** Start of a fresh block of `units` units (0 for an empty block). */
  alloc(units: number): number {
    if (units === 0) return 0;
    const list = this.free[units];
    if (list.length > 0) {
      this.freeUnits -= units;
      this.freeEntries--;
      return list.pop()!;
    }
    if (this.used + units > this.capacity) {
      this.capacity = Math.max(this.used + units, Math.ceil(this.capacity * 1.5));
      this.resize(this.capacity);
    }
    const start = this.used;
    this.used += units;
    return start;
  }

  /** Returns a block to the pool. */
  release(start: number, units: number): void {
    if (units === 0) return;
    if (units > this.maxBlock)
      throw new RangeError(`block of ${units} units exceeds the pool's maximum`);
    this.free[units].push(start);
    this.freeUnits += units;
    this.freeEntries++;
  }

  /** Forgets every block and sizes the arrays for `capacity` units. */
  reset(capacity: number): void {
    this.used = 0;
    this.freeUnits = 0;
    this.freeEntries = 0;
    this.free = Array.from({ length: this.maxBlock + 1 }, () => []);
    this.capacity = Math.max(1, capacity);
    this.resize(this.capacity, false);
  }

  /** Shrinks the arrays to the units in use plus `headroom` (a fraction). */
  trim(headroom = 0.125): void {
    const target = Math.max(1, Math.ceil(this.used * (1 + headroom)));
    if (target < this.capacity) {
      this.capacity = target;
      this.resize(target);
    }
  }

  /** Units in live blocks. */
  liveUnits(): number {
    return this.used - this.freeUnits;
  }

  /** Bytes of the free lists' own bookkeeping. */
  protected bookkeepingBytes(): number {
    return this.freeEntries * 8;
  }

  /** Bytes held, arrays and bookkeeping. */
  abstract bytes(): number;

  /** Replaces the arrays with ones of `capacity` units, keeping content if `keep`. */
  protected abstract resize(capacity: number, keep?: boolean): void;
}

/** A pool of 16-bit units (leaf and route next hops). */
export class U16Pool extends BlockPool {
  data: Uint16Array;

  constructor(capacity: number, maxBlock: number) {
    super(capacity, maxBlock);
    this.data = new Uint16Array(this.capacity);
  }

  protected resize(capacity: number, keep = true): void {
    const data = new Uint16Array(capacity);
    if (keep) data.set(this.data.subarray(0, Math.min(this.used, capacity)));
    this.data = data;
  }

  bytes(): number {
    return this.data.byteLength + this.bookkeepingBytes();
  }
}

/**
 * A pool of trie nodes: `nodes` holds what lookups read (4 words a node),
 * `meta` what updates need (4 words a node), at the same index.
 */
export class NodePool extends BlockPool {
  nodes: Uint32Array;
  meta: Uint32Array;

  constructor(capacity: number, maxBlock: number) {
    super(capacity, maxBlock);
    this.nodes = new Uint32Array(this.capacity * 4);
    this.meta = new Uint32Array(this.capacity * 4);
  }

  protected resize(capacity: number, keep = true): void {
    const nodes = new Uint32Array(capacity * 4);
    const meta = new Uint32Array(capacity * 4);
    if (keep) {
      const words = Math.min(this.used, capacity) * 4;
      nodes.set(this.nodes.subarray(0, words));
      meta.set(this.meta.subarray(0, words));
    }
    this.nodes = nodes;
    this.meta = meta;
  }

  bytes(): number {
    return this.nodes.byteLength + this.meta.byteLength + this.bookkeepingBytes();
  }
}
