/**
 * Interned attribute sets: one shared, immutable `PathAttributes` per
 * distinct set, named by a small integer id and reference-counted, so a
 * table of a million routes holds a million integers and only as many
 * attribute objects as there are distinct sets (typically a few per cent).
 * Each entry also caches what the decision process and the encoder ask of
 * it again and again: the AS path length, the neighbouring AS, the next
 * hop's resolution (by generation), the encoded attributes per peer kind.
 *
 * Id 0 is never used: tables use it for "none". `intern` answers an id
 * with one reference owned by the caller; `ref`/`unref` move references;
 * an entry goes when its last reference does.
 */
import { nextStamp } from "./prefix-table.ts";
import {
  asPathFirst,
  asPathLength,
  attributesHash,
  encodeAttributes,
  type PathAttributes,
  sameAttributes,
} from "./wire/attributes.ts";

export const NO_ATTRS = 0;

export class InternedAttrs {
  refs = 0;
  /** Path length as the decision process counts it. */
  readonly pathLength: number;
  /** Leftmost AS, or -1 (empty path or leading set): the neighbouring AS for MED comparison. */
  readonly firstAs: number;
  /** Next-hop resolution, valid while `resolvedGen` equals the speaker's generation. */
  resolvedGen = -1;
  reachable = true;
  metric = 0;
  /** Encoded attributes for peers with and without 4-octet AS numbers (made when first sent). */
  private enc4: Uint8Array | undefined;
  private enc2: Uint8Array | undefined;

  constructor(
    readonly id: number,
    readonly attrs: PathAttributes,
    readonly hash: number,
  ) {
    this.pathLength = asPathLength(attrs.asPath);
    this.firstAs = asPathFirst(attrs.asPath) ?? -1;
  }

  /** The attributes as a peer of the given kind receives them (cached). */
  encode(as4: boolean): Uint8Array {
    let e = as4 ? this.enc4 : this.enc2;
    if (!e) {
      const family = this.attrs.nextHop && this.attrs.nextHop.length === 4 ? 6 : 4;
      e = encodeAttributes(this.attrs, { as4, family });
      if (as4) this.enc4 = e;
      else this.enc2 = e;
    }
    return e;
  }
}

export class AttrInterner {
  /** Hash → id, or ids when hashes collide. */
  private readonly byHash = new Map<number, number | number[]>();
  private readonly entries: (InternedAttrs | undefined)[] = [undefined];
  private readonly free: number[] = [];
  private count = 0;
  /** Moves at every change of the sets or their counts (see prefix-table.ts, `stamp`). */
  stamp = nextStamp();

  /** Number of distinct sets held. */
  get size(): number {
    return this.count;
  }

  private lookup(attrs: PathAttributes, hash: number): number {
    const hit = this.byHash.get(hash);
    if (hit === undefined) return NO_ATTRS;
    if (typeof hit === "number")
      return sameAttributes(this.entries[hit]!.attrs, attrs) ? hit : NO_ATTRS;
    for (const id of hit) if (sameAttributes(this.entries[id]!.attrs, attrs)) return id;
    return NO_ATTRS;
  }

  private index(hash: number, id: number): void {
    const hit = this.byHash.get(hash);
    if (hit === undefined) this.byHash.set(hash, id);
    else if (typeof hit === "number") this.byHash.set(hash, [hit, id]);
    else hit.push(id);
  }

  private unindex(hash: number, id: number): void {
    const hit = this.byHash.get(hash);
    if (hit === id) this.byHash.delete(hash);
    else if (Array.isArray(hit)) {
      const rest = hit.filter((x) => x !== id);
      this.byHash.set(hash, rest.length === 1 ? rest[0] : rest);
    }
  }

  /** The id of `attrs`' set, with one reference for the caller. */
  intern(attrs: PathAttributes): number {
    this.stamp = nextStamp();
    const hash = attributesHash(attrs);
    const id = this.lookup(attrs, hash);
    if (id !== NO_ATTRS) {
      this.entries[id]!.refs++;
      return id;
    }
    const nid = this.free.length > 0 ? this.free.pop()! : this.entries.length;
    const e = new InternedAttrs(nid, attrs, hash);
    e.refs = 1;
    this.entries[nid] = e;
    this.index(hash, nid);
    this.count++;
    return nid;
  }

  get(id: number): InternedAttrs {
    const e = this.entries[id];
    if (!e) throw new RangeError(`no attribute set ${id}`);
    return e;
  }

  attrs(id: number): PathAttributes {
    return this.get(id).attrs;
  }

  ref(id: number): void {
    if (id === NO_ATTRS) return;
    this.stamp = nextStamp();
    this.entries[id]!.refs++;
  }

  unref(id: number): void {
    if (id === NO_ATTRS) return;
    this.stamp = nextStamp();
    const e = this.entries[id]!;
    if (--e.refs > 0) return;
    this.unindex(e.hash, id);
    this.entries[id] = undefined;
    this.free.push(id);
    this.count--;
  }

  /** Every live set (for export and checks). */
  *all(): Generator<InternedAttrs> {
    for (const e of this.entries) if (e) yield e;
  }

  /** Replaces the content with sets under given ids and counts (for import). */
  restoreAll(records: readonly { id: number; refs: number; attrs: PathAttributes }[]): void {
    this.stamp = nextStamp();
    this.byHash.clear();
    this.entries.length = 1;
    this.free.length = 0;
    this.count = 0;
    for (const r of records) {
      while (this.entries.length <= r.id) this.entries.push(undefined);
      const hash = attributesHash(r.attrs);
      const e = new InternedAttrs(r.id, r.attrs, hash);
      e.refs = r.refs;
      this.entries[r.id] = e;
      this.index(hash, r.id);
      this.count++;
    }
    for (let i = this.entries.length - 1; i > 0; i--) if (!this.entries[i]) this.free.push(i);
  }
}
