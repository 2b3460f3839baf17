/**
 * The UPDATE message (RFC 4271 section 4.3) with multiprotocol NLRI
 * (RFC 4760) and the revised error handling of RFC 7606.
 *
 * `parseUpdate` reads a message in place: it locates the withdrawn routes,
 * the path attributes and the NLRI, checks every attribute, and answers one
 * `ParsedUpdate`: where the prefixes lie (walked later with NlriReader, so
 * no object is made per prefix), the attributes, and the action the errors
 * found call for, the strongest of (RFC 7606 section 2):
 *
 *   session reset > AFI/SAFI disable > treat-as-withdraw > attribute discard
 *
 * with the NOTIFICATION (code 3, subcode, data as RFC 4271 section 6.3
 * says) that goes with it. The rules applied, by section of RFC 7606:
 * - 3(b): Withdrawn Routes Length + Total Attribute Length + 23 beyond the
 *   message: session reset, Malformed Attribute List.
 * - 5.3 and RFC 4271 6.3: IPv4 withdrawn routes or NLRI that cannot be
 *   parsed: session reset, Invalid Network Field.
 * - 4: an attribute overrunning the attribute field, or fewer octets left
 *   than an attribute header: treat-as-withdraw, the NLRI found from the
 *   Total Attribute Length.
 * - 3(g): MP_REACH_NLRI or MP_UNREACH_NLRI more than once: session reset,
 *   Malformed Attribute List; any other attribute repeated: the repeats
 *   are discarded.
 * - 3(c): Optional or Transitive flag in conflict: treat-as-withdraw
 *   (MP_REACH/MP_UNREACH: as their other errors).
 * - 3(d): missing ORIGIN or AS_PATH (when there is reachable NLRI), missing
 *   NEXT_HOP (when the NLRI field is not empty): treat-as-withdraw.
 * - 7.1-7.11, 7.14 per attribute; RFC 6793 section 6 for AS4_PATH and
 *   AS4_AGGREGATOR (attribute discard); RFC 8092 section 6 for
 *   LARGE_COMMUNITIES (treat-as-withdraw; repeated values removed).
 * - 5.3, 7.10, 7.11 and RFC 4760 section 7: MP_REACH_NLRI/MP_UNREACH_NLRI
 *   that cannot be parsed (too short, next hop length wrong for the AFI,
 *   NLRI overrun or too long, flags wrong): AFI/SAFI disable when the
 *   context allows it and the AFI/SAFI is known, else session reset,
 *   Optional Attribute Error.
 * - 5.2: attributes but no reachable NLRI, with any error stronger than
 *   attribute discard: session reset.
 * - Unrecognized well-known attribute (RFC 4271 6.3): session reset.
 * MP attributes of an AFI/SAFI the session does not carry are ignored.
 *
 * The encoders build whole messages for tests and fixtures (`encodeUpdate`)
 * and, for the Adj-RIB-Out, packed messages (`UpdatePacker`): one attribute
 * set and as many prefixes as fit in 4096 octets, MP_REACH_NLRI first
 * (RFC 7606 section 5.1).
 */

import type { Prefix } from "../../../fib/prefix.ts";
import type { Family } from "../../../fib/types.ts";
import { read16, read32, write16 } from "../../wire/bytes.ts";
import { type BgpError, bgpError, ErrorCode, UpdateSubcode } from "../errors.ts";
import {
  AttrFlag,
  AttrType,
  EMPTY_PATH,
  encodeAttributes,
  mergeAs4Path,
  type PathAttributes,
  SegmentType,
  type UnknownAttribute,
} from "./attributes.ts";
import { Afi, afiOf, familyOf, Safi } from "./families.ts";
import { HEADER_LEN, MAX_MESSAGE_LEN, MessageType, writeHeader } from "./header.ts";
import { checkNlri, NlriReader, prefixOctets, writePrefix4, writePrefix6 } from "./nlri.ts";
import { AS_TRANS } from "./open.ts";

export const UpdateAction = {
  None: 0,
  AttributeDiscard: 1,
  TreatAsWithdraw: 2,
  AfiSafiDisable: 3,
  SessionReset: 4,
} as const;
export type UpdateAction = (typeof UpdateAction)[keyof typeof UpdateAction];

export interface UpdateContext {
  /** 4-octet AS numbers negotiated (RFC 6793). */
  as4: boolean;
  ebgp: boolean;
  /** The peer's AS, for the leftmost-AS check on eBGP sessions. */
  peerAs: number;
  /** Check that an eBGP path starts with the peer's AS (RFC 4271 6.3; RFC 7606 7.2: treat-as-withdraw). */
  enforceFirstAs: boolean;
  /** Families negotiated on the session. */
  ipv4: boolean;
  ipv6: boolean;
  /** MP_REACH/MP_UNREACH errors disable the AFI/SAFI instead of resetting the session. */
  mpErrorDisables: boolean;
}

export interface UpdateProblem {
  /** Attribute type code, or 0 for the message structure. */
  type: number;
  action: UpdateAction;
  subcode: number;
}

export interface MpNlri {
  family: Family;
  off: number;
  end: number;
  count: number;
}

export interface MpReach extends MpNlri {
  /** 1 word (IPv4) or 4 (IPv6 global). */
  nextHop: Uint32Array;
  linkLocal?: Uint32Array;
}

export interface ParsedUpdate {
  action: UpdateAction;
  /** NOTIFICATION for the strongest error found (sent only for session reset). */
  error: BgpError | undefined;
  /** The family an AFI/SAFI disable applies to. */
  disable: Family | undefined;
  problems: UpdateProblem[];
  withdrawnOff: number;
  withdrawnEnd: number;
  withdrawnCount: number;
  nlriOff: number;
  nlriEnd: number;
  nlriCount: number;
  /** The path attributes (without MP next hops), or undefined when there were none usable. */
  attrs: PathAttributes | undefined;
  /** The NEXT_HOP attribute (IPv4), when present and well formed. */
  nextHop4: number | undefined;
  mpReach: MpReach | undefined;
  mpUnreach: MpNlri | undefined;
  /** ORIGINATOR_ID (RFC 4456) from an iBGP peer, for loop detection. */
  originatorId: number | undefined;
  /** Number of MP attributes ignored because the session does not carry their AFI/SAFI. */
  ignoredMp: number;
}

interface MutableAttrs {
  origin: number;
  asPath: Uint32Array;
  med?: number;
  localPref?: number;
  atomicAggregate: boolean;
  aggregator?: { asn: number; address: number };
  communities?: Uint32Array;
  largeCommunities?: Uint32Array;
  extCommunities?: Uint8Array;
  unknown?: UnknownAttribute[];
}

const WELL_KNOWN = AttrFlag.Transitive;
const OPT_TRANS = AttrFlag.Optional | AttrFlag.Transitive;
const OPT_NON_TRANS = AttrFlag.Optional;

/** Expected Optional/Transitive bits of the attributes known here. */
const EXPECTED_FLAGS: Record<number, number> = {
  [AttrType.Origin]: WELL_KNOWN,
  [AttrType.AsPath]: WELL_KNOWN,
  [AttrType.NextHop]: WELL_KNOWN,
  [AttrType.MultiExitDisc]: OPT_NON_TRANS,
  [AttrType.LocalPref]: WELL_KNOWN,
  [AttrType.AtomicAggregate]: WELL_KNOWN,
  [AttrType.Aggregator]: OPT_TRANS,
  [AttrType.Communities]: OPT_TRANS,
  [AttrType.OriginatorId]: OPT_NON_TRANS,
  [AttrType.ClusterList]: OPT_NON_TRANS,
  [AttrType.MpReachNlri]: OPT_NON_TRANS,
  [AttrType.MpUnreachNlri]: OPT_NON_TRANS,
  [AttrType.ExtendedCommunities]: OPT_TRANS,
  [AttrType.As4Path]: OPT_TRANS,
  [AttrType.As4Aggregator]: OPT_TRANS,
  [AttrType.LargeCommunities]: OPT_TRANS,
};

function note(
  p: ParsedUpdate,
  type: number,
  action: UpdateAction,
  subcode: number,
  data?: Uint8Array,
): void {
  p.problems.push({ type, action, subcode });
  if (action > p.action) {
    p.action = action;
    p.error = bgpError(ErrorCode.UpdateMessage, subcode, data);
  }
}

/**
 * Parses an AS path value at `(buf, off..end)` with `asSize`-octet AS
 * numbers. Answers the path, or undefined when malformed (RFC 7606 7.2:
 * unknown segment type, zero-length segment, overrun, or a lone octet left).
 */
export function parseAsPath(
  buf: Uint8Array,
  off: number,
  end: number,
  asSize: 2 | 4,
): Uint32Array | undefined {
  let words = 0;
  let at = off;
  while (at < end) {
    if (end - at < 2) return undefined;
    const type = buf[at];
    const count = buf[at + 1];
    if (type < SegmentType.AsSet || type > SegmentType.ConfedSet || count === 0) return undefined;
    at += 2 + count * asSize;
    if (at > end) return undefined;
    words += 2 + count;
  }
  if (words === 0) return EMPTY_PATH;
  const path = new Uint32Array(words);
  let w = 0;
  at = off;
  while (at < end) {
    const count = buf[at + 1];
    path[w++] = buf[at];
    path[w++] = count;
    at += 2;
    for (let i = 0; i < count; i++) {
      path[w++] = asSize === 4 ? read32(buf, at) : read16(buf, at);
      at += asSize;
    }
  }
  return path;
}

function hasConfed(path: Uint32Array): boolean {
  for (let i = 0; i < path.length; i += 2 + path[i + 1]) {
    if (path[i] === SegmentType.ConfedSequence || path[i] === SegmentType.ConfedSet) return true;
  }
  return false;
}

/** A usable unicast IPv4 next hop: not 0/8, loopback, multicast or reserved (RFC 4271 6.3). */
export function validNextHop4(a: number): boolean {
  const top = a >>> 24;
  return top !== 0 && top !== 127 && top < 224;
}

/** A usable global IPv6 next hop: not unspecified, loopback or multicast. */
export function validNextHop6(w: Uint32Array): boolean {
  if (w[0] >>> 24 === 0xff) return false;
  if (w[0] === 0 && w[1] === 0 && w[2] === 0 && (w[3] === 0 || w[3] === 1)) return false;
  return true;
}

function readAddr6(buf: Uint8Array, at: number): Uint32Array {
  return Uint32Array.of(
    read32(buf, at),
    read32(buf, at + 4),
    read32(buf, at + 8),
    read32(buf, at + 12),
  );
}

/** Parses the UPDATE `(buf, off, len)` (header included; checkHeader passed). Never throws. */
export function parseUpdate(
  buf: Uint8Array,
  off: number,
  len: number,
  ctx: UpdateContext,
): ParsedUpdate {
  const end = off + len;
  const p: ParsedUpdate = {
    action: UpdateAction.None,
    error: undefined,
    disable: undefined,
    problems: [],
    withdrawnOff: 0,
    withdrawnEnd: 0,
    withdrawnCount: 0,
    nlriOff: 0,
    nlriEnd: 0,
    nlriCount: 0,
    attrs: undefined,
    nextHop4: undefined,
    mpReach: undefined,
    mpUnreach: undefined,
    originatorId: undefined,
    ignoredMp: 0,
  };
  const b = off + HEADER_LEN;
  const wlen = read16(buf, b);
  if (b + 2 + wlen + 2 > end) {
    note(p, 0, UpdateAction.SessionReset, UpdateSubcode.MalformedAttributeList);
    return p;
  }
  const aLenAt = b + 2 + wlen;
  const tal = read16(buf, aLenAt);
  const attrOff = aLenAt + 2;
  const attrEnd = attrOff + tal;
  if (attrEnd > end) {
    note(p, 0, UpdateAction.SessionReset, UpdateSubcode.MalformedAttributeList);
    return p;
  }
  p.withdrawnOff = b + 2;
  p.withdrawnEnd = aLenAt;
  p.nlriOff = attrEnd;
  p.nlriEnd = end;
  p.withdrawnCount = checkNlri(buf, p.withdrawnOff, p.withdrawnEnd, 4);
  p.nlriCount = checkNlri(buf, p.nlriOff, p.nlriEnd, 4);
  if (p.withdrawnCount < 0 || p.nlriCount < 0) {
    note(p, 0, UpdateAction.SessionReset, UpdateSubcode.InvalidNetworkField);
    return p;
  }
  if (tal === 0) return p;

  const mpFail = (type: number, family: Family | undefined, data: Uint8Array) => {
    if (ctx.mpErrorDisables && family !== undefined) {
      note(p, type, UpdateAction.AfiSafiDisable, UpdateSubcode.OptionalAttributeError, data);
      if (p.action === UpdateAction.AfiSafiDisable) p.disable ??= family;
    } else {
      note(p, type, UpdateAction.SessionReset, UpdateSubcode.OptionalAttributeError, data);
    }
  };

  const attrs: MutableAttrs = { origin: -1, asPath: EMPTY_PATH, atomicAggregate: false };
  const seen = new Uint8Array(256);
  let haveOrigin = false;
  let haveAsPath = false;
  let haveNextHop = false;
  let as4Path: Uint32Array | undefined;
  let as4Aggregator: { asn: number; address: number } | undefined;
  let ignoredReach = false;
  let at = attrOff;
  while (at < attrEnd) {
    const flags = buf[at];
    const hdr = flags & AttrFlag.ExtendedLength ? 4 : 3;
    if (attrEnd - at < hdr) {
      note(p, 0, UpdateAction.TreatAsWithdraw, UpdateSubcode.MalformedAttributeList);
      break;
    }
    const type = buf[at + 1];
    const alen = hdr === 4 ? read16(buf, at + 2) : buf[at + 2];
    const v = at + hdr;
    const vend = v + alen;
    if (vend > attrEnd) {
      note(p, type, UpdateAction.TreatAsWithdraw, UpdateSubcode.AttributeLengthError);
      break;
    }
    const attrStart = at;
    const whole = () => buf.slice(attrStart, vend);
    at = vend;
    if (seen[type]) {
      if (type === AttrType.MpReachNlri || type === AttrType.MpUnreachNlri) {
        note(p, type, UpdateAction.SessionReset, UpdateSubcode.MalformedAttributeList);
      } else {
        note(p, type, UpdateAction.AttributeDiscard, UpdateSubcode.MalformedAttributeList);
      }
      continue;
    }
    seen[type] = 1;
    const expected = EXPECTED_FLAGS[type];
    if (expected === undefined) {
      if (!(flags & AttrFlag.Optional)) {
        note(
          p,
          type,
          UpdateAction.SessionReset,
          UpdateSubcode.UnrecognizedWellKnownAttribute,
          whole(),
        );
      } else if (flags & AttrFlag.Transitive) {
        attrs.unknown ??= [];
        attrs.unknown.push({ flags: flags & 0xe0, type, value: buf.slice(v, vend) });
      }
      continue;
    }
    const flagsOk = (flags & (AttrFlag.Optional | AttrFlag.Transitive)) === expected;
    if (type === AttrType.MpReachNlri || type === AttrType.MpUnreachNlri) {
      const reach = type === AttrType.MpReachNlri;
      const min = reach ? 5 : 3;
      const family = alen >= 3 ? familyOf(read16(buf, v), buf[v + 2]) : undefined;
      if (!flagsOk || alen < min) {
        mpFail(type, family, whole());
        continue;
      }
      if (family === undefined || (family === 4 ? !ctx.ipv4 : !ctx.ipv6)) {
        p.ignoredMp++;
        if (reach) ignoredReach = true;
        continue;
      }
      if (reach) {
        const nhLen = buf[v + 3];
        const nlriOff = v + 5 + nhLen;
        const nhOk = family === 4 ? nhLen === 4 : nhLen === 16 || nhLen === 32;
        if (!nhOk || nlriOff > vend) {
          mpFail(type, family, whole());
          continue;
        }
        const count = checkNlri(buf, nlriOff, vend, family);
        if (count < 0) {
          mpFail(type, family, whole());
          continue;
        }
        let nextHop: Uint32Array;
        let linkLocal: Uint32Array | undefined;
        if (family === 4) nextHop = Uint32Array.of(read32(buf, v + 4));
        else {
          nextHop = readAddr6(buf, v + 4);
          if (nhLen === 32) {
            const ll = readAddr6(buf, v + 20);
            if (ll[0] >>> 22 === 0x3fa) linkLocal = ll;
          }
        }
        p.mpReach = { family, off: nlriOff, end: vend, count, nextHop, linkLocal };
        const good = family === 4 ? validNextHop4(nextHop[0]) : validNextHop6(nextHop);
        if (!good && count > 0) {
          note(
            p,
            type,
            UpdateAction.TreatAsWithdraw,
            UpdateSubcode.InvalidNextHopAttribute,
            whole(),
          );
        }
      } else {
        const count = checkNlri(buf, v + 3, vend, family);
        if (count < 0) {
          mpFail(type, family, whole());
          continue;
        }
        p.mpUnreach = { family, off: v + 3, end: vend, count };
      }
      continue;
    }
    if (!flagsOk) {
      // AS4_PATH and AS4_AGGREGATOR: RFC 6793 section 6 wants their errors discarded.
      const discard = type === AttrType.As4Path || type === AttrType.As4Aggregator;
      note(
        p,
        type,
        discard ? UpdateAction.AttributeDiscard : UpdateAction.TreatAsWithdraw,
        UpdateSubcode.AttributeFlagsError,
        whole(),
      );
      if (type === AttrType.Origin) haveOrigin = true;
      if (type === AttrType.AsPath) haveAsPath = true;
      if (type === AttrType.NextHop) haveNextHop = true;
      continue;
    }
    switch (type) {
      case AttrType.Origin:
        haveOrigin = true;
        if (alen !== 1) {
          note(p, type, UpdateAction.TreatAsWithdraw, UpdateSubcode.AttributeLengthError, whole());
        } else if (buf[v] > 2) {
          note(
            p,
            type,
            UpdateAction.TreatAsWithdraw,
            UpdateSubcode.InvalidOriginAttribute,
            whole(),
          );
        } else attrs.origin = buf[v];
        break;
      case AttrType.AsPath: {
        haveAsPath = true;
        const path = parseAsPath(buf, v, vend, ctx.as4 ? 4 : 2);
        if (path === undefined || hasConfed(path)) {
          note(p, type, UpdateAction.TreatAsWithdraw, UpdateSubcode.MalformedAsPath);
        } else if (
          ctx.ebgp &&
          ctx.enforceFirstAs &&
          !(path.length >= 3 && path[0] === SegmentType.AsSequence && path[2] === ctx.peerAs) &&
          // From an old speaker the leftmost AS may stand as AS_TRANS.
          !(
            !ctx.as4 &&
            path.length >= 3 &&
            path[0] === SegmentType.AsSequence &&
            path[2] === AS_TRANS &&
            ctx.peerAs > 0xffff
          )
        ) {
          note(p, type, UpdateAction.TreatAsWithdraw, UpdateSubcode.MalformedAsPath);
        } else attrs.asPath = path;
        break;
      }
      case AttrType.NextHop:
        haveNextHop = true;
        if (alen !== 4) {
          note(p, type, UpdateAction.TreatAsWithdraw, UpdateSubcode.AttributeLengthError, whole());
        } else {
          const nh = read32(buf, v);
          if (!validNextHop4(nh)) {
            note(
              p,
              type,
              UpdateAction.TreatAsWithdraw,
              UpdateSubcode.InvalidNextHopAttribute,
              whole(),
            );
          } else p.nextHop4 = nh;
        }
        break;
      case AttrType.MultiExitDisc:
        if (alen !== 4) {
          note(p, type, UpdateAction.TreatAsWithdraw, UpdateSubcode.AttributeLengthError, whole());
        } else attrs.med = read32(buf, v);
        break;
      case AttrType.LocalPref:
        if (ctx.ebgp) {
          // RFC 4271 5.1.5: ignored from external peers; RFC 7606 7.5: discarded.
          note(p, type, UpdateAction.AttributeDiscard, UpdateSubcode.AttributeLengthError);
        } else if (alen !== 4) {
          note(p, type, UpdateAction.TreatAsWithdraw, UpdateSubcode.AttributeLengthError, whole());
        } else attrs.localPref = read32(buf, v);
        break;
      case AttrType.AtomicAggregate:
        if (alen !== 0) {
          note(p, type, UpdateAction.AttributeDiscard, UpdateSubcode.AttributeLengthError, whole());
        } else attrs.atomicAggregate = true;
        break;
      case AttrType.Aggregator: {
        const size = ctx.as4 ? 8 : 6;
        const asn = alen === size ? (ctx.as4 ? read32(buf, v) : read16(buf, v)) : 0;
        if (alen !== size || asn === 0) {
          note(p, type, UpdateAction.AttributeDiscard, UpdateSubcode.AttributeLengthError, whole());
        } else attrs.aggregator = { asn, address: read32(buf, v + size - 4) };
        break;
      }
      case AttrType.Communities:
        if (alen === 0 || alen % 4 !== 0) {
          note(
            p,
            type,
            UpdateAction.TreatAsWithdraw,
            UpdateSubcode.OptionalAttributeError,
            whole(),
          );
        } else {
          const cs = new Uint32Array(alen / 4);
          for (let i = 0; i < cs.length; i++) cs[i] = read32(buf, v + 4 * i);
          attrs.communities = cs;
        }
        break;
      case AttrType.OriginatorId:
        if (ctx.ebgp) {
          note(p, type, UpdateAction.AttributeDiscard, UpdateSubcode.OptionalAttributeError);
        } else if (alen !== 4) {
          note(
            p,
            type,
            UpdateAction.TreatAsWithdraw,
            UpdateSubcode.OptionalAttributeError,
            whole(),
          );
        } else p.originatorId = read32(buf, v);
        break;
      case AttrType.ClusterList:
        if (ctx.ebgp) {
          note(p, type, UpdateAction.AttributeDiscard, UpdateSubcode.OptionalAttributeError);
        } else if (alen === 0 || alen % 4 !== 0) {
          note(
            p,
            type,
            UpdateAction.TreatAsWithdraw,
            UpdateSubcode.OptionalAttributeError,
            whole(),
          );
        }
        break;
      case AttrType.ExtendedCommunities:
        if (alen === 0 || alen % 8 !== 0) {
          note(
            p,
            type,
            UpdateAction.TreatAsWithdraw,
            UpdateSubcode.OptionalAttributeError,
            whole(),
          );
        } else attrs.extCommunities = buf.slice(v, vend);
        break;
      case AttrType.LargeCommunities:
        if (alen === 0 || alen % 12 !== 0) {
          note(
            p,
            type,
            UpdateAction.TreatAsWithdraw,
            UpdateSubcode.OptionalAttributeError,
            whole(),
          );
        } else {
          const out: number[] = [];
          const seenLc = new Set<string>();
          for (let i = v; i < vend; i += 12) {
            const g = read32(buf, i);
            const l1 = read32(buf, i + 4);
            const l2 = read32(buf, i + 8);
            const k = `${g}:${l1}:${l2}`;
            if (seenLc.has(k)) continue;
            seenLc.add(k);
            out.push(g, l1, l2);
          }
          attrs.largeCommunities = Uint32Array.from(out);
        }
        break;
      case AttrType.As4Path: {
        if (ctx.as4) {
          // A NEW speaker never sends it to a NEW speaker; discarded (RFC 6793 section 4.1).
          note(p, type, UpdateAction.AttributeDiscard, UpdateSubcode.OptionalAttributeError);
          break;
        }
        const path = parseAsPath(buf, v, vend, 4);
        if (path === undefined || hasConfed(path)) {
          note(p, type, UpdateAction.AttributeDiscard, UpdateSubcode.OptionalAttributeError);
        } else as4Path = path;
        break;
      }
      case AttrType.As4Aggregator:
        if (ctx.as4) {
          note(p, type, UpdateAction.AttributeDiscard, UpdateSubcode.OptionalAttributeError);
        } else if (alen !== 8 || read32(buf, v) === 0) {
          note(p, type, UpdateAction.AttributeDiscard, UpdateSubcode.AttributeLengthError, whole());
        } else as4Aggregator = { asn: read32(buf, v), address: read32(buf, v + 4) };
        break;
    }
  }

  // RFC 6793 section 4.2.3: reconcile the 4-octet information from an old speaker.
  if (!ctx.as4) {
    const agg = attrs.aggregator;
    if (agg && agg.asn !== AS_TRANS) {
      as4Path = undefined;
    } else if (agg && as4Aggregator) {
      attrs.aggregator = as4Aggregator;
    }
    if (as4Path) attrs.asPath = mergeAs4Path(attrs.asPath, as4Path);
  }

  const reachable = p.nlriCount > 0 || p.mpReach !== undefined;
  if (reachable || ignoredReach) {
    // RFC 7606 3(d): missing well-known mandatory attributes.
    if (!haveOrigin) {
      note(
        p,
        AttrType.Origin,
        UpdateAction.TreatAsWithdraw,
        UpdateSubcode.MissingWellKnownAttribute,
        Uint8Array.of(AttrType.Origin),
      );
    }
    if (!haveAsPath) {
      note(
        p,
        AttrType.AsPath,
        UpdateAction.TreatAsWithdraw,
        UpdateSubcode.MissingWellKnownAttribute,
        Uint8Array.of(AttrType.AsPath),
      );
    }
    if (p.nlriCount > 0 && !haveNextHop) {
      note(
        p,
        AttrType.NextHop,
        UpdateAction.TreatAsWithdraw,
        UpdateSubcode.MissingWellKnownAttribute,
        Uint8Array.of(AttrType.NextHop),
      );
    }
  } else if (p.action === UpdateAction.TreatAsWithdraw) {
    // RFC 7606 5.2: no reachable NLRI to withdraw.
    p.action = UpdateAction.SessionReset;
  }
  if (attrs.origin >= 0) p.attrs = attrs as PathAttributes;
  return p;
}

// ---- encoding ----------------------------------------------------------------

/** An UPDATE as plain values, for tests and fixtures. */
export interface UpdateRepr {
  /** IPv4 withdrawn routes. */
  withdrawn?: Prefix[];
  /** Attributes (with the IPv4 NEXT_HOP in `nextHop` when `nlri` is given). */
  attributes?: PathAttributes;
  /** IPv4 NLRI. */
  nlri?: Prefix[];
  mpReach?: { family: Family; nextHop: Uint32Array; linkLocal?: Uint32Array; nlri: Prefix[] };
  mpUnreach?: { family: Family; nlri: Prefix[] };
}

function prefixesOctets(ps: readonly Prefix[]): number {
  let n = 0;
  for (const p of ps) n += 1 + prefixOctets(p.length);
  return n;
}

function writePrefixes(buf: Uint8Array, at: number, ps: readonly Prefix[]): number {
  for (const p of ps) {
    at +=
      p.family === 4
        ? writePrefix4(buf, at, p.words[0], p.length)
        : writePrefix6(buf, at, p.words, 0, p.length);
  }
  return at;
}

function mpReachValue(
  family: Family,
  nextHop: Uint32Array,
  linkLocal: Uint32Array | undefined,
  nlriLen: number,
): { value: Uint8Array; nlriAt: number } {
  const nhLen = family === 4 ? 4 : linkLocal ? 32 : 16;
  const value = new Uint8Array(5 + nhLen + nlriLen);
  write16(value, 0, afiOf(family));
  value[2] = Safi.Unicast;
  value[3] = nhLen;
  for (let i = 0; i < nextHop.length; i++) {
    const w = nextHop[i];
    value[4 + 4 * i] = w >>> 24;
    value[5 + 4 * i] = w >>> 16;
    value[6 + 4 * i] = w >>> 8;
    value[7 + 4 * i] = w;
  }
  if (linkLocal) {
    for (let i = 0; i < 4; i++) {
      const w = linkLocal[i];
      value[20 + 4 * i] = w >>> 24;
      value[21 + 4 * i] = w >>> 16;
      value[22 + 4 * i] = w >>> 8;
      value[23 + 4 * i] = w;
    }
  }
  return { value, nlriAt: 5 + nhLen };
}

function attrHeader(buf: Uint8Array, at: number, flags: number, type: number, len: number): number {
  if (len > 255) {
    buf[at] = flags | AttrFlag.ExtendedLength;
    buf[at + 1] = type;
    write16(buf, at + 2, len);
    return at + 4;
  }
  buf[at] = flags;
  buf[at + 1] = type;
  buf[at + 2] = len;
  return at + 3;
}

/**
 * Encodes an UPDATE from plain values (MP attributes first). Throws
 * RangeError when it does not fit in `maxLength` octets.
 */
export function encodeUpdate(
  repr: UpdateRepr,
  opts: { as4: boolean } = { as4: true },
  maxLength = MAX_MESSAGE_LEN,
): Uint8Array {
  const parts: Uint8Array[] = [];
  if (repr.mpReach) {
    const m = repr.mpReach;
    const { value, nlriAt } = mpReachValue(
      m.family,
      m.nextHop,
      m.linkLocal,
      prefixesOctets(m.nlri),
    );
    writePrefixes(value, nlriAt, m.nlri);
    const a = new Uint8Array(value.length + 4);
    const v = attrHeader(a, 0, AttrFlag.Optional, AttrType.MpReachNlri, value.length);
    a.set(value, v);
    parts.push(a.subarray(0, v + value.length));
  }
  if (repr.mpUnreach) {
    const m = repr.mpUnreach;
    const value = new Uint8Array(3 + prefixesOctets(m.nlri));
    write16(value, 0, afiOf(m.family));
    value[2] = Safi.Unicast;
    writePrefixes(value, 3, m.nlri);
    const a = new Uint8Array(value.length + 4);
    const v = attrHeader(a, 0, AttrFlag.Optional, AttrType.MpUnreachNlri, value.length);
    a.set(value, v);
    parts.push(a.subarray(0, v + value.length));
  }
  if (repr.attributes) {
    const fam: Family = repr.nlri && repr.nlri.length > 0 ? 4 : 6;
    parts.push(encodeAttributes(repr.attributes, { as4: opts.as4, family: fam }));
  }
  const withdrawn = repr.withdrawn ?? [];
  const nlri = repr.nlri ?? [];
  const wlen = prefixesOctets(withdrawn);
  let tal = 0;
  for (const a of parts) tal += a.length;
  const length = HEADER_LEN + 2 + wlen + 2 + tal + prefixesOctets(nlri);
  if (length > maxLength) throw new RangeError(`UPDATE of ${length} octets exceeds ${maxLength}`);
  const out = new Uint8Array(length);
  writeHeader(out, 0, MessageType.Update, length);
  write16(out, HEADER_LEN, wlen);
  let at = writePrefixes(out, HEADER_LEN + 2, withdrawn);
  write16(out, at, tal);
  at += 2;
  for (const a of parts) {
    out.set(a, at);
    at += a.length;
  }
  writePrefixes(out, at, nlri);
  return out;
}

/** An End-of-RIB marker (RFC 4724 section 2): an empty UPDATE, or MP_UNREACH_NLRI with no NLRI. */
export function encodeEndOfRib(family: Family): Uint8Array {
  return family === 4 ? encodeUpdate({}) : encodeUpdate({ mpUnreach: { family, nlri: [] } });
}

/** Whether the parsed UPDATE is an End-of-RIB marker, and for which family. */
export function endOfRibFamily(p: ParsedUpdate, len: number): Family | undefined {
  if (len === HEADER_LEN + 4) return 4;
  if (
    p.mpUnreach &&
    p.mpUnreach.count === 0 &&
    !p.mpReach &&
    p.withdrawnCount === 0 &&
    p.nlriCount === 0 &&
    p.attrs === undefined
  ) {
    return p.mpUnreach.family;
  }
  return undefined;
}

/**
 * Packs prefixes sharing one attribute set into UPDATEs of at most
 * `maxLength` octets (the Adj-RIB-Out's encoder). Announcements: IPv4 in
 * the NLRI field, IPv6 in MP_REACH_NLRI (first attribute) with the next hop
 * given; withdrawals: IPv4 in Withdrawn Routes, IPv6 in MP_UNREACH_NLRI.
 * `add*` answers false when the prefix does not fit: `finish()` the message
 * and start again.
 */
export class UpdatePacker {
  private readonly nlri: Uint8Array;
  private used = 0;
  private room = 0;
  private family: Family = 4;
  private withdraw = false;
  private attrs: Uint8Array | undefined;
  private mpNextHop: Uint32Array | undefined;
  private mpLinkLocal: Uint32Array | undefined;
  count = 0;

  constructor(private readonly maxLength = MAX_MESSAGE_LEN) {
    this.nlri = new Uint8Array(maxLength);
  }

  /** Starts a message announcing prefixes of `family` with encoded attributes `attrs`. */
  beginAnnounce(
    family: Family,
    attrs: Uint8Array,
    nextHop?: Uint32Array,
    linkLocal?: Uint32Array,
  ): void {
    this.family = family;
    this.withdraw = false;
    this.attrs = attrs;
    this.used = 0;
    this.count = 0;
    this.mpNextHop = nextHop;
    this.mpLinkLocal = linkLocal;
    let overhead = HEADER_LEN + 4 + attrs.length;
    if (family === 6) overhead += 4 + 5 + (linkLocal ? 32 : 16);
    this.room = this.maxLength - overhead;
    if (this.room < 17) throw new RangeError("attributes leave no room for NLRI");
  }

  /** Starts a message withdrawing prefixes of `family`. */
  beginWithdraw(family: Family): void {
    this.family = family;
    this.withdraw = true;
    this.attrs = undefined;
    this.used = 0;
    this.count = 0;
    this.room = this.maxLength - HEADER_LEN - 4 - (family === 6 ? 4 + 3 : 0);
  }

  add4(addr: number, length: number): boolean {
    if (this.used + 1 + prefixOctets(length) > this.room) return false;
    this.used += writePrefix4(this.nlri, this.used, addr, length);
    this.count++;
    return true;
  }

  add6(words: ArrayLike<number>, woff: number, length: number): boolean {
    if (this.used + 1 + prefixOctets(length) > this.room) return false;
    this.used += writePrefix6(this.nlri, this.used, words, woff, length);
    this.count++;
    return true;
  }

  /** The message built so far. */
  finish(): Uint8Array {
    const nlri = this.nlri.subarray(0, this.used);
    if (this.family === 4) {
      if (this.withdraw) {
        const length = HEADER_LEN + 4 + nlri.length;
        const out = new Uint8Array(length);
        writeHeader(out, 0, MessageType.Update, length);
        write16(out, HEADER_LEN, nlri.length);
        out.set(nlri, HEADER_LEN + 2);
        write16(out, HEADER_LEN + 2 + nlri.length, 0);
        return out;
      }
      const attrs = this.attrs!;
      const length = HEADER_LEN + 4 + attrs.length + nlri.length;
      const out = new Uint8Array(length);
      writeHeader(out, 0, MessageType.Update, length);
      write16(out, HEADER_LEN, 0);
      write16(out, HEADER_LEN + 2, attrs.length);
      out.set(attrs, HEADER_LEN + 4);
      out.set(nlri, HEADER_LEN + 4 + attrs.length);
      return out;
    }
    if (this.withdraw) {
      const vlen = 3 + nlri.length;
      const alen = (vlen > 255 ? 4 : 3) + vlen;
      const length = HEADER_LEN + 4 + alen;
      const out = new Uint8Array(length);
      writeHeader(out, 0, MessageType.Update, length);
      write16(out, HEADER_LEN + 2, alen);
      const v = attrHeader(out, HEADER_LEN + 4, AttrFlag.Optional, AttrType.MpUnreachNlri, vlen);
      write16(out, v, Afi.Ipv6);
      out[v + 2] = Safi.Unicast;
      out.set(nlri, v + 3);
      return out;
    }
    const attrs = this.attrs!;
    const { value, nlriAt } = mpReachValue(6, this.mpNextHop!, this.mpLinkLocal, nlri.length);
    value.set(nlri, nlriAt);
    const mpLen = (value.length > 255 ? 4 : 3) + value.length;
    const length = HEADER_LEN + 4 + mpLen + attrs.length;
    const out = new Uint8Array(length);
    writeHeader(out, 0, MessageType.Update, length);
    write16(out, HEADER_LEN + 2, mpLen + attrs.length);
    const v = attrHeader(
      out,
      HEADER_LEN + 4,
      AttrFlag.Optional,
      AttrType.MpReachNlri,
      value.length,
    );
    out.set(value, v);
    out.set(attrs, v + value.length);
    return out;
  }
}

/** Decodes the prefixes of an NLRI field into Prefix values (for tests and tools). */
export function prefixesOf(buf: Uint8Array, off: number, end: number, family: Family): Prefix[] {
  const r = new NlriReader().reset(buf, off, end, family);
  const out: Prefix[] = [];
  while (r.next()) {
    out.push({
      family,
      words: family === 4 ? Uint32Array.of(r.addr) : Uint32Array.from(r.words),
      length: r.length,
    });
  }
  return out;
}

/** An UPDATE decoded to plain values, with what parsing found (for tests and tools). */
export function decodeUpdate(
  buf: Uint8Array,
  off: number,
  len: number,
  ctx: UpdateContext,
): { parsed: ParsedUpdate; repr: UpdateRepr } {
  const parsed = parseUpdate(buf, off, len, ctx);
  const repr: UpdateRepr = {};
  if (parsed.action === UpdateAction.SessionReset) return { parsed, repr };
  const w = prefixesOf(buf, parsed.withdrawnOff, parsed.withdrawnEnd, 4);
  if (w.length > 0) repr.withdrawn = w;
  const n = prefixesOf(buf, parsed.nlriOff, parsed.nlriEnd, 4);
  if (n.length > 0) repr.nlri = n;
  if (parsed.attrs) {
    repr.attributes =
      parsed.nextHop4 !== undefined
        ? { ...parsed.attrs, nextHop: Uint32Array.of(parsed.nextHop4) }
        : parsed.attrs;
  }
  const r = parsed.mpReach;
  if (r) {
    repr.mpReach = {
      family: r.family,
      nextHop: r.nextHop,
      nlri: prefixesOf(buf, r.off, r.end, r.family),
    };
    if (r.linkLocal) repr.mpReach.linkLocal = r.linkLocal;
  }
  const u = parsed.mpUnreach;
  if (u) repr.mpUnreach = { family: u.family, nlri: prefixesOf(buf, u.off, u.end, u.family) };
  return { parsed, repr };
}
