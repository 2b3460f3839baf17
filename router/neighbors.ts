/**
 * Neighbour tables of one L2 interface: IPv4 address → MAC (ARP, RFC 826)
 * and IPv6 address → MAC (neighbour discovery, RFC 4861).
 *
 * An entry is INCOMPLETE while the router asks (up to MAX_PROBES
 * solicitations RETRANS_MS apart), then REACHABLE for REACHABLE_MS after
 * the last confirmation, then STALE: still used, and re-probed when next
 * used (RFC 4861's DELAY/PROBE folded into one re-probe). Packets for an
 * INCOMPLETE neighbour wait in its queue (up to PENDING_MAX, copied out of
 * their batch) and are sent when it resolves; when resolution fails they
 * are handed back to be answered with ICMP host unreachable. An entry
 * STALE for GC_STALE_MS is forgotten, and a cache holds at most MAX_ENTRIES
 * (a full cache makes room by dropping a STALE entry, else refuses), so no
 * host on the link can grow it without bound. Entries are plain data, so a
 * router's neighbours move with it.
 */

export const NeighborState = { Incomplete: 0, Reachable: 1, Stale: 2 } as const;
export type NeighborState = (typeof NeighborState)[keyof typeof NeighborState];

export const RETRANS_MS = 1000;
export const MAX_PROBES = 3;
export const REACHABLE_MS = 30_000;
export const PENDING_MAX = 32;
export const GC_STALE_MS = 60_000;
export const MAX_ENTRIES = 4096;

export interface Neighbor {
  /** 1 word (IPv4) or 4 (IPv6). */
  readonly address: Uint32Array;
  mac: number;
  state: NeighborState;
  /**
   * When the entry stops being REACHABLE, the next probe is due
   * (INCOMPLETE), or when it became STALE.
   */
  deadline: number;
  probes: number;
  /** IP packets waiting for the address to resolve. */
  pending: Uint8Array[];
}

/** What `poll` asks of the router. */
export interface NeighborActions {
  /** Send a solicitation (ARP request / neighbour solicitation) for `n`. */
  solicit(n: Neighbor): void;
  /** Resolution of `n` failed; its pending packets are returned. */
  failed(n: Neighbor, pending: Uint8Array[]): void;
}

function hash(words: ArrayLike<number>, off: number, n: number): number {
  let h = 0;
  for (let i = 0; i < n; i++) h = Math.imul(h ^ words[off + i], 0x9e3779b1);
  return h >>> 0;
}

function same(a: Uint32Array, words: ArrayLike<number>, off: number): boolean {
  for (let i = 0; i < a.length; i++) if (a[i] !== words[off + i]) return false;
  return true;
}

/** One family's table; addresses are `words` (1 for IPv4, 4 for IPv6) at an offset. */
export class NeighborCache {
  /** Buckets by address hash (collisions chained), so lookups allocate nothing. */
  private readonly buckets = new Map<number, Neighbor[]>();
  private count = 0;

  constructor(private readonly words: 1 | 4) {}

  get size(): number {
    return this.count;
  }

  get(addr: ArrayLike<number>, off = 0): Neighbor | undefined {
    const bucket = this.buckets.get(this.words === 1 ? addr[off] : hash(addr, off, 4));
    if (!bucket) return undefined;
    for (const n of bucket) if (same(n.address, addr, off)) return n;
    return undefined;
  }

  /**
   * The entry for `addr`, made INCOMPLETE (with a probe due now) if absent;
   * undefined when the cache is full of entries still in use.
   */
  getOrCreate(addr: ArrayLike<number>, off: number, now: number): Neighbor | undefined {
    const found = this.get(addr, off);
    if (found) return found;
    if (this.count >= MAX_ENTRIES && !this.evictStale()) return undefined;
    const address = new Uint32Array(this.words);
    for (let i = 0; i < this.words; i++) address[i] = addr[off + i];
    const n: Neighbor = {
      address,
      mac: 0,
      state: NeighborState.Incomplete,
      deadline: now,
      probes: 0,
      pending: [],
    };
    const key = this.words === 1 ? address[0] : hash(address, 0, 4);
    const bucket = this.buckets.get(key);
    if (bucket) bucket.push(n);
    else this.buckets.set(key, [n]);
    this.count++;
    return n;
  }

  /**
   * Records that `addr` is at `mac` (a reply, or a request from it); returns
   * the packets that waited for it. `create`: also learn unknown neighbours.
   */
  confirm(
    addr: ArrayLike<number>,
    off: number,
    mac: number,
    now: number,
    create: boolean,
  ): Uint8Array[] {
    const n = create ? this.getOrCreate(addr, off, now) : this.get(addr, off);
    if (!n) return [];
    n.mac = mac;
    n.state = NeighborState.Reachable;
    n.deadline = now + REACHABLE_MS;
    n.probes = 0;
    const waiting = n.pending;
    n.pending = [];
    return waiting;
  }

  /** Queues a copy of a packet for an unresolved neighbour; false when its queue is full. */
  enqueue(n: Neighbor, packet: Uint8Array, from: number, length: number): boolean {
    if (n.pending.length >= PENDING_MAX) return false;
    n.pending.push(packet.slice(from, from + length));
    return true;
  }

  remove(addr: ArrayLike<number>, off = 0): boolean {
    const key = this.words === 1 ? addr[off] : hash(addr, off, 4);
    const bucket = this.buckets.get(key);
    if (!bucket) return false;
    const at = bucket.findIndex((n) => same(n.address, addr, off));
    if (at < 0) return false;
    bucket.splice(at, 1);
    if (bucket.length === 0) this.buckets.delete(key);
    this.count--;
    return true;
  }

  /** Runs probes and expiries due at `now`; returns the next deadline. */
  poll(now: number, actions: NeighborActions): number {
    let next = Number.POSITIVE_INFINITY;
    const gone: Neighbor[] = [];
    const stale: Neighbor[] = [];
    for (const bucket of this.buckets.values()) {
      for (const n of bucket) {
        if (n.state === NeighborState.Incomplete) {
          if (n.deadline <= now) {
            if (n.probes >= MAX_PROBES) {
              gone.push(n);
              continue;
            }
            n.probes++;
            n.deadline = now + RETRANS_MS;
            actions.solicit(n);
          }
          next = Math.min(next, n.deadline);
        } else if (n.state === NeighborState.Reachable) {
          if (n.deadline <= now) n.state = NeighborState.Stale;
          else next = Math.min(next, n.deadline);
        }
        if (n.state === NeighborState.Stale) {
          if (n.deadline + GC_STALE_MS <= now) stale.push(n);
          else next = Math.min(next, n.deadline + GC_STALE_MS);
        }
      }
    }
    for (const n of gone) {
      this.remove(n.address);
      actions.failed(n, n.pending);
    }
    for (const n of stale) this.remove(n.address);
    return next;
  }

  /**
   * Marks a STALE entry in use; true when the caller should re-probe it
   * (it keeps being used meanwhile, and is given the probes' time to answer).
   */
  touch(n: Neighbor, now: number): boolean {
    if (n.state !== NeighborState.Stale) return false;
    n.state = NeighborState.Reachable;
    n.deadline = now + RETRANS_MS * MAX_PROBES;
    return true;
  }

  /** Drops one STALE entry; false when there is none. */
  private evictStale(): boolean {
    for (const bucket of this.buckets.values()) {
      for (const n of bucket) {
        if (n.state === NeighborState.Stale) return this.remove(n.address);
      }
    }
    return false;
  }

  *entries(): Generator<Neighbor> {
    for (const bucket of this.buckets.values()) yield* bucket;
  }

  /** Every entry as plain data (deadlines absolute, packets waiting copied), for migration. */
  export(): NeighborRecord[] {
    const out: NeighborRecord[] = [];
    for (const n of this.entries()) {
      out.push({
        address: Array.from(n.address),
        mac: n.mac,
        state: n.state,
        deadline: n.deadline,
        probes: n.probes,
        pending: n.pending.map((p) => p.slice()),
      });
    }
    return out;
  }

  /**
   * Replaces the content with exported entries, deadlines moved by `shift`.
   * Checks all of them first: throws RangeError (and changes nothing) on a
   * malformed entry, a duplicate or more than MAX_ENTRIES.
   */
  import(entries: readonly NeighborRecord[], shift = 0): void {
    if (entries.length > MAX_ENTRIES)
      throw new RangeError(`${entries.length} neighbours, at most ${MAX_ENTRIES}`);
    const seen = new Set<string>();
    for (const e of entries) {
      const key = e.address.join(",");
      if (
        e.address.length !== this.words ||
        !e.address.every((w) => Number.isInteger(w) && w >= 0 && w <= 0xffffffff)
      )
        throw new RangeError(`neighbour address ${key}: needs ${this.words} 32-bit words`);
      if (seen.has(key)) throw new RangeError(`neighbour ${key} given twice`);
      seen.add(key);
      if (!Number.isInteger(e.mac) || e.mac < 0 || e.mac >= 2 ** 48)
        throw new RangeError(`neighbour ${key}: MAC ${e.mac} out of range`);
      if (e.state !== 0 && e.state !== 1 && e.state !== 2)
        throw new RangeError(`neighbour ${key}: unknown state ${e.state}`);
      if (typeof e.deadline !== "number" || Number.isNaN(e.deadline))
        throw new RangeError(`neighbour ${key}: deadline is not a number`);
      if (!Number.isInteger(e.probes) || e.probes < 0 || e.probes > MAX_PROBES)
        throw new RangeError(`neighbour ${key}: ${e.probes} probes`);
      if (e.pending.length > PENDING_MAX || !e.pending.every((p) => p instanceof Uint8Array))
        throw new RangeError(`neighbour ${key}: bad packets waiting`);
    }
    this.buckets.clear();
    this.count = 0;
    for (const e of entries) {
      const n = this.getOrCreate(e.address, 0, 0);
      if (!n) throw new RangeError("neighbour cache full");
      n.mac = e.mac;
      n.state = e.state;
      n.deadline = e.deadline + shift;
      n.probes = e.probes;
      n.pending = e.pending.map((p) => p.slice());
    }
  }
}

/** One neighbour as plain data (`NeighborCache.export`). */
export interface NeighborRecord {
  address: number[];
  mac: number;
  state: NeighborState;
  deadline: number;
  probes: number;
  pending: Uint8Array[];
}
