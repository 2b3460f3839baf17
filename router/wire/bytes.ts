/**
 * What every wire format of router/wire shares: big-endian reads and writes
 * on a Uint8Array, 48-bit MAC addresses as plain numbers, and the result of
 * the `parse…` functions.
 *
 * Conventions of the wire formats (see router/wire/*.ts):
 * - A packet is `(buf, off, len)`: a view into a big Uint8Array (a batch).
 * - `check…(buf, off, len)` validates in place and answers 0 or an error code
 *   of the format's error enum; it never throws and never allocates.
 * - Accessors read and write single fields in place; they assume a checked
 *   header and do no bounds checks of their own.
 * - `parse…` answers `{ ok: true, repr }` or `{ ok: false, error, at }`, where
 *   `at` is the octet offset, counted from `off`, at which the problem was
 *   found (like the pointer of an ICMP Parameter Problem; for truncation it
 *   is where the input ran out). Every offset a wire format hands back is
 *   counted from the start of the header it was given, never from buf[0].
 * - `emit…(repr, buf, off)` writes a repr and answers the octets written. A
 *   repr that cannot be encoded, or a buffer too small, is a programming
 *   error and throws RangeError; emitting is for builders, not for input.
 * - MAC addresses are unsigned 48-bit integers (exact in a double), IPv4
 *   addresses unsigned 32-bit integers, IPv6 addresses four 32-bit words,
 *   most significant first (as fib/ holds them).
 */

/** The answer of every `parse…`: a repr, or an error code and where it was found. */
export type ParseResult<R, E extends number> =
  | { readonly ok: true; readonly repr: R }
  | { readonly ok: false; readonly error: E; readonly at: number };

/** What a `check…` answers when the input is well formed. */
export const OK = 0;

export function read16(buf: Uint8Array, off: number): number {
  return (buf[off] << 8) | buf[off + 1];
}

export function read24(buf: Uint8Array, off: number): number {
  return (buf[off] << 16) | (buf[off + 1] << 8) | buf[off + 2];
}

export function read32(buf: Uint8Array, off: number): number {
  return ((buf[off] << 24) | (buf[off + 1] << 16) | (buf[off + 2] << 8) | buf[off + 3]) >>> 0;
}

/** A 48-bit big-endian value (a MAC address) as an unsigned integer. */
export function read48(buf: Uint8Array, off: number): number {
  return read16(buf, off) * 0x100000000 + read32(buf, off + 2);
}

export function write16(buf: Uint8Array, off: number, value: number): void {
  buf[off] = value >>> 8;
  buf[off + 1] = value;
}

export function write24(buf: Uint8Array, off: number, value: number): void {
  buf[off] = value >>> 16;
  buf[off + 1] = value >>> 8;
  buf[off + 2] = value;
}

export function write32(buf: Uint8Array, off: number, value: number): void {
  buf[off] = value >>> 24;
  buf[off + 1] = value >>> 16;
  buf[off + 2] = value >>> 8;
  buf[off + 3] = value;
}

export function write48(buf: Uint8Array, off: number, value: number): void {
  write16(buf, off, Math.floor(value / 0x100000000));
  write32(buf, off + 2, value >>> 0);
}

/**
 * Internal: packs an error code (1..255) and the offset where it was found
 * into one number, so that a validator can report both without allocating.
 * `check…` keeps the code; `parse…` unpacks both.
 */
export function fault(code: number, at: number): number {
  return at * 256 + code;
}

/** The error code of a packed fault (0 stays 0). */
export function faultCode(packed: number): number {
  return packed % 256;
}

/** The failed ParseResult of a packed fault. */
export function failure<E extends number>(packed: number): { ok: false; error: E; at: number } {
  return { ok: false, error: (packed % 256) as E, at: Math.floor(packed / 256) };
}

/** Name of an error code in one of the error enums, for logs and test output. */
export function errorName(errors: Readonly<Record<string, number>>, code: number): string {
  if (code === OK) return "OK";
  for (const name in errors) if (errors[name] === code) return name;
  return `error ${code}`;
}

/** Throws RangeError unless `buf` has `n` octets from `off` (for emitters). */
export function needRoom(buf: Uint8Array, off: number, n: number, what: string): void {
  if (!Number.isInteger(off) || off < 0 || off + n > buf.length) {
    throw new RangeError(`${what}: ${n} octets at ${off} do not fit in a buffer of ${buf.length}`);
  }
}

/** Throws RangeError unless `value` is an integer in 0..max (for emitters). */
export function needUint(value: number, max: number, what: string): void {
  if (!Number.isInteger(value) || value < 0 || value > max) {
    throw new RangeError(`${what} ${value} is not an integer in 0..${max}`);
  }
}

/** Copies `n` octets inside or between buffers (a thin wrapper over copyWithin/set). */
export function copyBytes(
  src: Uint8Array,
  srcOff: number,
  dst: Uint8Array,
  dstOff: number,
  n: number,
): void {
  if (src === dst) dst.copyWithin(dstOff, srcOff, srcOff + n);
  else dst.set(src.subarray(srcOff, srcOff + n), dstOff);
}

// ---- MAC addresses ----------------------------------------------------------

/** ff:ff:ff:ff:ff:ff. */
export const MAC_BROADCAST = 0xffffffffffff;

/** Whether the MAC at `buf[off]` equals `mac`. */
export function macEquals(buf: Uint8Array, off: number, mac: number): boolean {
  return read32(buf, off + 2) === mac >>> 0 && read16(buf, off) === Math.floor(mac / 0x100000000);
}

/** Whether the MACs at `a[aOff]` and `b[bOff]` are equal. */
export function macEqualsAt(a: Uint8Array, aOff: number, b: Uint8Array, bOff: number): boolean {
  return (
    a[aOff + 5] === b[bOff + 5] &&
    a[aOff + 4] === b[bOff + 4] &&
    a[aOff + 3] === b[bOff + 3] &&
    a[aOff + 2] === b[bOff + 2] &&
    a[aOff + 1] === b[bOff + 1] &&
    a[aOff] === b[bOff]
  );
}

/** Whether the MAC at `buf[off]` is a group address (the I/G bit; broadcast included). */
export function macIsMulticast(buf: Uint8Array, off: number): boolean {
  return (buf[off] & 1) !== 0;
}

export function macIsBroadcast(buf: Uint8Array, off: number): boolean {
  return (
    (buf[off] & buf[off + 1] & buf[off + 2] & buf[off + 3] & buf[off + 4] & buf[off + 5]) === 0xff
  );
}

/** `aa:bb:cc:dd:ee:ff`. */
export function formatMac(mac: number): string {
  let text = "";
  for (let shift = 40; shift >= 0; shift -= 8) {
    const octet = Math.floor(mac / 2 ** shift) % 256;
    text += (shift === 40 ? "" : ":") + octet.toString(16).padStart(2, "0");
  }
  return text;
}

/** Parses `aa:bb:cc:dd:ee:ff` (or with `-`); undefined when it is not a MAC. */
export function parseMac(text: string): number | undefined {
  const m =
    /^([0-9a-f]{2})([:-])([0-9a-f]{2})\2([0-9a-f]{2})\2([0-9a-f]{2})\2([0-9a-f]{2})\2([0-9a-f]{2})$/i.exec(
      text,
    );
  if (m === null) return undefined;
  let mac = 0;
  for (const i of [1, 3, 4, 5, 6, 7]) mac = mac * 256 + Number.parseInt(m[i], 16);
  return mac;
}
