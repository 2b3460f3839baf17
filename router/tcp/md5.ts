/**
 * TCP MD5 signatures (RFC 2385), as the Linux kernel computes them
 * (TCP_MD5SIG), so that BGP sessions with BIRD, GoBGP and routers that
 * require them interoperate.
 *
 * The digest is MD5 over, in order: the pseudo-header (IPv4: source,
 * destination, a zero octet, the protocol and the segment length in 16
 * bits, RFC 2385 section 2.0; IPv6: source, destination, the segment length
 * in 32 bits, three zero octets and the next header, as RFC 8200 8.1 lays
 * out its pseudo-header), the fixed 20-octet TCP header with a zero
 * checksum (options excluded), the segment data, and the key. The segment
 * length counts header, options and data.
 *
 * Not on the bulk path unless a key is set; one hash object per segment.
 */
import { createHash } from "node:crypto";
import { TCP_HEADER_LEN, TCP_MD5_DIGEST_LEN, TcpField, tcpHeaderLen } from "../wire/tcp.ts";

/** The longest key Linux accepts (TCP_MD5SIG_MAXKEYLEN). */
export const TCP_MD5_MAX_KEY_LEN = 80;

const scratch = new Uint8Array(40 + TCP_HEADER_LEN);

function putWord(at: number, w: number): void {
  scratch[at] = w >>> 24;
  scratch[at + 1] = w >>> 16;
  scratch[at + 2] = w >>> 8;
  scratch[at + 3] = w;
}

/**
 * The RFC 2385 digest of the `len`-octet segment at `buf[off]` from `src`
 * to `dst` (one word for IPv4, four for IPv6, as fib/ holds addresses).
 */
export function tcpMd5Digest(
  family: 4 | 6,
  src: ArrayLike<number>,
  dst: ArrayLike<number>,
  buf: Uint8Array,
  off: number,
  len: number,
  key: Uint8Array,
): Uint8Array {
  let n: number;
  if (family === 4) {
    putWord(0, src[0]);
    putWord(4, dst[0]);
    scratch[8] = 0;
    scratch[9] = 6;
    scratch[10] = len >>> 8;
    scratch[11] = len;
    n = 12;
  } else {
    for (let i = 0; i < 4; i++) {
      putWord(4 * i, src[i]);
      putWord(16 + 4 * i, dst[i]);
    }
    putWord(32, len);
    putWord(36, 6);
    n = 40;
  }
  scratch.set(buf.subarray(off, off + TCP_HEADER_LEN), n);
  scratch[n + TcpField.Checksum] = 0;
  scratch[n + TcpField.Checksum + 1] = 0;
  n += TCP_HEADER_LEN;
  const hl = tcpHeaderLen(buf, off);
  const hash = createHash("md5");
  hash.update(scratch.subarray(0, n));
  if (len > hl) hash.update(buf.subarray(off + hl, off + len));
  hash.update(key);
  return hash.digest();
}

/** Computes the digest and writes it at `buf[off + digestAt]` (the option's digest octets). */
export function tcpMd5Sign(
  family: 4 | 6,
  src: ArrayLike<number>,
  dst: ArrayLike<number>,
  buf: Uint8Array,
  off: number,
  len: number,
  digestAt: number,
  key: Uint8Array,
): void {
  buf.set(tcpMd5Digest(family, src, dst, buf, off, len, key), off + digestAt);
}

/** Whether the digest at `buf[off + digestAt]` is the segment's under `key`. */
export function tcpMd5Verify(
  family: 4 | 6,
  src: ArrayLike<number>,
  dst: ArrayLike<number>,
  buf: Uint8Array,
  off: number,
  len: number,
  digestAt: number,
  key: Uint8Array,
): boolean {
  const d = tcpMd5Digest(family, src, dst, buf, off, len, key);
  let diff = 0;
  const at = off + digestAt;
  for (let i = 0; i < TCP_MD5_DIGEST_LEN; i++) diff |= d[i] ^ buf[at + i];
  return diff === 0;
}
