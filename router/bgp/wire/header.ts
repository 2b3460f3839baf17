/**
 * The BGP message header (RFC 4271 section 4.1): a 16-octet marker of all
 * ones, a 2-octet length (19..4096 octets, header included) and a type.
 * `checkHeader` applies the checks of RFC 4271 section 6.1 (marker, length
 * bounds, type known, type-specific length) and answers the NOTIFICATION
 * they call for, or undefined. KEEPALIVE is a bare header (section 4.4), so
 * it lives here too.
 */
import { read16, write16 } from "../../wire/bytes.ts";
import { type BgpError, bgpError, ErrorCode, HeaderSubcode } from "../errors.ts";

export const HEADER_LEN = 19;
export const MAX_MESSAGE_LEN = 4096;
export const MARKER_LEN = 16;

export const MessageType = {
  Open: 1,
  Update: 2,
  Notification: 3,
  Keepalive: 4,
  RouteRefresh: 5,
} as const;
export type MessageType = (typeof MessageType)[keyof typeof MessageType];

/** Smallest legal length of each message type (header included). */
const MIN_LEN: Record<number, number> = { 1: 29, 2: 23, 3: 21, 4: 19, 5: 23 };

/** The length field of the message at `off` (assumes 19 octets are there). */
export function messageLength(buf: Uint8Array, off: number): number {
  return read16(buf, off + 16);
}

export function messageType(buf: Uint8Array, off: number): number {
  return buf[off + 18];
}

/**
 * Checks the header at `off` (19 octets must be present): the marker, the
 * length within 19..maxLength and the type-specific minimum (exactly 19 for
 * KEEPALIVE), the type known. ROUTE-REFRESH length errors are left to its
 * parser (RFC 7313 gives them their own NOTIFICATION).
 */
export function checkHeader(
  buf: Uint8Array,
  off: number,
  maxLength = MAX_MESSAGE_LEN,
): BgpError | undefined {
  for (let i = 0; i < MARKER_LEN; i++) {
    if (buf[off + i] !== 0xff) {
      return bgpError(ErrorCode.MessageHeader, HeaderSubcode.ConnectionNotSynchronized);
    }
  }
  const length = messageLength(buf, off);
  const type = messageType(buf, off);
  const lengthField = buf.slice(off + 16, off + 18);
  if (length < HEADER_LEN || length > maxLength) {
    return bgpError(ErrorCode.MessageHeader, HeaderSubcode.BadMessageLength, lengthField);
  }
  const min = MIN_LEN[type];
  if (min === undefined) {
    return bgpError(ErrorCode.MessageHeader, HeaderSubcode.BadMessageType, Uint8Array.of(type));
  }
  if (length < min || (type === MessageType.Keepalive && length !== HEADER_LEN)) {
    return bgpError(ErrorCode.MessageHeader, HeaderSubcode.BadMessageLength, lengthField);
  }
  return undefined;
}

/** Writes a header for a message of `length` octets (header included) at `off`. */
export function writeHeader(buf: Uint8Array, off: number, type: number, length: number): void {
  buf.fill(0xff, off, off + MARKER_LEN);
  write16(buf, off + 16, length);
  buf[off + 18] = type;
}

/** A KEEPALIVE message (RFC 4271 section 4.4). */
export function encodeKeepalive(): Uint8Array {
  const out = new Uint8Array(HEADER_LEN);
  writeHeader(out, 0, MessageType.Keepalive, HEADER_LEN);
  return out;
}

export const KEEPALIVE: Readonly<Uint8Array> = encodeKeepalive();
