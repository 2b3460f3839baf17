/**
 * Prefixes and addresses as the FIB holds them: IPv4 as one unsigned 32-bit
 * word, IPv6 as four words, most significant first. Text forms follow
 * RFC 4632 (IPv4 CIDR) and RFC 4291 / RFC 5952 (IPv6). Parsers never throw:
 * they return a value or an error string. The `check*` guards are for programmatic callers of the tables and
 * throw RangeError on misuse.
 */
import { type Family, MAX_NEXT_HOP, type NextHop, type RouteList, wordsOf } from "./types.ts";

/** Network mask of an IPv4 prefix length, as an unsigned integer. */
export function mask4(length: number): number {
  return length === 0 ? 0 : (0xffffffff << (32 - length)) >>> 0;
}

/** Mask of word `word` (0..3) of an IPv6 prefix of `length` bits. */
export function mask6Word(length: number, word: number): number {
  const bits = length - word * 32;
  return bits <= 0 ? 0 : bits >= 32 ? 0xffffffff : (0xffffffff << (32 - bits)) >>> 0;
}

export function checkNextHop(nextHop: NextHop): void {
  if (!Number.isInteger(nextHop) || nextHop < 0 || nextHop > MAX_NEXT_HOP) {
    throw new RangeError(`next hop ${nextHop} is not an integer in 0..${MAX_NEXT_HOP}`);
  }
}

/** Throws RangeError unless `prefix/length` is a valid IPv4 prefix with no host bits. */
export function checkPrefix4(prefix: number, length: number): void {
  if (!Number.isInteger(length) || length < 0 || length > 32) {
    throw new RangeError(`IPv4 prefix length ${length} is not in 0..32`);
  }
  if (!Number.isInteger(prefix) || prefix < 0 || prefix > 0xffffffff) {
    throw new RangeError(`IPv4 prefix ${prefix} is not an unsigned 32-bit integer`);
  }
  if ((prefix & ~mask4(length)) !== 0) {
    throw new RangeError(`IPv4 prefix ${formatIPv4(prefix)}/${length} has host bits set`);
  }
}

/** Throws RangeError unless `prefix/length` is a valid IPv6 prefix with no host bits. */
export function checkPrefix6(prefix: ArrayLike<number>, length: number): void {
  if (!Number.isInteger(length) || length < 0 || length > 128) {
    throw new RangeError(`IPv6 prefix length ${length} is not in 0..128`);
  }
  if (prefix.length < 4) throw new RangeError("IPv6 prefix needs four 32-bit words");
  for (let w = 0; w < 4; w++) {
    const v = prefix[w];
    if (!Number.isInteger(v) || v < 0 || v > 0xffffffff) {
      throw new RangeError(`IPv6 prefix word ${w} (${v}) is not an unsigned 32-bit integer`);
    }
    if ((v & ~mask6Word(length, w)) !== 0) {
      throw new RangeError(`IPv6 prefix ${formatIPv6(prefix)}/${length} has host bits set`);
    }
  }
}

export function formatIPv4(addr: number): string {
  return `${addr >>> 24}.${(addr >>> 16) & 255}.${(addr >>> 8) & 255}.${addr & 255}`;
}

/** Parses dotted-quad IPv4 text (exactly four decimal octets, no leading zeros). */
export function parseIPv4(text: string): number | undefined {
  let value = 0;
  let octets = 0;
  let i = 0;
  const n = text.length;
  while (octets < 4) {
    const start = i;
    let octet = 0;
    while (i < n) {
      const c = text.charCodeAt(i);
      if (c < 48 || c > 57) break;
      octet = octet * 10 + (c - 48);
      i++;
    }
    const digits = i - start;
    if (digits === 0 || digits > 3 || octet > 255) return undefined;
    if (digits > 1 && text.charCodeAt(start) === 48) return undefined;
    value = value * 256 + octet;
    octets++;
    if (octets < 4) {
      if (text.charCodeAt(i) !== 46) return undefined;
      i++;
    }
  }
  return i === n ? value : undefined;
}

/**
 * Parses IPv6 text (RFC 4291 section 2.2): eight groups of 1-4 hex digits,
 * at most one "::" standing for one or more zero groups, and optionally a
 * dotted quad as the last 32 bits. Written here rather than taken from the
 * ip6addr package, which accepts five-digit groups, refuses the dotted-quad
 * forms (::ffff:198.18.0.1, 64:ff9b::198.18.0.1) and prints text RFC 5952
 * forbids.
 */
export function parseIPv6(text: string): Uint32Array | undefined {
  const groups: number[] = [];
  let gap = -1;
  let i = 0;
  const n = text.length;
  if (text.startsWith("::")) {
    gap = 0;
    i = 2;
    if (n === 2) return wordsFromGroups(groups, gap);
  } else if (text.startsWith(":")) return undefined;
  while (i < n) {
    let j = i;
    let value = 0;
    while (j < n && j - i < 5) {
      const d = hexDigit(text.charCodeAt(j));
      if (d < 0) break;
      value = value * 16 + d;
      j++;
    }
    if (j < n && text.charCodeAt(j) === 46) {
      // A dotted quad: the rest of the text, as the last two groups.
      const v4 = parseIPv4(text.slice(i));
      if (v4 === undefined || groups.length > 6) return undefined;
      groups.push(v4 >>> 16, v4 & 0xffff);
      i = n;
      break;
    }
    if (j === i || j - i > 4) return undefined;
    groups.push(value);
    i = j;
    if (i === n) break;
    if (text.charCodeAt(i) !== 58) return undefined;
    i++;
    if (i < n && text.charCodeAt(i) === 58) {
      if (gap >= 0) return undefined;
      gap = groups.length;
      i++;
      if (i === n) break;
    } else if (i === n) return undefined;
  }
  return wordsFromGroups(groups, gap);
}

function hexDigit(c: number): number {
  if (c >= 48 && c <= 57) return c - 48;
  if (c >= 97 && c <= 102) return c - 87;
  if (c >= 65 && c <= 70) return c - 55;
  return -1;
}

function wordsFromGroups(groups: number[], gap: number): Uint32Array | undefined {
  if (gap < 0 ? groups.length !== 8 : groups.length > 7) return undefined;
  const all =
    gap < 0
      ? groups
      : [...groups.slice(0, gap), ...new Array(8 - groups.length).fill(0), ...groups.slice(gap)];
  const words = new Uint32Array(4);
  for (let w = 0; w < 4; w++) words[w] = ((all[w * 2] << 16) | all[w * 2 + 1]) >>> 0;
  return words;
}

/**
 * Formats four words as RFC 5952 text: lower case, no leading zeros, the
 * longest run of two or more zero groups (the first among equals) as "::",
 * and ::ffff:0:0/96 (IPv4-mapped) with a dotted quad.
 */
export function formatIPv6(words: ArrayLike<number>, offset = 0): string {
  const g: number[] = [];
  for (let w = 0; w < 4; w++) {
    const v = words[offset + w] >>> 0;
    g.push(v >>> 16, v & 0xffff);
  }
  if (g[0] === 0 && g[1] === 0 && g[2] === 0 && g[3] === 0 && g[4] === 0 && g[5] === 0xffff) {
    return `::ffff:${formatIPv4(words[offset + 3] >>> 0)}`;
  }
  let bestAt = -1;
  let bestLen = 1;
  for (let i = 0; i < 8; ) {
    if (g[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && g[j] === 0) j++;
    if (j - i > bestLen) {
      bestAt = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hex = (from: number, to: number) =>
    g
      .slice(from, to)
      .map((x) => x.toString(16))
      .join(":");
  if (bestAt < 0) return hex(0, 8);
  return `${hex(0, bestAt)}::${hex(bestAt + bestLen, 8)}`;
}

/** A parsed prefix of either family. `words` has 1 (IPv4) or 4 (IPv6) entries. */
export interface Prefix {
  readonly family: Family;
  readonly words: Uint32Array;
  readonly length: number;
}

/**
 * Parses `addr/len` (IPv4 or IPv6). A bare address means a host route.
 * Host bits must be zero unless `maskHostBits` is set, which clears them.
 */
export function parsePrefix(
  text: string,
  options: { maskHostBits?: boolean } = {},
): { ok: true; prefix: Prefix } | { ok: false; error: string } {
  const slash = text.indexOf("/");
  const addrText = slash < 0 ? text : text.slice(0, slash);
  const lenText = slash < 0 ? undefined : text.slice(slash + 1);
  const v4 = parseIPv4(addrText);
  const family: Family | undefined = v4 !== undefined ? 4 : addrText.includes(":") ? 6 : undefined;
  if (family === undefined) return { ok: false, error: `'${text}': not an IPv4 or IPv6 address` };
  const max = family === 4 ? 32 : 128;
  let length = max;
  if (lenText !== undefined) {
    if (!/^(0|[1-9][0-9]{0,2})$/.test(lenText) || Number(lenText) > max) {
      return { ok: false, error: `'${text}': prefix length must be 0..${max}` };
    }
    length = Number(lenText);
  }
  let words: Uint32Array;
  if (family === 4) {
    words = Uint32Array.of(v4!);
  } else {
    const parsed = parseIPv6(addrText);
    if (!parsed) return { ok: false, error: `'${text}': not a valid IPv6 address` };
    words = parsed;
  }
  let hostBits = false;
  for (let w = 0; w < words.length; w++) {
    const m = family === 4 ? mask4(length) : mask6Word(length, w);
    if ((words[w] & ~m) !== 0) hostBits = true;
    words[w] = (words[w] & m) >>> 0;
  }
  if (hostBits && !options.maskHostBits) {
    return { ok: false, error: `'${text}': host bits set past the prefix length` };
  }
  return { ok: true, prefix: { family, words, length } };
}

export function formatPrefix(family: Family, words: ArrayLike<number>, length: number): string {
  return `${family === 4 ? formatIPv4(words[0]) : formatIPv6(words)}/${length}`;
}

/** A growable RouteList, for building lists route by route. */
export class RouteListBuilder implements RouteList {
  readonly family: Family;
  count = 0;
  prefixes: Uint32Array;
  lengths: Uint8Array;
  nextHops: Uint16Array;
  private readonly w: number;

  constructor(family: Family, capacity = 1024) {
    this.family = family;
    this.w = wordsOf(family);
    const cap = Math.max(1, capacity);
    this.prefixes = new Uint32Array(cap * this.w);
    this.lengths = new Uint8Array(cap);
    this.nextHops = new Uint16Array(cap);
  }

  /** Appends a route; `words` holds the prefix (1 or 4 words from `offset`). */
  push(words: ArrayLike<number>, length: number, nextHop: NextHop, offset = 0): void {
    if (this.count === this.lengths.length) this.grow();
    const i = this.count++;
    for (let w = 0; w < this.w; w++) this.prefixes[i * this.w + w] = words[offset + w];
    this.lengths[i] = length;
    this.nextHops[i] = nextHop;
  }

  /** The list trimmed to its count (shares no storage with the builder). */
  build(): RouteList {
    return {
      family: this.family,
      count: this.count,
      prefixes: this.prefixes.slice(0, this.count * this.w),
      lengths: this.lengths.slice(0, this.count),
      nextHops: this.nextHops.slice(0, this.count),
    };
  }

  private grow(): void {
    const cap = this.lengths.length * 2;
    const prefixes = new Uint32Array(cap * this.w);
    prefixes.set(this.prefixes);
    const lengths = new Uint8Array(cap);
    lengths.set(this.lengths);
    const nextHops = new Uint16Array(cap);
    nextHops.set(this.nextHops);
    this.prefixes = prefixes;
    this.lengths = lengths;
    this.nextHops = nextHops;
  }
}
