/**
 * Initial sequence numbers (RFC 6528) and ephemeral ports (RFC 6056).
 *
 * ISN = M + F(local address, local port, remote address, remote port,
 * secret): M is a 4-microsecond clock (RFC 9293 3.4.1: it wraps about every
 * 4.55 hours), F a keyed hash, here the first 32 bits of SHA-256 over the
 * secret and the four-tuple. Different pairs get unrelated sequence spaces,
 * the same pair a sequence that keeps moving forward with time, so old
 * duplicates of an earlier incarnation fall outside the new one's window.
 *
 * Ephemeral ports follow RFC 6056's algorithm 3 ("simple hash-based"): the
 * search for a free port starts at an offset hashed from the secret and the
 * addresses and remote port, plus a counter that moves on with every
 * connection.
 */
import { createHash } from "node:crypto";

/** RFC 6056 2.1: the ephemeral range IANA suggests. */
export const EPHEMERAL_LOW = 49152;
export const EPHEMERAL_HIGH = 65535;

function tupleHash(
  secret: Uint8Array,
  tag: number,
  localAddr: ArrayLike<number>,
  localPort: number,
  remoteAddr: ArrayLike<number>,
  remotePort: number,
): number {
  const words = new Uint32Array(3 + localAddr.length + remoteAddr.length);
  words[0] = tag;
  words[1] = localPort;
  words[2] = remotePort;
  for (let i = 0; i < localAddr.length; i++) words[3 + i] = localAddr[i];
  for (let i = 0; i < remoteAddr.length; i++) words[3 + localAddr.length + i] = remoteAddr[i];
  const d = createHash("sha256").update(secret).update(new Uint8Array(words.buffer)).digest();
  return d.readUInt32BE(0);
}

/** RFC 6528's ISN for a four-tuple at time `now` (ms). */
export function initialSequence(
  secret: Uint8Array,
  localAddr: ArrayLike<number>,
  localPort: number,
  remoteAddr: ArrayLike<number>,
  remotePort: number,
  now: number,
): number {
  const m = Math.floor(now * 250) % 0x100000000;
  return (m + tupleHash(secret, 1, localAddr, localPort, remoteAddr, remotePort)) >>> 0;
}

/** RFC 6056 algorithm 3's starting offset for a connection to `remoteAddr:remotePort`. */
export function ephemeralOffset(
  secret: Uint8Array,
  localAddr: ArrayLike<number>,
  remoteAddr: ArrayLike<number>,
  remotePort: number,
): number {
  return tupleHash(secret, 2, localAddr, 0, remoteAddr, remotePort);
}
