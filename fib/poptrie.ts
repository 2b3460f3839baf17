/**
 * Poptrie: IPv4 and IPv6 longest-prefix match in typed arrays.
 *
 * After Asai and Ohara, "Poptrie: A Compressed Trie with Population Count for
 * Fast and Scalable Software IP Routing Table Lookup" (SIGCOMM 2015), with
 * 5-bit strides so that every bitmap is one 32-bit word and each level costs
 * one population count in JavaScript. docs/FIB.md gives the measurements that
 * chose it over DIR-24-8 and the strides and direct-pointing widths.
 *
 * Lookup structure (all a lookup reads):
 * - `direct`: 2^S entries for the leading S address bits (direct pointing).
 *   An entry is `(nextHop << 1) | 1` when no prefix longer than S lies below
 *   it, else `node << 1`.
 * - `nodes`: 4 words a node: `vector` (bit i set: slot i has a child node),
 *   `leafvec` (bit i set: slot i starts a run of equal leaves), the index of
 *   the node's first child, the index of its first leaf. A node at depth d
 *   splits on address bits d..d+4; its children are contiguous, so the child
 *   at slot i is `base1 + popcount(vector & below(i))` and the leaf is
 *   `leaves[base0 + popcount(leafvec & upTo(i)) - 1]`. Leaves are leaf-pushed
 *   next hops, compressed into runs.
 *
 * Update structure (never read by lookups), which is also the set of routes:
 * - `shortTree`: routes of length <= S in a complete binary tree, 2 bytes a
 *   position.
 * - `meta`: 4 words a node, at the node's own index: a 62-bit map of the
 *   node's own routes (lengths d+1..d+5, Tree Bitmap style: a route of
 *   length d+l with bits v sits at position 2^l - 2 + v), the index of their
 *   next hops in `routeNh`, and the next hop the node inherits from above.
 *
 * An update changes the routes of one node (the one whose stride holds the
 * prefix) and recomputes its leaves, then re-pushes leaves only into the
 * children whose inherited next hop changed. A route needing a node that
 * does not exist grows its parent's child block by one; a node left with no
 * routes and no children is folded back into a leaf. A prefix of length
 * <= S changes the short tree and repaints the direct entries it covers,
 * skipping those under a longer short prefix. Blocks come from exact-size
 * free lists (fib/pool.ts). JavaScript runs one update at a time, so a
 * lookup never sees a half-made change.
 */
import { NodePool, U16Pool } from "./pool.ts";
import { checkNextHop, checkPrefix4, checkPrefix6, RouteListBuilder } from "./prefix.ts";
import { type Lpm4, type Lpm6, type NextHop, NO_ROUTE, type RouteList, wordsOf } from "./types.ts";

const STRIDE = 5;
const LEAF = 1;

/** Slot range covered by each of the 62 route positions of a node. */
const POS_START = new Uint8Array(62);
const POS_COUNT = new Uint8Array(62);
const POS_LENGTH = new Uint8Array(62);
for (let l = 1; l <= STRIDE; l++) {
  for (let v = 0; v < 1 << l; v++) {
    const pos = (1 << l) - 2 + v;
    POS_START[pos] = v << (STRIDE - l);
    POS_COUNT[pos] = 1 << (STRIDE - l);
    POS_LENGTH[pos] = l;
  }
}

/** Number of set bits in a 32-bit word. */
export function popcount(x: number): number {
  x -= (x >>> 1) & 0x55555555;
  x = (x & 0x33333333) + ((x >>> 2) & 0x33333333);
  x = (x + (x >>> 4)) & 0x0f0f0f0f;
  return Math.imul(x, 0x01010101) >>> 24;
}

/**
 * The five address bits from bit `depth` (bit 0 is the most significant) of
 * the `nwords`-word address at `words[off]`; bits past the end read as zero.
 */
function chunkOf(words: ArrayLike<number>, off: number, depth: number, nwords: number): number {
  const k = depth >>> 5;
  const b = depth & 31;
  if (b <= 27) return (words[off + k] >>> (27 - b)) & 31;
  const next = k + 1 < nwords ? words[off + k + 1] >>> (59 - b) : 0;
  return ((words[off + k] << (b - 27)) | next) & 31;
}

/** Writes `v` into the five bits from bit `depth` of a 4-word address (bits past 128 dropped). */
function setChunk(words: Uint32Array, depth: number, v: number): void {
  for (let i = 0; i < STRIDE; i++) {
    const bit = depth + i;
    if (bit >= 128) return;
    const w = bit >>> 5;
    const m = 1 << (31 - (bit & 31));
    words[w] = (v >>> (4 - i)) & 1 ? words[w] | m : words[w] & ~m;
  }
}

export interface PoptrieOptions {
  /**
   * Leading address bits resolved by the direct-pointing array (8..24),
   * fixed. Without it the table sizes itself: see `SizeStep`.
   */
  directBits?: number;
}

/**
 * One step of a table's automatic sizing: `directBits` while the table holds
 * at most `upTo` routes. An empty table costs a few KiB; a full one gets the
 * width measured best for lookups (docs/FIB.md). Tables only grow: a
 * shrinking table keeps its width.
 */
export interface SizeStep {
  directBits: number;
  upTo: number;
}

const SIZES4: readonly SizeStep[] = [
  { directBits: 12, upTo: 4096 },
  { directBits: 16, upTo: 65536 },
  { directBits: 19, upTo: Number.POSITIVE_INFINITY },
];
const SIZES6: readonly SizeStep[] = [
  { directBits: 12, upTo: 4096 },
  { directBits: 16, upTo: 32768 },
  { directBits: 18, upTo: Number.POSITIVE_INFINITY },
];

/** The family-independent core; Poptrie4 and Poptrie6 add the lookups. */
abstract class Poptrie {
  /** S: leading bits resolved by `direct`. */
  directBits = 0;
  protected topShift = 0;
  private readonly nwords: number;
  /** The sizing schedule, or one step when the width is fixed. */
  private readonly sizes: readonly SizeStep[];
  /** Route count past which the table widens its direct array. */
  private growAt = 0;
  /** The /0 route, kept apart so that changing it costs nothing (lookups fall back to it). */
  protected defaultHop: NextHop = NO_ROUTE;

  protected direct: Uint32Array;
  protected nodes: Uint32Array;
  protected leaves: Uint16Array;
  private meta: Uint32Array;
  private routeNh: Uint16Array;
  private shortTree: Uint16Array;

  private readonly nodePool: NodePool;
  private readonly leafPool: U16Pool;
  private readonly routePool: U16Pool;

  /** The prefix an update works on (4 words; IPv4 uses the first). */
  protected readonly key = new Uint32Array(4);
  /** Painted slots, 32 a trie level, for updates and builds. */
  private paintBuf = new Uint16Array(0);
  private readonly leafBuf = new Uint16Array(32);
  private path = new Uint32Array(0);
  private grown = new Uint32Array(0);
  private count = 0;

  protected constructor(width: 32 | 128, directBits: number | undefined) {
    if (
      directBits !== undefined &&
      (!Number.isInteger(directBits) || directBits < 8 || directBits > 24)
    ) {
      throw new RangeError(`directBits ${directBits} is not an integer in 8..24`);
    }
    this.nwords = width / 32;
    this.sizes =
      directBits === undefined
        ? width === 32
          ? SIZES4
          : SIZES6
        : [{ directBits, upTo: Number.POSITIVE_INFINITY }];
    this.direct = new Uint32Array(0);
    this.shortTree = new Uint16Array(0);
    this.setWidth(this.stepFor(0));
    this.nodePool = new NodePool(64, 32);
    this.leafPool = new U16Pool(256, 32);
    this.routePool = new U16Pool(256, 62);
    this.nodes = this.nodePool.nodes;
    this.meta = this.nodePool.meta;
    this.leaves = this.leafPool.data;
    this.routeNh = this.routePool.data;
  }

  get size(): number {
    return this.count;
  }

  /** The sizing step for a table of `routes` routes. */
  private stepFor(routes: number): number {
    let i = 0;
    while (routes > this.sizes[i].upTo) i++;
    return i;
  }

  /** Allocates the direct array and short tree of sizing step `step` (emptied). */
  private setWidth(step: number): void {
    const S = this.sizes[step].directBits;
    this.growAt = this.sizes[step].upTo;
    if (S === this.directBits) return;
    this.directBits = S;
    this.topShift = 32 - S;
    const levels = Math.ceil((this.nwords * 32 - S) / STRIDE) + 1;
    this.paintBuf = new Uint16Array(32 * levels);
    this.path = new Uint32Array(levels);
    this.grown = new Uint32Array(levels);
    this.direct = new Uint32Array(1 << S).fill((NO_ROUTE << 1) | LEAF);
    this.shortTree = new Uint16Array(2 << S).fill(NO_ROUTE);
  }

  /** Rebuilds the table at the next sizing step. */
  private widen(): void {
    const routes = new RouteListBuilder(this.nwords === 1 ? 4 : 6, this.count);
    this.forEachRoute((words, length, nextHop) => routes.push(words, length, nextHop));
    this.build(routes.build());
  }

  /** Bytes held: lookup arrays, update arrays and pool bookkeeping. */
  bytes(): number {
    return (
      this.direct.byteLength +
      this.shortTree.byteLength +
      this.nodePool.bytes() +
      this.leafPool.bytes() +
      this.routePool.bytes() +
      this.paintBuf.byteLength +
      this.leafBuf.byteLength +
      this.path.byteLength +
      this.grown.byteLength +
      this.key.byteLength
    );
  }

  /** Bytes a lookup reads from: `direct`, `nodes` and the leaves. */
  lookupBytes(): number {
    return this.direct.byteLength + this.nodes.byteLength + this.leaves.byteLength;
  }

  /** Live trie nodes (for the documentation of memory use). */
  nodeCount(): number {
    return this.nodePool.liveUnits();
  }

  clear(): void {
    this.setWidth(this.stepFor(0));
    this.resetStorage(64, 256, 256);
  }

  private resetStorage(nodes: number, leaves: number, routes: number): void {
    this.direct.fill((NO_ROUTE << 1) | LEAF);
    this.shortTree.fill(NO_ROUTE);
    this.nodePool.reset(nodes);
    this.leafPool.reset(leaves);
    this.routePool.reset(routes);
    this.syncArrays();
    this.count = 0;
    this.defaultHop = NO_ROUTE;
  }

  private syncArrays(): void {
    this.nodes = this.nodePool.nodes;
    this.meta = this.nodePool.meta;
    this.leaves = this.leafPool.data;
    this.routeNh = this.routePool.data;
  }

  private allocNodes(units: number): number {
    const start = this.nodePool.alloc(units);
    this.nodes = this.nodePool.nodes;
    this.meta = this.nodePool.meta;
    return start;
  }

  private allocRoutes(units: number): number {
    const start = this.routePool.alloc(units);
    this.routeNh = this.routePool.data;
    return start;
  }

  /** Whether node `n` (meta offset `m`) holds a route at position `pos`. */
  private hasRoute(m: number, pos: number): boolean {
    return pos < 32
      ? ((this.meta[m] >>> pos) & 1) === 1
      : ((this.meta[m + 1] >>> (pos - 32)) & 1) === 1;
  }

  /** How many of node `n`'s routes (meta offset `m`) sit below position `pos`. */
  private routeRank(m: number, pos: number): number {
    const lo = this.meta[m];
    if (pos < 32) return popcount(lo & ~(-1 << pos));
    return popcount(lo) + popcount(this.meta[m + 1] & ~(-1 << (pos - 32)));
  }

  /** Makes node `n` empty (no routes, children or leaves) inheriting `inherited`. */
  private initNode(n: number, inherited: NextHop): void {
    const o = n * 4;
    this.nodes.fill(0, o, o + 4);
    this.meta.fill(0, o, o + 4);
    this.meta[o + 3] = inherited;
  }

  private shortIndex(length: number): number {
    return (1 << length) | ((this.key[0] >>> this.topShift) >>> (this.directBits - length));
  }

  // ---- updates -------------------------------------------------------------

  /** Adds `key/length` or replaces its next hop. */
  protected insertKey(length: number, nextHop: NextHop): void {
    const before = this.count;
    this.place(length, nextHop);
    if (this.count > before && this.count > this.growAt) this.widen();
  }

  private place(length: number, nextHop: NextHop): void {
    const S = this.directBits;
    if (length === 0) {
      if (this.defaultHop === NO_ROUTE) this.count++;
      this.defaultHop = nextHop;
      return;
    }
    if (length <= S) {
      const idx = this.shortIndex(length);
      const old = this.shortTree[idx];
      if (old === nextHop) return;
      if (old === NO_ROUTE) this.count++;
      this.shortTree[idx] = nextHop;
      this.pushShort(idx, length, nextHop);
      return;
    }
    const key = this.key;
    const top = key[0] >>> this.topShift;
    const e = this.direct[top];
    let n: number;
    let grown = 0;
    if (e & LEAF) {
      n = this.allocNodes(1);
      this.initNode(n, e >>> 1);
      this.direct[top] = n << 1;
    } else {
      n = e >>> 1;
    }
    let d = S;
    while (length > d + STRIDE) {
      const v = chunkOf(key, 0, d, this.nwords);
      const vec = this.nodes[n * 4];
      if ((vec >>> v) & 1) {
        n = this.nodes[n * 4 + 2] + popcount(vec & ~(-1 << v));
      } else {
        const inherited = this.paintedAt(n, v);
        this.grown[grown++] = n;
        n = this.addChild(n, v, inherited);
      }
      d += STRIDE;
    }
    const l = length - d;
    const pos = (1 << l) - 2 + (chunkOf(key, 0, d, this.nwords) >>> (STRIDE - l));
    const change = this.setRoute(n, pos, nextHop);
    if (change === 0) return;
    if (change === 2) this.count++;
    this.repaint(n, d, this.meta[n * 4 + 3]);
    for (let i = 0; i < grown; i++) {
      this.paint(this.grown[i], 0);
      this.writeLeaves(this.grown[i], 0);
    }
  }

  /** Removes `key/length`; false when absent. */
  protected deleteKey(length: number): boolean {
    const S = this.directBits;
    if (length === 0) {
      if (this.defaultHop === NO_ROUTE) return false;
      this.defaultHop = NO_ROUTE;
      this.count--;
      return true;
    }
    if (length <= S) {
      const idx = this.shortIndex(length);
      if (this.shortTree[idx] === NO_ROUTE) return false;
      this.shortTree[idx] = NO_ROUTE;
      this.count--;
      let inherited = NO_ROUTE;
      for (let a = idx >>> 1; a >= 1; a >>>= 1) {
        if (this.shortTree[a] !== NO_ROUTE) {
          inherited = this.shortTree[a];
          break;
        }
      }
      this.pushShort(idx, length, inherited);
      return true;
    }
    const key = this.key;
    const top = key[0] >>> this.topShift;
    const e = this.direct[top];
    if (e & LEAF) return false;
    let n = e >>> 1;
    let d = S;
    let level = 0;
    this.path[0] = n;
    while (length > d + STRIDE) {
      const v = chunkOf(key, 0, d, this.nwords);
      const vec = this.nodes[n * 4];
      if (((vec >>> v) & 1) === 0) return false;
      n = this.nodes[n * 4 + 2] + popcount(vec & ~(-1 << v));
      d += STRIDE;
      this.path[++level] = n;
    }
    const l = length - d;
    const pos = (1 << l) - 2 + (chunkOf(key, 0, d, this.nwords) >>> (STRIDE - l));
    if (!this.clearRoute(n, pos)) return false;
    this.count--;
    let collapsed = false;
    while (this.meta[n * 4] === 0 && this.meta[n * 4 + 1] === 0 && this.nodes[n * 4] === 0) {
      collapsed = true;
      this.leafPool.release(this.nodes[n * 4 + 3], popcount(this.nodes[n * 4 + 1]));
      if (level === 0) {
        this.direct[top] = (this.meta[n * 4 + 3] << 1) | LEAF;
        this.nodePool.release(n, 1);
        return true;
      }
      const parent = this.path[--level];
      d -= STRIDE;
      this.removeChild(parent, chunkOf(key, 0, d, this.nwords));
      this.paint(parent, 0);
      this.writeLeaves(parent, 0);
      n = parent;
    }
    if (!collapsed) this.repaint(n, d, this.meta[n * 4 + 3]);
    return true;
  }

  /**
   * Replaces NO_ROUTE with the default route's next hop in `out[0..count)`.
   * A pass of its own: the same test inside the lookup loop costs it 40%.
   */
  protected fillDefault(out: Uint16Array, count: number): void {
    const fallback = this.defaultHop;
    if (fallback === NO_ROUTE) return;
    for (let i = 0; i < count; i++) if (out[i] === NO_ROUTE) out[i] = fallback;
  }

  /** Next hop of exactly `key/length`, or NO_ROUTE. */
  protected getKey(length: number): NextHop {
    if (length === 0) return this.defaultHop;
    if (length <= this.directBits) return this.shortTree[this.shortIndex(length)];
    const key = this.key;
    const e = this.direct[key[0] >>> this.topShift];
    if (e & LEAF) return NO_ROUTE;
    let n = e >>> 1;
    let d = this.directBits;
    while (length > d + STRIDE) {
      const v = chunkOf(key, 0, d, this.nwords);
      const vec = this.nodes[n * 4];
      if (((vec >>> v) & 1) === 0) return NO_ROUTE;
      n = this.nodes[n * 4 + 2] + popcount(vec & ~(-1 << v));
      d += STRIDE;
    }
    const l = length - d;
    const pos = (1 << l) - 2 + (chunkOf(key, 0, d, this.nwords) >>> (STRIDE - l));
    const m = n * 4;
    if (!this.hasRoute(m, pos)) return NO_ROUTE;
    return this.routeNh[this.meta[m + 2] + this.routeRank(m, pos)];
  }

  /**
   * Propagates the next hop `value` now in force at short-tree position
   * `idx` (depth `depth`) down to the direct entries, skipping subtrees under
   * a longer short route, which the change does not reach.
   */
  private pushShort(idx: number, depth: number, value: NextHop): void {
    const S = this.directBits;
    if (depth === S) {
      const slot = idx - (1 << S);
      const e = this.direct[slot];
      if (e & LEAF) {
        this.direct[slot] = (value << 1) | LEAF;
      } else {
        const n = e >>> 1;
        if (this.meta[n * 4 + 3] !== value) this.repaint(n, S, value);
      }
      return;
    }
    const left = idx * 2;
    if (this.shortTree[left] === NO_ROUTE) this.pushShort(left, depth + 1, value);
    if (this.shortTree[left + 1] === NO_ROUTE) this.pushShort(left + 1, depth + 1, value);
  }

  /** The next hop slot `v` of node `n` resolves to by its own routes, else inherited. */
  private paintedAt(n: number, v: number): NextHop {
    const m = n * 4;
    for (let l = STRIDE; l >= 1; l--) {
      const pos = (1 << l) - 2 + (v >>> (STRIDE - l));
      if (this.hasRoute(m, pos)) return this.routeNh[this.meta[m + 2] + this.routeRank(m, pos)];
    }
    return this.meta[m + 3];
  }

  /** Sets route position `pos` of node `n`: 0 unchanged, 1 replaced, 2 added. */
  private setRoute(n: number, pos: number, nextHop: NextHop): 0 | 1 | 2 {
    const m = n * 4;
    const base = this.meta[m + 2];
    const r = this.routeRank(m, pos);
    if (this.hasRoute(m, pos)) {
      if (this.routeNh[base + r] === nextHop) return 0;
      this.routeNh[base + r] = nextHop;
      return 1;
    }
    const k = popcount(this.meta[m]) + popcount(this.meta[m + 1]);
    const nb = this.allocRoutes(k + 1);
    const nh = this.routeNh;
    nh.copyWithin(nb, base, base + r);
    nh[nb + r] = nextHop;
    nh.copyWithin(nb + r + 1, base + r, base + k);
    this.routePool.release(base, k);
    if (pos < 32) this.meta[m] |= 1 << pos;
    else this.meta[m + 1] |= 1 << (pos - 32);
    this.meta[m + 2] = nb;
    return 2;
  }

  /** Clears route position `pos` of node `n`; false when it held no route. */
  private clearRoute(n: number, pos: number): boolean {
    const m = n * 4;
    if (!this.hasRoute(m, pos)) return false;
    const base = this.meta[m + 2];
    const r = this.routeRank(m, pos);
    const k = popcount(this.meta[m]) + popcount(this.meta[m + 1]);
    const nb = this.allocRoutes(k - 1);
    const nh = this.routeNh;
    nh.copyWithin(nb, base, base + r);
    nh.copyWithin(nb + r, base + r + 1, base + k);
    this.routePool.release(base, k);
    if (pos < 32) this.meta[m] &= ~(1 << pos);
    else this.meta[m + 1] &= ~(1 << (pos - 32));
    this.meta[m + 2] = nb;
    return true;
  }

  /** Gives node `n` a new, empty child at slot `v`; returns the child. */
  private addChild(n: number, v: number, inherited: NextHop): number {
    const o = n * 4;
    const vec = this.nodes[o];
    const k = popcount(vec);
    const r = popcount(vec & ~(-1 << v));
    const old = this.nodes[o + 2];
    const nb = this.allocNodes(k + 1);
    const nodes = this.nodes;
    const meta = this.meta;
    nodes.copyWithin(nb * 4, old * 4, (old + r) * 4);
    meta.copyWithin(nb * 4, old * 4, (old + r) * 4);
    nodes.copyWithin((nb + r + 1) * 4, (old + r) * 4, (old + k) * 4);
    meta.copyWithin((nb + r + 1) * 4, (old + r) * 4, (old + k) * 4);
    this.nodePool.release(old, k);
    nodes[o] = vec | (1 << v);
    nodes[o + 2] = nb;
    this.initNode(nb + r, inherited);
    return nb + r;
  }

  /** Drops node `n`'s child at slot `v` (already emptied and its leaves released). */
  private removeChild(n: number, v: number): void {
    const o = n * 4;
    const vec = this.nodes[o];
    const k = popcount(vec);
    const r = popcount(vec & ~(-1 << v));
    const old = this.nodes[o + 2];
    let nb = 0;
    if (k > 1) {
      nb = this.allocNodes(k - 1);
      const nodes = this.nodes;
      const meta = this.meta;
      nodes.copyWithin(nb * 4, old * 4, (old + r) * 4);
      meta.copyWithin(nb * 4, old * 4, (old + r) * 4);
      nodes.copyWithin((nb + r) * 4, (old + r + 1) * 4, (old + k) * 4);
      meta.copyWithin((nb + r) * 4, (old + r + 1) * 4, (old + k) * 4);
    }
    this.nodePool.release(old, k);
    this.nodes[o] = vec & ~(1 << v);
    this.nodes[o + 2] = nb;
  }

  /** Paints node `n`'s 32 slots into `paintBuf[off..]`: inherited hop, then own routes, shortest first. */
  private paint(n: number, off: number): void {
    const m = n * 4;
    const buf = this.paintBuf;
    const meta = this.meta;
    const nh = this.routeNh;
    const inherited = meta[m + 3];
    for (let i = 0; i < 32; i++) buf[off + i] = inherited;
    let r = meta[m + 2];
    for (let half = 0; half < 2; half++) {
      for (let x = meta[m + half] | 0; x !== 0; x &= x - 1) {
        const pos = 31 - Math.clz32(x & -x) + half * 32;
        const value = nh[r++];
        const start = off + POS_START[pos];
        const end = start + POS_COUNT[pos];
        for (let i = start; i < end; i++) buf[i] = value;
      }
    }
  }

  /** Rewrites node `n`'s leaves from the painted slots at `paintBuf[off..]`. */
  private writeLeaves(n: number, off: number): void {
    const o = n * 4;
    const vec = this.nodes[o];
    const buf = this.paintBuf;
    const out = this.leafBuf;
    let leafvec = 0;
    let count = 0;
    let prev = -1;
    for (let i = 0; i < 32; i++) {
      if ((vec >>> i) & 1) continue;
      const v = buf[off + i];
      if (v !== prev) {
        leafvec |= 1 << i;
        out[count++] = v;
        prev = v;
      }
    }
    let base = this.nodes[o + 3];
    const oldCount = popcount(this.nodes[o + 1]);
    if (oldCount !== count) {
      this.leafPool.release(base, oldCount);
      base = this.leafPool.alloc(count);
      this.leaves = this.leafPool.data;
    }
    const leaves = this.leaves;
    for (let i = 0; i < count; i++) leaves[base + i] = out[i];
    this.nodes[o + 1] = leafvec;
    this.nodes[o + 3] = base;
  }

  /** Node `n` at depth `d` now inherits `inherited`: repaint it and the children that change. */
  private repaint(n: number, d: number, inherited: NextHop): void {
    const m = n * 4;
    this.meta[m + 3] = inherited;
    const off = ((d - this.directBits) / STRIDE) * 32;
    this.paint(n, off);
    this.writeLeaves(n, off);
    const vec = this.nodes[m];
    let c = this.nodes[m + 2];
    for (let x = vec | 0; x !== 0; x &= x - 1) {
      const v = 31 - Math.clz32(x & -x);
      const value = this.paintBuf[off + v];
      if (this.meta[c * 4 + 3] !== value) this.repaint(c, d + STRIDE, value);
      c++;
    }
  }

  // ---- bulk build ------------------------------------------------------------

  /** Replaces the content with `routes` (already validated). Later duplicates win. */
  protected build(routes: RouteList): void {
    const total = routes.count;
    this.setWidth(this.stepFor(total));
    const S = this.directBits;
    const w = wordsOf(routes.family);
    const { prefixes, lengths, nextHops } = routes;
    let long = 0;
    for (let r = 0; r < total; r++) if (lengths[r] > S) long++;
    this.resetStorage(Math.ceil(long / 3) + 64, long * 2 + 256, long + 256);

    const tree = this.shortTree;
    for (let r = 0; r < total; r++) {
      const len = lengths[r];
      if (len > S) continue;
      if (len === 0) {
        if (this.defaultHop === NO_ROUTE) this.count++;
        this.defaultHop = nextHops[r];
        continue;
      }
      const idx = (1 << len) | ((prefixes[r * w] >>> this.topShift) >>> (S - len));
      if (tree[idx] === NO_ROUTE) this.count++;
      tree[idx] = nextHops[r];
    }
    // What each direct entry inherits from the short routes, top-down.
    const best = new Uint16Array(2 << S);
    best[1] = tree[1];
    for (let idx = 2; idx < 2 << S; idx++) {
      best[idx] = tree[idx] !== NO_ROUTE ? tree[idx] : best[idx >>> 1];
    }
    for (let slot = 0; slot < 1 << S; slot++) {
      this.direct[slot] = (best[(1 << S) + slot] << 1) | LEAF;
    }

    // Counting sort of the long routes by direct entry, then one subtree each.
    const starts = new Uint32Array((1 << S) + 1);
    for (let r = 0; r < total; r++) {
      if (lengths[r] > S) starts[(prefixes[r * w] >>> this.topShift) + 1]++;
    }
    for (let slot = 0; slot < 1 << S; slot++) starts[slot + 1] += starts[slot];
    const order = new Uint32Array(long);
    const fill = starts.slice(0, 1 << S);
    for (let r = 0; r < total; r++) {
      if (lengths[r] > S) order[fill[prefixes[r * w] >>> this.topShift]++] = r;
    }
    const scratch: BuildScratch = {
      routes,
      w,
      order,
      tmp: new Uint32Array(long),
      counts: new Uint32Array(33 * this.path.length),
      own: new Uint16Array(64 * this.path.length),
    };
    for (let slot = 0; slot < 1 << S; slot++) {
      const lo = starts[slot];
      const hi = starts[slot + 1];
      if (lo === hi) continue;
      const n = this.allocNodes(1);
      this.initNode(n, best[(1 << S) + slot]);
      this.direct[slot] = n << 1;
      this.buildNode(scratch, n, S, lo, hi);
    }
    this.nodePool.trim();
    this.leafPool.trim();
    this.routePool.trim();
    this.syncArrays();
  }

  /** Builds node `n` at depth `d` from routes `order[lo..hi)`, all longer than `d` and inside it. */
  private buildNode(s: BuildScratch, n: number, d: number, lo: number, hi: number): void {
    const { routes, w, order, tmp } = s;
    const level = (d - this.directBits) / STRIDE;
    const counts = s.counts.subarray(level * 33, level * 33 + 33);
    const own = s.own.subarray(level * 64, level * 64 + 64);
    counts.fill(0);
    let ownLo = 0;
    let ownHi = 0;
    let deeper = 0;
    for (let i = lo; i < hi; i++) {
      const r = order[i];
      const len = routes.lengths[r];
      const v = chunkOf(routes.prefixes, r * w, d, this.nwords);
      if (len <= d + STRIDE) {
        const l = len - d;
        const pos = (1 << l) - 2 + (v >>> (STRIDE - l));
        if (pos < 32) {
          if (((ownLo >>> pos) & 1) === 0) this.count++;
          ownLo |= 1 << pos;
        } else {
          if (((ownHi >>> (pos - 32)) & 1) === 0) this.count++;
          ownHi |= 1 << (pos - 32);
        }
        own[pos] = routes.nextHops[r];
      } else {
        counts[v + 1]++;
        deeper++;
      }
    }
    const k = popcount(ownLo) + popcount(ownHi);
    const rb = this.allocRoutes(k);
    let j = rb;
    for (let x = ownLo; x !== 0; x &= x - 1) this.routeNh[j++] = own[31 - Math.clz32(x & -x)];
    for (let x = ownHi; x !== 0; x &= x - 1) this.routeNh[j++] = own[63 - Math.clz32(x & -x)];
    const m = n * 4;
    this.meta[m] = ownLo;
    this.meta[m + 1] = ownHi;
    this.meta[m + 2] = rb;

    // Stable partition of the deeper routes by slot, back into order[lo..lo+deeper).
    let vector = 0;
    for (let v = 0; v < 32; v++) {
      if (counts[v + 1] !== 0) vector |= 1 << v;
      counts[v + 1] += counts[v];
    }
    for (let i = lo; i < hi; i++) {
      const r = order[i];
      if (routes.lengths[r] <= d + STRIDE) continue;
      tmp[lo + counts[chunkOf(routes.prefixes, r * w, d, this.nwords)]++] = r;
    }
    order.set(tmp.subarray(lo, lo + deeper), lo);

    const off = level * 32;
    this.paint(n, off);
    const kids = popcount(vector);
    const cb = this.allocNodes(kids);
    this.nodes[m] = vector;
    this.nodes[m + 2] = cb;
    // counts[v] is now the end of slot v's routes; slot v starts where slot v-1 ends.
    let c = cb;
    for (let x = vector; x !== 0; x &= x - 1) {
      const v = 31 - Math.clz32(x & -x);
      const start = lo + (v === 0 ? 0 : counts[v - 1]);
      const end = lo + counts[v];
      this.initNode(c, this.paintBuf[off + v]);
      this.buildNode(s, c, d + STRIDE, start, end);
      c++;
    }
    this.writeLeaves(n, off);
  }

  // ---- enumeration -----------------------------------------------------------

  /** Visits every route; `words` is scratch, valid only during the call. */
  protected forEachRoute(visit: (words: Uint32Array, length: number, nextHop: NextHop) => void) {
    const S = this.directBits;
    const words = new Uint32Array(4);
    if (this.defaultHop !== NO_ROUTE) visit(words, 0, this.defaultHop);
    for (let l = 1; l <= S; l++) {
      const first = 1 << l;
      for (let i = 0; i < first; i++) {
        const nh = this.shortTree[first + i];
        if (nh === NO_ROUTE) continue;
        words.fill(0);
        words[0] = (i << (32 - l)) >>> 0;
        visit(words, l, nh);
      }
    }
    for (let top = 0; top < 1 << S; top++) {
      const e = this.direct[top];
      if (e & LEAF) continue;
      words.fill(0);
      words[0] = (top << this.topShift) >>> 0;
      this.visitNode(e >>> 1, S, words, visit);
    }
  }

  private visitNode(
    n: number,
    d: number,
    words: Uint32Array,
    visit: (words: Uint32Array, length: number, nextHop: NextHop) => void,
  ): void {
    const m = n * 4;
    let r = this.meta[m + 2];
    for (let half = 0; half < 2; half++) {
      for (let x = this.meta[m + half] | 0; x !== 0; x &= x - 1) {
        const pos = 31 - Math.clz32(x & -x) + half * 32;
        setChunk(words, d, POS_START[pos]);
        visit(words, d + POS_LENGTH[pos], this.routeNh[r++]);
      }
    }
    let c = this.nodes[m + 2];
    for (let x = this.nodes[m] | 0; x !== 0; x &= x - 1) {
      setChunk(words, d, 31 - Math.clz32(x & -x));
      this.visitNode(c++, d + STRIDE, words, visit);
    }
    setChunk(words, d, 0);
  }
}

interface BuildScratch {
  routes: RouteList;
  w: number;
  order: Uint32Array;
  tmp: Uint32Array;
  counts: Uint32Array;
  own: Uint16Array;
}

/** IPv4 Poptrie: a full table gets 19 direct bits, so that a /24 lies one node below the direct array. */
export class Poptrie4 extends Poptrie implements Lpm4 {
  readonly family = 4 as const;

  constructor(options: PoptrieOptions = {}) {
    super(32, options.directBits);
  }

  insert(prefix: number, length: number, nextHop: NextHop): void {
    checkPrefix4(prefix, length);
    checkNextHop(nextHop);
    this.key[0] = prefix;
    this.insertKey(length, nextHop);
  }

  delete(prefix: number, length: number): boolean {
    checkPrefix4(prefix, length);
    this.key[0] = prefix;
    return this.deleteKey(length);
  }

  get(prefix: number, length: number): NextHop {
    checkPrefix4(prefix, length);
    this.key[0] = prefix;
    return this.getKey(length);
  }

  lookup(addr: number): NextHop {
    const e = this.direct[addr >>> this.topShift];
    if (e & LEAF) return e >>> 1 === NO_ROUTE ? this.defaultHop : e >>> 1;
    const nodes = this.nodes;
    let o = (e >>> 1) * 4;
    let d = this.directBits;
    for (;;) {
      const v = d <= 27 ? (addr >>> (27 - d)) & 31 : (addr << (d - 27)) & 31;
      const vec = nodes[o];
      if (((vec >>> v) & 1) === 0) {
        const hop = this.leaves[nodes[o + 3] + popcount(nodes[o + 1] & ~(-2 << v)) - 1];
        return hop === NO_ROUTE ? this.defaultHop : hop;
      }
      o = (nodes[o + 2] + popcount(vec & ~(-1 << v))) * 4;
      d += STRIDE;
    }
  }

  lookupBatch(addrs: Uint32Array, out: Uint16Array, count = out.length): void {
    const direct = this.direct;
    const nodes = this.nodes;
    const leaves = this.leaves;
    const shift = this.topShift;
    const S = this.directBits;
    for (let i = 0; i < count; i++) {
      const addr = addrs[i];
      const e = direct[addr >>> shift];
      if (e & LEAF) {
        out[i] = e >>> 1;
        continue;
      }
      let o = (e >>> 1) * 4;
      let d = S;
      for (;;) {
        const v = d <= 27 ? (addr >>> (27 - d)) & 31 : (addr << (d - 27)) & 31;
        const vec = nodes[o];
        if (((vec >>> v) & 1) === 0) {
          out[i] = leaves[nodes[o + 3] + popcount(nodes[o + 1] & ~(-2 << v)) - 1];
          break;
        }
        o = (nodes[o + 2] + popcount(vec & ~(-1 << v))) * 4;
        d += STRIDE;
      }
    }
    this.fillDefault(out, count);
  }

  forEach(visit: (prefix: number, length: number, nextHop: NextHop) => void): void {
    this.forEachRoute((words, length, nextHop) => visit(words[0], length, nextHop));
  }

  load(routes: RouteList): void {
    if (routes.family !== 4) throw new RangeError("IPv4 table given an IPv6 route list");
    for (let r = 0; r < routes.count; r++) {
      checkPrefix4(routes.prefixes[r], routes.lengths[r]);
      checkNextHop(routes.nextHops[r]);
    }
    this.build(routes);
  }
}

/** IPv6 Poptrie: a full table gets 18 direct bits (measured best on the real table, docs/FIB.md). */
export class Poptrie6 extends Poptrie implements Lpm6 {
  readonly family = 6 as const;

  constructor(options: PoptrieOptions = {}) {
    super(128, options.directBits);
  }

  private setKey(prefix: ArrayLike<number>): void {
    for (let w = 0; w < 4; w++) this.key[w] = prefix[w];
  }

  insert(prefix: ArrayLike<number>, length: number, nextHop: NextHop): void {
    checkPrefix6(prefix, length);
    checkNextHop(nextHop);
    this.setKey(prefix);
    this.insertKey(length, nextHop);
  }

  delete(prefix: ArrayLike<number>, length: number): boolean {
    checkPrefix6(prefix, length);
    this.setKey(prefix);
    return this.deleteKey(length);
  }

  get(prefix: ArrayLike<number>, length: number): NextHop {
    checkPrefix6(prefix, length);
    this.setKey(prefix);
    return this.getKey(length);
  }

  lookup(words: ArrayLike<number>, offset = 0): NextHop {
    const e = this.direct[words[offset] >>> this.topShift];
    if (e & LEAF) return e >>> 1 === NO_ROUTE ? this.defaultHop : e >>> 1;
    const nodes = this.nodes;
    let o = (e >>> 1) * 4;
    let d = this.directBits;
    for (;;) {
      const k = d >>> 5;
      const b = d & 31;
      const word = words[offset + k];
      const v =
        b <= 27
          ? (word >>> (27 - b)) & 31
          : ((word << (b - 27)) | (k < 3 ? words[offset + k + 1] >>> (59 - b) : 0)) & 31;
      const vec = nodes[o];
      if (((vec >>> v) & 1) === 0) {
        const hop = this.leaves[nodes[o + 3] + popcount(nodes[o + 1] & ~(-2 << v)) - 1];
        return hop === NO_ROUTE ? this.defaultHop : hop;
      }
      o = (nodes[o + 2] + popcount(vec & ~(-1 << v))) * 4;
      d += STRIDE;
    }
  }

  lookupBatch(addrs: Uint32Array, out: Uint16Array, count = out.length): void {
    const direct = this.direct;
    const nodes = this.nodes;
    const leaves = this.leaves;
    const shift = this.topShift;
    const S = this.directBits;
    for (let i = 0; i < count; i++) {
      const base = i * 4;
      const e = direct[addrs[base] >>> shift];
      if (e & LEAF) {
        out[i] = e >>> 1;
        continue;
      }
      let o = (e >>> 1) * 4;
      let d = S;
      for (;;) {
        const k = d >>> 5;
        const b = d & 31;
        const word = addrs[base + k];
        const v =
          b <= 27
            ? (word >>> (27 - b)) & 31
            : ((word << (b - 27)) | (k < 3 ? addrs[base + k + 1] >>> (59 - b) : 0)) & 31;
        const vec = nodes[o];
        if (((vec >>> v) & 1) === 0) {
          out[i] = leaves[nodes[o + 3] + popcount(nodes[o + 1] & ~(-2 << v)) - 1];
          break;
        }
        o = (nodes[o + 2] + popcount(vec & ~(-1 << v))) * 4;
        d += STRIDE;
      }
    }
    this.fillDefault(out, count);
  }

  forEach(visit: (prefix: ArrayLike<number>, length: number, nextHop: NextHop) => void): void {
    this.forEachRoute((words, length, nextHop) => visit(words.slice(), length, nextHop));
  }

  load(routes: RouteList): void {
    if (routes.family !== 6) throw new RangeError("IPv6 table given an IPv4 route list");
    for (let r = 0; r < routes.count; r++) {
      checkPrefix6(routes.prefixes.subarray(r * 4, r * 4 + 4), routes.lengths[r]);
      checkNextHop(routes.nextHops[r]);
    }
    this.build(routes);
  }
}
