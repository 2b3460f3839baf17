/**
 * The NOTIFICATION message (RFC 4271 section 4.5): error code, subcode and
 * data. The Cease subcodes Administrative Shutdown and Administrative Reset
 * may carry a shutdown communication (RFC 9003: a length octet and up to
 * 255 octets of UTF-8), decoded by `shutdownCommunication`.
 */
import { type BgpError, bgpError, CeaseSubcode, ErrorCode } from "../errors.ts";
import { HEADER_LEN, MAX_MESSAGE_LEN, MessageType, writeHeader } from "./header.ts";

/** Parses the NOTIFICATION `(buf, off, len)` (header included; checkHeader passed). */
export function parseNotification(buf: Uint8Array, off: number, len: number): BgpError {
  return bgpError(buf[off + 19], buf[off + 20], buf.slice(off + 21, off + len));
}

export function encodeNotification(err: BgpError): Uint8Array {
  const data = err.data.subarray(0, MAX_MESSAGE_LEN - HEADER_LEN - 2);
  const length = HEADER_LEN + 2 + data.length;
  const out = new Uint8Array(length);
  writeHeader(out, 0, MessageType.Notification, length);
  out[19] = err.code;
  out[20] = err.subcode;
  out.set(data, 21);
  return out;
}

/** A Cease NOTIFICATION with a shutdown communication (RFC 9003) when `message` is given. */
export function ceaseError(subcode: number, message?: string): BgpError {
  if (message === undefined || message === "") return bgpError(ErrorCode.Cease, subcode);
  let text = new TextEncoder().encode(message);
  if (text.length > 255) {
    // Cut at a character boundary.
    let end = 255;
    while (end > 0 && (text[end] & 0xc0) === 0x80) end--;
    text = text.slice(0, end);
  }
  const data = new Uint8Array(1 + text.length);
  data[0] = text.length;
  data.set(text, 1);
  return bgpError(ErrorCode.Cease, subcode, data);
}

/** The shutdown communication of a Cease NOTIFICATION, if it carries a well-formed one. */
export function shutdownCommunication(err: BgpError): string | undefined {
  if (err.code !== ErrorCode.Cease) return undefined;
  if (
    err.subcode !== CeaseSubcode.AdministrativeShutdown &&
    err.subcode !== CeaseSubcode.AdministrativeReset
  ) {
    return undefined;
  }
  if (err.data.length === 0 || err.data[0] + 1 > err.data.length || err.data[0] === 0) {
    return undefined;
  }
  try {
    return new TextDecoder("utf-8", { fatal: true }).decode(err.data.subarray(1, 1 + err.data[0]));
  } catch {
    return undefined;
  }
}
