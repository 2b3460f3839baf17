/**
 * FIB snapshots: every route of one virtual router's FIB (both families) and
 * the FIB's sequence number in one self-checking byte string, as migration
 * streams it to the target's standby data plane (DESIGN.md, phase 2).
 *
 * Layout (version 1; integers big-endian, offsets in bytes):
 *
 *    0  magic "VFIB"
 *    4  u8  format version (1)
 *    5  u8  flags (none defined: must be 0)
 *    6  u16 reserved (must be 0)
 *    8  u32 sequence number, high 21 bits   (seq < 2^53)
 *   12  u32 sequence number, low 32 bits
 *   16  u32 IPv4 route count
 *   20  u32 IPv6 route count
 *   24  u32 body length B
 *   28  body: the IPv4 routes, then the IPv6 routes
 * 28+B  u32 CRC-32 (zlib's) of bytes 0 .. 27+B
 *
 * Within each family the routes are sorted by prefix (unsigned), then by
 * length, so that neighbours share leading bytes, a duplicate is always next
 * to its twin, and one table always encodes to the same bytes. Each route is
 * coded against the route before it (the first against the all-zero
 * prefix, length 0, next hop 0; the state resets for IPv6):
 *
 *   ctrl   u8: bits 0-4 = S, leading prefix bytes shared with the previous
 *          prefix; bits 5-6 = next-hop mode (0 = same as the previous route,
 *          1 = one byte follows, 2 = two bytes follow, 3 = invalid); bit 7 =
 *          a length byte follows (clear: same length as the previous route).
 *   [len]  u8 prefix length, when bit 7 is set.
 *   bytes  the prefix's significant bytes (ceil(len / 8)) past the S shared.
 *   [nh]   the next hop, one or two bytes as the mode says.
 *
 * A /24 that shares two bytes with the /24 before it costs 2 bytes (same
 * next hop) or 3 (a next hop below 256); a plain length + bytes + u16 layout
 * would take 6. The real default-free table (901,899 IPv4 routes, random
 * next hops below 256) encodes to 2,473,962 bytes, 2.74 bytes a route (2.08
 * MB with one next hop, 3.88 MB with next hops spread over 0..0xfffe); it
 * takes 60-160 ms to encode from unsorted lists and 35-80 ms to decode
 * (Node 20, one core). Its 160,147 IPv6 routes add 450 kB.
 *
 * The header carries the body length so that truncation and trailing bytes
 * are named as such rather than as a CRC mismatch; the CRC catches bit
 * errors (every single-bit flip, every burst up to 32 bits); the body is
 * then still checked route by route (length range, host bits, next-hop
 * range, order, duplicates, counts), so that a snapshot with a valid CRC but
 * built wrong is refused as well. Decoding never throws: it returns an error
 * value naming the fault and its byte offset.
 * Encoding refuses invalid routes with a RangeError, as the tables do.
 */
import { crc32 } from "node:zlib";
import { formatPrefix } from "./prefix.ts";
import { type Family, MAX_NEXT_HOP, type RouteList, wordsOf } from "./types.ts";

/** "VFIB" */
export const SNAPSHOT_MAGIC = 0x56464942;
export const SNAPSHOT_VERSION = 1;
/** Bytes before the body. */
export const SNAPSHOT_HEADER_BYTES = 28;

const TWO_32 = 2 ** 32;

/** A snapshot decoded and checked: what `Fib.restoreDecoded` loads. */
export interface DecodedSnapshot {
  ok: true;
  seq: number;
  routes4: RouteList;
  routes6: RouteList;
}

export type SnapshotResult = DecodedSnapshot | { ok: false; error: string };

// ---- helpers shared with journal.ts ----

/** Throws RangeError unless `seq` is a valid sequence number (integer in 0 .. 2^53 - 1). */
export function checkSeq(seq: number, what = "sequence number"): void {
  if (!Number.isSafeInteger(seq) || seq < 0) {
    throw new RangeError(`${what} ${seq} is not an integer in 0..2^53-1`);
  }
}

/** Writes a sequence number as two big-endian u32 (high, low) at `offset`. */
export function writeSeq(view: DataView, offset: number, seq: number): void {
  view.setUint32(offset, Math.floor(seq / TWO_32));
  view.setUint32(offset + 4, seq % TWO_32);
}

/** Reads a sequence number written by writeSeq; undefined when it is 2^53 or more. */
export function readSeq(view: DataView, offset: number): number | undefined {
  const hi = view.getUint32(offset);
  if (hi >= 2 ** 21) return undefined;
  return hi * TWO_32 + view.getUint32(offset + 4);
}

/** Byte `i` (0 = most significant) of a prefix held as words from `offset`. */
export function prefixByte(words: ArrayLike<number>, offset: number, i: number): number {
  return (words[offset + (i >> 2)] >>> (24 - 8 * (i & 3))) & 0xff;
}

/** Host bits set in the last significant byte of a prefix of `length` bits ending with `last`. */
export function hostBitsInLastByte(last: number, length: number): boolean {
  const used = length & 7;
  return used !== 0 && (last & (0xff >> used)) !== 0;
}

function familyName(family: Family): string {
  return family === 4 ? "IPv4" : "IPv6";
}

// ---- encoding ----

/**
 * The order of a list's routes by prefix (unsigned), then length: an LSD
 * radix sort of route indices on 16-bit digits, skipping digits every route
 * shares (the low IPv6 words, mostly).
 */
function sortedOrder(list: RouteList): Uint32Array {
  const n = list.count;
  const w = wordsOf(list.family);
  let order = new Uint32Array(n);
  for (let i = 0; i < n; i++) order[i] = i;
  if (n < 2) return order;
  let sorted = true;
  for (let i = 1; i < n && sorted; i++) sorted = compareRoutes(list, i - 1, i) < 0;
  if (sorted) return order;
  let spare = new Uint32Array(n);
  const digits = new Uint16Array(n);
  const counts = new Uint32Array(65536);
  // Least significant first: the length, then each word's low and high half.
  for (let pass = 0; pass <= 2 * w; pass++) {
    if (pass === 0) {
      for (let i = 0; i < n; i++) digits[i] = list.lengths[i];
    } else {
      const word = w - 1 - ((pass - 1) >> 1);
      const shift = (pass - 1) & 1 ? 16 : 0;
      for (let i = 0; i < n; i++) digits[i] = list.prefixes[i * w + word] >>> shift;
    }
    counts.fill(0);
    for (let i = 0; i < n; i++) counts[digits[i]]++;
    if (counts[digits[0]] === n) continue;
    let sum = 0;
    for (let d = 0; d < 65536; d++) {
      const c = counts[d];
      counts[d] = sum;
      sum += c;
    }
    for (let k = 0; k < n; k++) {
      const i = order[k];
      spare[counts[digits[i]]++] = i;
    }
    [order, spare] = [spare, order];
  }
  return order;
}

/** Compares routes i and j of a list by prefix, then length. */
function compareRoutes(list: RouteList, i: number, j: number): number {
  const w = wordsOf(list.family);
  for (let k = 0; k < w; k++) {
    const a = list.prefixes[i * w + k];
    const b = list.prefixes[j * w + k];
    if (a !== b) return a < b ? -1 : 1;
  }
  return list.lengths[i] - list.lengths[j];
}

/** Appends one family's routes to `out` from `pos`; returns the new position. */
function encodeRoutes(list: RouteList, family: Family, out: Uint8Array, pos: number): number {
  const name = familyName(family);
  if (list.family !== family) throw new RangeError(`${name} route list has family ${list.family}`);
  const w = wordsOf(family);
  const maxLen = w * 32;
  const maxBytes = w * 4;
  const { prefixes, lengths, nextHops } = list;
  if (prefixes.length < list.count * w || lengths.length < list.count) {
    throw new RangeError(`${name} route list holds fewer routes than its count ${list.count}`);
  }
  const order = sortedOrder(list);
  const prev = new Uint8Array(16);
  const cur = new Uint8Array(16);
  let prevLen = 0;
  let prevNh = 0;
  for (let k = 0; k < order.length; k++) {
    const i = order[k];
    const len = lengths[i];
    const nh = nextHops[i];
    if (len > maxLen) throw new RangeError(`${name} route ${i}: prefix length ${len} > ${maxLen}`);
    if (nh > MAX_NEXT_HOP)
      throw new RangeError(`${name} route ${i}: next hop ${nh} > ${MAX_NEXT_HOP}`);
    for (let b = 0; b < maxBytes; b++) cur[b] = prefixByte(prefixes, i * w, b);
    const sig = (len + 7) >> 3;
    for (let b = sig; b < maxBytes; b++) {
      if (cur[b] !== 0) throw hostBitsError(list, i);
    }
    if (sig > 0 && hostBitsInLastByte(cur[sig - 1], len)) throw hostBitsError(list, i);
    if (k > 0 && len === prevLen) {
      let same = true;
      for (let b = 0; b < maxBytes && same; b++) same = cur[b] === prev[b];
      if (same) {
        const text = formatPrefix(family, prefixes.subarray(i * w, i * w + w), len);
        throw new RangeError(`${name} route list holds ${text} twice`);
      }
    }
    let shared = 0;
    while (shared < sig && cur[shared] === prev[shared]) shared++;
    const mode = nh === prevNh ? 0 : nh < 256 ? 1 : 2;
    out[pos++] = shared | (mode << 5) | (len !== prevLen ? 0x80 : 0);
    if (len !== prevLen) out[pos++] = len;
    for (let b = shared; b < sig; b++) out[pos++] = cur[b];
    if (mode === 1) {
      out[pos++] = nh;
    } else if (mode === 2) {
      out[pos++] = nh >> 8;
      out[pos++] = nh & 0xff;
    }
    prev.set(cur);
    prevLen = len;
    prevNh = nh;
  }
  return pos;
}

function hostBitsError(list: RouteList, i: number): RangeError {
  const w = wordsOf(list.family);
  const text = formatPrefix(list.family, list.prefixes.subarray(i * w, i * w + w), list.lengths[i]);
  return new RangeError(`${familyName(list.family)} route ${text} has host bits set`);
}

/**
 * Encodes a FIB's routes and sequence number as one snapshot. The lists may
 * be in any order. Throws RangeError on an invalid sequence number or route
 * (length out of range, host bits, next hop > MAX_NEXT_HOP, a duplicate).
 */
export function encodeSnapshot(seq: number, routes4: RouteList, routes6: RouteList): Uint8Array {
  checkSeq(seq);
  const bound = SNAPSHOT_HEADER_BYTES + routes4.count * 8 + routes6.count * 20 + 4;
  const out = new Uint8Array(bound);
  let pos = encodeRoutes(routes4, 4, out, SNAPSHOT_HEADER_BYTES);
  pos = encodeRoutes(routes6, 6, out, pos);
  const view = new DataView(out.buffer);
  view.setUint32(0, SNAPSHOT_MAGIC);
  out[4] = SNAPSHOT_VERSION;
  writeSeq(view, 8, seq);
  view.setUint32(16, routes4.count);
  view.setUint32(20, routes6.count);
  view.setUint32(24, pos - SNAPSHOT_HEADER_BYTES);
  view.setUint32(pos, crc32(out.subarray(0, pos)));
  return out.slice(0, pos + 4);
}

// ---- decoding ----

type Routes = { ok: true; routes: RouteList; end: number } | { ok: false; error: string };

function decodeRoutes(
  bytes: Uint8Array,
  start: number,
  end: number,
  family: Family,
  count: number,
): Routes {
  const name = familyName(family);
  const w = wordsOf(family);
  const maxLen = w * 32;
  const maxBytes = w * 4;
  const prefixes = new Uint32Array(count * w);
  const lengths = new Uint8Array(count);
  const nextHops = new Uint16Array(count);
  const cur = new Uint8Array(16);
  let prevLen = 0;
  let prevNh = 0;
  let pos = start;
  let i = 0;
  let at = start;
  let len = 0;
  // Error messages are built only on failure: the loop runs per route.
  const fail = (what: string): Routes => ({
    ok: false,
    error: `snapshot: ${name} route ${i} (of ${count}) at byte offset ${at}: ${what}`,
  });
  const cut = (): Routes => fail(`cut short by the end of the body at byte offset ${end}`);
  const text = (): string => formatPrefix(family, prefixes.subarray(i * w, i * w + w), len);
  for (; i < count; i++) {
    at = pos;
    if (pos >= end) return cut();
    const ctrl = bytes[pos++];
    const shared = ctrl & 0x1f;
    const mode = (ctrl >> 5) & 3;
    if (mode === 3) return fail("invalid next-hop mode 3");
    len = prevLen;
    if (ctrl & 0x80) {
      if (pos >= end) return cut();
      len = bytes[pos++];
      if (len > maxLen) return fail(`prefix length ${len} > ${maxLen}`);
    }
    const sig = (len + 7) >> 3;
    if (shared > sig) {
      return fail(`shares ${shared} bytes with the previous prefix, but a /${len} has only ${sig}`);
    }
    if (pos + (sig - shared) + mode > end) return cut();
    // cur still holds the previous prefix: keep its first `shared` bytes.
    for (let b = shared; b < sig; b++) cur[b] = bytes[pos++];
    cur.fill(0, sig, maxBytes);
    let nh = prevNh;
    if (mode === 1) {
      nh = bytes[pos++];
    } else if (mode === 2) {
      nh = (bytes[pos] << 8) | bytes[pos + 1];
      pos += 2;
    }
    for (let k = 0; k < w; k++) {
      prefixes[i * w + k] =
        ((cur[4 * k] << 24) | (cur[4 * k + 1] << 16) | (cur[4 * k + 2] << 8) | cur[4 * k + 3]) >>>
        0;
    }
    if (sig > 0 && hostBitsInLastByte(cur[sig - 1], len)) {
      return fail(`${text()} has host bits set past its length`);
    }
    if (nh > MAX_NEXT_HOP) return fail(`next hop ${nh} > ${MAX_NEXT_HOP}`);
    if (i > 0) {
      let order = 0;
      for (let k = 0; k < w && order === 0; k++) {
        const a = prefixes[(i - 1) * w + k];
        const b = prefixes[i * w + k];
        if (a !== b) order = a < b ? 1 : -1;
      }
      if (order === 0) order = Math.sign(len - prevLen);
      if (order === 0) return fail(`duplicate prefix ${text()}`);
      if (order < 0) {
        return fail(`${text()} is out of order (routes are sorted by prefix, then length)`);
      }
    }
    lengths[i] = len;
    nextHops[i] = nh;
    prevLen = len;
    prevNh = nh;
  }
  return { ok: true, routes: { family, count, prefixes, lengths, nextHops }, end: pos };
}

/** Decodes a snapshot. Never throws: anything malformed gives `{ ok: false, error }`. */
export function decodeSnapshot(bytes: Uint8Array): SnapshotResult {
  if (!(bytes instanceof Uint8Array)) return { ok: false, error: "snapshot: not a Uint8Array" };
  const n = bytes.length;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (n >= 4 && view.getUint32(0) !== SNAPSHOT_MAGIC) {
    return {
      ok: false,
      error: `snapshot: bad magic 0x${hex32(view.getUint32(0))} at byte offset 0 (want "VFIB")`,
    };
  }
  if (n >= 5 && bytes[4] !== SNAPSHOT_VERSION) {
    return {
      ok: false,
      error: `snapshot: unsupported format version ${bytes[4]} at byte offset 4 (this build reads version ${SNAPSHOT_VERSION})`,
    };
  }
  if (n < SNAPSHOT_HEADER_BYTES + 4) {
    return {
      ok: false,
      error: `snapshot: truncated: ${n} bytes, a snapshot has at least ${SNAPSHOT_HEADER_BYTES + 4} (header and CRC)`,
    };
  }
  if (bytes[5] !== 0) {
    return {
      ok: false,
      error: `snapshot: unknown flags 0x${bytes[5].toString(16)} at byte offset 5`,
    };
  }
  if (view.getUint16(6) !== 0) {
    return { ok: false, error: "snapshot: reserved bytes 6-7 are not zero" };
  }
  const seq = readSeq(view, 8);
  if (seq === undefined) {
    return { ok: false, error: "snapshot: sequence number at byte offset 8 is 2^53 or more" };
  }
  const count4 = view.getUint32(16);
  const count6 = view.getUint32(20);
  const bodyBytes = view.getUint32(24);
  const total = SNAPSHOT_HEADER_BYTES + bodyBytes + 4;
  if (n < total) {
    return { ok: false, error: `snapshot: truncated: header says ${total} bytes, got ${n}` };
  }
  if (n > total) {
    return {
      ok: false,
      error: `snapshot: ${n - total} trailing bytes after the CRC at byte offset ${total - 4}`,
    };
  }
  const bodyEnd = SNAPSHOT_HEADER_BYTES + bodyBytes;
  const want = view.getUint32(bodyEnd);
  const got = crc32(bytes.subarray(0, bodyEnd));
  if (want !== got) {
    return {
      ok: false,
      error: `snapshot: CRC mismatch: trailer at byte offset ${bodyEnd} says 0x${hex32(want)}, content gives 0x${hex32(got)}`,
    };
  }
  // Every route takes at least one byte: bound the counts before allocating.
  if (count4 + count6 > bodyBytes) {
    return {
      ok: false,
      error: `snapshot: route counts (${count4} IPv4, ${count6} IPv6) exceed what a ${bodyBytes}-byte body can hold`,
    };
  }
  const r4 = decodeRoutes(bytes, SNAPSHOT_HEADER_BYTES, bodyEnd, 4, count4);
  if (!r4.ok) return r4;
  const r6 = decodeRoutes(bytes, r4.end, bodyEnd, 6, count6);
  if (!r6.ok) return r6;
  if (r6.end !== bodyEnd) {
    return {
      ok: false,
      error: `snapshot: ${bodyEnd - r6.end} bytes left at byte offset ${r6.end} after the last route: the route counts (${count4} IPv4, ${count6} IPv6) disagree with the body`,
    };
  }
  return { ok: true, seq, routes4: r4.routes, routes6: r6.routes };
}

function hex32(v: number): string {
  return v.toString(16).padStart(8, "0");
}
