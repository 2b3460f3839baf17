/**
 * An open-addressing hash table from a prefix (IPv4 or IPv6, with its
 * length) to a few 32-bit integers, stored in typed arrays: no JS object
 * per prefix. The RIBs are built on it (a full Internet table is a million
 * entries per table). Linear probing with backward-shift deletion, so
 * there are no tombstones; a deletion may move other entries, so code that
 * deletes while walking takes a `snapshot()` of the keys first.
 *
 * A slot is an integer; `lens[slot]` is the prefix length + 1 (0 = empty).
 * IPv4 keys are one word per slot, IPv6 keys four.
 *
 * Every table carries a `stamp`, taken from one process-wide counter when
 * the table is made and again at each change (an insert, a deletion, a
 * value set through `setValue`, or `touch()` after writing `values`
 * directly): two equal stamps mean the same table with the same content.
 * A router's migration uses them to send a table only when it changed.
 */
import type { Family } from "../../fib/types.ts";

const MIN_CAPACITY = 16;

/** The process-wide change counter behind every table's `stamp`. */
let changeClock = 0;

/** A new change stamp (tables and the attribute interner share the counter). */
export function nextStamp(): number {
  return ++changeClock;
}

/** A list of prefixes of one family, packed: IPv4 as addr/length pairs, IPv6 as 4 words + length. */
export class PrefixList {
  words: Uint32Array;
  lens: Uint8Array;
  count = 0;
  readonly stride: number;

  constructor(
    readonly family: Family,
    capacity = 64,
  ) {
    this.stride = family === 4 ? 1 : 4;
    this.words = new Uint32Array(Math.max(1, capacity) * this.stride);
    this.lens = new Uint8Array(Math.max(1, capacity));
  }

  push4(addr: number, length: number): void {
    if (this.count === this.lens.length) this.grow();
    this.words[this.count] = addr;
    this.lens[this.count++] = length;
  }

  push6(words: ArrayLike<number>, woff: number, length: number): void {
    if (this.count === this.lens.length) this.grow();
    const at = this.count * 4;
    this.words[at] = words[woff];
    this.words[at + 1] = words[woff + 1];
    this.words[at + 2] = words[woff + 2];
    this.words[at + 3] = words[woff + 3];
    this.lens[this.count++] = length;
  }

  clear(): void {
    this.count = 0;
  }

  private grow(): void {
    const cap = this.lens.length * 2;
    const w = new Uint32Array(cap * this.stride);
    w.set(this.words);
    const l = new Uint8Array(cap);
    l.set(this.lens);
    this.words = w;
    this.lens = l;
  }
}

export class PrefixTable {
  readonly stride: number;
  keys: Uint32Array;
  lens: Uint8Array;
  values: Int32Array;
  size = 0;
  /** Changes whenever the content may have changed (see the module comment). */
  stamp = nextStamp();
  private mask: number;

  constructor(
    readonly family: Family,
    readonly cols = 1,
    capacity = MIN_CAPACITY,
  ) {
    this.stride = family === 4 ? 1 : 4;
    let cap = MIN_CAPACITY;
    while (cap < capacity) cap *= 2;
    this.mask = cap - 1;
    this.keys = new Uint32Array(cap * this.stride);
    this.lens = new Uint8Array(cap);
    this.values = new Int32Array(cap * cols);
  }

  get capacity(): number {
    return this.lens.length;
  }

  private hash4(addr: number, length: number): number {
    let h = Math.imul(addr ^ Math.imul(length + 1, 0x9e3779b1), 0x85ebca6b);
    h ^= h >>> 15;
    h = Math.imul(h, 0xc2b2ae35);
    h ^= h >>> 13;
    return h & this.mask;
  }

  private hash6(w: ArrayLike<number>, o: number, length: number): number {
    let h = Math.imul(length + 1, 0x9e3779b1);
    h = Math.imul(h ^ w[o], 0x85ebca6b);
    h ^= h >>> 15;
    h = Math.imul(h ^ w[o + 1], 0xc2b2ae35);
    h ^= h >>> 13;
    h = Math.imul(h ^ w[o + 2], 0x85ebca6b);
    h ^= h >>> 15;
    h = Math.imul(h ^ w[o + 3], 0xc2b2ae35);
    h ^= h >>> 16;
    return h & this.mask;
  }

  /** The slot holding the IPv4 prefix, or -1. */
  find4(addr: number, length: number): number {
    const lens = this.lens;
    const keys = this.keys;
    const l = length + 1;
    let s = this.hash4(addr, length);
    for (;;) {
      const x = lens[s];
      if (x === 0) return -1;
      if (x === l && keys[s] === addr) return s;
      s = (s + 1) & this.mask;
    }
  }

  /** The slot holding the IPv6 prefix (4 words of `w` from `o`), or -1. */
  find6(w: ArrayLike<number>, o: number, length: number): number {
    const lens = this.lens;
    const keys = this.keys;
    const l = length + 1;
    let s = this.hash6(w, o, length);
    for (;;) {
      const x = lens[s];
      if (x === 0) return -1;
      if (x === l) {
        const k = s * 4;
        if (
          keys[k] === w[o] &&
          keys[k + 1] === w[o + 1] &&
          keys[k + 2] === w[o + 2] &&
          keys[k + 3] === w[o + 3]
        ) {
          return s;
        }
      }
      s = (s + 1) & this.mask;
    }
  }

  /** The slot of the prefix given as words (1 or 4) from `o`, or -1. */
  find(w: ArrayLike<number>, o: number, length: number): number {
    return this.family === 4 ? this.find4(w[o], length) : this.find6(w, o, length);
  }

  /** The slot of the IPv4 prefix, inserted (values zeroed) if absent; `inserted` tells which. */
  insert4(addr: number, length: number): number {
    this.stamp = ++changeClock;
    if ((this.size + 1) * 4 > this.lens.length * 3) this.resize(this.lens.length * 2);
    const lens = this.lens;
    const keys = this.keys;
    const l = length + 1;
    let s = this.hash4(addr, length);
    for (;;) {
      const x = lens[s];
      if (x === 0) break;
      if (x === l && keys[s] === addr) {
        this.inserted = false;
        return s;
      }
      s = (s + 1) & this.mask;
    }
    lens[s] = l;
    keys[s] = addr;
    this.values.fill(0, s * this.cols, s * this.cols + this.cols);
    this.size++;
    this.inserted = true;
    return s;
  }

  insert6(w: ArrayLike<number>, o: number, length: number): number {
    this.stamp = ++changeClock;
    if ((this.size + 1) * 4 > this.lens.length * 3) this.resize(this.lens.length * 2);
    const s0 = this.find6(w, o, length);
    if (s0 >= 0) {
      this.inserted = false;
      return s0;
    }
    const lens = this.lens;
    let s = this.hash6(w, o, length);
    while (lens[s] !== 0) s = (s + 1) & this.mask;
    lens[s] = length + 1;
    const k = s * 4;
    this.keys[k] = w[o];
    this.keys[k + 1] = w[o + 1];
    this.keys[k + 2] = w[o + 2];
    this.keys[k + 3] = w[o + 3];
    this.values.fill(0, s * this.cols, s * this.cols + this.cols);
    this.size++;
    this.inserted = true;
    return s;
  }

  insert(w: ArrayLike<number>, o: number, length: number): number {
    return this.family === 4 ? this.insert4(w[o], length) : this.insert6(w, o, length);
  }

  /** Whether the last insert added the prefix (false: it was there). */
  inserted = false;

  /** Removes the entry in `slot` (backward-shift: later entries of the run may move). */
  deleteSlot(slot: number): void {
    this.stamp = ++changeClock;
    const lens = this.lens;
    const keys = this.keys;
    const values = this.values;
    const cols = this.cols;
    const stride = this.stride;
    const mask = this.mask;
    let hole = slot;
    let s = (slot + 1) & mask;
    for (;;) {
      if (lens[s] === 0) break;
      const home =
        stride === 1 ? this.hash4(keys[s], lens[s] - 1) : this.hash6(keys, s * 4, lens[s] - 1);
      // Move s into the hole unless its home lies cyclically in (hole, s].
      const inRange = hole <= s ? home > hole && home <= s : home > hole || home <= s;
      if (!inRange) {
        lens[hole] = lens[s];
        for (let i = 0; i < stride; i++) keys[hole * stride + i] = keys[s * stride + i];
        for (let i = 0; i < cols; i++) values[hole * cols + i] = values[s * cols + i];
        hole = s;
      }
      s = (s + 1) & mask;
    }
    lens[hole] = 0;
    this.size--;
  }

  /** Removes every entry (keeps the capacity unless `shrink`). */
  clear(shrink = true): void {
    this.stamp = ++changeClock;
    if (shrink && this.lens.length > MIN_CAPACITY) {
      this.mask = MIN_CAPACITY - 1;
      this.keys = new Uint32Array(MIN_CAPACITY * this.stride);
      this.lens = new Uint8Array(MIN_CAPACITY);
      this.values = new Int32Array(MIN_CAPACITY * this.cols);
    } else {
      this.lens.fill(0);
    }
    this.size = 0;
  }

  value(slot: number, col = 0): number {
    return this.values[slot * this.cols + col];
  }

  setValue(slot: number, value: number, col = 0): void {
    this.stamp = ++changeClock;
    this.values[slot * this.cols + col] = value;
  }

  /** Records a change made by writing `values` directly. */
  touch(): void {
    this.stamp = ++changeClock;
  }

  /** IPv4 address of the entry in `slot`. */
  addr(slot: number): number {
    return this.keys[slot];
  }

  length(slot: number): number {
    return this.lens[slot] - 1;
  }

  /** The keys (and values) of every entry, packed, in slot order. */
  snapshot(): { words: Uint32Array; lens: Uint8Array; values: Int32Array } {
    const n = this.size;
    const stride = this.stride;
    const cols = this.cols;
    const words = new Uint32Array(n * stride);
    const lens = new Uint8Array(n);
    const values = new Int32Array(n * cols);
    let i = 0;
    for (let s = 0; s < this.lens.length; s++) {
      if (this.lens[s] === 0) continue;
      lens[i] = this.lens[s] - 1;
      for (let k = 0; k < stride; k++) words[i * stride + k] = this.keys[s * stride + k];
      for (let k = 0; k < cols; k++) values[i * cols + k] = this.values[s * cols + k];
      i++;
    }
    return { words, lens, values };
  }

  /** Refills from a snapshot (the table is cleared first). */
  load(snap: { words: Uint32Array; lens: Uint8Array; values: Int32Array }): void {
    this.clear();
    const n = snap.lens.length;
    let cap = MIN_CAPACITY;
    while (cap * 3 < n * 4 + 4) cap *= 2;
    this.resize(cap);
    const stride = this.stride;
    for (let i = 0; i < n; i++) {
      const s = this.insert(snap.words, i * stride, snap.lens[i]);
      for (let k = 0; k < this.cols; k++)
        this.values[s * this.cols + k] = snap.values[i * this.cols + k];
    }
  }

  private resize(cap: number): void {
    const oldLens = this.lens;
    const oldKeys = this.keys;
    const oldValues = this.values;
    const stride = this.stride;
    const cols = this.cols;
    this.mask = cap - 1;
    this.lens = new Uint8Array(cap);
    this.keys = new Uint32Array(cap * stride);
    this.values = new Int32Array(cap * cols);
    for (let s = 0; s < oldLens.length; s++) {
      const l = oldLens[s];
      if (l === 0) continue;
      let t = stride === 1 ? this.hash4(oldKeys[s], l - 1) : this.hash6(oldKeys, s * 4, l - 1);
      while (this.lens[t] !== 0) t = (t + 1) & this.mask;
      this.lens[t] = l;
      for (let i = 0; i < stride; i++) this.keys[t * stride + i] = oldKeys[s * stride + i];
      for (let i = 0; i < cols; i++) this.values[t * cols + i] = oldValues[s * cols + i];
    }
  }
}
