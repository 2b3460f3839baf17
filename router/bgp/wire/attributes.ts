/**
 * Path attributes (RFC 4271 sections 4.3 and 5): their type codes and
 * flags, the value a route carries (`PathAttributes`), the AS path helpers
 * the decision process and policies use, and the encoder.
 *
 * Attributes known here: ORIGIN, AS_PATH (AS_SEQUENCE and AS_SET; the
 * confederation segments of RFC 5065 are recognised only to be refused),
 * NEXT_HOP, MULTI_EXIT_DISC, LOCAL_PREF, ATOMIC_AGGREGATE, AGGREGATOR,
 * COMMUNITIES (RFC 1997), EXTENDED COMMUNITIES (RFC 4360, kept as octets),
 * AS4_PATH and AS4_AGGREGATOR (RFC 6793), LARGE_COMMUNITIES (RFC 8092);
 * ORIGINATOR_ID and CLUSTER_LIST (RFC 4456) are checked but not stored,
 * and MP_REACH_NLRI / MP_UNREACH_NLRI (RFC 4760) belong to update.ts.
 * Unknown optional transitive attributes are kept (and passed on with the
 * Partial bit set); unknown optional non-transitive ones are dropped.
 *
 * An AS path is one Uint32Array of segments laid end to end:
 * [type, count, asn × count, type, count, ...], always with 4-octet AS
 * numbers; the encoder writes 2-octet paths with AS_TRANS and an AS4_PATH
 * for a peer without the 4-octet AS capability (RFC 6793 section 4.2.2).
 */
import type { Family } from "../../../fib/types.ts";
import { write16, write32 } from "../../wire/bytes.ts";
import { AS_TRANS } from "./open.ts";

export const AttrType = {
  Origin: 1,
  AsPath: 2,
  NextHop: 3,
  MultiExitDisc: 4,
  LocalPref: 5,
  AtomicAggregate: 6,
  Aggregator: 7,
  Communities: 8,
  OriginatorId: 9,
  ClusterList: 10,
  MpReachNlri: 14,
  MpUnreachNlri: 15,
  ExtendedCommunities: 16,
  As4Path: 17,
  As4Aggregator: 18,
  LargeCommunities: 32,
} as const;

export const AttrFlag = {
  Optional: 0x80,
  Transitive: 0x40,
  Partial: 0x20,
  ExtendedLength: 0x10,
} as const;

export const Origin = { Igp: 0, Egp: 1, Incomplete: 2 } as const;

export const SegmentType = {
  AsSet: 1,
  AsSequence: 2,
  ConfedSequence: 3,
  ConfedSet: 4,
} as const;

/** Well-known communities (RFC 1997). */
export const Community = {
  NoExport: 0xffffff01,
  NoAdvertise: 0xffffff02,
  NoExportSubconfed: 0xffffff03,
} as const;

export interface UnknownAttribute {
  readonly flags: number;
  readonly type: number;
  readonly value: Uint8Array;
}

/** The attributes of a route. Shared and immutable once interned (see attr-intern.ts). */
export interface PathAttributes {
  readonly origin: number;
  /** Segments end to end: [type, count, asn × count]... */
  readonly asPath: Uint32Array;
  /** IPv4 NEXT_HOP (1 word) or the global IPv6 next hop of MP_REACH_NLRI (4 words). */
  readonly nextHop?: Uint32Array;
  /** IPv6 link-local next hop (4 words), when the MP_REACH_NLRI next hop had 32 octets. */
  readonly linkLocal?: Uint32Array;
  readonly med?: number;
  readonly localPref?: number;
  readonly atomicAggregate: boolean;
  readonly aggregator?: { readonly asn: number; readonly address: number };
  /** RFC 1997 communities, as received (order kept). */
  readonly communities?: Uint32Array;
  /** RFC 8092 large communities: triplets (global, local 1, local 2). */
  readonly largeCommunities?: Uint32Array;
  /** RFC 4360 extended communities, 8 octets each, as received. */
  readonly extCommunities?: Uint8Array;
  /** Unknown optional transitive attributes, by type code. */
  readonly unknown?: readonly UnknownAttribute[];
}

export const EMPTY_PATH = new Uint32Array(0);

// ---- AS paths ----------------------------------------------------------------

/** Path length for the decision process: each AS of a sequence counts, a set counts 1, confederation segments 0. */
export function asPathLength(path: Uint32Array): number {
  let n = 0;
  for (let i = 0; i < path.length; i += 2 + path[i + 1]) {
    const t = path[i];
    if (t === SegmentType.AsSequence) n += path[i + 1];
    else if (t === SegmentType.AsSet) n += 1;
  }
  return n;
}

/** The leftmost AS (first of a leading AS_SEQUENCE), or undefined. */
export function asPathFirst(path: Uint32Array): number | undefined {
  if (path.length < 3 || path[0] !== SegmentType.AsSequence) return undefined;
  return path[2];
}

/** The origin AS (last of a trailing AS_SEQUENCE), or undefined (empty path, or ending in a set). */
export function asPathOrigin(path: Uint32Array): number | undefined {
  let last = -1;
  for (let i = 0; i < path.length; i += 2 + path[i + 1]) last = i;
  if (last < 0 || path[last] !== SegmentType.AsSequence || path[last + 1] === 0) return undefined;
  return path[last + 1 + path[last + 1]];
}

export function asPathContains(path: Uint32Array, asn: number): boolean {
  for (let i = 0; i < path.length; i += 2 + path[i + 1]) {
    const end = i + 2 + path[i + 1];
    for (let k = i + 2; k < end; k++) if (path[k] === asn) return true;
  }
  return false;
}

/** "65001 65002 {65003,65004}" (sets in braces, confederation segments in parentheses). */
export function asPathText(path: Uint32Array): string {
  const parts: string[] = [];
  for (let i = 0; i < path.length; i += 2 + path[i + 1]) {
    const asns = Array.from(path.subarray(i + 2, i + 2 + path[i + 1]));
    switch (path[i]) {
      case SegmentType.AsSequence:
        parts.push(asns.join(" "));
        break;
      case SegmentType.AsSet:
        parts.push(`{${asns.join(",")}}`);
        break;
      case SegmentType.ConfedSequence:
        parts.push(`(${asns.join(" ")})`);
        break;
      default:
        parts.push(`[${asns.join(",")}]`);
    }
  }
  return parts.join(" ");
}

export interface AsPathSegment {
  type: number;
  asns: number[];
}

export function asPathSegments(path: Uint32Array): AsPathSegment[] {
  const out: AsPathSegment[] = [];
  for (let i = 0; i < path.length; i += 2 + path[i + 1]) {
    out.push({ type: path[i], asns: Array.from(path.subarray(i + 2, i + 2 + path[i + 1])) });
  }
  return out;
}

/** Builds a path from segments, splitting any longer than 255 ASes. */
export function asPathFromSegments(segments: readonly AsPathSegment[]): Uint32Array {
  const out: number[] = [];
  for (const s of segments) {
    if (s.asns.length === 0) continue;
    for (let k = 0; k < s.asns.length; k += 255) {
      const part = s.asns.slice(k, k + 255);
      out.push(s.type, part.length, ...part);
    }
  }
  return Uint32Array.from(out);
}

/** `asn` prepended `count` times, merged into a leading AS_SEQUENCE (RFC 4271 section 5.1.2). */
export function asPathPrepend(path: Uint32Array, asn: number, count = 1): Uint32Array {
  if (count <= 0) return path;
  const segs = asPathSegments(path);
  const add = new Array<number>(count).fill(asn);
  if (segs.length > 0 && segs[0].type === SegmentType.AsSequence) segs[0].asns.unshift(...add);
  else segs.unshift({ type: SegmentType.AsSequence, asns: add });
  // Keep 255-AS segments with the overflow at the front, as RFC 4271 section 5.1.2 asks.
  const first = segs[0];
  if (first.asns.length > 255) {
    const extra = first.asns.length - 255;
    const head = first.asns.slice(0, extra);
    first.asns = first.asns.slice(extra);
    const out = asPathFromSegments([{ type: SegmentType.AsSequence, asns: head }, ...segs]);
    return out;
  }
  return asPathFromSegments(segs);
}

/**
 * Merges a 2-octet AS_PATH with an AS4_PATH (RFC 6793 section 4.2.3): when
 * the AS_PATH is at least as long, its leading ASes (lengths counted as in
 * the decision process) followed by the AS4_PATH; otherwise the AS_PATH.
 */
export function mergeAs4Path(asPath: Uint32Array, as4Path: Uint32Array): Uint32Array {
  const l2 = asPathLength(asPath);
  const l4 = asPathLength(as4Path);
  if (l2 < l4) return asPath;
  let keep = l2 - l4;
  const segs: AsPathSegment[] = [];
  for (const s of asPathSegments(asPath)) {
    if (keep <= 0) break;
    if (s.type === SegmentType.AsSequence) {
      const take = s.asns.slice(0, keep);
      segs.push({ type: s.type, asns: take });
      keep -= take.length;
    } else if (s.type === SegmentType.AsSet) {
      segs.push(s);
      keep -= 1;
    } else segs.push(s);
  }
  for (const s of asPathSegments(as4Path)) {
    const last = segs[segs.length - 1];
    if (last && last.type === SegmentType.AsSequence && s.type === SegmentType.AsSequence) {
      last.asns.push(...s.asns);
    } else segs.push(s);
  }
  return asPathFromSegments(segs);
}

// ---- communities -------------------------------------------------------------

export function communityText(c: number): string {
  switch (c) {
    case Community.NoExport:
      return "no-export";
    case Community.NoAdvertise:
      return "no-advertise";
    case Community.NoExportSubconfed:
      return "no-export-subconfed";
  }
  return `${c >>> 16}:${c & 0xffff}`;
}

export function hasCommunity(attrs: PathAttributes, c: number): boolean {
  const cs = attrs.communities;
  if (!cs) return false;
  for (let i = 0; i < cs.length; i++) if (cs[i] === c) return true;
  return false;
}

// ---- encoding ----------------------------------------------------------------

export interface EncodeOptions {
  /** The peer has the 4-octet AS capability. */
  as4: boolean;
  /** 4: the NEXT_HOP attribute is written; 6: the next hop goes in MP_REACH_NLRI (update.ts). */
  family: Family;
}

function needsAs4(path: Uint32Array): boolean {
  for (let i = 0; i < path.length; i += 2 + path[i + 1]) {
    const end = i + 2 + path[i + 1];
    for (let k = i + 2; k < end; k++) if (path[k] > 0xffff) return true;
  }
  return false;
}

class Writer {
  buf = new Uint8Array(256);
  at = 0;

  room(n: number): void {
    if (this.at + n <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < this.at + n) size *= 2;
    const b = new Uint8Array(size);
    b.set(this.buf.subarray(0, this.at));
    this.buf = b;
  }

  /** Starts an attribute whose value is `len` octets; answers where the value goes. */
  attr(flags: number, type: number, len: number): number {
    const ext = len > 255;
    this.room(4 + len);
    const f = ext ? flags | AttrFlag.ExtendedLength : flags & ~AttrFlag.ExtendedLength;
    this.buf[this.at] = f;
    this.buf[this.at + 1] = type;
    if (ext) {
      write16(this.buf, this.at + 2, len);
      this.at += 4;
    } else {
      this.buf[this.at + 2] = len;
      this.at += 3;
    }
    const v = this.at;
    this.at += len;
    return v;
  }

  done(): Uint8Array {
    return this.buf.slice(0, this.at);
  }
}

function pathOctets(path: Uint32Array, asSize: number): number {
  let n = 0;
  for (let i = 0; i < path.length; i += 2 + path[i + 1]) n += 2 + path[i + 1] * asSize;
  return n;
}

function writePath(buf: Uint8Array, at: number, path: Uint32Array, as4: boolean): void {
  for (let i = 0; i < path.length; i += 2 + path[i + 1]) {
    buf[at++] = path[i];
    buf[at++] = path[i + 1];
    const end = i + 2 + path[i + 1];
    for (let k = i + 2; k < end; k++) {
      if (as4) {
        write32(buf, at, path[k]);
        at += 4;
      } else {
        write16(buf, at, path[k] > 0xffff ? AS_TRANS : path[k]);
        at += 2;
      }
    }
  }
}

/**
 * Encodes every attribute of `attrs` except MP_REACH_NLRI / MP_UNREACH_NLRI,
 * in type-code order, for a peer as `opts` says. Unknown attributes go out
 * with the Partial bit set (RFC 4271 section 5).
 */
export function encodeAttributes(attrs: PathAttributes, opts: EncodeOptions): Uint8Array {
  const w = new Writer();
  const WK = AttrFlag.Transitive;
  const OPT_T = AttrFlag.Optional | AttrFlag.Transitive;
  let v = w.attr(WK, AttrType.Origin, 1);
  w.buf[v] = attrs.origin;
  const path = attrs.asPath;
  v = w.attr(WK, AttrType.AsPath, pathOctets(path, opts.as4 ? 4 : 2));
  writePath(w.buf, v, path, opts.as4);
  if (opts.family === 4 && attrs.nextHop && attrs.nextHop.length === 1) {
    v = w.attr(WK, AttrType.NextHop, 4);
    write32(w.buf, v, attrs.nextHop[0]);
  }
  if (attrs.med !== undefined) {
    v = w.attr(AttrFlag.Optional, AttrType.MultiExitDisc, 4);
    write32(w.buf, v, attrs.med);
  }
  if (attrs.localPref !== undefined) {
    v = w.attr(WK, AttrType.LocalPref, 4);
    write32(w.buf, v, attrs.localPref);
  }
  if (attrs.atomicAggregate) w.attr(WK, AttrType.AtomicAggregate, 0);
  const agg = attrs.aggregator;
  if (agg) {
    if (opts.as4) {
      v = w.attr(OPT_T, AttrType.Aggregator, 8);
      write32(w.buf, v, agg.asn);
      write32(w.buf, v + 4, agg.address);
    } else {
      v = w.attr(OPT_T, AttrType.Aggregator, 6);
      write16(w.buf, v, agg.asn > 0xffff ? AS_TRANS : agg.asn);
      write32(w.buf, v + 2, agg.address);
    }
  }
  const cs = attrs.communities;
  if (cs && cs.length > 0) {
    v = w.attr(OPT_T, AttrType.Communities, cs.length * 4);
    for (let i = 0; i < cs.length; i++) write32(w.buf, v + 4 * i, cs[i]);
  }
  const ext = attrs.extCommunities;
  if (ext && ext.length > 0) {
    v = w.attr(OPT_T, AttrType.ExtendedCommunities, ext.length);
    w.buf.set(ext, v);
  }
  if (!opts.as4 && needsAs4(path)) {
    v = w.attr(OPT_T, AttrType.As4Path, pathOctets(path, 4));
    writePath(w.buf, v, path, true);
  }
  if (!opts.as4 && agg && agg.asn > 0xffff) {
    v = w.attr(OPT_T, AttrType.As4Aggregator, 8);
    write32(w.buf, v, agg.asn);
    write32(w.buf, v + 4, agg.address);
  }
  const lc = attrs.largeCommunities;
  if (lc && lc.length > 0) {
    v = w.attr(OPT_T, AttrType.LargeCommunities, lc.length * 4);
    for (let i = 0; i < lc.length; i++) write32(w.buf, v + 4 * i, lc[i]);
  }
  for (const u of attrs.unknown ?? []) {
    v = w.attr(u.flags | AttrFlag.Partial, u.type, u.value.length);
    w.buf.set(u.value, v);
  }
  return w.done();
}

// ---- interning: hash and equality ------------------------------------------------

function mix(h: number, v: number): number {
  h = Math.imul(h ^ v, 0x01000193);
  return h ^ (h >>> 15);
}

function mixArray(h: number, a: ArrayLike<number> | undefined): number {
  if (!a) return mix(h, 0x9e3779b9);
  h = mix(h, a.length);
  for (let i = 0; i < a.length; i++) h = mix(h, a[i]);
  return h;
}

/** A 32-bit hash of an attribute set: equal sets hash equal (the interning key). */
export function attributesHash(a: PathAttributes): number {
  let h = 0x811c9dc5;
  h = mix(h, a.origin);
  h = mixArray(h, a.asPath);
  h = mixArray(h, a.nextHop);
  h = mixArray(h, a.linkLocal);
  h = mix(h, a.med === undefined ? -1 : a.med);
  h = mix(h, a.localPref === undefined ? -1 : a.localPref);
  h = mix(h, a.atomicAggregate ? 1 : 0);
  h = a.aggregator ? mix(mix(h, a.aggregator.asn), a.aggregator.address) : mix(h, -2);
  h = mixArray(h, a.communities);
  h = mixArray(h, a.largeCommunities);
  h = mixArray(h, a.extCommunities);
  if (a.unknown) {
    for (const u of a.unknown) h = mixArray(mix(mix(h, u.type), u.flags & 0xe0), u.value);
  }
  return h >>> 0;
}

function sameArray(x: ArrayLike<number> | undefined, y: ArrayLike<number> | undefined): boolean {
  if (x === y) return true;
  if (!x || !y || x.length !== y.length) return false;
  for (let i = 0; i < x.length; i++) if (x[i] !== y[i]) return false;
  return true;
}

/** Whether two attribute sets are the same. */
export function sameAttributes(a: PathAttributes, b: PathAttributes): boolean {
  if (a === b) return true;
  if (
    a.origin !== b.origin ||
    a.med !== b.med ||
    a.localPref !== b.localPref ||
    a.atomicAggregate !== b.atomicAggregate ||
    !sameArray(a.asPath, b.asPath) ||
    !sameArray(a.nextHop, b.nextHop) ||
    !sameArray(a.linkLocal, b.linkLocal) ||
    !sameArray(a.communities, b.communities) ||
    !sameArray(a.largeCommunities, b.largeCommunities) ||
    !sameArray(a.extCommunities, b.extCommunities)
  ) {
    return false;
  }
  if (a.aggregator || b.aggregator) {
    if (!a.aggregator || !b.aggregator) return false;
    if (a.aggregator.asn !== b.aggregator.asn || a.aggregator.address !== b.aggregator.address)
      return false;
  }
  const ua = a.unknown ?? [];
  const ub = b.unknown ?? [];
  if (ua.length !== ub.length) return false;
  for (let i = 0; i < ua.length; i++) {
    if (
      ua[i].type !== ub[i].type ||
      (ua[i].flags & 0xe0) !== (ub[i].flags & 0xe0) ||
      !sameArray(ua[i].value, ub[i].value)
    ) {
      return false;
    }
  }
  return true;
}
