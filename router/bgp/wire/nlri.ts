/**
 * NLRI prefix encoding (RFC 4271 section 4.3, RFC 4760 section 5): a length
 * octet in bits, then the prefix in as few octets as hold it; trailing bits
 * past the length are irrelevant and are cleared on input. `checkNlri`
 * validates a whole field without allocating; `NlriReader` walks one,
 * leaving each prefix in reused fields (no object per prefix).
 */
import type { Family } from "../../../fib/types.ts";

/** Octets a prefix of `length` bits takes after its length octet. */
export function prefixOctets(length: number): number {
  return (length + 7) >> 3;
}

/**
 * Validates the NLRI field `(buf, off..end)` for `family`: every length
 * within 0..32 (0..128) and no prefix overrunning the field. Answers the
 * number of prefixes, or -1 when the field cannot be parsed.
 */
export function checkNlri(buf: Uint8Array, off: number, end: number, family: Family): number {
  const max = family === 4 ? 32 : 128;
  let at = off;
  let count = 0;
  while (at < end) {
    const len = buf[at];
    if (len > max) return -1;
    at += 1 + ((len + 7) >> 3);
    if (at > end) return -1;
    count++;
  }
  return count;
}

function mask32(bits: number): number {
  return bits <= 0 ? 0 : bits >= 32 ? 0xffffffff : (0xffffffff << (32 - bits)) >>> 0;
}

/** Walks a field already validated by checkNlri. */
export class NlriReader {
  buf: Uint8Array = new Uint8Array(0);
  at = 0;
  end = 0;
  family: Family = 4;
  /** The IPv4 prefix of the last `next()`. */
  addr = 0;
  /** The IPv6 prefix of the last `next()` (reused; copy to keep). */
  readonly words = new Uint32Array(4);
  length = 0;

  reset(buf: Uint8Array, off: number, end: number, family: Family): this {
    this.buf = buf;
    this.at = off;
    this.end = end;
    this.family = family;
    return this;
  }

  next(): boolean {
    if (this.at >= this.end) return false;
    const buf = this.buf;
    const len = buf[this.at];
    const p = this.at + 1;
    const n = (len + 7) >> 3;
    this.length = len;
    this.at = p + n;
    if (this.family === 4) {
      let a = 0;
      switch (n) {
        case 4:
          a = ((buf[p] << 24) | (buf[p + 1] << 16) | (buf[p + 2] << 8) | buf[p + 3]) >>> 0;
          break;
        case 3:
          a = ((buf[p] << 24) | (buf[p + 1] << 16) | (buf[p + 2] << 8)) >>> 0;
          break;
        case 2:
          a = ((buf[p] << 24) | (buf[p + 1] << 16)) >>> 0;
          break;
        case 1:
          a = (buf[p] << 24) >>> 0;
          break;
      }
      this.addr = (a & mask32(len)) >>> 0;
    } else {
      const w = this.words;
      for (let i = 0; i < 4; i++) {
        let v = 0;
        for (let k = 0; k < 4; k++) {
          const j = i * 4 + k;
          v = (v << 8) | (j < n ? buf[p + j] : 0);
        }
        w[i] = (v & mask32(len - i * 32)) >>> 0;
      }
    }
    return true;
  }
}

/** Writes an IPv4 prefix at `at`; answers the octets written. */
export function writePrefix4(buf: Uint8Array, at: number, addr: number, length: number): number {
  const n = (length + 7) >> 3;
  buf[at] = length;
  for (let i = 0; i < n; i++) buf[at + 1 + i] = addr >>> (24 - 8 * i);
  return 1 + n;
}

/** Writes an IPv6 prefix (4 words from `woff`) at `at`; answers the octets written. */
export function writePrefix6(
  buf: Uint8Array,
  at: number,
  words: ArrayLike<number>,
  woff: number,
  length: number,
): number {
  const n = (length + 7) >> 3;
  buf[at] = length;
  for (let i = 0; i < n; i++) buf[at + 1 + i] = words[woff + (i >> 2)] >>> (24 - 8 * (i & 3));
  return 1 + n;
}
