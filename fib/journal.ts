/**
 * FIB change journals: the sequence-numbered changes a FIB went through since
 * a snapshot, as migration ships them after the snapshot (DESIGN.md, phase
 * 2) until the target's standby data plane has caught up.
 *
 * Every change to a FIB takes the next sequence number, so a journal is a
 * first sequence number plus consecutive entries; an entry does not repeat
 * its own. Entry layout (integers big-endian):
 *
 *   ctrl  u8: bit 0 = operation (0 insert, 1 delete), bit 1 = family (0 IPv4,
 *         1 IPv6), bits 2-7 reserved (must be 0)
 *   len   u8 prefix length (0..32 or 0..128)
 *   bytes the prefix's significant bytes, ceil(len / 8) of them
 *   [nh]  u16 next hop, inserts only (0..MAX_NEXT_HOP)
 *
 * An IPv4 /24 insert takes 7 bytes, an IPv6 /48 delete 8. `FibJournal`
 * records entries in exactly this form in one growable byte buffer (no object
 * per entry), so encoding is a header, one copy and a CRC. Frame (version 1):
 *
 *    0  magic "VFJL"
 *    4  u8  format version (1)
 *    5  u8  flags (none defined: must be 0)
 *    6  u16 reserved (must be 0)
 *    8  u32 first sequence number, high 21 bits
 *   12  u32 first sequence number, low 32 bits
 *   16  u32 entry count N
 *   20  u32 body length B
 *   24  N entries
 * 24+B  u32 CRC-32 (zlib's) of bytes 0 .. 23+B
 *
 * An empty journal (N = 0) is valid: it says "nothing after first - 1".
 * `decodeJournal` never throws; it checks the frame, the CRC and then every
 * entry (reserved bits, length range, host bits, next-hop range, entries cut
 * short, counts against the body, trailing bytes) and names the byte offset.
 */
import { crc32 } from "node:zlib";
import { checkNextHop, checkPrefix4, checkPrefix6, formatPrefix } from "./prefix.ts";
import { checkSeq, hostBitsInLastByte, prefixByte, readSeq, writeSeq } from "./snapshot.ts";
import { type Family, MAX_NEXT_HOP, type NextHop, wordsOf } from "./types.ts";

/** "VFJL" */
export const JOURNAL_MAGIC = 0x56464a4c;
export const JOURNAL_VERSION = 1;
export const JOURNAL_HEADER_BYTES = 24;

export type JournalOp = "insert" | "delete";

/** One change. `prefix` holds 1 (IPv4) or 4 (IPv6) words. */
export type JournalEntry =
  | {
      readonly seq: number;
      readonly op: "insert";
      readonly family: Family;
      readonly prefix: Uint32Array;
      readonly length: number;
      readonly nextHop: NextHop;
    }
  | {
      readonly seq: number;
      readonly op: "delete";
      readonly family: Family;
      readonly prefix: Uint32Array;
      readonly length: number;
    };

export type JournalResult =
  | { ok: true; firstSeq: number; entries: JournalEntry[] }
  | { ok: false; error: string };

const OP_DELETE = 1;
const FAMILY_6 = 2;

/** Size in bytes of the entry whose ctrl and length bytes are given. */
function entrySize(ctrl: number, length: number): number {
  return 2 + ((length + 7) >> 3) + (ctrl & OP_DELETE ? 0 : 2);
}

/**
 * The journal of one FIB: entries `baseSeq + 1 .. lastSeq`, held encoded in
 * one byte buffer. `baseSeq` is the sequence number of the state the first
 * entry applies to; it moves up as `truncate` drops entries already shipped.
 */
export class FibJournal {
  private buf: Uint8Array;
  private used = 0;
  private base: number;
  private n = 0;

  constructor(baseSeq = 0, capacity = 4096) {
    checkSeq(baseSeq, "journal base sequence number");
    this.base = baseSeq;
    this.buf = new Uint8Array(Math.max(64, capacity));
  }

  /** Sequence number of the state before the first entry held. */
  get baseSeq(): number {
    return this.base;
  }

  /** Sequence number of the last entry held (baseSeq when empty). */
  get lastSeq(): number {
    return this.base + this.n;
  }

  /** Entries held. */
  get count(): number {
    return this.n;
  }

  /** Bytes held: the buffer (with its spare capacity) and a few counters. */
  bytes(): number {
    return this.buf.byteLength + 32;
  }

  /**
   * Records one change. `seq` must be lastSeq + 1; `prefix` is an IPv4 word
   * or an array of 1 or 4 words. Throws RangeError on misuse.
   */
  record(
    seq: number,
    op: JournalOp,
    family: Family,
    prefix: number | ArrayLike<number>,
    length: number,
    nextHop: NextHop = 0,
  ): void {
    if (seq !== this.lastSeq + 1) {
      throw new RangeError(`journal entry seq ${seq} does not follow seq ${this.lastSeq}`);
    }
    checkSeq(seq);
    const words = typeof prefix === "number" ? [prefix] : prefix;
    if (family === 4) checkPrefix4(words[0], length);
    else if (family === 6) checkPrefix6(words, length);
    else throw new RangeError(`family ${family} is neither 4 nor 6`);
    if (op === "insert") checkNextHop(nextHop);
    else if (op !== "delete") throw new RangeError(`journal op ${op} is neither insert nor delete`);
    const ctrl = (op === "delete" ? OP_DELETE : 0) | (family === 6 ? FAMILY_6 : 0);
    const size = entrySize(ctrl, length);
    this.reserve(size);
    const b = this.buf;
    let pos = this.used;
    b[pos++] = ctrl;
    b[pos++] = length;
    const sig = (length + 7) >> 3;
    for (let i = 0; i < sig; i++) b[pos++] = prefixByte(words, 0, i);
    if (op === "insert") {
      b[pos++] = nextHop >> 8;
      b[pos++] = nextHop & 0xff;
    }
    this.used = pos;
    this.n++;
  }

  /**
   * Encodes the entries after `afterSeq` (default: all held) as one journal.
   * Throws RangeError when `afterSeq` is before baseSeq (those entries were
   * dropped or never recorded) or after lastSeq.
   */
  encode(afterSeq: number = this.base): Uint8Array {
    checkSeq(afterSeq, "afterSeq");
    if (afterSeq < this.base) {
      throw new RangeError(
        `journal holds changes after seq ${this.base} only; cannot encode from seq ${afterSeq + 1}`,
      );
    }
    if (afterSeq > this.lastSeq) {
      throw new RangeError(`afterSeq ${afterSeq} is past the journal's last seq ${this.lastSeq}`);
    }
    const skip = this.offsetOf(afterSeq - this.base);
    const body = this.used - skip;
    const out = new Uint8Array(JOURNAL_HEADER_BYTES + body + 4);
    const view = new DataView(out.buffer);
    view.setUint32(0, JOURNAL_MAGIC);
    out[4] = JOURNAL_VERSION;
    writeSeq(view, 8, afterSeq + 1);
    view.setUint32(16, this.lastSeq - afterSeq);
    view.setUint32(20, body);
    out.set(this.buf.subarray(skip, this.used), JOURNAL_HEADER_BYTES);
    const end = JOURNAL_HEADER_BYTES + body;
    view.setUint32(end, crc32(out.subarray(0, end)));
    return out;
  }

  /** Drops the entries with seq <= uptoSeq (all of them when uptoSeq >= lastSeq). */
  truncate(uptoSeq: number): void {
    checkSeq(uptoSeq, "uptoSeq");
    if (uptoSeq <= this.base) return;
    const drop = Math.min(uptoSeq, this.lastSeq) - this.base;
    const cut = this.offsetOf(drop);
    this.buf.copyWithin(0, cut, this.used);
    this.used -= cut;
    this.n -= drop;
    this.base += drop;
    // Give memory back once the buffer is mostly empty.
    if (this.buf.length > 4096 && this.used * 4 < this.buf.length) {
      this.buf = this.buf.slice(0, Math.max(4096, this.used * 2));
    }
  }

  /** Drops every entry and restarts at `baseSeq`. */
  reset(baseSeq: number): void {
    checkSeq(baseSeq, "journal base sequence number");
    this.base = baseSeq;
    this.n = 0;
    this.used = 0;
  }

  /** Byte offset of the entry `index` entries after the first (used for the end). */
  private offsetOf(index: number): number {
    let pos = 0;
    for (let i = 0; i < index; i++) pos += entrySize(this.buf[pos], this.buf[pos + 1]);
    return pos;
  }

  private reserve(size: number): void {
    if (this.used + size <= this.buf.length) return;
    const grown = new Uint8Array(Math.max(this.buf.length * 2, this.used + size));
    grown.set(this.buf.subarray(0, this.used));
    this.buf = grown;
  }
}

/** Decodes a journal. Never throws: anything malformed gives `{ ok: false, error }`. */
export function decodeJournal(bytes: Uint8Array): JournalResult {
  if (!(bytes instanceof Uint8Array)) return { ok: false, error: "journal: not a Uint8Array" };
  const n = bytes.length;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (n >= 4 && view.getUint32(0) !== JOURNAL_MAGIC) {
    return {
      ok: false,
      error: `journal: bad magic 0x${hex32(view.getUint32(0))} at byte offset 0 (want "VFJL")`,
    };
  }
  if (n >= 5 && bytes[4] !== JOURNAL_VERSION) {
    return {
      ok: false,
      error: `journal: unsupported format version ${bytes[4]} at byte offset 4 (this build reads version ${JOURNAL_VERSION})`,
    };
  }
  if (n < JOURNAL_HEADER_BYTES + 4) {
    return {
      ok: false,
      error: `journal: truncated: ${n} bytes, a journal has at least ${JOURNAL_HEADER_BYTES + 4} (header and CRC)`,
    };
  }
  if (bytes[5] !== 0) {
    return {
      ok: false,
      error: `journal: unknown flags 0x${bytes[5].toString(16)} at byte offset 5`,
    };
  }
  if (view.getUint16(6) !== 0)
    return { ok: false, error: "journal: reserved bytes 6-7 are not zero" };
  const firstSeq = readSeq(view, 8);
  const count = view.getUint32(16);
  const bodyBytes = view.getUint32(20);
  const total = JOURNAL_HEADER_BYTES + bodyBytes + 4;
  if (n < total)
    return { ok: false, error: `journal: truncated: header says ${total} bytes, got ${n}` };
  if (n > total) {
    return {
      ok: false,
      error: `journal: ${n - total} trailing bytes after the CRC at byte offset ${total - 4}`,
    };
  }
  const end = JOURNAL_HEADER_BYTES + bodyBytes;
  const want = view.getUint32(end);
  const got = crc32(bytes.subarray(0, end));
  if (want !== got) {
    return {
      ok: false,
      error: `journal: CRC mismatch: trailer at byte offset ${end} says 0x${hex32(want)}, content gives 0x${hex32(got)}`,
    };
  }
  if (firstSeq === undefined || firstSeq === 0 || count > 2 ** 53 - firstSeq) {
    return {
      ok: false,
      error: `journal: first sequence number at byte offset 8 is out of range (changes are numbered 1..2^53-1)`,
    };
  }
  // Every entry takes at least two bytes: bound the count before allocating.
  if (count * 2 > bodyBytes) {
    return {
      ok: false,
      error: `journal: entry count ${count} exceeds what a ${bodyBytes}-byte body can hold`,
    };
  }
  const entries: JournalEntry[] = new Array(count);
  let pos = JOURNAL_HEADER_BYTES;
  for (let i = 0; i < count; i++) {
    const at = pos;
    const fail = (what: string): JournalResult => ({
      ok: false,
      error: `journal: entry ${i} (of ${count}, seq ${firstSeq + i}) at byte offset ${at}: ${what}`,
    });
    if (pos + 2 > end) return fail(`cut short by the end of the body at byte offset ${end}`);
    const ctrl = bytes[pos];
    const length = bytes[pos + 1];
    if (ctrl & ~(OP_DELETE | FAMILY_6)) {
      return fail(`reserved bits set in control byte 0x${ctrl.toString(16)}`);
    }
    const family: Family = ctrl & FAMILY_6 ? 6 : 4;
    const maxLen = family === 4 ? 32 : 128;
    if (length > maxLen) return fail(`IPv${family} prefix length ${length} > ${maxLen}`);
    if (pos + entrySize(ctrl, length) > end) {
      return fail(`cut short by the end of the body at byte offset ${end}`);
    }
    pos += 2;
    const sig = (length + 7) >> 3;
    const prefix = new Uint32Array(wordsOf(family));
    for (let b = 0; b < sig; b++) {
      prefix[b >> 2] |= bytes[pos + b] << (24 - 8 * (b & 3));
    }
    if (sig > 0 && hostBitsInLastByte(bytes[pos + sig - 1], length)) {
      return fail(`${formatPrefix(family, prefix, length)} has host bits set past its length`);
    }
    pos += sig;
    const seq = firstSeq + i;
    if (ctrl & OP_DELETE) {
      entries[i] = { seq, op: "delete", family, prefix, length };
    } else {
      const nextHop = (bytes[pos] << 8) | bytes[pos + 1];
      pos += 2;
      if (nextHop > MAX_NEXT_HOP) return fail(`next hop ${nextHop} > ${MAX_NEXT_HOP}`);
      entries[i] = { seq, op: "insert", family, prefix, length, nextHop };
    }
  }
  if (pos !== end) {
    return {
      ok: false,
      error: `journal: ${end - pos} bytes left at byte offset ${pos} after the last entry: the entry count ${count} disagrees with the body`,
    };
  }
  return { ok: true, firstSeq, entries };
}

function hex32(v: number): string {
  return v.toString(16).padStart(8, "0");
}
