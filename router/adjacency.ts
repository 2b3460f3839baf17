/**
 * The adjacency table: what a FIB next-hop index means. An adjacency is an
 * output interface and, for a route through a gateway, the gateway's
 * address (else the packet's own destination is on-link), or a local
 * delivery, or a reject/blackhole. Equal adjacencies are shared and
 * reference-counted, so a full BGP table through two neighbours uses two
 * entries. Index 65535 (NO_ROUTE) is never handed out.
 *
 * For migration the table exports its entries in use (index and meaning)
 * and counts its changes (`changes` moves whenever an entry is created or
 * freed), so a copy is sent again only when it changed. A table loaded from
 * such entries keeps them at the same indexes, each held by one "pin"
 * reference until `unpin`, so the FIB's next-hop indexes stay valid while
 * the routes that use them are being added again.
 */
import { MAX_NEXT_HOP, type NextHop } from "../fib/types.ts";

export const AdjacencyKind = {
  /** Forward out of `ifIndex`, to the gateway or to the destination itself. */
  Forward: 0,
  /** Deliver to the router's own host stack. */
  Local: 1,
  /** Drop and answer ICMP destination unreachable (administratively prohibited). */
  Reject: 2,
  /** Drop silently. */
  Blackhole: 3,
} as const;
export type AdjacencyKind = (typeof AdjacencyKind)[keyof typeof AdjacencyKind];

export interface AdjacencySpec {
  kind: AdjacencyKind;
  /** Output interface (Forward), else -1. */
  ifIndex: number;
  /** Gateway: 0 (IPv4, none) ... given as 1 word (IPv4) or 4 (IPv6); empty when on-link. */
  gateway: readonly number[];
}

/** An entry in use, as `entries` lists it and `load` takes it. */
export interface AdjacencyEntry extends AdjacencySpec {
  index: NextHop;
}

export class AdjacencyTable {
  readonly kind = new Uint8Array(MAX_NEXT_HOP + 1);
  readonly ifIndex = new Int16Array(MAX_NEXT_HOP + 1);
  /** 1 when the adjacency has a gateway. */
  readonly viaGateway = new Uint8Array(MAX_NEXT_HOP + 1);
  /** Words of the gateway given: 0 (on-link), 1 (IPv4) or 4 (IPv6). */
  private readonly gatewayWords = new Uint8Array(MAX_NEXT_HOP + 1);
  /** Gateway words: 4 per adjacency (IPv4 uses the first). */
  readonly gateway = new Uint32Array((MAX_NEXT_HOP + 1) * 4);
  private readonly refs = new Uint32Array(MAX_NEXT_HOP + 1);
  private readonly byKey = new Map<string, NextHop>();
  private readonly keys: (string | undefined)[] = [];
  private readonly free: NextHop[] = [];
  private next = 0;
  private changeCount = 0;
  private pinned: NextHop[] = [];

  /** An entry was created or freed this many times (entries that only gained or lost references do not count). */
  get changes(): number {
    return this.changeCount;
  }

  /** The entries in use, in index order. */
  entries(): AdjacencyEntry[] {
    const out: AdjacencyEntry[] = [];
    for (let i = 0; i < this.keys.length; i++) {
      if (this.keys[i] !== undefined) out.push({ index: i, ...this.spec(i) });
    }
    return out;
  }

  /**
   * A table holding `entries` at their indexes, each pinned by one reference.
   * Throws RangeError on an index out of range, a duplicate index or two
   * entries with the same meaning (a table never holds those).
   */
  static load(entries: readonly AdjacencyEntry[]): AdjacencyTable {
    const t = new AdjacencyTable();
    for (const e of entries) {
      const key = `${e.kind}/${e.ifIndex}/${e.gateway.join(",")}`;
      if (!Number.isInteger(e.index) || e.index < 0 || e.index > MAX_NEXT_HOP)
        throw new RangeError(`adjacency index ${e.index} out of range`);
      if (t.keys[e.index] !== undefined) throw new RangeError(`adjacency ${e.index} given twice`);
      if (t.byKey.has(key))
        throw new RangeError(`adjacency ${e.index} repeats ${t.byKey.get(key)}`);
      t.byKey.set(key, e.index);
      t.keys[e.index] = key;
      t.kind[e.index] = e.kind;
      t.ifIndex[e.index] = e.ifIndex;
      t.viaGateway[e.index] = e.gateway.length > 0 ? 1 : 0;
      t.gatewayWords[e.index] = e.gateway.length;
      for (let w = 0; w < 4; w++) t.gateway[e.index * 4 + w] = e.gateway[w] ?? 0;
      t.refs[e.index] = 1;
      t.pinned.push(e.index);
      t.next = Math.max(t.next, e.index + 1);
    }
    for (let i = t.next - 1; i >= 0; i--) if (t.keys[i] === undefined) t.free.push(i);
    return t;
  }

  /** Drops the pin references `load` took: entries nothing else holds are freed. */
  unpin(): void {
    const pins = this.pinned;
    this.pinned = [];
    for (const i of pins) this.release(i);
  }

  /** Whether `index` is an entry in use. */
  has(index: NextHop): boolean {
    return this.keys[index] !== undefined;
  }

  /** The index of an adjacency equal to `spec`, created if needed; takes a reference. */
  acquire(spec: AdjacencySpec): NextHop {
    const key = `${spec.kind}/${spec.ifIndex}/${spec.gateway.join(",")}`;
    let index = this.byKey.get(key);
    if (index === undefined) {
      index = this.free.pop() ?? this.next++;
      if (index > MAX_NEXT_HOP) throw new RangeError("adjacency table full");
      this.byKey.set(key, index);
      this.keys[index] = key;
      this.changeCount++;
      this.kind[index] = spec.kind;
      this.ifIndex[index] = spec.ifIndex;
      this.viaGateway[index] = spec.gateway.length > 0 ? 1 : 0;
      this.gatewayWords[index] = spec.gateway.length;
      for (let w = 0; w < 4; w++) this.gateway[index * 4 + w] = spec.gateway[w] ?? 0;
    }
    this.refs[index]++;
    return index;
  }

  /** Takes one more reference to an adjacency in use. */
  retain(index: NextHop): void {
    if (this.refs[index] === 0) throw new RangeError(`adjacency ${index} is not in use`);
    this.refs[index]++;
  }

  /** What an adjacency in use means, as the spec it was acquired with. */
  spec(index: NextHop): AdjacencySpec {
    const kind = this.kind[index] as AdjacencyKind;
    const at = index * 4;
    return {
      kind,
      ifIndex: this.ifIndex[index],
      gateway: Array.from(this.gateway.subarray(at, at + this.gatewayWords[index])),
    };
  }

  /** Drops a reference; the entry is reused once none is left. */
  release(index: NextHop): void {
    if (this.refs[index] === 0)
      throw new RangeError(`adjacency ${index} released more often than acquired`);
    if (--this.refs[index] > 0) return;
    const key = this.keys[index];
    if (key !== undefined) this.byKey.delete(key);
    this.keys[index] = undefined;
    this.free.push(index);
    this.changeCount++;
  }

  /** Adjacencies in use. */
  get size(): number {
    return this.byKey.size;
  }
}
