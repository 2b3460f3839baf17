/**
 * Adj-RIB-Out (RFC 4271 section 3.2) of one peer and family: what was
 * advertised (prefix → attribute id) and what is waiting to be (prefix →
 * wanted attribute id, 0 for a withdrawal). Only changes are sent: a wish
 * equal to what the peer already has is dropped, and a second wish for a
 * prefix replaces the first before it goes out.
 *
 * Waiting prefixes are grouped in buckets by wanted attribute set (as BIRD
 * does), so that `drain` packs as many prefixes sharing one set as fit in
 * a 4096-octet UPDATE; withdrawals go first. A bucket entry is checked
 * against the waiting table when drained (a later wish makes it stale), so
 * buckets are append-only lists of prefixes, no object per prefix. `drain`
 * stops after a byte budget, so that a full table goes out as fast as the
 * connection takes it and no faster (see speaker.ts, `sendSpace`).
 */
import type { Family } from "../../fib/types.ts";
import type { AttrInterner } from "./attr-intern.ts";
import { PrefixList, PrefixTable } from "./prefix-table.ts";
import type { UpdatePacker } from "./wire/update.ts";

export const WITHDRAW = 0;

interface Bucket {
  list: PrefixList;
  pos: number;
}

export class AdjRibOut {
  readonly advertised: PrefixTable;
  readonly pending: PrefixTable;
  private buckets = new Map<number, Bucket>();

  constructor(
    readonly family: Family,
    private readonly interner: AttrInterner,
  ) {
    this.advertised = new PrefixTable(family, 1);
    this.pending = new PrefixTable(family, 1);
  }

  /** Prefixes waiting to be sent. */
  get waiting(): number {
    return this.pending.size;
  }

  /** Wants the prefix advertised with `attrId` (WITHDRAW: withdrawn). Takes no reference from the caller. */
  want(w: ArrayLike<number>, o: number, length: number, attrId: number): void {
    const adv = this.advertised.find(w, o, length);
    const current = adv < 0 ? WITHDRAW : this.advertised.values[adv];
    const p = this.pending.find(w, o, length);
    if (p >= 0) {
      const old = this.pending.values[p];
      if (old === attrId) return;
      this.interner.unref(old);
      if (attrId === current) {
        this.pending.deleteSlot(p);
        return;
      }
      this.pending.values[p] = attrId;
      this.pending.touch();
    } else {
      if (attrId === current) return;
      const s = this.pending.insert(w, o, length);
      this.pending.values[s] = attrId;
    }
    this.interner.ref(attrId);
    this.bucket(attrId, w, o, length);
  }

  private bucket(attrId: number, w: ArrayLike<number>, o: number, length: number): void {
    let b = this.buckets.get(attrId);
    if (!b) {
      b = { list: new PrefixList(this.family, 16), pos: 0 };
      this.buckets.set(attrId, b);
    }
    if (this.family === 4) b.list.push4(w[o], length);
    else b.list.push6(w, o, length);
  }

  /**
   * Encodes waiting changes into UPDATEs, calling `emit` for each, until at
   * least `budget` octets went out or nothing waits. Answers the octets
   * produced. `as4`: the peer has 4-octet AS numbers.
   */
  drain(
    packer: UpdatePacker,
    as4: boolean,
    budget: number,
    emit: (msg: Uint8Array) => void,
  ): number {
    let produced = 0;
    while (produced < budget && this.buckets.size > 0) {
      const attrId = this.buckets.has(WITHDRAW) ? WITHDRAW : this.buckets.keys().next().value!;
      const b = this.buckets.get(attrId)!;
      const list = b.list;
      const stride = list.stride;
      let started = false;
      const begin = () => {
        if (attrId === WITHDRAW) packer.beginWithdraw(this.family);
        else {
          const e = this.interner.get(attrId);
          if (this.family === 4) packer.beginAnnounce(4, e.encode(as4));
          else packer.beginAnnounce(6, e.encode(as4), e.attrs.nextHop, e.attrs.linkLocal);
        }
        started = true;
      };
      while (b.pos < list.count && produced < budget) {
        const i = b.pos;
        const len = list.lens[i];
        const p = this.pending.find(list.words, i * stride, len);
        if (p < 0 || this.pending.values[p] !== attrId) {
          b.pos++;
          continue;
        }
        if (!started) begin();
        const fits =
          this.family === 4 ? packer.add4(list.words[i], len) : packer.add6(list.words, i * 4, len);
        if (!fits) {
          const msg = packer.finish();
          produced += msg.length;
          emit(msg);
          started = false;
          continue;
        }
        b.pos++;
        this.commit(p, list.words, i * stride, len, attrId);
      }
      if (started && packer.count > 0) {
        const msg = packer.finish();
        produced += msg.length;
        emit(msg);
      }
      if (b.pos >= list.count) this.buckets.delete(attrId);
    }
    return produced;
  }

  /** The waiting change at pending slot `p` went out: record it as advertised. */
  private commit(p: number, w: ArrayLike<number>, o: number, length: number, attrId: number): void {
    this.pending.deleteSlot(p);
    const a = this.advertised.find(w, o, length);
    if (attrId === WITHDRAW) {
      if (a >= 0) {
        this.interner.unref(this.advertised.values[a]);
        this.advertised.deleteSlot(a);
      }
      return;
    }
    // The pending reference becomes the advertised one.
    const s = this.advertised.insert(w, o, length);
    if (!this.advertised.inserted) this.interner.unref(this.advertised.values[s]);
    this.advertised.values[s] = attrId;
  }

  /** Everything advertised goes out again (the peer asked for a route refresh, RFC 2918). */
  resendAll(): void {
    const snap = this.advertised.snapshot();
    this.advertised.clear();
    const stride = this.advertised.stride;
    for (let i = 0; i < snap.lens.length; i++) {
      const len = snap.lens[i];
      const p = this.pending.find(snap.words, i * stride, len);
      if (p >= 0) {
        // A newer wish stands; what was advertised is forgotten.
        this.interner.unref(snap.values[i]);
        if (this.pending.values[p] === WITHDRAW) this.pending.deleteSlot(p);
        continue;
      }
      const s = this.pending.insert(snap.words, i * stride, len);
      this.pending.values[s] = snap.values[i];
      this.bucket(snap.values[i], snap.words, i * stride, len);
    }
  }

  /** Forgets everything (the session went down), releasing references. */
  clear(): void {
    for (const t of [this.advertised, this.pending]) {
      for (let s = 0; s < t.capacity; s++) if (t.lens[s] !== 0) this.interner.unref(t.values[s]);
      t.clear();
    }
    this.buckets.clear();
  }

  /** Rebuilds the buckets from the waiting table (after import). */
  rebuildBuckets(): void {
    this.buckets.clear();
    const t = this.pending;
    for (let s = 0; s < t.capacity; s++) {
      if (t.lens[s] === 0) continue;
      this.bucket(t.values[s], t.keys, s * t.stride, t.lens[s] - 1);
    }
  }
}
